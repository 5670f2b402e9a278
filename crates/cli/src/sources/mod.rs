//! Turning a profile's plan into credentials: the per-kind sources and the one entry point
//! every command uses.

pub(crate) mod browser;
pub(crate) mod chain;
pub(crate) mod iam_user;
pub(crate) mod resolve;
