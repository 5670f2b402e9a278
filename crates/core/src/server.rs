//! The local credential server of `keyfob serve` and `keyfob exec --serve`: the container
//! (ECS) credentials endpoint, or the EC2 instance metadata service (IMDSv2), on 127.0.0.1.
//!
//! | Mode | Method | Path | Answer |
//! |---|---|---|---|
//! | ECS | GET | `/` | `Authorization: <token>` → 200 `{AccessKeyId, SecretAccessKey, Token, Expiration}`; wrong or missing token → 403 |
//! | IMDS | PUT | `/latest/api/token` | `X-aws-ec2-metadata-token-ttl-seconds: 1..21600` → a session token; `X-Forwarded-For` → 403 |
//! | IMDS | GET | `/latest/meta-data/iam/security-credentials/` | the role name; needs `X-aws-ec2-metadata-token` (401 without) |
//! | IMDS | GET | `/latest/meta-data/iam/security-credentials/{role}` | `{Code, LastUpdated, Type, AccessKeyId, SecretAccessKey, Token, Expiration}` |
//! | IMDS | GET | `/latest/meta-data/placement/region`, `…/availability-zone` | the profile's region, when it has one |
//!
//! Only local SDKs are answered. The socket is bound to 127.0.0.1, and still every request is
//! refused (403) that comes from a peer that is not loopback, or whose `Host` is not a loopback
//! name or address with this server's port: a web page that rebinds its own host name to
//! 127.0.0.1 sends its own name as `Host`, so it cannot read the answer (DNS rebinding).
//! Connections are bounded too: see [`HEADER_READ_TIMEOUT`], [`MAX_CONNECTIONS`],
//! `MAX_HEADER_BUFFER` and [`MAX_BODY`].
//!
//! Credentials come from one resolver thread (so the keychain and the profile's lock are used
//! as by any other keyfob command) and are kept in memory until they enter the profile's
//! refresh window; then the next request resolves them again. The bearer token and the
//! credentials are never logged.

use crate::{Credentials, ExpiryPolicy, Secret};
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a client may take to send a request's headers, counted from the moment the
/// server waits for them (for a kept-alive connection: from the end of the previous answer).
/// A connection that takes longer is closed: this bounds slowloris clients and idle kept-alive
/// connections alike. SDK clients write a whole request at once, well under a millisecond
/// after connecting; 10 s is room for a machine under heavy load and short enough that a
/// client holding connections open without finishing a request frees its slot soon.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once. More wait, unaccepted, in the kernel's listen queue until one
/// closes (back-pressure instead of refusal, so a burst of real clients is slowed, not failed).
/// SDK clients on a developer machine hold a few each (botocore pools up to 10 per host); 64
/// leaves room for a few dozen processes, and bounds what a hostile local process can make
/// keyfob hold: 64 × `MAX_HEADER_BUFFER` = 1 MiB of buffers and 64 file descriptors.
pub const MAX_CONNECTIONS: usize = 64;

/// Largest request head (request line and headers) read into memory; a larger one gets 431.
/// hyper's minimum is 8 KiB; the largest real request (botocore's User-Agent, the 64-character
/// token) is under 1 KiB.
const MAX_HEADER_BUFFER: usize = 16 * 1024;

/// Largest request body accepted; a larger declared one gets 413, a body of undeclared length
/// (chunked) 411. No client sends a body: every request is a GET, and the IMDSv2 token request
/// (`PUT /latest/api/token`) has an empty one.
pub const MAX_BODY: u64 = 1024;

/// Which protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`).
    Ecs,
    /// IMDSv2 (`AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    Imds,
}

/// How to serve.
pub struct Options {
    /// 0 for any free port.
    pub port: u16,
    /// The protocol.
    pub mode: Mode,
    /// The role name IMDS lists.
    pub role_name: String,
    /// What IMDS answers for the placement region.
    pub region: Option<String>,
    /// Credentials closer to expiry than this are resolved again.
    pub policy: ExpiryPolicy,
}

/// Fetches credentials; runs on the resolver thread only. An error is the one line (with its
/// hint) the client is answered with.
pub type Fetch = Box<dyn FnMut() -> Result<Credentials, String>>;

/// The server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The port cannot be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {reason}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// Why.
        reason: String,
    },
    /// A thread or the runtime could not be started.
    #[error("cannot start the credential server: {0}")]
    Io(#[from] std::io::Error),
}

impl StartError {
    /// The command that fixes it.
    pub fn hint(&self) -> Option<String> {
        match self {
            StartError::Bind { .. } => {
                Some("pick another port with --port, or leave it out for a free one".to_owned())
            }
            StartError::Io(_) => None,
        }
    }
}

type Reply = oneshot::Sender<Result<Credentials, String>>;

/// A server running on its own threads; stopped when dropped.
pub struct Running {
    addr: SocketAddr,
    token: Secret,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// `http://127.0.0.1:PORT/`: the full URI (ECS) or the endpoint (IMDS).
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The ECS bearer token.
    pub fn token(&self) -> &Secret {
        &self.token
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds 127.0.0.1:`port` and serves on background threads. `make` runs on the resolver thread
/// and builds the function that fetches credentials there (so it may hold things that are not
/// `Send`, like the keychain).
pub fn start<F>(opts: Options, make: F) -> Result<Running, StartError>
where
    F: FnOnce() -> Fetch + Send + 'static,
{
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, opts.port)).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::AddrInUse {
            "the port is in use".to_owned()
        } else {
            e.to_string()
        };
        StartError::Bind {
            port: opts.port,
            reason: what,
        }
    })?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };

    let (requests, queue) = std::sync::mpsc::channel::<Reply>();
    let policy = opts.policy;
    std::thread::Builder::new()
        .name("keyfob-resolver".into())
        .spawn(move || resolver(make(), &queue, policy))?;

    let token = Secret::new(random_hex());
    let shared = Arc::new(Shared {
        port: addr.port(),
        token: token.clone(),
        role_name: opts.role_name,
        region: opts.region,
        requests: Mutex::new(requests),
        imds_tokens: Mutex::new(Vec::new()),
    });
    let router = router(opts.mode, shared);
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("keyfob-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    () = accept_loop(listener, router) => {}
                    _ = stopped => {}
                }
            });
            // Idle keep-alive connections of SDK clients must not hold the stop up.
            runtime.shutdown_timeout(Duration::from_millis(100));
        })?;
    tracing::info!(%addr, mode = ?opts.mode, "credential server listening");
    Ok(Running {
        addr,
        token,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Accepts connections while fewer than [`MAX_CONNECTIONS`] are open and serves each with
/// HTTP/1.1 under [`HEADER_READ_TIMEOUT`] and `MAX_HEADER_BUFFER`. (`axum::serve` has no
/// header read timeout, hence this loop.)
async fn accept_loop(listener: tokio::net::TcpListener, router: Router) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = if let Ok(slot) = slots.clone().try_acquire_owned() {
            slot
        } else {
            tracing::warn!(
                "{MAX_CONNECTIONS} connections are open; new ones wait until one closes"
            );
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            slot
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(
            router.clone().layer(axum::Extension(ConnectInfo(peer))),
        );
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEADER_BUFFER)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection closed");
            }
            drop(slot);
        });
    }
}

/// Answers credential requests one at a time, from memory while the credentials are outside
/// the refresh window: of many concurrent requests only the first resolves.
fn resolver(mut fetch: Fetch, queue: &std::sync::mpsc::Receiver<Reply>, policy: ExpiryPolicy) {
    let mut cached: Option<Credentials> = None;
    while let Ok(reply) = queue.recv() {
        let now = crate::Clock::now(&crate::SystemClock);
        let fresh = cached
            .as_ref()
            .filter(|c| !policy.needs_refresh(c, now))
            .cloned();
        let answer = match fresh {
            Some(c) => Ok(c),
            None => match fetch() {
                Ok(c) => {
                    tracing::info!(
                        expires = ?c.expiration.map(crate::credentials::rfc3339),
                        "credentials resolved"
                    );
                    cached = Some(c.clone());
                    Ok(c)
                }
                Err(line) => {
                    tracing::warn!("cannot serve credentials: {line}");
                    Err(line)
                }
            },
        };
        let _ = reply.send(answer);
    }
}

/// What the request handlers share: the token, the role name, and the channel to the resolver.
struct Shared {
    /// The port the server listens on: the one a request's `Host` must name.
    port: u16,
    token: Secret,
    role_name: String,
    region: Option<String>,
    requests: Mutex<std::sync::mpsc::Sender<Reply>>,
    /// IMDSv2 session tokens and when they expire.
    imds_tokens: Mutex<Vec<(Secret, Instant)>>,
}

impl Shared {
    async fn credentials(&self) -> Result<Credentials, String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .lock()
            .expect("requests lock")
            .send(reply)
            .map_err(|_| "the resolver stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the resolver stopped".to_owned())?
    }

    fn imds_token_valid(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get("x-aws-ec2-metadata-token")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let now = Instant::now();
        let mut tokens = self.imds_tokens.lock().expect("tokens lock");
        tokens.retain(|(_, until)| *until > now);
        tokens
            .iter()
            .any(|(t, _)| same(t.expose().as_bytes(), given.as_bytes()))
    }
}

fn router(mode: Mode, shared: Arc<Shared>) -> Router {
    let router = match mode {
        Mode::Ecs => Router::new().route("/", get(ecs)),
        Mode::Imds => Router::new()
            .route("/latest/api/token", put(imds_token))
            .route(
                "/latest/meta-data/iam/security-credentials/",
                get(imds_roles),
            )
            .route(
                "/latest/meta-data/iam/security-credentials/{role}",
                get(imds_credentials),
            )
            .route("/latest/meta-data/placement/region", get(imds_region))
            .route(
                "/latest/meta-data/placement/availability-zone",
                get(imds_zone),
            ),
    };
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            local_only,
        ))
        // For any handler that ever reads a body; `local_only` refuses large ones first.
        .layer(DefaultBodyLimit::max(
            usize::try_from(MAX_BODY).unwrap_or(usize::MAX),
        ))
        .with_state(shared)
}

/// Refuses requests that are not from and for this machine, and bodies; logs each request
/// (never a header value but a refused `Host`).
async fn local_only(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = if !peer_allowed(peer.ip()) {
        plain(
            StatusCode::FORBIDDEN,
            "keyfob serves credentials only to this machine",
        )
    } else if !addressed_here(&request, shared.port) {
        let host = request.headers().get(header::HOST).map(|h| {
            String::from_utf8_lossy(h.as_bytes())
                .chars()
                .take(100)
                .collect::<String>()
        });
        tracing::info!(
            ?host,
            "refused a request whose Host is not this server's loopback address (DNS rebinding?)"
        );
        plain(
            StatusCode::FORBIDDEN,
            &format!(
                "keyfob serves credentials only to requests for 127.0.0.1:{0} or localhost:{0}",
                shared.port
            ),
        )
    } else {
        match body_refusal(request.headers()) {
            Some(refusal) => refusal,
            None => next.run(request).await,
        }
    };
    tracing::info!(%method, %path, status = response.status().as_u16(), "request");
    response
}

/// Whether the request names this server: its `Host` (and the authority of an absolute
/// request target, when there is one) is a loopback name or address with `port`.
fn addressed_here(request: &axum::extract::Request, port: u16) -> bool {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let (Some(host), None) = (hosts.next().and_then(|h| h.to_str().ok()), hosts.next()) else {
        // None, one that is not text, or several (which one would a proxy believe?).
        return false;
    };
    let target_ok = request
        .uri()
        .authority()
        .is_none_or(|a| host_allowed(a.as_str(), port));
    target_ok && host_allowed(host, port)
}

/// Whether a `Host` value is `localhost`, an address in 127.0.0.0/8 or `[::1]`, with `port`
/// (or without one when `port` is 80, as clients omit the default). Any other name is refused,
/// even one that resolves to loopback: that is what a rebinding page's name does.
pub fn host_allowed(host: &str, port: u16) -> bool {
    let (name, given_port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        let given = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return false,
            },
        };
        let loopback = ip.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return false;
        }
        (None, given)
    } else {
        match host.split_once(':') {
            Some((name, p)) => (Some(name), Some(p)),
            None => (Some(host), None),
        }
    };
    let port_ok = match given_port {
        Some(p) => p == port.to_string(),
        None => port == 80,
    };
    let name_ok = name.is_none_or(|n| {
        n.eq_ignore_ascii_case("localhost")
            || n.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    });
    port_ok && name_ok
}

/// The answer to a request whose body is larger than [`MAX_BODY`] or of unknown length.
fn body_refusal(headers: &HeaderMap) -> Option<Response> {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Some(plain(
            StatusCode::LENGTH_REQUIRED,
            "request bodies must have a Content-Length",
        ));
    }
    let length = headers.get(header::CONTENT_LENGTH)?;
    let too_large = length
        .to_str()
        .ok()
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_none_or(|l| l > MAX_BODY);
    too_large.then(|| {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request bodies are limited to {MAX_BODY} bytes"),
        )
    })
}

/// Only loopback peers get credentials.
pub fn peer_allowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// A text answer, exactly `text`: IMDS clients put the role name they read into the next URL.
fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain")],
        text.to_owned(),
    )
        .into_response()
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found")
}

/// Compares secrets in time that does not depend on where they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_hex() -> String {
    use std::fmt::Write as _;
    let bytes: [u8; 32] = rand::random();
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unavailable(message: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({ "Code": "CredentialsUnavailable", "Message": message })),
    )
        .into_response()
}

async fn ecs(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !same(given.as_bytes(), shared.token.expose().as_bytes()) {
        return plain(
            StatusCode::FORBIDDEN,
            "the Authorization header does not carry this server's token",
        );
    }
    match shared.credentials().await {
        Ok(c) => axum::Json(credentials_json(&c, false)).into_response(),
        Err(message) => unavailable(&message),
    }
}

/// The container (and with `imds`, the instance metadata) credentials document. Public for the
/// `ecs` fuzz target, which checks that the SDKs read it back as the same credentials.
pub fn credentials_json(c: &Credentials, imds: bool) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    if imds {
        doc.insert("Code".into(), json!("Success"));
        doc.insert(
            "LastUpdated".into(),
            json!(crate::credentials::rfc3339(crate::Clock::now(
                &crate::SystemClock
            ))),
        );
        doc.insert("Type".into(), json!("AWS-HMAC"));
    }
    doc.insert("AccessKeyId".into(), json!(c.access_key_id));
    doc.insert(
        "SecretAccessKey".into(),
        json!(c.secret_access_key.expose()),
    );
    if let Some(t) = &c.session_token {
        doc.insert("Token".into(), json!(t.expose()));
    }
    if let Some(e) = c.expiration {
        doc.insert("Expiration".into(), json!(crate::credentials::rfc3339(e)));
    }
    serde_json::Value::Object(doc)
}

/// Longest IMDSv2 session, as EC2 allows.
const IMDS_MAX_TTL: u64 = 21_600;
/// IMDSv2 sessions kept at once; the oldest goes first.
const IMDS_MAX_TOKENS: usize = 1024;

async fn imds_token(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    // EC2 refuses token requests that went through a proxy.
    if headers.contains_key("x-forwarded-for") {
        return plain(StatusCode::FORBIDDEN, "forwarded requests are refused");
    }
    let ttl = headers
        .get("x-aws-ec2-metadata-token-ttl-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|t| (1..=IMDS_MAX_TTL).contains(t));
    let Some(ttl) = ttl else {
        return plain(
            StatusCode::BAD_REQUEST,
            "X-aws-ec2-metadata-token-ttl-seconds must be 1 to 21600",
        );
    };
    let token = random_hex();
    let mut tokens = shared.imds_tokens.lock().expect("tokens lock");
    // A client that asks again and again must not grow the list without end.
    if tokens.len() >= IMDS_MAX_TOKENS {
        tokens.remove(0);
    }
    tokens.push((
        Secret::new(token.clone()),
        Instant::now() + Duration::from_secs(ttl),
    ));
    drop(tokens);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/plain".to_owned()),
            (
                header::HeaderName::from_static("x-aws-ec2-metadata-token-ttl-seconds"),
                ttl.to_string(),
            ),
        ],
        token,
    )
        .into_response()
}

fn imds_unauthorized() -> Response {
    plain(
        StatusCode::UNAUTHORIZED,
        "an IMDSv2 token is required (PUT /latest/api/token first)",
    )
}

async fn imds_roles(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !shared.imds_token_valid(&headers) {
        return imds_unauthorized();
    }
    plain(StatusCode::OK, &shared.role_name)
}

async fn imds_credentials(
    State(shared): State<Arc<Shared>>,
    Path(role): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !shared.imds_token_valid(&headers) {
        return imds_unauthorized();
    }
    if role != shared.role_name {
        return not_found().await;
    }
    match shared.credentials().await {
        Ok(c) => axum::Json(credentials_json(&c, true)).into_response(),
        Err(message) => unavailable(&message),
    }
}

async fn imds_region(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !shared.imds_token_valid(&headers) {
        return imds_unauthorized();
    }
    match &shared.region {
        Some(r) => plain(StatusCode::OK, r),
        None => not_found().await,
    }
}

async fn imds_zone(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !shared.imds_token_valid(&headers) {
        return imds_unauthorized();
    }
    match &shared.region {
        Some(r) => plain(StatusCode::OK, &format!("{r}a")),
        None => not_found().await,
    }
}

/// An IMDS role name made of the characters IAM allows, from the profile name.
pub fn role_name_for(profile: &str) -> String {
    let name: String = profile
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .take(64)
        .collect();
    if name.is_empty() {
        "keyfob".to_owned()
    } else {
        name
    }
}

// ---------------------------------------------------------------------------------------------
// Which container-credential URIs a client accepts

/// A container-credentials configuration the SDKs would refuse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContainerUriError {
    /// Neither variable is set.
    #[error(
        "No environment variables were set to configure ECS provider (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI)"
    )]
    NotConfigured,
    /// The full URI has no host.
    #[error("AWS_CONTAINER_CREDENTIALS_FULL_URI {0:?} is invalid: URI did not specify a host")]
    NoHost(String),
    /// Plain http to a host the SDKs refuse.
    #[error(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI {0:?} is not allowed: plain http must go to a loopback address or the ECS/EKS container host"
    )]
    NotAllowed(String),
}

/// The ECS task host and the EKS Pod Identity agent addresses.
const ECS_HOST: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);
const EKS_HOST_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
const EKS_HOST_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x23);

/// The URI a client reads its container credentials from, by the SDKs' rules: a relative URI
/// (on the ECS host) wins over a full one; a full URI over https may go anywhere, over http
/// only to loopback or the ECS/EKS hosts. (aws-config also resolves a host name and accepts it
/// when every address is loopback; keyfob does no DNS and accepts only `localhost`.)
pub fn container_uri(
    relative: Option<&str>,
    full: Option<&str>,
) -> Result<url::Url, ContainerUriError> {
    if let Some(rel) = relative.filter(|r| !r.is_empty()) {
        return url::Url::parse(&format!("http://{ECS_HOST}{rel}"))
            .map_err(|_| ContainerUriError::NoHost(rel.to_owned()));
    }
    let Some(full) = full.filter(|f| !f.is_empty()) else {
        return Err(ContainerUriError::NotConfigured);
    };
    let url = url::Url::parse(full).map_err(|_| ContainerUriError::NoHost(full.to_owned()))?;
    let allowed = match (url.scheme(), url.host()) {
        (_, None) => return Err(ContainerUriError::NoHost(full.to_owned())),
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case("localhost"),
        ("http", Some(url::Host::Ipv4(ip))) => {
            ip.is_loopback() || ip == ECS_HOST || ip == EKS_HOST_V4
        }
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback() || ip == EKS_HOST_V6,
        _ => false,
    };
    if allowed {
        Ok(url)
    } else {
        Err(ContainerUriError::NotAllowed(full.to_owned()))
    }
}

impl crate::error::UserError for StartError {
    fn hint(&self) -> Option<String> {
        StartError::hint(self)
    }
}

impl crate::error::UserError for ContainerUriError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_peers_are_served() {
        assert!(peer_allowed("127.0.0.1".parse().unwrap()));
        assert!(peer_allowed("127.8.9.10".parse().unwrap()));
        assert!(peer_allowed("::1".parse().unwrap()));
        assert!(peer_allowed("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!peer_allowed("10.0.0.5".parse().unwrap()));
        assert!(!peer_allowed("169.254.170.2".parse().unwrap()));
        assert!(!peer_allowed("::ffff:192.168.1.1".parse().unwrap()));
    }

    #[test]
    fn only_loopback_hosts_with_our_port_are_served() {
        for ok in [
            "127.0.0.1:4321",
            "127.9.8.7:4321",
            "localhost:4321",
            "LocalHost:4321",
            "[::1]:4321",
        ] {
            assert!(host_allowed(ok, 4321), "{ok}");
        }
        for refused in [
            "",
            "evil.example:4321",
            "localhost.evil.example:4321",
            "127.0.0.1.nip.io:4321",
            "localhost.:4321",
            "10.0.0.1:4321",
            "169.254.169.254:4321",
            "[::ffff:10.0.0.1]:4321",
            "[fe80::1]:4321",
            "127.0.0.1:1234",
            "127.0.0.1",
            "localhost",
            "127.0.0.1:04321",
            "127.0.0.1:4321:4321",
            "[::1]4321",
            "[::1",
            "2130706433:4321",
        ] {
            assert!(!host_allowed(refused, 4321), "{refused}");
        }
        // Clients leave the default port out.
        assert!(host_allowed("localhost", 80));
        assert!(host_allowed("[::1]", 80));
        assert!(!host_allowed("localhost:8080", 80));
    }

    #[test]
    fn bodies_are_bounded() {
        let with = |k: header::HeaderName, v: &str| {
            let mut h = HeaderMap::new();
            h.insert(k, v.parse().unwrap());
            h
        };
        assert!(body_refusal(&HeaderMap::new()).is_none());
        assert!(body_refusal(&with(header::CONTENT_LENGTH, "0")).is_none());
        assert!(body_refusal(&with(header::CONTENT_LENGTH, "1024")).is_none());
        let status = |r: Option<Response>| r.map(|r| r.status());
        assert_eq!(
            status(body_refusal(&with(header::CONTENT_LENGTH, "1025"))),
            Some(StatusCode::PAYLOAD_TOO_LARGE)
        );
        assert_eq!(
            status(body_refusal(&with(header::TRANSFER_ENCODING, "chunked"))),
            Some(StatusCode::LENGTH_REQUIRED)
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert_eq!(random_hex().len(), 64);
        assert_ne!(random_hex(), random_hex());
    }

    #[test]
    fn the_uri_keyfob_hands_out_is_one_the_sdks_accept() {
        let url = container_uri(None, Some("http://127.0.0.1:41234/")).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:41234/");
        assert!(matches!(
            container_uri(None, Some("http://example.com/creds")),
            Err(ContainerUriError::NotAllowed(_))
        ));
        assert!(matches!(
            container_uri(None, Some("http://10.0.0.1/creds")),
            Err(ContainerUriError::NotAllowed(_))
        ));
    }

    #[test]
    fn role_names_keep_iam_characters() {
        assert_eq!(role_name_for("acme-prod.Admin"), "acme-prod.Admin");
        assert_eq!(role_name_for("a b/c"), "abc");
        assert_eq!(role_name_for("///"), "keyfob");
    }

    /// Cases in `ecs-tests.json`.
    const ECS_CASES: usize = 11;

    #[test]
    fn ecs_spec_vectors() {
        #[derive(serde::Deserialize)]
        struct Suite {
            tests: Vec<Case>,
        }
        #[derive(serde::Deserialize)]
        struct Case {
            docs: String,
            env: std::collections::BTreeMap<String, String>,
            result: serde_json::Value,
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/spec-aws-config/ecs-tests.json");
        let suite: Suite = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut failures = Vec::new();
        for case in &suite.tests {
            let got = container_uri(
                case.env
                    .get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                    .map(String::as_str),
                case.env
                    .get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
                    .map(String::as_str),
            );
            let ok = match (
                &got,
                case.result.get("Ok"),
                case.result.get("ErrorContains"),
            ) {
                (Ok(url), Some(want), None) => Some(url.as_str()) == want.as_str(),
                (Err(e), None, Some(want)) => e.to_string().contains(want.as_str().unwrap()),
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{}: expected {}, got {got:?}",
                    case.docs, case.result
                ));
            }
        }
        assert_eq!(suite.tests.len(), ECS_CASES, "cases in the file");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
