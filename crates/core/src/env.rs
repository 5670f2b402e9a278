//! The process environment and the clock, injected so that tests never read the real `~/.aws`
//! or the wall clock.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::PathBuf;

/// Environment variables: the real process environment, or a fixed map for tests.
#[derive(Debug, Clone, Default)]
pub struct Env {
    fixed: Option<HashMap<String, String>>,
}

impl Env {
    /// The real process environment.
    pub fn real() -> Self {
        Self { fixed: None }
    }

    /// A fixed environment made of these pairs (nothing else is visible).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            fixed: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The value of a variable; unset and non-UTF-8 values are `None`.
    pub fn get(&self, key: &str) -> Option<String> {
        match &self.fixed {
            Some(map) => map.get(key).cloned(),
            None => std::env::var(key).ok(),
        }
    }

    /// The value of a variable, treating an empty value as unset.
    pub fn get_non_empty(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.trim().is_empty())
    }

    /// The user's home directory as the SDKs find it: `HOME`; on Windows then `USERPROFILE`,
    /// then `HOMEDRIVE` + `HOMEPATH`.
    pub fn home(&self) -> Option<PathBuf> {
        if let Some(h) = self.get_non_empty("HOME") {
            return Some(PathBuf::from(h));
        }
        if !cfg!(windows) {
            return None;
        }
        self.get_non_empty("USERPROFILE")
            .map(PathBuf::from)
            .or_else(
                || match (self.get("HOMEDRIVE"), self.get_non_empty("HOMEPATH")) {
                    (Some(drive), Some(path)) => Some(PathBuf::from(format!("{drive}{path}"))),
                    (None, Some(path)) => Some(PathBuf::from(path)),
                    _ => None,
                },
            )
    }

    /// The pairs to hand to aws-config's own environment shim.
    pub fn to_aws_env(&self) -> aws_types::os_shim_internal::Env {
        match &self.fixed {
            Some(map) => aws_types::os_shim_internal::Env::from(map.clone()),
            None => aws_types::os_shim_internal::Env::real(),
        }
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that may read the wall clock
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant, for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}
