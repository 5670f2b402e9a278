//! The composition root (a plan in, a source out) and the CLI's side of a browser sign-in.

pub(crate) mod browser;
pub(crate) mod resolve;
