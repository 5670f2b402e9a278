//! SSO OIDC (restJson1) and its browser side: client registration, the device authorization
//! grant, the authorization code grant with PKCE, and refresh.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::state::{
    ALNUM, App, AuthCode, Call, DeviceGrant, Grant, InjectedFailure, Inner, IssuedToken, Op,
    POLLED_TOO_FAST, RefreshGrant, Registration, now, random,
};
use super::wire::{html, json_ok, oidc_error, redirect, status, with_retry_after};

/// Letters for user codes, without vowels so no code spells a word.
const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

const INVALID_REQUEST: &str = "InvalidRequestException";
const INVALID_CLIENT: &str = "InvalidClientException";
const INVALID_GRANT: &str = "InvalidGrantException";
const UNAUTHORIZED_CLIENT: &str = "UnauthorizedClientException";
/// What the service's front door answers when a caller is throttled. The OIDC model has no
/// throttling error of its own; this is the code the AWS SDKs retry as throttling.
const TOO_MANY_REQUESTS: &str = "TooManyRequestsException";

/// The OAuth `error` string and HTTP status the model gives each exception.
fn error_details(error_type: &str) -> (&'static str, StatusCode) {
    match error_type {
        "AccessDeniedException" => ("access_denied", StatusCode::BAD_REQUEST),
        "AuthorizationPendingException" => ("authorization_pending", StatusCode::BAD_REQUEST),
        "ExpiredTokenException" => ("expired_token", StatusCode::BAD_REQUEST),
        "InternalServerException" => ("server_error", StatusCode::INTERNAL_SERVER_ERROR),
        INVALID_CLIENT => ("invalid_client", StatusCode::UNAUTHORIZED),
        "InvalidClientMetadataException" => ("invalid_client_metadata", StatusCode::BAD_REQUEST),
        INVALID_GRANT => ("invalid_grant", StatusCode::BAD_REQUEST),
        "InvalidRedirectUriException" => ("invalid_redirect_uri", StatusCode::BAD_REQUEST),
        "InvalidScopeException" => ("invalid_scope", StatusCode::BAD_REQUEST),
        "SlowDownException" => ("slow_down", StatusCode::BAD_REQUEST),
        TOO_MANY_REQUESTS => ("too_many_requests", StatusCode::TOO_MANY_REQUESTS),
        UNAUTHORIZED_CLIENT => ("unauthorized_client", StatusCode::BAD_REQUEST),
        "UnsupportedGrantTypeException" => ("unsupported_grant_type", StatusCode::BAD_REQUEST),
        _ => ("invalid_request", StatusCode::BAD_REQUEST),
    }
}

/// An OIDC error of this modeled type, with the model's status and `error` string.
fn err(error_type: &str, description: &str) -> Response {
    let (error, status) = error_details(error_type);
    oidc_error(status, error_type, error, description)
}

/// An injected failure, dressed as the OIDC error usual for its status.
fn injected(failure: &InjectedFailure) -> Response {
    let error_type = failure.code.as_deref().unwrap_or(match failure.status {
        401 => INVALID_CLIENT,
        403 => "AccessDeniedException",
        429 => TOO_MANY_REQUESTS,
        500..=599 => "InternalServerException",
        _ => INVALID_REQUEST,
    });
    let (error, _) = error_details(error_type);
    with_retry_after(
        oidc_error(
            status(failure.status),
            error_type,
            error,
            failure.message.as_deref().unwrap_or("injected failure"),
        ),
        failure.retry_after_ms,
    )
}

/// The grants a registration may use: those it registered, or — registered without any, as
/// the AWS CLI registers its device-flow clients — the device code and refresh token grants.
fn allows(client: &Registration, grant: Grant) -> bool {
    if client.grant_types.is_empty() {
        matches!(grant, Grant::DeviceCode | Grant::RefreshToken)
    } else {
        client.grant_types.iter().any(|g| g == grant.wire())
    }
}

fn unauthorized_for(grant: Grant) -> Response {
    err(
        UNAUTHORIZED_CLIENT,
        &format!(
            "Client is not authorized to use the {} grant: it was not registered for it",
            grant.wire()
        ),
    )
}

fn json_body(call: &Call) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(&call.body) {
        Ok(body @ Value::Object(_)) => Ok(body),
        _ => Err(err(INVALID_REQUEST, "request body is not a JSON object")),
    }
}

fn str_field<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)?.as_str().filter(|s| !s.is_empty())
}

fn required<'a>(body: &'a Value, key: &str) -> Result<&'a str, Response> {
    str_field(body, key).ok_or_else(|| err(INVALID_REQUEST, &format!("{key} is required")))
}

fn str_list(body: &Value, key: &str) -> Vec<String> {
    body.get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The registered, unexpired client that `clientId` / `clientSecret` name.
fn authenticate(inner: &Inner, body: &Value) -> Result<Registration, Response> {
    let client_id = required(body, "clientId")?;
    let client_secret = required(body, "clientSecret")?;
    let client = inner
        .clients
        .get(client_id)
        .filter(|c| c.client_secret == client_secret)
        .ok_or_else(|| err(INVALID_CLIENT, "Invalid client provided"))?;
    if client.expires_at <= now() {
        return Err(err(INVALID_CLIENT, "Client registration has expired"));
    }
    Ok(client.clone())
}

/// `POST /client/register`.
pub(crate) async fn register_client(State(app): State<App>, call: Call) -> Response {
    if let Some(failure) = app.begin(Op::RegisterClient, &call).await {
        return injected(&failure);
    }
    match register(&app, &call) {
        Ok(response) | Err(response) => response,
    }
}

fn register(app: &App, call: &Call) -> Result<Response, Response> {
    let body = json_body(call)?;
    let client_name = required(&body, "clientName")?;
    let client_type = required(&body, "clientType")?;
    if client_type != "public" {
        return Err(err(
            "InvalidClientMetadataException",
            "clientType must be public",
        ));
    }
    let grant_types = str_list(&body, "grantTypes");
    if let Some(unknown) = grant_types.iter().find(|g| Grant::from_wire(g).is_none()) {
        return Err(err(
            "InvalidClientMetadataException",
            &format!("unsupported grant type {unknown}"),
        ));
    }
    let redirect_uris = str_list(&body, "redirectUris");
    if grant_types
        .iter()
        .any(|g| g == Grant::AuthorizationCode.wire())
        && redirect_uris.is_empty()
    {
        return Err(err(
            "InvalidRedirectUriException",
            "redirectUris is required for the authorization_code grant",
        ));
    }
    let mut inner = app.lock();
    let issued_at = now();
    let client = Registration {
        client_id: format!("fakecid{}", random(ALNUM, 22)),
        client_secret: format!("fakesecret{}", random(ALNUM, 90)),
        client_name: client_name.to_owned(),
        scopes: str_list(&body, "scopes"),
        grant_types,
        redirect_uris,
        issuer_url: str_field(&body, "issuerUrl").map(str::to_owned),
        expires_at: issued_at + chrono::Duration::seconds(inner.config.registration_lifetime_secs),
    };
    let response = json_ok(&json!({
        "clientId": client.client_id,
        "clientSecret": client.client_secret,
        "clientIdIssuedAt": issued_at.timestamp(),
        "clientSecretExpiresAt": client.expires_at.timestamp(),
    }));
    inner.clients.insert(client.client_id.clone(), client);
    Ok(response)
}

/// `POST /device_authorization`.
pub(crate) async fn start_device_authorization(State(app): State<App>, call: Call) -> Response {
    if let Some(failure) = app.begin(Op::StartDeviceAuthorization, &call).await {
        return injected(&failure);
    }
    match device_authorization(&app, &call) {
        Ok(response) | Err(response) => response,
    }
}

fn device_authorization(app: &App, call: &Call) -> Result<Response, Response> {
    let body = json_body(call)?;
    let mut inner = app.lock();
    let client = authenticate(&inner, &body)?;
    if !allows(&client, Grant::DeviceCode) {
        return Err(unauthorized_for(Grant::DeviceCode));
    }
    let start_url = required(&body, "startUrl")?;
    let script = inner.config.device.clone();
    let grant = DeviceGrant {
        device_code: format!("fakedev{}", random(ALNUM, 64)),
        user_code: format!("{}-{}", random(LETTERS, 4), random(LETTERS, 4)),
        client_id: client.client_id,
        start_url: start_url.to_owned(),
        expires_at: now() + chrono::Duration::seconds(i64::from(script.expires_in_secs)),
        verified: false,
        consumed: false,
        slow_downs_given: 0,
        slow_down_steps: 0,
        pendings_given: 0,
        last_poll: None,
    };
    let verification_uri = format!("{}/verify", app.base_url);
    let response = json_ok(&json!({
        "deviceCode": grant.device_code,
        "userCode": grant.user_code,
        "verificationUri": verification_uri,
        "verificationUriComplete": format!("{verification_uri}?user_code={}", grant.user_code),
        "expiresIn": script.expires_in_secs,
        "interval": script.interval_secs,
    }));
    inner.devices.insert(grant.device_code.clone(), grant);
    Ok(response)
}

/// `POST /token`: all three grants.
pub(crate) async fn create_token(State(app): State<App>, call: Call) -> Response {
    if let Some(failure) = app.begin(Op::CreateToken, &call).await {
        return injected(&failure);
    }
    match token(&app, &call) {
        Ok(response) | Err(response) => response,
    }
}

fn token(app: &App, call: &Call) -> Result<Response, Response> {
    if call.query().contains_key("aws_iam") {
        return Err(err(
            INVALID_REQUEST,
            "CreateTokenWithIAM is not served by this fake",
        ));
    }
    let body = json_body(call)?;
    let grant_type = required(&body, "grantType")?;
    let grant = Grant::from_wire(grant_type);
    let mut inner = app.lock();
    inner.count(grant.map_or("CreateToken.other", Grant::counter));
    let client = authenticate(&inner, &body)?;
    let Some(grant) = grant else {
        return Err(err(
            "UnsupportedGrantTypeException",
            &format!("unsupported grant type {grant_type}"),
        ));
    };
    if !allows(&client, grant) {
        return Err(unauthorized_for(grant));
    }
    let issue_refresh = inner.config.issue_refresh_tokens;
    let explicit_refresh = client
        .grant_types
        .iter()
        .any(|g| g == Grant::RefreshToken.wire());
    let (scopes, refresh, session) = match grant {
        Grant::DeviceCode => {
            let polled = poll_device(&mut inner, &client, &body);
            if let Err(Poll::TooFast(_)) = &polled {
                inner.count(POLLED_TOO_FAST);
            }
            polled.map_err(Poll::into_response)?;
            // Identity Center gives refresh tokens to clients registered with scopes.
            let refresh = issue_refresh && (!client.scopes.is_empty() || explicit_refresh);
            (
                client.scopes.clone(),
                refresh.then(new_refresh_token),
                new_session(),
            )
        }
        Grant::AuthorizationCode => {
            let scopes = redeem_code(&mut inner, &client, &body)?;
            let refresh = issue_refresh && explicit_refresh;
            (scopes, refresh.then(new_refresh_token), new_session())
        }
        Grant::RefreshToken => refresh(&mut inner, &client, &body)?,
    };
    if let Some(refresh_token) = &refresh {
        let lifetime = chrono::Duration::seconds(inner.config.refresh_token_lifetime_secs);
        inner
            .refresh_tokens
            .entry(refresh_token.clone())
            .or_insert_with(|| RefreshGrant {
                client_id: client.client_id.clone(),
                scopes: scopes.clone(),
                expires_at: now() + lifetime,
                session: session.clone(),
            });
    }
    let lifetime = inner.config.token_lifetime_secs;
    let token = IssuedToken {
        access_token: format!("aoafake{}", random(ALNUM, 120)),
        refresh_token: refresh,
        client_id: client.client_id.clone(),
        grant: grant.wire().to_owned(),
        scopes,
        expires_at: now() + chrono::Duration::seconds(lifetime),
        revoked: false,
        session,
    };
    let mut response = json!({
        "accessToken": token.access_token,
        "tokenType": "Bearer",
        "expiresIn": lifetime,
    });
    if let Some(refresh_token) = &token.refresh_token {
        response["refreshToken"] = json!(refresh_token);
    }
    inner.add_token(token);
    Ok(json_ok(&response))
}

fn new_refresh_token() -> String {
    format!("aorfake{}", random(ALNUM, 120))
}

fn new_session() -> String {
    format!("fakesession{}", random(ALNUM, 24))
}

/// Why a device-code poll got no token.
enum Poll {
    /// It came sooner than the interval allows.
    TooFast(Response),
    /// Any other answer (pending, scripted slow_down, denied, expired, invalid).
    Other(Response),
}

impl Poll {
    fn into_response(self) -> Response {
        match self {
            Poll::TooFast(r) | Poll::Other(r) => r,
        }
    }
}

impl From<Response> for Poll {
    fn from(response: Response) -> Self {
        Poll::Other(response)
    }
}

/// The gap a client must keep between polls: the interval plus 5 s for every `slow_down`
/// given (RFC 8628 §3.5), in the script's scaled seconds.
fn required_gap(interval_secs: i32, slow_down_steps: u32, scale: f64) -> chrono::Duration {
    let secs = f64::from(interval_secs) + 5.0 * f64::from(slow_down_steps);
    // Milliseconds fit an i64 for any interval a test sets.
    #[allow(clippy::cast_possible_truncation)]
    chrono::Duration::milliseconds((secs * 1000.0 * scale.max(0.0)) as i64)
}

/// Advance the device grant's script by one poll; `Ok` means approved and now consumed.
fn poll_device(inner: &mut Inner, client: &Registration, body: &Value) -> Result<(), Poll> {
    let device_code = required(body, "deviceCode")?;
    let script = inner.config.device.clone();
    let at = now();
    let device = inner
        .devices
        .get_mut(device_code)
        .filter(|d| d.client_id == client.client_id)
        .ok_or_else(|| err(INVALID_GRANT, "Invalid device code provided"))?;
    if device.consumed {
        return Err(err(INVALID_GRANT, "Device code has already been used").into());
    }
    if at >= device.expires_at {
        return Err(err("ExpiredTokenException", "Device code has expired").into());
    }
    let gap = required_gap(
        script.interval_secs,
        device.slow_down_steps,
        script.interval_scale,
    );
    let too_soon = script.enforce_interval && device.last_poll.is_some_and(|last| at - last < gap);
    device.last_poll = Some(at);
    if too_soon {
        device.slow_down_steps += 1;
        return Err(Poll::TooFast(err(
            "SlowDownException",
            "Client is polling too fast",
        )));
    }
    if device.slow_downs_given < script.slow_down_polls {
        device.slow_downs_given += 1;
        device.slow_down_steps += 1;
        return Err(err("SlowDownException", "Client is polling too fast").into());
    }
    let pending = || {
        err(
            "AuthorizationPendingException",
            "Authorization is still pending",
        )
    };
    if device.pendings_given < script.pending_polls {
        device.pendings_given += 1;
        return Err(pending().into());
    }
    if script.expire {
        return Err(err("ExpiredTokenException", "Device code has expired").into());
    }
    if !(device.verified || script.auto_approve) {
        device.pendings_given += 1;
        return Err(pending().into());
    }
    if script.deny {
        return Err(err(
            "AccessDeniedException",
            "The user denied the authorization request",
        )
        .into());
    }
    device.consumed = true;
    Ok(())
}

/// Check an authorization code against its PKCE challenge and redirect URI; the code's scopes.
fn redeem_code(
    inner: &mut Inner,
    client: &Registration,
    body: &Value,
) -> Result<Vec<String>, Response> {
    let code = required(body, "code")?;
    let verifier = str_field(body, "codeVerifier").unwrap_or_default();
    let redirect_uri = str_field(body, "redirectUri").unwrap_or_default();
    // A code is single-use whether or not this attempt succeeds, as OAuth requires.
    let issued = inner
        .auth_codes
        .remove(code)
        .filter(|c| c.client_id == client.client_id)
        .ok_or_else(|| err(INVALID_GRANT, "Invalid authorization code provided"))?;
    if issued.expires_at <= now() {
        return Err(err(INVALID_GRANT, "Authorization code has expired"));
    }
    if issued.redirect_uri != redirect_uri {
        return Err(err(
            INVALID_GRANT,
            "redirectUri does not match the one sent to /authorize",
        ));
    }
    if pkce_challenge(verifier) != issued.code_challenge {
        return Err(err(
            INVALID_GRANT,
            "codeVerifier does not match the code_challenge",
        ));
    }
    Ok(issued.scopes)
}

/// `BASE64URL-NOPAD(SHA256(verifier))`, the S256 method of RFC 7636.
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Redeem a refresh token: the scopes, the refresh token to hand back, and the session.
fn refresh(
    inner: &mut Inner,
    client: &Registration,
    body: &Value,
) -> Result<(Vec<String>, Option<String>, String), Response> {
    let refresh_token = required(body, "refreshToken")?;
    let grant = inner
        .refresh_tokens
        .get(refresh_token)
        .filter(|g| g.client_id == client.client_id)
        .cloned()
        .ok_or_else(|| err(INVALID_GRANT, "Invalid refresh token provided"))?;
    if grant.expires_at <= now() {
        return Err(err(INVALID_GRANT, "Refresh token has expired"));
    }
    if inner.config.rotate_refresh_tokens {
        inner.refresh_tokens.remove(refresh_token);
        Ok((grant.scopes, Some(new_refresh_token()), grant.session))
    } else {
        Ok((grant.scopes, Some(refresh_token.to_owned()), grant.session))
    }
}

/// `GET /authorize`: the browser leg of the authorization code grant.
pub(crate) async fn authorize(State(app): State<App>, call: Call) -> Response {
    if let Some(failure) = app.begin(Op::Authorize, &call).await {
        return html(
            status(failure.status),
            "Error",
            failure.message.as_deref().unwrap_or("injected failure"),
        );
    }
    let query = call.query();
    let param = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let bad = |m: &str| html(StatusCode::BAD_REQUEST, "Bad request", m);
    let mut inner = app.lock();
    let Some(client) = inner.clients.get(param("client_id")).cloned() else {
        return bad("unknown client_id");
    };
    if client.expires_at <= now() {
        return bad("client registration has expired");
    }
    // Errors about the client or its redirect URI are shown here, never sent to the
    // redirect URI (RFC 6749 §4.1.2.1): that URI is not known to be the client's.
    if !allows(&client, Grant::AuthorizationCode) {
        return bad(
            "unauthorized_client: the client is not registered for the authorization_code grant",
        );
    }
    let redirect_uri = param("redirect_uri");
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return bad("redirect_uri is not a URL");
    };
    if !client
        .redirect_uris
        .iter()
        .any(|r| same_loopback_uri(r, &target))
    {
        return bad("redirect_uri was not registered");
    }
    let state = param("state");
    let challenge = param("code_challenge");
    let failure = if param("response_type") != "code" {
        Some(("unsupported_response_type", "response_type must be code"))
    } else if param("code_challenge_method") != "S256" || challenge.is_empty() {
        Some(("invalid_request", "a S256 code_challenge is required"))
    } else if inner.config.pkce.deny {
        Some(("access_denied", "The user denied the authorization request"))
    } else {
        None
    };
    {
        let mut pairs = target.query_pairs_mut();
        if let Some((error, description)) = failure {
            pairs
                .append_pair("error", error)
                .append_pair("error_description", description);
        } else {
            let code = format!("fakecode{}", random(ALNUM, 40));
            pairs.append_pair("code", &code);
            inner.auth_codes.insert(
                code,
                AuthCode {
                    client_id: client.client_id.clone(),
                    code_challenge: challenge.to_owned(),
                    redirect_uri: redirect_uri.to_owned(),
                    scopes: param("scopes")
                        .split([' ', ','])
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    expires_at: now() + chrono::Duration::minutes(10),
                },
            );
        }
        pairs.append_pair("state", state);
    }
    redirect(target.as_str())
}

/// Loopback redirect URIs match whatever their port (RFC 8252 §7.3): clients register
/// `http://127.0.0.1/oauth/callback` and listen on an ephemeral port.
fn same_loopback_uri(registered: &str, used: &url::Url) -> bool {
    url::Url::parse(registered).is_ok_and(|r| {
        r.scheme() == used.scheme()
            && r.host_str() == used.host_str()
            && r.path() == used.path()
            && (r.port() == used.port() || r.port().is_none())
    })
}

/// `GET /verify?user_code=`: the user approves (or, scripted, denies) a device code.
pub(crate) async fn verify(State(app): State<App>, call: Call) -> Response {
    if let Some(failure) = app.begin(Op::Verify, &call).await {
        return html(
            status(failure.status),
            "Error",
            failure.message.as_deref().unwrap_or("injected failure"),
        );
    }
    let user_code = call.query().remove("user_code").unwrap_or_default();
    let mut inner = app.lock();
    let deny = inner.config.device.deny;
    match inner
        .devices
        .values_mut()
        .find(|d| d.user_code.eq_ignore_ascii_case(&user_code))
    {
        Some(device) => {
            device.verified = true;
            if deny {
                html(
                    StatusCode::OK,
                    "Request denied",
                    &format!("{} was denied.", device.user_code),
                )
            } else {
                html(
                    StatusCode::OK,
                    "Request approved",
                    &format!(
                        "{} is approved for {}. You can close this window.",
                        device.user_code, device.start_url
                    ),
                )
            }
        }
        None => html(
            StatusCode::NOT_FOUND,
            "Unknown code",
            "No authorization request has this code.",
        ),
    }
}

/// Approve the unconsumed device codes with this user code (any case), or all of them;
/// how many were approved.
pub(crate) fn approve(inner: &mut Inner, user_code: Option<&str>) -> usize {
    let mut approved = 0;
    for device in inner.devices.values_mut().filter(|d| {
        !d.consumed && user_code.is_none_or(|code| d.user_code.eq_ignore_ascii_case(code))
    }) {
        device.verified = true;
        approved += 1;
    }
    approved
}
