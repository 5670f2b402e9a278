//! An IAM user's long-term keys from the keychain, and with `mfa_serial` the GetSessionToken
//! session they buy.

use keyfob_core::source::{CredentialSource, SourceError};
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
    async fn fetch(&self) -> Result<Credentials, SourceError> {
        let login = format!("keyfob login --profile {}", self.profile);
        let Some(code) = (self.code)() else {
            return Err(SourceError::needs_login(
                format!("profile {} needs a new MFA session", self.profile),
                login,
            ));
        };
        let static_creds = aws_credential_types::Credentials::new(
            &self.keys.access_key_id,
            self.keys.secret_access_key.expose(),
            None,
            None,
            "keyfob",
        );
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .profile_name(self.profile)
            .region(aws_types::region::Region::new(self.region.clone()))
            .credentials_provider(static_creds)
            .load()
            .await;
        let sts = aws_sdk_sts::Client::new(&conf);
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
