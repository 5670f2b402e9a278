//! A fake IAM Identity Center (SSO OIDC + SSO portal) and STS on loopback, for end-to-end tests.
//!
//! One server answers all three services; the real SDK clients (Rust and botocore) reach it
//! through `AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_SSO` and `AWS_ENDPOINT_URL_STS`
//! set to [`FakeAws::url`] (see [`FakeAws::endpoint_env`]). The wire formats are those the SDKs
//! are generated from: restJson1 for OIDC and the portal (errors carry `x-amzn-errortype`),
//! awsQuery for STS (XML in the `https://sts.amazonaws.com/doc/2011-06-15/` namespace).
//!
//! | Method | Path | Operation | Notes |
//! |---|---|---|---|
//! | POST | `/client/register` | OIDC `RegisterClient` | `clientType` must be `public`; without `grantTypes` a client may use the device code and refresh token grants only, else only those it lists |
//! | POST | `/device_authorization` | OIDC `StartDeviceAuthorization` | `verificationUriComplete` is `/verify?user_code=…` here; a client not allowed the device grant: `UnauthorizedClientException` |
//! | POST | `/token` | OIDC `CreateToken` | device code, refresh token and authorization code (PKCE S256) grants, each only for clients allowed it (`UnauthorizedClientException`); device polls sooner than the interval (+5 s per `slow_down`) get `SlowDownException`; scripted by [`DeviceScript`] |
//! | GET | `/authorize` | browser leg of PKCE | 302 to `redirect_uri?code=…&state=…`, or `?error=access_denied…` when [`PkceScript::deny`]; an unknown client, a client without the authorization code grant or an unregistered `redirect_uri` get a 400 page and no redirect |
//! | GET | `/verify?user_code=` | browser leg of the device flow | approves the device code |
//! | GET | `/assignment/accounts?next_token=&max_result=` | portal `ListAccounts` | bearer in `x-amz-sso_bearer_token`; pages of [`FakeConfig::page_size`]; `nextToken`s are opaque and good only for the caller's token, the operation and the account they came with (else 400 `InvalidRequestException`) |
//! | GET | `/assignment/roles?account_id=&next_token=&max_result=` | portal `ListAccountRoles` | unknown account: 403 `ForbiddenException` |
//! | GET | `/federation/credentials?role_name=&account_id=` | portal `GetRoleCredentials` | `expiration` in epoch millis; unassigned: 403 `ForbiddenException` |
//! | POST | `/logout` | portal `Logout` | ends the sign-in session: its access tokens and refresh tokens stop working |
//! | POST | `/` | STS `GetCallerIdentity`, `GetSessionToken`, `AssumeRole`, `AssumeRoleWithSAML` | form `Action=…`; every action but `AssumeRoleWithSAML` must be `SigV4`-signed with a key the fake knows: unknown key 403 `InvalidClientTokenId`, wrong signature 403 `SignatureDoesNotMatch` |
//! | GET | `/?Action=GetCallerIdentity&…&X-Amz-Credential=…` | STS presigned `GetCallerIdentity` | an EKS token's URL, replayed as the cluster's authenticator does; its query signature is checked like any other (`SigV4` presigned, with the key the fake knows) |
//! | GET | `/_fake/counters` | control | `{"ListAccounts": 3, "CreateToken.device_code": 2, "CreateToken.polled_too_fast": 0, "Throttled": 5, "Throttled.retried_too_soon": 0, …}` |
//! | POST | `/_fake/reset[?all=true]` | control | counters, recorded requests, queued failures; `all` also forgets what was issued and restores the start config |
//! | GET, POST | `/_fake/config` | control | read, or JSON merge patch of [`FakeConfig`] (unknown fields are a 400), e.g. `{"rate_limit": {"rate": 20, "burst": 10}}` or `{"rate_limit": null}` |
//! | POST | `/_fake/expire` | control | optional [`ExpireRequest`] body; default expires access tokens and credentials |
//! | GET | `/_fake/last/{op}` | control | the last [`RecordedRequest`] of an [`Op`] (404 if none) |
//! | GET | `/_fake/history/{op}` | control | the last 100 [`RecordedRequest`]s of an [`Op`] |
//! | POST | `/_fake/fail` | control | queue an [`InjectedFailure`] `{"op":"ListAccounts","status":429,"count":2,"retry_after_ms":500}` |
//! | POST | `/_fake/approve[?user_code=]` | control | approve one (or every) pending device code |
//! | GET | `/_fake/issued` | control | every access token, credential, client and device code issued |
//! | POST | `/_fake/keys` | control | register an IAM user's key pair ([`StaticUser`] as JSON) for STS to verify signatures with |
//! | POST | `/_fake/forget_clients[?client_id=]` | control | forget one (or every) client registration: `InvalidClientException` from then on |
//!
//! Anything else is a 404 whose `x-amzn-errortype` is `UnknownOperationException`. Throttling,
//! always 429 (`TooManyRequestsException`; STS `Throttling`) and counted as [`THROTTLED`]:
//! - [`FakeConfig::rate_limit`]: a token bucket ([`RateLimit`]: `rate` a second, bursts of
//!   `burst`) shared by `ListAccounts`, `ListAccountRoles` and `GetRoleCredentials` unless it
//!   names other operations; a call that finds it empty is throttled, optionally with
//!   `x-amz-retry-after`/`Retry-After` saying when the next token is due (a request back
//!   sooner counts as [`RETRIED_TOO_SOON`]); a reset refills it;
//! - [`FakeConfig::throttle_every_n`]: every nth call of [`FakeConfig::throttled_ops`];
//! - `POST /_fake/fail` with status 429: the next calls of one operation.

// Handlers return the HTTP answer itself as their early-exit error; boxing it would only add
// noise to a test fake that serves a handful of requests.
#![allow(clippy::result_large_err)]

mod config;
mod control;
mod oidc;
mod portal;
mod sigv4;
mod state;
mod sts;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::IntoFuture as _;
use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::oneshot;

pub use config::{
    Account, DeviceScript, FakeConfig, Org, PkceScript, RateLimit, StaticUser, StsScript,
};
pub use state::{
    CredentialKind, ExpireRequest, ExpireSummary, Grant, InjectedFailure, IssuedCredentials,
    IssuedToken, Op, POLLED_TOO_FAST, RETRIED_TOO_SOON, RecordedRequest, THROTTLED, UnknownOp,
};

use state::{App, Shared};

/// A running fake on `127.0.0.1`, served by its own thread and tokio runtime so blocking and
/// async tests alike can use it; it stops when dropped.
pub struct FakeAws {
    app: App,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeAws {
    /// Serve `config` on an ephemeral port.
    pub fn start(config: FakeConfig) -> io::Result<Self> {
        Self::start_on(0, config)
    }

    /// Serve `config` on `127.0.0.1:port` (0 for an ephemeral one).
    pub fn start_on(port: u16, config: FakeConfig) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let app = Shared::new(format!("http://{addr}"), config);
        let router = router(app.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("fake-aws-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = axum::serve(listener, router).into_future() => {}
                        _ = stopped => {}
                    }
                });
                // Idle keep-alive connections of SDK clients must not hold the drop up.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(Self {
            app,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`, the endpoint URL for all three services.
    pub fn url(&self) -> String {
        self.app.base_url.clone()
    }

    /// The environment that points SDKs (and keyfob) at this fake.
    pub fn endpoint_env(&self) -> [(&'static str, String); 3] {
        [
            ("AWS_ENDPOINT_URL_SSO_OIDC", self.url()),
            ("AWS_ENDPOINT_URL_SSO", self.url()),
            ("AWS_ENDPOINT_URL_STS", self.url()),
        ]
    }

    /// The configuration in force.
    pub fn config(&self) -> FakeConfig {
        self.app.lock().config.clone()
    }

    /// Change the configuration in force, e.g. `fake.configure(|c| c.device.deny = true)`.
    pub fn configure(&self, change: impl FnOnce(&mut FakeConfig)) {
        change(&mut self.app.lock().config);
    }

    /// Every counter: one per [`Op`] and one per [`Grant`] (`CreateToken.device_code`, …).
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.app.lock().counters()
    }

    /// How many calls of `op` arrived (including failed and throttled ones).
    pub fn count(&self, op: Op) -> u64 {
        self.counter(op.as_str())
    }

    /// How many calls were answered 429, whatever the cause (the [`THROTTLED`] counter).
    pub fn throttled(&self) -> u64 {
        self.counter(THROTTLED)
    }

    /// How many `CreateToken` calls used `grant`.
    pub fn count_grant(&self, grant: Grant) -> u64 {
        self.counter(grant.counter())
    }

    fn counter(&self, key: &str) -> u64 {
        self.app.lock().counters().get(key).copied().unwrap_or(0)
    }

    /// The last request of `op`.
    pub fn last(&self, op: Op) -> Option<RecordedRequest> {
        self.app.lock().last(op)
    }

    /// The last 100 requests of `op`, oldest first.
    pub fn history(&self, op: Op) -> Vec<RecordedRequest> {
        self.app.lock().history(op)
    }

    /// Forget counters, recorded requests and queued failures (what was issued stays valid).
    pub fn reset(&self) {
        self.app.lock().reset_observations();
    }

    /// Forget everything and go back to the configuration the fake started with.
    pub fn reset_all(&self) {
        let initial = self.app.initial.clone();
        self.app.lock().reset_all(initial);
    }

    /// The next `count` calls of `op` answer `status` with the protocol's usual error code.
    pub fn fail_next(&self, op: Op, status: u16, count: u32) {
        self.inject(InjectedFailure {
            op,
            status,
            count,
            code: None,
            message: None,
            retry_after_ms: None,
        });
    }

    /// Queue a failure with a chosen code and message.
    pub fn inject(&self, failure: InjectedFailure) {
        self.app.lock().push_failure(failure);
    }

    /// Expire all access tokens and credentials now, so refresh paths run.
    pub fn expire_all(&self) -> ExpireSummary {
        self.expire(ExpireRequest::default())
    }

    /// Expire the chosen kinds of issued things now.
    pub fn expire(&self, what: ExpireRequest) -> ExpireSummary {
        self.app.lock().expire(what)
    }

    /// Approve the device code with this user code, as `GET /verify` does; false if unknown.
    pub fn approve(&self, user_code: &str) -> bool {
        oidc::approve(&mut self.app.lock(), Some(user_code)) > 0
    }

    /// Approve every pending device code; how many there were.
    pub fn approve_all(&self) -> usize {
        oidc::approve(&mut self.app.lock(), None)
    }

    /// Every set of temporary credentials issued, oldest first.
    pub fn issued_credentials(&self) -> Vec<IssuedCredentials> {
        self.app.lock().issued_credentials()
    }

    /// Whether this fake issued `access_key_id` (or it is a long-term key it knows).
    pub fn issued_key(&self, access_key_id: &str) -> bool {
        let inner = self.app.lock();
        inner.credentials.contains_key(access_key_id)
            || inner.long_term_user(access_key_id).is_some()
    }

    /// Register an IAM user's long-term key: STS then serves calls signed with it (and
    /// verifies their signatures with its secret).
    pub fn register_user(&self, user: StaticUser) {
        self.app
            .lock()
            .iam_users
            .insert(user.access_key_id.clone(), user);
    }

    /// Forget one client registration (or all): the IdP no longer knows it, and OIDC calls
    /// with it get `InvalidClientException`. How many were forgotten.
    pub fn forget_clients(&self, client_id: Option<&str>) -> usize {
        self.app.lock().forget_clients(client_id)
    }

    /// Every OIDC access token issued, oldest first.
    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        self.app.lock().issued_tokens()
    }

    /// The static IAM user's keys and identity.
    pub fn static_user(&self) -> StaticUser {
        self.app.lock().config.static_user.clone()
    }
}

impl Drop for FakeAws {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for FakeAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAws").field("url", &self.url()).finish()
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/client/register", post(oidc::register_client))
        .route(
            "/device_authorization",
            post(oidc::start_device_authorization),
        )
        .route("/token", post(oidc::create_token))
        .route("/authorize", get(oidc::authorize))
        .route("/verify", get(oidc::verify))
        .route("/assignment/accounts", get(portal::list_accounts))
        .route("/assignment/roles", get(portal::list_account_roles))
        .route("/federation/credentials", get(portal::get_role_credentials))
        .route("/logout", post(portal::logout))
        .route("/", post(sts::dispatch).get(sts::dispatch))
        .route("/_fake/counters", get(control::counters))
        .route("/_fake/reset", post(control::reset))
        .route(
            "/_fake/config",
            get(control::get_config).post(control::patch_config),
        )
        .route("/_fake/expire", post(control::expire))
        .route("/_fake/last/{op}", get(control::last))
        .route("/_fake/history/{op}", get(control::history))
        .route("/_fake/fail", post(control::fail))
        .route("/_fake/approve", post(control::approve_devices))
        .route("/_fake/issued", get(control::issued))
        .route("/_fake/keys", post(control::register_key))
        .route("/_fake/forget_clients", post(control::forget_clients))
        .fallback(unknown_route)
        .with_state(app)
}

async fn unknown_route(call: state::Call) -> Response {
    wire::json_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        &json!({
            "message": format!("fake-aws serves no {} {}", call.method, call.uri.path()),
        }),
    )
}
