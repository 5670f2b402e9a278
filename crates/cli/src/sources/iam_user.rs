//! An IAM user's long-term keys from the keychain, and with `mfa_serial` the GetSessionToken
//! session they buy.

use keyfob_core::source::{CredentialSource, Fingerprint, SourceError};
use keyfob_core::store::{SessionStore, SessionStoreExt, keys};
use keyfob_core::{Credentials, Secret};
use serde::{Deserialize, Serialize};

/// What `keyfob add` stores.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredKeys {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: Secret,
}

pub(crate) fn load_keys(store: &dyn SessionStore, profile: &str) -> anyhow::Result<StoredKeys> {
    store
        .get_json::<StoredKeys>(&keys::iam_user(profile))?
        .ok_or_else(|| {
            crate::output::hinted(
                format!("keyfob holds no keys or session for profile {profile}"),
                format!("keyfob add {profile}"),
            )
        })
}

/// GetSessionToken with an MFA code.
pub(crate) struct MfaSession<'a> {
    pub(crate) profile: &'a str,
    pub(crate) keys: StoredKeys,
    pub(crate) serial: String,
    pub(crate) region: String,
    pub(crate) duration_seconds: Option<i32>,
    /// Where the code comes from (a flag, a prompt); `None` when nobody can be asked.
    pub(crate) code: &'a (dyn Fn() -> Option<String> + Sync),
}

impl CredentialSource for MfaSession<'_> {
    fn fingerprint(&self) -> Fingerprint {
        let duration = self.duration_seconds.map(|d| d.to_string());
        Fingerprint::of(
            "mfa-session",
            &[
                ("access_key_id", Some(self.keys.access_key_id.as_str())),
                ("mfa_serial", Some(self.serial.as_str())),
                ("duration_seconds", duration.as_deref()),
            ],
        )
    }

    async fn fetch(&self) -> Result<Credentials, SourceError> {
        let login = format!("keyfob login --profile {}", self.profile);
        let Some(code) = (self.code)() else {
            return Err(SourceError::needs_login(
                format!("profile {} needs a new MFA session", self.profile),
                login,
            ));
        };
        let keys = Credentials::long_term(
            self.keys.access_key_id.clone(),
            self.keys.secret_access_key.clone(),
        );
        let sts = crate::sources::chain::sts_client(self.profile, &self.region, &keys).await;
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
                    crate::sources::resolve::sdk_error_line(&e)
                ))
                .with_hint(login.clone())
            })?;
        let c = out
            .credentials
            .ok_or_else(|| SourceError::other("STS GetSessionToken returned no credentials"))?;
        crate::sources::resolve::from_sts(&c)
    }
}
