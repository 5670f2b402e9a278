//! Test support: the fake AWS endpoints the end-to-end tests and demo scripts run against, and
//! the rule for tests whose peer is missing.
#![deny(missing_docs)]

pub mod fake;
pub mod peers;
pub mod player;
