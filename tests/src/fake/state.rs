//! The fake's memory: what it issued, what it was asked, and the knobs in force.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::config::{FakeConfig, RateLimit, StaticUser};

/// How many requests per operation [`super::FakeAws::history`] keeps.
const HISTORY_LEN: usize = 100;

/// Request bodies larger than this are refused: nothing the SDKs send comes close.
const BODY_LIMIT: usize = 1 << 20;

/// The counter of device-code polls that came sooner than the interval (plus 5 s per
/// `slow_down` already given) allows: a well-behaved client keeps it at 0.
pub const POLLED_TOO_FAST: &str = "CreateToken.polled_too_fast";

/// The counter of 429 answers, whatever the cause: the [`RateLimit`] bucket,
/// [`FakeConfig::throttle_every_n`], or an injected failure with status 429.
pub const THROTTLED: &str = "Throttled";

/// The counter of requests that came back sooner than the `Retry-After` the [`RateLimit`]
/// bucket gave them (the same operation, path and query): a client that honours it keeps it
/// at 0.
pub const RETRIED_TOO_SOON: &str = "Throttled.retried_too_soon";

/// An operation the fake serves, as named in counters, `/_fake/last/{op}` and failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    /// SSO OIDC `POST /client/register`.
    RegisterClient,
    /// SSO OIDC `POST /device_authorization`.
    StartDeviceAuthorization,
    /// SSO OIDC `POST /token`, any grant (see [`Grant`] for the split).
    CreateToken,
    /// The browser's `GET /authorize` (PKCE).
    Authorize,
    /// The browser's `GET /verify?user_code=` (device approval).
    Verify,
    /// SSO portal `GET /assignment/accounts`.
    ListAccounts,
    /// SSO portal `GET /assignment/roles`.
    ListAccountRoles,
    /// SSO portal `GET /federation/credentials`.
    GetRoleCredentials,
    /// SSO portal `POST /logout`.
    Logout,
    /// STS `GetCallerIdentity`.
    GetCallerIdentity,
    /// STS `GetSessionToken`.
    GetSessionToken,
    /// STS `AssumeRole`.
    AssumeRole,
    /// STS `AssumeRoleWithSAML`.
    #[serde(rename = "AssumeRoleWithSAML")]
    AssumeRoleWithSaml,
}

impl Op {
    /// Every operation, in route-table order.
    pub const ALL: [Op; 13] = [
        Op::RegisterClient,
        Op::StartDeviceAuthorization,
        Op::CreateToken,
        Op::Authorize,
        Op::Verify,
        Op::ListAccounts,
        Op::ListAccountRoles,
        Op::GetRoleCredentials,
        Op::Logout,
        Op::GetCallerIdentity,
        Op::GetSessionToken,
        Op::AssumeRole,
        Op::AssumeRoleWithSaml,
    ];

    /// The AWS operation name (`AssumeRoleWithSAML`, not the Rust spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::RegisterClient => "RegisterClient",
            Op::StartDeviceAuthorization => "StartDeviceAuthorization",
            Op::CreateToken => "CreateToken",
            Op::Authorize => "Authorize",
            Op::Verify => "Verify",
            Op::ListAccounts => "ListAccounts",
            Op::ListAccountRoles => "ListAccountRoles",
            Op::GetRoleCredentials => "GetRoleCredentials",
            Op::Logout => "Logout",
            Op::GetCallerIdentity => "GetCallerIdentity",
            Op::GetSessionToken => "GetSessionToken",
            Op::AssumeRole => "AssumeRole",
            Op::AssumeRoleWithSaml => "AssumeRoleWithSAML",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name was not one of [`Op::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOp(pub String);

impl fmt::Display for UnknownOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown operation `{}`", self.0)
    }
}

impl std::error::Error for UnknownOp {}

impl FromStr for Op {
    type Err = UnknownOp;

    /// Case-insensitive AWS operation name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Op::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownOp(s.to_owned()))
    }
}

/// A `CreateToken` grant type, counted apart as `CreateToken.<suffix>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grant {
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    DeviceCode,
    /// `refresh_token`.
    RefreshToken,
    /// `authorization_code` (PKCE).
    AuthorizationCode,
}

impl Grant {
    /// Every grant the fake knows.
    pub const ALL: [Grant; 3] = [
        Grant::DeviceCode,
        Grant::RefreshToken,
        Grant::AuthorizationCode,
    ];

    /// The `grantType` value on the wire.
    pub fn wire(self) -> &'static str {
        match self {
            Grant::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Grant::RefreshToken => "refresh_token",
            Grant::AuthorizationCode => "authorization_code",
        }
    }

    /// The grant for a `grantType` value.
    pub fn from_wire(s: &str) -> Option<Self> {
        Grant::ALL.into_iter().find(|g| g.wire() == s)
    }

    /// The counter key: `CreateToken.device_code`, `CreateToken.refresh_token`,
    /// `CreateToken.authorization_code`.
    pub fn counter(self) -> &'static str {
        match self {
            Grant::DeviceCode => "CreateToken.device_code",
            Grant::RefreshToken => "CreateToken.refresh_token",
            Grant::AuthorizationCode => "CreateToken.authorization_code",
        }
    }
}

/// One request as the fake received it, for assertions on what a client sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// `GET`, `POST`.
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// Decoded query parameters (the last of repeated names wins).
    pub query: BTreeMap<String, String>,
    /// Headers by lower-case name (repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The body as text (lossy UTF-8).
    pub body: String,
    /// The body parsed as JSON, when it is JSON (the restJson1 operations).
    pub json: Option<serde_json::Value>,
    /// The body parsed as a form, when it is one (STS).
    pub form: Option<BTreeMap<String, String>>,
}

impl RecordedRequest {
    /// A string field of the JSON body.
    pub fn json_str(&self, key: &str) -> Option<&str> {
        self.json.as_ref()?.get(key)?.as_str()
    }

    /// A string-list field of the JSON body (empty when absent).
    pub fn json_strs(&self, key: &str) -> Vec<String> {
        self.json
            .as_ref()
            .and_then(|j| j.get(key))
            .and_then(serde_json::Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A form field of the body (STS parameters).
    pub fn form_field(&self, key: &str) -> Option<&str> {
        self.form.as_ref()?.get(key).map(String::as_str)
    }

    /// A header by (any-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Which call issued a set of credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialKind {
    /// SSO portal `GetRoleCredentials`.
    RoleCredentials,
    /// STS `GetSessionToken`.
    SessionToken,
    /// STS `AssumeRole`.
    AssumeRole,
    /// STS `AssumeRoleWithSAML`.
    #[serde(rename = "AssumeRoleWithSAML")]
    AssumeRoleWithSaml,
}

/// Temporary credentials this fake handed out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCredentials {
    /// `ASIA` + 16 upper-case letters and digits.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// When they stop working (moved to the past by `/_fake/expire`).
    pub expires_at: DateTime<Utc>,
    /// What `GetCallerIdentity` answers as `Arn` for them.
    pub arn: String,
    /// What `GetCallerIdentity` answers as `UserId`.
    pub user_id: String,
    /// The account they belong to.
    pub account_id: String,
    /// The call that issued them.
    pub kind: CredentialKind,
}

/// An OIDC access token this fake handed out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    /// The bearer token (`x-amz-sso_bearer_token`).
    pub access_token: String,
    /// The refresh token issued with it, if any.
    pub refresh_token: Option<String>,
    /// The client it was issued to.
    pub client_id: String,
    /// The grant that produced it.
    pub grant: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When it stops working (moved to the past by `/_fake/expire`).
    pub expires_at: DateTime<Utc>,
    /// `Logout` was called with it, or with another token of its sign-in session.
    pub revoked: bool,
    /// The sign-in session it belongs to: a device or authorization-code grant starts one,
    /// refreshes continue it, `Logout` ends it (every access and refresh token in it).
    pub session: String,
}

/// A failure queued by [`super::FakeAws::fail_next`] or `POST /_fake/fail`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectedFailure {
    /// The operation that fails.
    pub op: Op,
    /// The HTTP status to answer.
    pub status: u16,
    /// How many of the next calls fail.
    #[serde(default = "one")]
    pub count: u32,
    /// The error code; when absent, the usual one for this status and protocol
    /// (e.g. 429 → `TooManyRequestsException` on the portal, `Throttling` on STS).
    #[serde(default)]
    pub code: Option<String>,
    /// The error message; a generic one when absent.
    #[serde(default)]
    pub message: Option<String>,
    /// Send `x-amz-retry-after` (milliseconds, what the AWS SDKs read) and `Retry-After`
    /// (whole seconds, rounded up) with the failure.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

/// A registered OIDC client.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Registration {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) client_name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) grant_types: Vec<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) issuer_url: Option<String>,
    pub(crate) expires_at: DateTime<Utc>,
}

/// A device authorization in progress.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct DeviceGrant {
    pub(crate) device_code: String,
    pub(crate) user_code: String,
    pub(crate) client_id: String,
    pub(crate) start_url: String,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) verified: bool,
    pub(crate) consumed: bool,
    pub(crate) slow_downs_given: u32,
    /// Every `slow_down` answered (scripted or for polling too fast): each adds 5 s to the
    /// interval the client must keep (RFC 8628 §3.5).
    pub(crate) slow_down_steps: u32,
    pub(crate) pendings_given: u32,
    pub(crate) last_poll: Option<DateTime<Utc>>,
}

/// An authorization code from `/authorize`, waiting for its `CreateToken`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) code_challenge: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: DateTime<Utc>,
}

/// A live refresh token.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: DateTime<Utc>,
    /// The sign-in session (see [`IssuedToken::session`]).
    pub(crate) session: String,
}

/// What a `nextToken` may be used for: the caller's access token, the operation and (for
/// `ListAccountRoles`) the account it was handed out for, and where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PageCursor {
    pub(crate) access_token: String,
    pub(crate) op: Op,
    pub(crate) account_id: Option<String>,
    pub(crate) position: usize,
}

/// Everything behind the one lock.
pub(crate) struct Inner {
    pub(crate) config: FakeConfig,
    counters: BTreeMap<String, u64>,
    history: HashMap<Op, VecDeque<RecordedRequest>>,
    failures: Vec<InjectedFailure>,
    /// Calls of [`FakeConfig::throttled_ops`] so far, for [`FakeConfig::throttle_every_n`].
    throttle_calls: u64,
    /// The [`FakeConfig::rate_limit`] bucket, made full when first needed (and anew when the
    /// limit changes or the fake is reset).
    bucket: Option<TokenBucket>,
    /// When each request the bucket throttled with a `Retry-After` may come back, by
    /// [`retry_key`].
    not_before: HashMap<String, Instant>,
    pub(crate) clients: HashMap<String, Registration>,
    pub(crate) devices: HashMap<String, DeviceGrant>,
    pub(crate) auth_codes: HashMap<String, AuthCode>,
    pub(crate) tokens: HashMap<String, IssuedToken>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    pub(crate) credentials: HashMap<String, IssuedCredentials>,
    /// Long-term IAM user keys registered over the control API, by access key id.
    pub(crate) iam_users: HashMap<String, StaticUser>,
    /// Every `nextToken` handed out, by token.
    pub(crate) page_tokens: HashMap<String, PageCursor>,
    /// Every access key id ever issued, in order, so listings are stable.
    pub(crate) credential_order: Vec<String>,
    /// Every access token ever issued, in order.
    pub(crate) token_order: Vec<String>,
}

impl Inner {
    fn new(config: FakeConfig) -> Self {
        Self {
            config,
            counters: BTreeMap::new(),
            history: HashMap::new(),
            failures: Vec::new(),
            throttle_calls: 0,
            bucket: None,
            not_before: HashMap::new(),
            clients: HashMap::new(),
            devices: HashMap::new(),
            auth_codes: HashMap::new(),
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            credentials: HashMap::new(),
            iam_users: HashMap::new(),
            page_tokens: HashMap::new(),
            credential_order: Vec::new(),
            token_order: Vec::new(),
        }
    }

    pub(crate) fn count(&mut self, key: &str) {
        *self.counters.entry(key.to_owned()).or_insert(0) += 1;
    }

    /// All counters, with every known key present (zero when never called).
    pub(crate) fn counters(&self) -> BTreeMap<String, u64> {
        let mut all: BTreeMap<String, u64> = Op::ALL
            .iter()
            .map(|op| op.as_str())
            .chain(Grant::ALL.iter().map(|g| g.counter()))
            .chain([POLLED_TOO_FAST, THROTTLED, RETRIED_TOO_SOON])
            .map(|k| (k.to_owned(), 0))
            .collect();
        all.extend(self.counters.iter().map(|(k, v)| (k.clone(), *v)));
        all
    }

    pub(crate) fn history(&self, op: Op) -> Vec<RecordedRequest> {
        self.history
            .get(&op)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn last(&self, op: Op) -> Option<RecordedRequest> {
        self.history.get(&op).and_then(|h| h.back().cloned())
    }

    fn record(&mut self, op: Op, call: &Call) {
        let history = self.history.entry(op).or_default();
        if history.len() == HISTORY_LEN {
            history.pop_front();
        }
        history.push_back(call.record());
    }

    pub(crate) fn push_failure(&mut self, failure: InjectedFailure) {
        self.failures.push(failure);
    }

    /// Whether this call of `op` is the nth of [`FakeConfig::throttled_ops`] and must be
    /// answered 429.
    fn throttled(&mut self, op: Op) -> bool {
        if !self.config.throttled_ops.contains(&op) {
            return false;
        }
        self.throttle_calls += 1;
        let every = u64::from(self.config.throttle_every_n);
        every > 0 && self.throttle_calls.is_multiple_of(every)
    }

    /// Whether a call of `op` arriving at `now` may pass the [`FakeConfig::rate_limit`]
    /// bucket (taking a token, if the limit covers `op`), or finds it empty: then the wait
    /// until its next token (`None` if it never gains one). Also counts a request that came
    /// back before its `Retry-After`.
    fn rate_limited(&mut self, op: Op, key: &str, now: Instant) -> Result<(), Option<Duration>> {
        if self.not_before.remove(key).is_some_and(|at| now < at) {
            self.count(RETRIED_TOO_SOON);
        }
        let Some(limit) = self
            .config
            .rate_limit
            .as_ref()
            .filter(|l| l.ops.contains(&op))
        else {
            return Ok(());
        };
        let bucket = match &mut self.bucket {
            Some(b) if b.limit == *limit => b,
            slot => slot.insert(TokenBucket::full(limit.clone(), now)),
        };
        let wait = bucket.take(now).err();
        if let (true, Some(Some(wait))) = (limit.retry_after, wait) {
            self.not_before.insert(key.to_owned(), now + wait);
        }
        wait.map_or(Ok(()), Err)
    }

    fn take_failure(&mut self, op: Op) -> Option<InjectedFailure> {
        let index = self
            .failures
            .iter()
            .position(|f| f.op == op && f.count > 0)?;
        let failure = &mut self.failures[index];
        failure.count -= 1;
        let taken = failure.clone();
        if failure.count == 0 {
            self.failures.remove(index);
        }
        Some(taken)
    }

    /// Forget counters, recorded requests and queued failures.
    pub(crate) fn reset_observations(&mut self) {
        self.counters.clear();
        self.history.clear();
        self.failures.clear();
        self.throttle_calls = 0;
        self.bucket = None;
        self.not_before.clear();
    }

    /// Forget everything, back to a fresh server with `config`.
    pub(crate) fn reset_all(&mut self, config: FakeConfig) {
        *self = Inner::new(config);
    }

    pub(crate) fn add_token(&mut self, token: IssuedToken) {
        self.token_order.push(token.access_token.clone());
        self.tokens.insert(token.access_token.clone(), token);
    }

    pub(crate) fn add_credentials(&mut self, creds: IssuedCredentials) {
        self.credential_order.push(creds.access_key_id.clone());
        self.credentials.insert(creds.access_key_id.clone(), creds);
    }

    pub(crate) fn issued_credentials(&self) -> Vec<IssuedCredentials> {
        self.credential_order
            .iter()
            .filter_map(|k| self.credentials.get(k).cloned())
            .collect()
    }

    /// The long-term IAM user this access key id belongs to: the configured static user, or
    /// one registered over the control API.
    pub(crate) fn long_term_user(&self, access_key_id: &str) -> Option<&StaticUser> {
        if self.config.static_user.access_key_id == access_key_id {
            return Some(&self.config.static_user);
        }
        self.iam_users.get(access_key_id)
    }

    /// Forget client registrations (one, or all): the IdP no longer knows them, and they
    /// get `InvalidClientException` from then on. How many were forgotten.
    pub(crate) fn forget_clients(&mut self, client_id: Option<&str>) -> usize {
        let before = self.clients.len();
        match client_id {
            Some(id) => {
                self.clients.remove(id);
            }
            None => self.clients.clear(),
        }
        before - self.clients.len()
    }

    /// End the sign-in session `session`: its access tokens stop working and its refresh
    /// tokens are gone, as `Logout` does at IAM Identity Center.
    pub(crate) fn end_session(&mut self, session: &str) {
        for token in self.tokens.values_mut().filter(|t| t.session == session) {
            token.revoked = true;
        }
        self.refresh_tokens.retain(|_, g| g.session != session);
    }

    pub(crate) fn issued_tokens(&self) -> Vec<IssuedToken> {
        self.token_order
            .iter()
            .filter_map(|k| self.tokens.get(k).cloned())
            .collect()
    }

    /// Move the expiry of the chosen kinds of things to the past; returns how many moved.
    pub(crate) fn expire(&mut self, what: ExpireRequest) -> ExpireSummary {
        let past = now() - chrono::Duration::seconds(1);
        let mut summary = ExpireSummary::default();
        if what.access_tokens {
            for token in self.tokens.values_mut().filter(|t| t.expires_at > past) {
                token.expires_at = past;
                summary.access_tokens += 1;
            }
        }
        if what.credentials {
            for creds in self
                .credentials
                .values_mut()
                .filter(|c| c.expires_at > past)
            {
                creds.expires_at = past;
                summary.credentials += 1;
            }
        }
        if what.refresh_tokens {
            for grant in self
                .refresh_tokens
                .values_mut()
                .filter(|g| g.expires_at > past)
            {
                grant.expires_at = past;
                summary.refresh_tokens += 1;
            }
        }
        if what.clients {
            for client in self.clients.values_mut().filter(|c| c.expires_at > past) {
                client.expires_at = past;
                summary.clients += 1;
            }
        }
        summary
    }
}

/// What `POST /_fake/expire` (and [`super::FakeAws::expire`]) moves into the past.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
// One switch per kind of thing that can expire, sent as `{"clients": true}`.
#[allow(clippy::struct_excessive_bools)]
#[serde(default, deny_unknown_fields)]
pub struct ExpireRequest {
    /// OIDC access tokens (the portal then answers 401).
    pub access_tokens: bool,
    /// Role and STS credentials (STS then answers `ExpiredToken`).
    pub credentials: bool,
    /// Refresh tokens (a refresh grant then answers `invalid_grant`).
    pub refresh_tokens: bool,
    /// Client registrations (OIDC then answers `invalid_client`).
    pub clients: bool,
}

impl Default for ExpireRequest {
    /// Access tokens and credentials, so refresh paths can be tested.
    fn default() -> Self {
        Self {
            access_tokens: true,
            credentials: true,
            refresh_tokens: false,
            clients: false,
        }
    }
}

/// How many things an expiry touched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireSummary {
    /// Access tokens expired.
    pub access_tokens: u64,
    /// Credentials expired.
    pub credentials: u64,
    /// Refresh tokens expired.
    pub refresh_tokens: u64,
    /// Client registrations expired.
    pub clients: u64,
}

/// State shared by the handlers and the [`super::FakeAws`] handle.
pub(crate) struct Shared {
    /// `http://127.0.0.1:PORT`, for URLs the fake hands out.
    pub(crate) base_url: String,
    /// The configuration the server started with, for `reset?all=true`.
    pub(crate) initial: FakeConfig,
    inner: Mutex<Inner>,
}

pub(crate) type App = Arc<Shared>;

impl Shared {
    pub(crate) fn new(base_url: String, config: FakeConfig) -> App {
        Arc::new(Self {
            base_url,
            initial: config.clone(),
            inner: Mutex::new(Inner::new(config)),
        })
    }

    /// The lock; a panicking handler must not take the whole fake down with it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count and record a call, check the rate limit, wait the configured latency, then hand
    /// back the failure to answer with: one queued for `op`, a 429 when the rate limit's bucket
    /// was empty, or a 429 when this call is one the every-nth throttle takes.
    pub(crate) async fn begin(&self, op: Op, call: &Call) -> Option<InjectedFailure> {
        let (latency, limited, retry_after) = {
            let mut inner = self.lock();
            inner.count(op.as_str());
            inner.record(op, call);
            let limited = inner.rate_limited(op, &retry_key(op, call), Instant::now());
            let retry_after = inner
                .config
                .rate_limit
                .as_ref()
                .is_some_and(|l| l.retry_after);
            (inner.config.latency_ms, limited, retry_after)
        };
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let mut inner = self.lock();
        let throttle = |retry_after_ms| InjectedFailure {
            op,
            status: 429,
            count: 1,
            code: None,
            message: Some("Rate exceeded".to_owned()),
            retry_after_ms,
        };
        let failure = inner
            .take_failure(op)
            .or_else(|| {
                limited.err().map(|wait| {
                    // Whole milliseconds, rounded up: coming back after them finds the token.
                    let ms = wait
                        .map(|w| u64::try_from(w.as_micros().div_ceil(1000)).unwrap_or(u64::MAX));
                    throttle(ms.filter(|_| retry_after))
                })
            })
            .or_else(|| inner.throttled(op).then(|| throttle(None)));
        if failure.as_ref().is_some_and(|f| f.status == 429) {
            inner.count(THROTTLED);
        }
        failure
    }
}

/// The same request again, as far as `Retry-After` goes: the operation, path and query.
fn retry_key(op: Op, call: &Call) -> String {
    let mut query: Vec<(String, String)> = call.query().into_iter().collect();
    query.sort();
    format!("{op} {} {query:?}", call.uri.path())
}

/// The [`RateLimit`] bucket's state.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A bucket holding its whole burst at `now`.
    pub(crate) fn full(limit: RateLimit, now: Instant) -> Self {
        Self {
            tokens: f64::from(limit.burst),
            limit,
            at: now,
        }
    }

    /// Take a token for a call at `now`; if there is none, the wait until there is (`None`
    /// when the bucket never refills).
    pub(crate) fn take(&mut self, now: Instant) -> Result<(), Option<Duration>> {
        let rate = if self.limit.rate.is_finite() {
            self.limit.rate.max(0.0)
        } else {
            0.0
        };
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(self.limit.burst));
        self.at = self.at.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err((rate > 0.0)
            .then(|| Duration::try_from_secs_f64((1.0 - self.tokens) / rate).ok())
            .flatten())
    }
}

/// A whole request, read up front so it can be recorded and parsed leniently.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Call {
    pub(crate) fn query(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(self.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect()
    }

    pub(crate) fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn record(&self) -> RecordedRequest {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let is_form = self
            .header(header::CONTENT_TYPE.as_str())
            .is_some_and(|ct| ct.contains("x-www-form-urlencoded"));
        RecordedRequest {
            at: now(),
            method: self.method.to_string(),
            path: self.uri.path().to_owned(),
            query: self.query(),
            headers,
            body: String::from_utf8_lossy(&self.body).into_owned(),
            json: serde_json::from_slice(&self.body).ok(),
            form: is_form.then(|| self.form()),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Call {
    type Rejection = Response;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, BODY_LIMIT)
            .await
            .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response())?;
        Ok(Self {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

/// The wall clock: the fake plays a remote service, whose clock is not the client's to inject.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Upper-case letters and digits, as in access key ids.
pub(crate) const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Letters and digits.
pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Letters, digits, `/` and `+`, as in secret access keys and session tokens.
pub(crate) const SECRET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";

/// `len` characters drawn from `charset`.
pub(crate) fn random(charset: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(charset[rng.gen_range(0..charset.len())]))
        .collect()
}

/// A request id shaped like AWS's (a v4-looking UUID).
pub(crate) fn request_id() -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    format!(
        "{}-{}-4{}-a{}-{}",
        random(HEX, 8),
        random(HEX, 4),
        random(HEX, 3),
        random(HEX, 3),
        random(HEX, 12)
    )
}

/// Fresh temporary credentials (`ASIA…`), not yet recorded.
pub(crate) fn new_credentials(
    kind: CredentialKind,
    account_id: &str,
    arn: String,
    user_id: String,
    expires_at: DateTime<Utc>,
) -> IssuedCredentials {
    IssuedCredentials {
        access_key_id: format!("ASIA{}", random(UPPER_ALNUM, 16)),
        secret_access_key: random(SECRET, 40),
        session_token: format!("FwoGZXIvYXdzEFAKE{}", random(SECRET, 300)),
        expires_at,
        arn,
        user_id,
        account_id: account_id.to_owned(),
        kind,
    }
}
