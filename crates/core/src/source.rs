//! The one trait every source of credentials implements (SSO, SAML, IAM user keys), and the
//! fingerprint that ties a cached answer to the configuration that produced it.

use crate::credentials::Credentials;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A source could not produce credentials. The message is for the user; `hint` is the command
/// that fixes it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// What went wrong, in one line, with no secret in it.
    pub message: String,
    /// The command to run next, if there is one.
    pub hint: Option<String>,
    /// Whether this needs the user (a login, a password, an MFA code) rather than a retry.
    pub needs_user: bool,
}

impl SourceError {
    /// An error that a new login fixes.
    pub fn needs_login(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
            needs_user: true,
        }
    }

    /// Any other failure.
    pub fn other(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            needs_user: false,
        }
    }

    /// Adds the command to run next.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A digest of the configuration that a cached entry was made for (start URL, region,
/// account and role; IdP URL, user and role; key id and MFA serial; …). A cached entry whose
/// fingerprint differs from the one the current configuration gives is never served: an edited
/// profile must not hand out the previous target's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of `kind` (what sort of source) and its named inputs, in order. Absent
    /// inputs are `None`, which differs from every string, the empty one included.
    pub fn of(kind: &str, inputs: &[(&str, Option<&str>)]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        // Length-prefixed fields, so that no two different input lists hash the same bytes.
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(kind.as_bytes());
        for (name, value) in inputs {
            field(name.as_bytes());
            match value {
                Some(v) => {
                    field(b"=");
                    field(v.as_bytes());
                }
                None => field(b"-"),
            }
        }
        Self(hex::encode(&h.finalize()[..16]))
    }

    /// The hex digest, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Something that can fetch fresh credentials for a profile.
pub trait CredentialSource {
    /// The fingerprint of the configuration these credentials are for (see [`Fingerprint`]).
    fn fingerprint(&self) -> Fingerprint;

    /// Fetches new credentials (called under the profile's lock, at most once per refresh).
    fn fetch(&self) -> impl Future<Output = Result<Credentials, SourceError>>;
}

impl crate::error::UserError for SourceError {
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_inputs_apart() {
        let a = Fingerprint::of("sso", &[("account", Some("1")), ("role", Some("A"))]);
        assert_eq!(
            a,
            Fingerprint::of("sso", &[("account", Some("1")), ("role", Some("A"))])
        );
        for other in [
            Fingerprint::of("sso", &[("account", Some("2")), ("role", Some("A"))]),
            Fingerprint::of("saml", &[("account", Some("1")), ("role", Some("A"))]),
            Fingerprint::of("sso", &[("account", Some("1A")), ("role", Some(""))]),
            Fingerprint::of("sso", &[("account", Some("1")), ("role", None)]),
            Fingerprint::of("sso", &[("account", Some("1")), ("role", Some(""))]),
        ] {
            assert_ne!(a, other);
        }
        assert_ne!(
            Fingerprint::of("x", &[("r", None)]),
            Fingerprint::of("x", &[("r", Some(""))])
        );
    }
}
