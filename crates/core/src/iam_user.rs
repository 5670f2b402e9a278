//! An IAM user's long-term keys in the keychain (`keyfob add`), and with `mfa_serial` the
//! GetSessionToken session they buy.

use crate::credentials::Credentials;
use crate::engine::Interaction;
use crate::secret::Secret;
use crate::source::{CredentialSource, Fingerprint, SourceError};
use crate::store::{SessionStore, SessionStoreExt, StoreError, keys};
use serde::{Deserialize, Serialize};

/// What `keyfob add` stores.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredKeys {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
}

impl StoredKeys {
    /// The keys as credentials (long-term: no token, no expiry).
    pub fn credentials(&self) -> Credentials {
        Credentials::long_term(self.access_key_id.clone(), self.secret_access_key.clone())
    }
}

/// Why an IAM user's keys could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The keychain failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// keyfob holds no keys for the profile.
    #[error("keyfob holds no keys or session for profile {profile}")]
    Missing {
        /// The profile.
        profile: String,
    },
}

impl KeysError {
    /// The command that fixes it.
    pub fn hint(&self) -> Option<String> {
        match self {
            KeysError::Missing { profile } => Some(format!("keyfob add {profile}")),
            KeysError::Store(_) => None,
        }
    }
}

/// The keys `keyfob add` stored for `profile`.
pub fn load_keys(store: &dyn SessionStore, profile: &str) -> Result<StoredKeys, KeysError> {
    store
        .get_json::<StoredKeys>(&keys::iam_user(profile))?
        .ok_or_else(|| KeysError::Missing {
            profile: profile.to_owned(),
        })
}

/// GetSessionToken with an MFA code.
pub struct MfaSession<'a> {
    /// The profile.
    pub profile: &'a str,
    /// Its long-term keys.
    pub keys: StoredKeys,
    /// `mfa_serial`.
    pub serial: String,
    /// The STS region.
    pub region: String,
    /// `duration_seconds`.
    pub duration_seconds: Option<i32>,
    /// Where the code comes from (a flag, a prompt; nowhere when nobody can be asked).
    pub ui: &'a Interaction<'a>,
}

impl CredentialSource for MfaSession<'_> {
    fn fingerprint(&self) -> Fingerprint {
        crate::fingerprint::mfa_session(
            &self.keys.access_key_id,
            &self.serial,
            self.duration_seconds,
        )
    }

    async fn fetch(&self) -> Result<Credentials, SourceError> {
        let login = format!("keyfob login --profile {}", self.profile);
        let Some(code) = (self.ui.mfa_code)(&format!("MFA code for {}: ", self.serial)) else {
            return Err(SourceError::needs_login(
                format!("profile {} needs a new MFA session", self.profile),
                login,
            ));
        };
        let sts = crate::sts::client(
            crate::sts::Target {
                profile: Some(self.profile),
                region: &self.region,
                endpoint_url: None,
            },
            Some(&self.keys.credentials()),
        )
        .await;
        let out = sts
            .get_session_token()
            .serial_number(&self.serial)
            .token_code(code.trim())
            .set_duration_seconds(self.duration_seconds)
            .send()
            .await
            .map_err(|e| {
                SourceError::other(format!(
                    "STS GetSessionToken failed for profile {}: {}",
                    self.profile,
                    crate::sts::sdk_error_line(&e)
                ))
                .with_hint(login.clone())
            })?;
        let c = out
            .credentials
            .ok_or_else(|| SourceError::other("STS GetSessionToken returned no credentials"))?;
        crate::sts::from_sts(&c)
    }
}

impl crate::error::UserError for KeysError {
    fn hint(&self) -> Option<String> {
        KeysError::hint(self)
    }
}
