//! Test support: the fake AWS endpoints the end-to-end tests and demo scripts run against.
#![deny(missing_docs)]

pub mod fake;
