//! The one trait every source of credentials implements (SSO, SAML, IAM user keys).

use crate::credentials::Credentials;
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

/// Something that can fetch fresh credentials for a profile.
pub trait CredentialSource {
    /// Fetches new credentials (called under the profile's lock, at most once per refresh).
    fn fetch(&self) -> impl Future<Output = Result<Credentials, SourceError>>;
}
