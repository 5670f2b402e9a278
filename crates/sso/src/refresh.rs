//! A usable access token for a session, refreshed with its refresh token when it is close to
//! expiry. Never opens a browser and never prompts: what it cannot fix is
//! [`SsoError::SessionExpired`], whose message names the login command.

use crate::SsoContext;
use crate::clients;
use crate::error::{Service, SsoError};
use crate::login::token_from;
use crate::session::SsoSessionConfig;
use crate::token::{self, ClientRegistration, SsoToken};
use aws_sdk_ssooidc::operation::create_token::CreateTokenError;
use chrono::{DateTime, Duration, Utc};
use keyfob_core::lock::{FileLock, lock_path};

/// Refresh a token with less than this left (botocore's advisory window).
pub const DEFAULT_TOKEN_WINDOW: Duration = Duration::minutes(15);

/// A token this close to expiry is not handed out even when it cannot be refreshed: the call
/// it is for would fail on the way.
const MIN_USABLE: Duration = Duration::seconds(30);

/// Where the token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Keychain,
    /// The AWS CLI's cache file (`aws sso login`, or a mirror keyfob wrote before).
    CliCache,
}

struct Current {
    token: SsoToken,
    registration: Option<ClientRegistration>,
    origin: Origin,
}

/// The keychain's token or the AWS CLI cache file's, whichever lasts longer.
fn current(ctx: &SsoContext<'_>, cfg: &SsoSessionConfig) -> Result<Option<Current>, SsoError> {
    let own = token::load_token(ctx.store, cfg)?.map(|token| Current {
        token,
        registration: None,
        origin: Origin::Keychain,
    });
    let cli = token::read_cache_file(ctx.env, cfg).map(|(token, registration)| Current {
        token,
        registration,
        origin: Origin::CliCache,
    });
    let mut best = match (own, cli) {
        (Some(a), Some(b)) if b.token.expires_at > a.token.expires_at => b,
        (Some(a), _) => a,
        (None, b) => match b {
            Some(b) => b,
            None => return Ok(None),
        },
    };
    if best.origin == Origin::Keychain {
        best.registration = token::load_registration(ctx.store, cfg)?;
    }
    Ok(Some(best))
}

/// A token for `cfg` with at least `window` left, refreshing it if needed (under the session's
/// lock, looking again once the lock is held, so that of many concurrent callers one
/// refreshes). A token inside the window that cannot be refreshed is still returned while it
/// lasts.
pub async fn valid_token(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
    window: Duration,
) -> Result<SsoToken, SsoError> {
    let now = ctx.clock.now();
    if let Some(c) = current(ctx, cfg)?
        && c.token.fresh_for(now, window)
    {
        tracing::debug!(session = %cfg.name, origin = ?c.origin, "SSO token is fresh");
        return Ok(c.token);
    }
    locked_refresh(ctx, cfg, window, None).await
}

/// The portal refused `rejected` although it had not expired by the clock (revoked, or the
/// clocks disagree): refresh it now, once. If another process already replaced it, that token
/// is returned; if it cannot be refreshed, the session has expired.
pub async fn refresh_rejected(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
    rejected: &SsoToken,
) -> Result<SsoToken, SsoError> {
    tracing::debug!(session = %cfg.name, "the portal refused the SSO token; refreshing it");
    locked_refresh(ctx, cfg, DEFAULT_TOKEN_WINDOW, Some(rejected)).await
}

async fn locked_refresh(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
    window: Duration,
    rejected: Option<&SsoToken>,
) -> Result<SsoToken, SsoError> {
    let path = lock_path(
        &keyfob_core::paths::cache_dir(ctx.env),
        "sso-session",
        &cfg.name,
    );
    let _guard =
        FileLock::acquire(&path, keyfob_core::serve::LOCK_WAIT).map_err(|e| SsoError::Lock {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let now = ctx.clock.now();
    let Some(c) = current(ctx, cfg)? else {
        tracing::debug!(session = %cfg.name, "no SSO token");
        return Err(cfg.expired());
    };
    let usable = c.token.fresh_for(now, MIN_USABLE);
    match rejected {
        None if c.token.fresh_for(now, window) => {
            tracing::debug!(session = %cfg.name, "SSO token refreshed by another process");
            return Ok(c.token);
        }
        Some(r) if r.access_token != c.token.access_token && usable => {
            tracing::debug!(session = %cfg.name, "SSO token replaced by another process");
            return Ok(c.token);
        }
        _ => {}
    }
    // A token the portal refused is not usable, whatever its expiry says.
    let usable = usable && rejected.is_none();
    let refreshable = match (&c.token.refresh_token, &c.registration) {
        (Some(_), Some(reg)) => reg.expires_at > now,
        _ => false,
    };
    if !refreshable {
        tracing::debug!(session = %cfg.name, usable, "SSO token cannot be refreshed");
        return if usable {
            Ok(c.token)
        } else {
            Err(cfg.expired())
        };
    }
    let registration = c.registration.expect("checked above");
    match refresh(ctx, cfg, &c.token, &registration, now).await {
        Ok(fresh) => {
            // A refresh token taken from the AWS CLI's file is now spent: write the new one
            // back there too, or the AWS CLI is left holding a dead one.
            let mirror = c.origin == Origin::CliCache;
            token::save(ctx.store, ctx.env, cfg, &fresh, Some(&registration), mirror)?;
            tracing::info!(session = %cfg.name, expires_at = %fresh.expires_at, "refreshed the SSO token");
            Ok(fresh)
        }
        Err(e) if usable => {
            tracing::warn!(session = %cfg.name, error = %e, "SSO token refresh failed; using the current token while it lasts");
            Ok(c.token)
        }
        Err(e) => Err(e),
    }
}

async fn refresh(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
    current: &SsoToken,
    reg: &ClientRegistration,
    now: DateTime<Utc>,
) -> Result<SsoToken, SsoError> {
    let refresh_token = current
        .refresh_token
        .as_ref()
        .expect("only called with a refresh token");
    let (client, endpoint) = clients::oidc(ctx.env, &cfg.region).await;
    let out = client
        .create_token()
        .grant_type("refresh_token")
        .client_id(&reg.client_id)
        .client_secret(reg.client_secret.expose())
        .refresh_token(refresh_token.expose())
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            // The refresh token or the client is no longer accepted: only a login helps.
            Some(
                CreateTokenError::InvalidGrantException(_)
                | CreateTokenError::ExpiredTokenException(_)
                | CreateTokenError::InvalidClientException(_)
                | CreateTokenError::UnauthorizedClientException(_)
                | CreateTokenError::AccessDeniedException(_),
            ) => {
                tracing::debug!(error = %SsoError::from_sdk(Service::Oidc, "CreateToken", &endpoint, e), "refresh refused");
                cfg.expired()
            }
            _ => SsoError::from_sdk(Service::Oidc, "CreateToken", &endpoint, e),
        })?;
    let mut fresh = token_from(&out, cfg, now)?;
    if fresh.refresh_token.is_none() {
        // No rotation: the old refresh token stays the one to use.
        fresh.refresh_token.clone_from(&current.refresh_token);
    }
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::MemStore;
    use chrono::TimeZone;
    use keyfob_core::env::FixedClock;
    use keyfob_core::store::{SessionStoreExt, keys};
    use keyfob_core::{Env, Secret};

    struct World {
        _home: tempfile::TempDir,
        env: Env,
        store: MemStore,
        clock: FixedClock,
        cfg: SsoSessionConfig,
    }

    impl World {
        fn new() -> Self {
            let home = tempfile::tempdir().unwrap();
            let h = home.path().to_str().unwrap().to_owned();
            // No endpoint is reachable: any network call fails the test fast.
            let env = Env::from_pairs([
                ("HOME", h.clone()),
                ("KEYFOB_CACHE_DIR", format!("{h}/cache")),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".to_owned()),
            ]);
            Self {
                _home: home,
                env,
                store: MemStore::default(),
                clock: FixedClock(Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()),
                cfg: SsoSessionConfig {
                    name: "acme".into(),
                    start_url: "https://acme.awsapps.com/start".into(),
                    region: "eu-west-1".into(),
                    scopes: vec!["sso:account:access".into()],
                    login_flow: None,
                    write_sso_cache: false,
                    legacy_profile: None,
                },
            }
        }

        fn ctx(&self) -> SsoContext<'_> {
            SsoContext {
                store: &self.store,
                clock: &self.clock,
                env: &self.env,
            }
        }

        fn token(&self, access: &str, minutes_left: i64, refresh: Option<&str>) -> SsoToken {
            SsoToken {
                access_token: Secret::new(access),
                expires_at: self.clock.0 + Duration::minutes(minutes_left),
                refresh_token: refresh.map(Secret::new),
                region: self.cfg.region.clone(),
                start_url: self.cfg.start_url.clone(),
                scopes: self.cfg.scopes_or_default(),
            }
        }

        fn store_token(&self, t: &SsoToken) {
            self.store.put_json(&keys::sso_token("acme"), t).unwrap();
        }
    }

    #[tokio::test]
    async fn a_fresh_token_is_returned_without_a_call() {
        let w = World::new();
        let t = w.token("a", 60, Some("r"));
        w.store_token(&t);
        let got = valid_token(&w.ctx(), &w.cfg, DEFAULT_TOKEN_WINDOW)
            .await
            .unwrap();
        assert_eq!(got, t);
    }

    #[tokio::test]
    async fn no_token_means_the_session_expired() {
        let w = World::new();
        let err = valid_token(&w.ctx(), &w.cfg, DEFAULT_TOKEN_WINDOW)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "SSO session acme has expired; run: keyfob login --sso-session acme"
        );
    }

    #[tokio::test]
    async fn an_expired_token_without_refresh_data_means_login() {
        let w = World::new();
        w.store_token(&w.token("a", -1, None));
        let err = valid_token(&w.ctx(), &w.cfg, DEFAULT_TOKEN_WINDOW)
            .await
            .unwrap_err();
        assert!(err.needs_login(), "{err}");
        // With a refresh token but no registration: the same.
        w.store_token(&w.token("a", -1, Some("r")));
        let err = valid_token(&w.ctx(), &w.cfg, DEFAULT_TOKEN_WINDOW)
            .await
            .unwrap_err();
        assert!(err.needs_login(), "{err}");
    }

    #[tokio::test]
    async fn a_token_in_the_window_that_cannot_refresh_is_used_while_it_lasts() {
        let w = World::new();
        let t = w.token("a", 10, None);
        w.store_token(&t);
        let got = valid_token(&w.ctx(), &w.cfg, DEFAULT_TOKEN_WINDOW)
            .await
            .unwrap();
        assert_eq!(got, t);
    }

    #[tokio::test]
    async fn the_aws_cli_cache_is_used_when_it_lasts_longer() {
        let w = World::new();
        w.store_token(&w.token("old", -5, None));
        let cli = w.token("from-aws-sso-login", 120, None);
        token::write_cache_file(&w.env, &w.cfg, &cli, None).unwrap();
        let got = valid_token(&w.ctx(), &w.cfg, DEFAULT_TOKEN_WINDOW)
            .await
            .unwrap();
        assert_eq!(got.access_token, Secret::new("from-aws-sso-login"));
        // A file for another start URL is not this session's.
        let mut other = w.cfg.clone();
        other.start_url = "https://other.awsapps.com/start".into();
        let err = valid_token(&w.ctx(), &other, DEFAULT_TOKEN_WINDOW)
            .await
            .unwrap_err();
        assert!(err.needs_login(), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_during_refresh_keeps_a_usable_token() {
        let w = World::new();
        let t = w.token("a", 10, Some("r"));
        w.store_token(&t);
        let reg = ClientRegistration {
            client_id: "c".into(),
            client_secret: Secret::new("s"),
            expires_at: w.clock.0 + Duration::days(30),
            scopes: w.cfg.scopes.clone(),
            grant_types: Vec::new(),
            region: w.cfg.region.clone(),
            start_url: w.cfg.start_url.clone(),
        };
        w.store.put_json(&keys::sso_client("acme"), &reg).unwrap();
        let got = valid_token(&w.ctx(), &w.cfg, DEFAULT_TOKEN_WINDOW)
            .await
            .unwrap();
        assert_eq!(got, t);
        // Refused by the portal and unrefreshable: the error says where it could not go.
        let err = refresh_rejected(&w.ctx(), &w.cfg, &t).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("could not reach the IAM Identity Center endpoint http://127.0.0.1:9"),
            "{err}"
        );
    }
}
