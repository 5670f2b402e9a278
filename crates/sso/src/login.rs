//! `keyfob login` for an SSO session: OIDC client registration, then the device flow or the
//! authorization-code flow with PKCE, then the tokens into the keychain (and the mirror).
//!
//! The wire details follow the AWS CLI v2 (`SSOTokenFetcher`, `SSOTokenFetcherAuth`,
//! `AuthCodeFetcher`): the same registration parameters, the same authorize URL, the same
//! polling rules, so that IAM Identity Center sees a client it already knows how to serve.

use crate::SsoContext;
use crate::callback::{CALLBACK_PATH, port_of, receive_code};
use crate::clients;
use crate::error::{Service, SsoError};
use crate::session::{Flow, SsoSessionConfig};
use crate::timing::{poll_scale, scaled};
use crate::token::{self, ClientRegistration, PKCE_GRANT_TYPES, SsoToken};
use aws_sdk_ssooidc::operation::create_token::CreateTokenError;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use keyfob_core::Secret;
use std::time::Duration;
use tokio::net::TcpListener;

/// The device-flow grant type.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The poll interval when the server names none (RFC 8628).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// What a `slow_down` answer adds to the interval (RFC 8628).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// The redirect URI a PKCE client is registered with; the login uses it with the port.
const REGISTERED_REDIRECT_URI: &str = "http://127.0.0.1/oauth/callback";
/// How long to wait for the browser by default (the AWS CLI's overall timeout).
pub const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// What the device flow asks the user to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePrompt {
    /// The code to confirm in the browser.
    pub user_code: String,
    /// The page to open.
    pub verification_uri: String,
    /// The page with the code filled in, when the server offers one.
    pub verification_uri_complete: Option<String>,
    /// How long the code stays valid.
    pub expires_in: Duration,
}

/// The caller's side of a sign-in: the CLI prints, opens a browser and shows a spinner; tests
/// act as the user. Both methods must return promptly (start the browser, do not wait for the
/// sign-in): keyfob starts polling or listening only after they return.
pub trait LoginUi: Send + Sync {
    /// Device flow: show the code and where to confirm it (and open a browser if wanted).
    fn show_device_code(&self, prompt: &DevicePrompt);
    /// PKCE flow: open this URL in a browser on this machine (and print it, for copying).
    fn open_browser(&self, url: &str);
}

/// Knobs of a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginOptions {
    /// How long the PKCE flow waits for the browser's redirect.
    pub callback_timeout: Duration,
    /// Register a new OIDC client even if a stored one would do.
    pub new_registration: bool,
}

impl Default for LoginOptions {
    fn default() -> Self {
        Self {
            callback_timeout: DEFAULT_CALLBACK_TIMEOUT,
            new_registration: false,
        }
    }
}

/// Signs in to `cfg` with `flow`, stores the registration and token in the keychain (and the
/// mirror if the session asks for it) and returns the token.
pub async fn login(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
    flow: Flow,
    ui: &dyn LoginUi,
    opts: &LoginOptions,
) -> Result<SsoToken, SsoError> {
    tracing::info!(session = %cfg.name, %flow, "signing in to IAM Identity Center");
    // Bind first: if the loopback listener cannot exist, say so before any network call.
    let listener = match flow {
        Flow::Pkce => {
            Some(
                TcpListener::bind(("127.0.0.1", 0))
                    .await
                    .map_err(|e| SsoError::Callback {
                        reason: e.to_string(),
                    })?,
            )
        }
        Flow::Device => None,
    };
    let (client, endpoint) = clients::oidc(ctx.env, &cfg.region).await;
    let oidc = Oidc {
        client: &client,
        endpoint: &endpoint,
    };
    let mut force_new = opts.new_registration;
    loop {
        let (registration, fresh) = registration(ctx, cfg, flow, &oidc, force_new).await?;
        let signed_in = match &listener {
            Some(listener) => pkce(ctx, cfg, &oidc, &registration, fresh, ui, listener, opts).await,
            None => device(ctx, cfg, &oidc, &registration, ui).await,
        };
        match signed_in {
            // The IdP forgot the stored registration (or it was revoked): register again,
            // once. A registration made a moment ago that is refused too is an error.
            Err(e) if e.is_invalid_client() && !fresh => {
                tracing::info!(session = %cfg.name, error = %e, "the IdP no longer knows the stored client registration; registering a new one");
                force_new = true;
            }
            Err(e) => return Err(e),
            Ok(token) => {
                token::save(ctx.store, ctx.env, cfg, &token, Some(&registration), false)?;
                tracing::info!(session = %cfg.name, expires_at = %token.expires_at, "signed in");
                return Ok(token);
            }
        }
    }
}

struct Oidc<'a> {
    client: &'a aws_sdk_ssooidc::Client,
    endpoint: &'a str,
}

/// The stored registration if it fits (`false`), else a new one (`true`). A new one is stored
/// with the token once the sign-in succeeds ([`token::save`]): a failed login changes no
/// keychain entry.
async fn registration(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
    flow: Flow,
    oidc: &Oidc<'_>,
    force_new: bool,
) -> Result<(ClientRegistration, bool), SsoError> {
    let now = ctx.clock.now();
    if !force_new
        && let Some(reg) = token::load_registration(ctx.store, cfg)?
        && reg.reusable_for(cfg, flow, now)
    {
        tracing::debug!(session = %cfg.name, "reusing the stored OIDC client registration");
        return Ok((reg, false));
    }
    let scopes = cfg.scopes_or_default();
    let mut req = oidc
        .client
        .register_client()
        .client_name(format!("keyfob-{}", cfg.name))
        .client_type("public")
        .set_scopes(Some(scopes.clone()));
    let grant_types: Vec<String> = match flow {
        Flow::Pkce => {
            req = req
                .set_grant_types(Some(PKCE_GRANT_TYPES.map(str::to_owned).to_vec()))
                .redirect_uris(REGISTERED_REDIRECT_URI)
                .issuer_url(&cfg.start_url);
            PKCE_GRANT_TYPES.map(str::to_owned).to_vec()
        }
        Flow::Device => Vec::new(),
    };
    let out = req
        .send()
        .await
        .map_err(|e| SsoError::from_sdk(Service::Oidc, "RegisterClient", oidc.endpoint, e))?;
    let (Some(client_id), Some(client_secret)) = (out.client_id(), out.client_secret()) else {
        return Err(missing(
            Service::Oidc,
            "RegisterClient",
            "clientId/clientSecret",
        ));
    };
    let reg = ClientRegistration {
        client_id: client_id.to_owned(),
        client_secret: Secret::new(client_secret),
        expires_at: DateTime::from_timestamp(out.client_secret_expires_at(), 0)
            .unwrap_or(now + ChronoDuration::days(90)),
        scopes,
        grant_types,
        region: cfg.region.clone(),
        start_url: cfg.start_url.clone(),
    };
    tracing::debug!(session = %cfg.name, expires_at = %reg.expires_at, "registered an OIDC client");
    Ok((reg, true))
}

fn missing(service: Service, operation: &'static str, what: &str) -> SsoError {
    SsoError::Service {
        service,
        operation,
        code: "MalformedResponse".to_owned(),
        message: format!("the answer has no {what}"),
        status: None,
    }
}

/// Builds a token from a `CreateToken` answer.
pub(crate) fn token_from(
    out: &aws_sdk_ssooidc::operation::create_token::CreateTokenOutput,
    cfg: &SsoSessionConfig,
    now: DateTime<Utc>,
) -> Result<SsoToken, SsoError> {
    let access = out
        .access_token()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| missing(Service::Oidc, "CreateToken", "accessToken"))?;
    Ok(SsoToken {
        access_token: Secret::new(access),
        expires_at: now + ChronoDuration::seconds(i64::from(out.expires_in().max(0))),
        refresh_token: out
            .refresh_token()
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        region: cfg.region.clone(),
        start_url: cfg.start_url.clone(),
        scopes: cfg.scopes_or_default(),
    })
}

async fn device(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
    oidc: &Oidc<'_>,
    reg: &ClientRegistration,
    ui: &dyn LoginUi,
) -> Result<SsoToken, SsoError> {
    let auth = oidc
        .client
        .start_device_authorization()
        .client_id(&reg.client_id)
        .client_secret(reg.client_secret.expose())
        .start_url(&cfg.start_url)
        .send()
        .await
        .map_err(|e| {
            SsoError::from_sdk(Service::Oidc, "StartDeviceAuthorization", oidc.endpoint, e)
        })?;
    let device_code = auth
        .device_code()
        .ok_or_else(|| missing(Service::Oidc, "StartDeviceAuthorization", "deviceCode"))?;
    let expires_in = Duration::from_secs(u64::try_from(auth.expires_in()).unwrap_or(0).max(1));
    let prompt = DevicePrompt {
        user_code: auth.user_code().unwrap_or_default().to_owned(),
        verification_uri: auth.verification_uri().unwrap_or_default().to_owned(),
        verification_uri_complete: auth.verification_uri_complete().map(str::to_owned),
        expires_in,
    };
    let deadline = tokio::time::Instant::now() + expires_in;
    let scale = poll_scale(ctx.env, oidc.endpoint);
    let mut interval = u64::try_from(auth.interval())
        .ok()
        .filter(|s| *s > 0)
        .map_or(DEFAULT_INTERVAL, Duration::from_secs);
    ui.show_device_code(&prompt);
    tracing::info!(user_code = %prompt.user_code, "waiting for the device code to be approved");
    loop {
        if tokio::time::Instant::now() + scaled(interval, scale) > deadline {
            return Err(SsoError::DeviceCodeExpired);
        }
        tokio::time::sleep(scaled(interval, scale)).await;
        let result = oidc
            .client
            .create_token()
            .grant_type(DEVICE_GRANT)
            .client_id(&reg.client_id)
            .client_secret(reg.client_secret.expose())
            .device_code(device_code)
            .send()
            .await;
        match result {
            Ok(out) => return token_from(&out, cfg, ctx.clock.now()),
            Err(e) => match e.as_service_error() {
                Some(CreateTokenError::AuthorizationPendingException(_)) => {
                    tracing::debug!("authorization pending");
                }
                Some(CreateTokenError::SlowDownException(_)) => {
                    interval += SLOW_DOWN_STEP;
                    tracing::debug!(interval_s = interval.as_secs(), "asked to slow down");
                }
                Some(CreateTokenError::ExpiredTokenException(_)) => {
                    return Err(SsoError::DeviceCodeExpired);
                }
                Some(CreateTokenError::AccessDeniedException(_)) => {
                    return Err(SsoError::Denied { detail: None });
                }
                _ => {
                    let e = SsoError::from_sdk(Service::Oidc, "CreateToken", oidc.endpoint, e);
                    if !e.is_throttling() {
                        return Err(e);
                    }
                    // Still throttled after the SDK's own retries: poll more slowly, as for
                    // slow_down, while the code lasts.
                    interval += SLOW_DOWN_STEP;
                    tracing::debug!(interval_s = interval.as_secs(), error = %e, "throttled");
                }
            },
        }
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters (botocore's
/// `percent_encode_sequence`: a space is `%20`, not `+`).
fn percent_encode(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The authorize URL, with the AWS CLI's parameters in its order; scopes are space separated.
pub(crate) fn authorize_url(
    oidc_endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    code_challenge: &str,
    scopes: &[String],
) -> String {
    let params = [
        ("response_type", "code".to_owned()),
        ("client_id", client_id.to_owned()),
        ("redirect_uri", redirect_uri.to_owned()),
        ("state", state.to_owned()),
        ("code_challenge_method", "S256".to_owned()),
        ("scopes", scopes.join(" ")),
        ("code_challenge", code_challenge.to_owned()),
    ];
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    format!(
        "{}/authorize?{}",
        oidc_endpoint.trim_end_matches('/'),
        query.join("&")
    )
}

/// Whether the IdP still knows a stored registration, asked before a browser is sent to an
/// authorize page that would only show an error: a token request with an authorization code
/// that cannot exist is `invalid_grant` for a known client and `invalid_client` for a
/// forgotten one. Any other answer lets the sign-in go ahead (the real exchange will tell).
async fn check_client(oidc: &Oidc<'_>, reg: &ClientRegistration) -> Result<(), SsoError> {
    let (_, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let answer = oidc
        .client
        .create_token()
        .grant_type("authorization_code")
        .client_id(&reg.client_id)
        .client_secret(reg.client_secret.expose())
        .code("keyfob-client-check")
        .code_verifier(verifier.secret())
        .redirect_uri(REGISTERED_REDIRECT_URI)
        .send()
        .await;
    match answer {
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(CreateTokenError::InvalidClientException(_))
            ) =>
        {
            Err(SsoError::from_sdk(
                Service::Oidc,
                "CreateToken",
                oidc.endpoint,
                e,
            ))
        }
        _ => Ok(()),
    }
}

// The steps of one sign-in, each needed once; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn pkce(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
    oidc: &Oidc<'_>,
    reg: &ClientRegistration,
    fresh: bool,
    ui: &dyn LoginUi,
    listener: &TcpListener,
    opts: &LoginOptions,
) -> Result<SsoToken, SsoError> {
    if !fresh {
        check_client(oidc, reg).await?;
    }
    let port = port_of(listener)?;
    let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let state = oauth2::CsrfToken::new_random();
    let url = authorize_url(
        &clients::oidc_endpoint(ctx.env, &cfg.region),
        &reg.client_id,
        &redirect_uri,
        state.secret(),
        challenge.as_str(),
        &cfg.scopes_or_default(),
    );
    ui.open_browser(&url);
    tracing::info!(%port, "waiting for the browser sign-in");
    let code = receive_code(listener, state.secret(), opts.callback_timeout).await?;
    let out = oidc
        .client
        .create_token()
        .grant_type("authorization_code")
        .client_id(&reg.client_id)
        .client_secret(reg.client_secret.expose())
        .code(code)
        .code_verifier(verifier.secret())
        .redirect_uri(&redirect_uri)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(CreateTokenError::AccessDeniedException(_)) => SsoError::Denied { detail: None },
            _ => SsoError::from_sdk(Service::Oidc, "CreateToken", oidc.endpoint, e),
        })?;
    token_from(&out, cfg, ctx.clock.now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_matches_the_aws_cli() {
        let url = authorize_url(
            "https://oidc.us-east-1.amazonaws.com/",
            "client-id_1",
            "http://127.0.0.1:4711/oauth/callback",
            "st/ate",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            &["sso:account:access".to_owned(), "other:scope".to_owned()],
        );
        assert_eq!(
            url,
            "https://oidc.us-east-1.amazonaws.com/authorize?response_type=code&client_id=client-id_1\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2Foauth%2Fcallback&state=st%2Fate\
             &code_challenge_method=S256&scopes=sso%3Aaccount%3Aaccess%20other%3Ascope\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_pair_is_s256_without_padding() {
        // RFC 7636 appendix B.
        let vector =
            oauth2::PkceCodeChallenge::from_code_verifier_sha256(&oauth2::PkceCodeVerifier::new(
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned(),
            ));
        assert_eq!(
            vector.as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let (challenge, _verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        assert_eq!(challenge.method().as_str(), "S256");
        assert_eq!(challenge.as_str().len(), 43);
        assert!(!challenge.as_str().contains('='));
    }
}
