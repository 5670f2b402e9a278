//! Shared test support.

pub mod fake_idp;
pub mod hostile;
