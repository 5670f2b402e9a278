//! `keyfob logout` for an SSO session: end the session at IAM Identity Center, then forget its
//! token, its client registration and the AWS CLI cache file.

use crate::SsoContext;
use crate::clients;
use crate::error::{Service, SsoError};
use crate::session::SsoSessionConfig;
use crate::token;
use aws_sdk_sso::operation::logout::LogoutError;
use keyfob_core::store::keys;

/// What a logout did.
#[derive(Debug, Default)]
pub struct LogoutSummary {
    /// The server was told (false: there was no live token, or it was already invalid).
    pub signed_out_remotely: bool,
    /// Keychain entries deleted (the token, the client registration).
    pub keychain_entries_deleted: usize,
    /// The `~/.aws/sso/cache` file was removed.
    pub cache_file_removed: bool,
    /// The server could not be told (unreachable, or an error other than 401); the local
    /// copies are gone all the same. The CLI shows it as a warning.
    pub remote_error: Option<SsoError>,
}

/// Logs `cfg` out. A token the server no longer accepts (401) is not an error; a server that
/// cannot be reached is reported in [`LogoutSummary::remote_error`], after the local copies are
/// gone, so that a logout always forgets the session here.
pub async fn logout(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
) -> Result<LogoutSummary, SsoError> {
    let now = ctx.clock.now();
    let mut summary = LogoutSummary::default();
    let live = token::load_token(ctx.store, cfg)?
        .or_else(|| token::read_cache_file(ctx.env, cfg).map(|(t, _)| t))
        .filter(|t| t.expires_at > now);
    if let Some(t) = live {
        let (client, endpoint) = clients::portal(ctx.env, &cfg.region, false).await;
        match client
            .logout()
            .access_token(t.access_token.expose())
            .send()
            .await
        {
            Ok(_) => summary.signed_out_remotely = true,
            Err(e) => {
                let unauthorized =
                    matches!(
                        e.as_service_error(),
                        Some(LogoutError::UnauthorizedException(_))
                    ) || e.raw_response().is_some_and(|r| r.status().as_u16() == 401);
                if unauthorized {
                    tracing::debug!(session = %cfg.name, "the token was already invalid");
                } else {
                    summary.remote_error =
                        Some(SsoError::from_sdk(Service::Portal, "Logout", &endpoint, e));
                }
            }
        }
    }
    for key in [keys::sso_token(&cfg.name), keys::sso_client(&cfg.name)] {
        if ctx.store.delete(&key)? {
            summary.keychain_entries_deleted += 1;
        }
    }
    summary.cache_file_removed = token::remove_cache_file(ctx.env, cfg)?;
    tracing::info!(session = %cfg.name, remote = summary.signed_out_remotely, "logged out");
    Ok(summary)
}
