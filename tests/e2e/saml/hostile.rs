//! A hostile SAML IdP on 127.0.0.1 (issue 8.3): two TLS origins with certificates from a
//! throwaway CA made at test time, and a plain-http recorder. keyfob trusts the CA through
//! `SSL_CERT_FILE` (reqwest's rustls verifier loads the system roots with rustls-native-certs,
//! which reads only that file when the variable is set). Every request any of the three
//! receives is kept, so a test can show that the password never arrived.
//!
//! Routes on `idp` (the origin of `keyfob_saml_url`; `b` is the second TLS origin, `r` the
//! recorder):
//!
//! | route                         | answers                                                    |
//! |-------------------------------|------------------------------------------------------------|
//! | `GET  /{name}/start`          | a login form posting to `/{name}/login` on `idp`           |
//! | `POST /to-http/login`         | 307 to `{r}/collect`                                       |
//! | `POST /to-https/login`        | 307 to `{b}/collect`                                       |
//! | `POST /to-https-308/login`    | 308 to `{b}/collect`                                       |
//! | `POST /same/login`            | 307 to `/ok/login` (same origin)                           |
//! | `POST /flip/login`            | like `/ok/login` until [`Hostile::turn`], then 307 to `{r}/collect` |
//! | `POST /ok/login`              | the SAML response page when user and password are right   |
//! | `GET  /offsite/start`         | a login form whose action is `{b}/ok/login`                |
//! | `GET  /getform/start`         | a login form submitted with GET to `/ok/login`             |
//! | `GET  /cross/start`           | 302 to `{b}/form` (no password involved)                   |
//! | `GET  /to-local/start`        | 302 to `{r}/form` (https to http on this machine)          |
//!
//! `b` answers `GET /form` with a login form posting to `{idp}/ok/login`, `POST /ok/login` like
//! `idp`, and anything else with 200. `r` answers `GET /form` like `b` and anything else
//! with 200.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

pub(crate) const USER: &str = "alice";
pub(crate) const PASSWORD: &str = "hunter2-correct-horse";
const ROLE: &str = "arn:aws:iam::111122223333:role/Developer";
const PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/corp";

/// One request a listener received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) origin: String,
    pub(crate) method: String,
    pub(crate) uri: String,
    pub(crate) body: String,
}

#[derive(Default)]
struct Shared {
    idp: String,
    b: String,
    r: String,
    seen: Mutex<Vec<Seen>>,
    hostile: AtomicBool,
    responses: AtomicUsize,
}

/// The three listeners and the CA that signed the TLS ones. Dropping it stops them.
pub(crate) struct Hostile {
    /// `https://127.0.0.1:PORT`: the IdP, the origin of keyfob_saml_url.
    pub(crate) idp: String,
    /// `https://127.0.0.1:PORT`: another TLS origin.
    pub(crate) b: String,
    /// `http://127.0.0.1:PORT`: the plain-http recorder.
    pub(crate) r: String,
    /// The CA certificate, PEM, for `SSL_CERT_FILE`.
    pub(crate) ca_pem: String,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Hostile {
    pub(crate) fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (ca_pem, tls) = certificates();
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let bind = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.set_nonblocking(true).unwrap();
            let port = l.local_addr().unwrap().port();
            (l, port)
        };
        let (idp_l, idp_port) = bind();
        let (b_l, b_port) = bind();
        let (r_l, r_port) = bind();
        let shared = Arc::new(Shared {
            idp: format!("https://127.0.0.1:{idp_port}"),
            b: format!("https://127.0.0.1:{b_port}"),
            r: format!("http://127.0.0.1:{r_port}"),
            ..Shared::default()
        });
        {
            let _entered = runtime.enter();
            let servers: [(std::net::TcpListener, String, bool, Routes); 3] = [
                (idp_l, shared.idp.clone(), true, idp_routes),
                (b_l, shared.b.clone(), true, b_routes),
                (r_l, shared.r.clone(), false, r_routes),
            ];
            for (listener, origin, tls, routes) in servers {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let router = Router::new()
                    .fallback(
                        move |State(s): State<Arc<Shared>>,
                              method: Method,
                              uri: Uri,
                              body: Bytes| {
                            let origin = origin.clone();
                            async move {
                                let req = Request {
                                    method,
                                    uri,
                                    body: String::from_utf8_lossy(&body).into_owned(),
                                };
                                s.seen.lock().unwrap().push(Seen {
                                    origin,
                                    method: req.method.to_string(),
                                    uri: req.uri.to_string(),
                                    body: req.body.clone(),
                                });
                                routes(&s, &req)
                            }
                        },
                    )
                    .with_state(shared.clone());
                if tls {
                    let acceptor = acceptor.clone();
                    runtime.spawn(async move {
                        axum::serve(TlsListener { listener, acceptor }, router)
                            .await
                            .unwrap();
                    });
                } else {
                    runtime.spawn(async move { axum::serve(listener, router).await.unwrap() });
                }
            }
        }
        Self {
            idp: shared.idp.clone(),
            b: shared.b.clone(),
            r: shared.r.clone(),
            ca_pem,
            shared,
            runtime: Some(runtime),
        }
    }

    /// Every request received so far, on any of the three origins.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The requests received by `origin`.
    pub(crate) fn seen_by(&self, origin: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.origin == origin)
            .collect()
    }

    /// The requests, anywhere, that held the password (form-encoded or not, URL or body).
    pub(crate) fn password_seen_by(&self) -> Vec<Seen> {
        let encoded: String = url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect();
        self.seen()
            .into_iter()
            .filter(|s| {
                [&s.uri, &s.body]
                    .iter()
                    .any(|t| t.contains(PASSWORD) || t.contains(&encoded))
            })
            .collect()
    }

    /// From now on `/flip/login` answers with a 307 to the recorder.
    pub(crate) fn turn(&self) {
        self.shared.hostile.store(true, Ordering::SeqCst);
    }
}

struct Request {
    method: Method,
    uri: Uri,
    body: String,
}

/// What one listener answers.
type Routes = fn(&Shared, &Request) -> Response;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

fn login_page(action: &str, method: &str) -> Response {
    Html(format!(
        r#"<!DOCTYPE html><title>Sign in</title><form method="{method}" action="{}">
        <input type="text" name="username" autocomplete="username">
        <input type="password" name="password">
        <input type="hidden" name="state" value="s1">
        <button type="submit">Sign in</button></form>"#,
        escape(action)
    ))
    .into_response()
}

fn redirect(status: StatusCode, to: &str) -> Response {
    (status, [(header::LOCATION, to.to_owned())]).into_response()
}

fn field(body: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The SAML response page when the form holds the right user and password; else the form again.
fn check_login(s: &Shared, req: &Request) -> Response {
    if req.method != Method::POST
        || field(&req.body, "username").as_deref() != Some(USER)
        || field(&req.body, "password").as_deref() != Some(PASSWORD)
    {
        return login_page("/ok/login", "post");
    }
    let n = s.responses.fetch_add(1, Ordering::SeqCst);
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r{n}" Destination="https://signin.aws.amazon.com/saml"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="a{n}"><saml:Subject><saml:NameID>{USER}</saml:NameID></saml:Subject><saml:Conditions NotOnOrAfter="2099-01-01T00:00:00Z"/><saml:AttributeStatement><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role"><saml:AttributeValue>{ROLE},{PROVIDER}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName"><saml:AttributeValue>{USER}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
    Html(format!(
        r#"<body onload="document.forms[0].submit()"><form method="post" action="https://signin.aws.amazon.com/saml"><input type="hidden" name="SAMLResponse" value="{b64}"></form></body>"#
    ))
    .into_response()
}

fn idp_routes(s: &Shared, req: &Request) -> Response {
    let path = req.uri.path().to_owned();
    let (name, step) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or_default();
    match (name, step) {
        ("offsite", "start") => login_page(&format!("{}/ok/login", s.b), "post"),
        ("getform", "start") => login_page("/ok/login", "get"),
        ("cross", "start") => redirect(StatusCode::FOUND, &format!("{}/form", s.b)),
        ("to-local", "start") => redirect(StatusCode::FOUND, &format!("{}/form", s.r)),
        (_, "start") => login_page(&format!("/{name}/login"), "post"),
        ("to-http", "login") => {
            redirect(StatusCode::TEMPORARY_REDIRECT, &format!("{}/collect", s.r))
        }
        ("to-https", "login") => {
            redirect(StatusCode::TEMPORARY_REDIRECT, &format!("{}/collect", s.b))
        }
        ("to-https-308", "login") => {
            redirect(StatusCode::PERMANENT_REDIRECT, &format!("{}/collect", s.b))
        }
        ("same", "login") => redirect(StatusCode::TEMPORARY_REDIRECT, "/ok/login"),
        ("flip", "login") if s.hostile.load(Ordering::SeqCst) => {
            redirect(StatusCode::TEMPORARY_REDIRECT, &format!("{}/collect", s.r))
        }
        ("flip" | "ok", "login") => check_login(s, req),
        _ => (StatusCode::NOT_FOUND, "no such page").into_response(),
    }
}

fn b_routes(s: &Shared, req: &Request) -> Response {
    match req.uri.path() {
        "/form" => login_page(&format!("{}/ok/login", s.idp), "post"),
        "/ok/login" => check_login(s, req),
        _ => "recorded".into_response(),
    }
}

fn r_routes(s: &Shared, req: &Request) -> Response {
    match req.uri.path() {
        "/form" => login_page(&format!("{}/ok/login", s.idp), "post"),
        _ => "recorded".into_response(),
    }
}

/// A throwaway CA and a leaf for 127.0.0.1 and localhost signed by it: the CA's PEM and a
/// server config presenting the leaf.
fn certificates() -> (String, rustls::ServerConfig) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "keyfob e2e throwaway CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "hostile IdP");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    (ca_cert.pem(), config)
}

/// TLS over a TCP listener, for `axum::serve`. A failed handshake (a client that does not
/// trust the CA) is dropped and the next connection accepted.
struct TlsListener {
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.listener.accept().await else {
                continue;
            };
            let handshake = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                self.acceptor.accept(tcp),
            );
            if let Ok(Ok(tls)) = handshake.await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
