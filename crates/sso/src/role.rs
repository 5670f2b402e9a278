//! Role credentials through an SSO session: the [`CredentialSource`] behind every profile with
//! `keyfob_sso_*` (or native `sso_*`) keys.

use crate::SsoContext;
use crate::clients;
use crate::error::{Service, SsoError};
use crate::refresh::{DEFAULT_TOKEN_WINDOW, refresh_rejected, valid_token};
use crate::session::SsoSessionConfig;
use crate::token::SsoToken;
use aws_sdk_sso::error::ProvideErrorMetadata;
use aws_sdk_sso::operation::get_role_credentials::GetRoleCredentialsError;
use chrono::{DateTime, Duration};
use keyfob_core::source::{CredentialSource, Fingerprint, SourceError};
use keyfob_core::{Credentials, Secret};

/// `GetRoleCredentials` for one account and role.
#[derive(Debug, Clone)]
pub struct RoleCredentialsSource<'a> {
    ctx: SsoContext<'a>,
    session: SsoSessionConfig,
    account_id: String,
    role_name: String,
    token_window: Duration,
}

impl<'a> RoleCredentialsSource<'a> {
    /// A source for `role_name` in `account_id` through `session`.
    pub fn new(
        ctx: SsoContext<'a>,
        session: SsoSessionConfig,
        account_id: impl Into<String>,
        role_name: impl Into<String>,
    ) -> Self {
        Self {
            ctx,
            session,
            account_id: account_id.into(),
            role_name: role_name.into(),
            token_window: DEFAULT_TOKEN_WINDOW,
        }
    }

    /// Refresh the SSO token when less than `window` is left (default 15 minutes).
    #[must_use]
    pub fn with_token_window(mut self, window: Duration) -> Self {
        self.token_window = window;
        self
    }

    /// Fetches the role's credentials, with the typed error.
    pub async fn fetch_credentials(&self) -> Result<Credentials, SsoError> {
        let token = valid_token(&self.ctx, &self.session, self.token_window).await?;
        let (client, endpoint) = clients::portal(self.ctx.env, &self.session.region, false).await;
        match self.call(&client, &endpoint, &token).await {
            Err(Refused) => {
                let fresh = refresh_rejected(&self.ctx, &self.session, &token).await?;
                self.call(&client, &endpoint, &fresh)
                    .await
                    .map_err(|Refused| self.session.expired())?
            }
            Ok(result) => result,
        }
    }

    /// One `GetRoleCredentials`; `Err(Refused)` when the portal refuses the token itself.
    async fn call(
        &self,
        client: &aws_sdk_sso::Client,
        endpoint: &str,
        token: &SsoToken,
    ) -> Result<Result<Credentials, SsoError>, Refused> {
        let sent = client
            .get_role_credentials()
            .access_token(token.access_token.expose())
            .account_id(&self.account_id)
            .role_name(&self.role_name)
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => {
                let forbidden = e.raw_response().is_some_and(|r| r.status().as_u16() == 403)
                    || e.as_service_error().is_some_and(|s| {
                        matches!(s, GetRoleCredentialsError::ResourceNotFoundException(_))
                            || s.code() == Some("ForbiddenException")
                    });
                if forbidden {
                    return Ok(Err(SsoError::NoRoleAccess {
                        role: self.role_name.clone(),
                        account: self.account_id.clone(),
                        session: self.session.name.clone(),
                    }));
                }
                if let Some(GetRoleCredentialsError::UnauthorizedException(_)) =
                    e.as_service_error()
                {
                    // Revoked (a logout elsewhere, an administrator) or expired early.
                    return Err(Refused);
                }
                return Ok(Err(SsoError::from_sdk(
                    Service::Portal,
                    "GetRoleCredentials",
                    endpoint,
                    e,
                )));
            }
        };
        Ok(self.credentials_from(&out))
    }

    fn credentials_from(
        &self,
        out: &aws_sdk_sso::operation::get_role_credentials::GetRoleCredentialsOutput,
    ) -> Result<Credentials, SsoError> {
        let creds = out
            .role_credentials()
            .ok_or_else(|| malformed("roleCredentials"))?;
        let access_key_id = creds
            .access_key_id()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed("accessKeyId"))?;
        let secret = creds
            .secret_access_key()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed("secretAccessKey"))?;
        // The API gives the expiry in epoch milliseconds.
        let expiration = DateTime::from_timestamp_millis(creds.expiration())
            .ok_or_else(|| malformed("a valid expiration"))?;
        tracing::debug!(account = %self.account_id, role = %self.role_name, %expiration, "got role credentials");
        Ok(Credentials {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: Secret::new(secret),
            session_token: creds.session_token().map(Secret::new),
            expiration: Some(expiration),
        })
    }
}

/// The portal refused the access token (401).
struct Refused;

fn malformed(what: &str) -> SsoError {
    SsoError::Service {
        service: Service::Portal,
        operation: "GetRoleCredentials",
        code: "MalformedResponse".to_owned(),
        message: format!("the answer has no {what}"),
        status: None,
    }
}

impl CredentialSource for RoleCredentialsSource<'_> {
    /// Start URL, SSO region, account and role: a profile re-pointed at another account or
    /// session never gets the previous target's cached keys.
    fn fingerprint(&self) -> Fingerprint {
        keyfob_core::fingerprint::sso_role(
            &self.session.start_url,
            &self.session.region,
            &self.account_id,
            &self.role_name,
        )
    }

    async fn fetch(&self) -> Result<Credentials, SourceError> {
        self.fetch_credentials().await.map_err(SourceError::from)
    }
}
