//! A small fake IdP on 127.0.0.1 for the IdP client's tests.
//!
//! Routes (each scenario under its own prefix):
//!
//! | route                     | answers                                                          |
//! |---------------------------|------------------------------------------------------------------|
//! | `GET  /basic/start`       | sets cookie `sid`, login form (POST `login`, hidden `AuthState`)  |
//! | `POST /basic/login`       | needs the cookie and `AuthState`; right password: SAML response page; wrong: the form again |
//! | `GET  /hop/start`         | an auto-submit form (hidden `SAMLRequest`, `RelayState`) to `/hop/sso` |
//! | `POST /hop/sso`           | 303 to `/basic/start`                                            |
//! | `GET  /mfa/start`         | login form; `POST /mfa/login` then asks for `otp`; `POST /mfa/otp` checks it |
//! | `GET  /get/start`         | a login form submitted with GET to `/get/login` (keyfob refuses) |
//! | `GET  /error/start`       | HTTP 500                                                         |
//! | `GET  /slow/start`        | answers after 5 s                                                |
//! | `GET  /loop/start`        | 302 to `/loop/again`, which 302s back                            |
//! | `GET  /steps/start`       | an auto-submit form to itself, forever                           |
//! | `GET  /noform/start`      | a page with no form                                              |
//! | `GET  /chain/start`       | a SAMLResponse form for another IdP, which then answers for AWS  |

#![allow(dead_code, unreachable_pub)] // each test binary uses part of it

use axum::Router;
use axum::extract::{Form, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use std::collections::HashMap;
use std::time::Duration;

pub const PASSWORD: &str = "correct horse";
pub const OTP: &str = "424242";
pub const AUTH_STATE: &str = "state&1<x>";
pub const SESSION: &str = "sid=cookie-value-7f3a";

pub fn saml_response_b64() -> String {
    let xml = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Destination="https://signin.aws.amazon.com/saml"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion><saml:Conditions NotOnOrAfter="2099-01-01T00:00:00Z"/><saml:AttributeStatement><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role"><saml:AttributeValue>arn:aws:iam::111122223333:role/Developer,arn:aws:iam::111122223333:saml-provider/corp</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#;
    base64::engine::general_purpose::STANDARD.encode(xml)
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn login_page(action: &str, method: &str, error: bool) -> Html<String> {
    Html(format!(
        r#"<!DOCTYPE html><html><head><title>Sign in</title></head><body>
        {}
        <form method="{method}" action="{action}">
          <input type="text" name="username" autocomplete="username">
          <input type="password" name="password">
          <input type="hidden" name="AuthState" value="{}">
          <button type="submit">Login</button>
        </form></body></html>"#,
        if error {
            "<p>Wrong user name or password</p>"
        } else {
            ""
        },
        escape(AUTH_STATE)
    ))
}

fn saml_page(action: &str) -> Html<String> {
    Html(format!(
        r#"<html><body onload="document.forms[0].submit()">
        <form method="post" action="{action}">
          <input type="hidden" name="SAMLResponse" value="{}">
          <input type="hidden" name="RelayState" value="">
          <noscript><input type="submit" value="Continue"></noscript>
        </form></body></html>"#,
        saml_response_b64()
    ))
}

fn has_session(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|c| c.trim() == SESSION))
}

fn with_session(page: Html<String>) -> Response {
    (
        [(header::SET_COOKIE, format!("{SESSION}; Path=/; HttpOnly"))],
        page,
    )
        .into_response()
}

/// Checks what every login POST must carry; `Err` is the fake's refusal.
fn check_login(
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<bool, (StatusCode, &'static str)> {
    if !has_session(headers) {
        return Err((StatusCode::FORBIDDEN, "no session cookie"));
    }
    if f.get("AuthState").map(String::as_str) != Some(AUTH_STATE) {
        return Err((StatusCode::BAD_REQUEST, "AuthState lost"));
    }
    Ok(f.get("username").map(String::as_str) == Some("alice")
        && f.get("password").map(String::as_str) == Some(PASSWORD))
}

fn app() -> Router {
    Router::new()
        .merge(login_routes())
        .merge(mfa_routes())
        .merge(other_routes())
}

fn login_routes() -> Router {
    Router::new()
        .route(
            "/basic/start",
            get(|| async { with_session(login_page("login", "post", false)) }),
        )
        .route(
            "/basic/login",
            post(
                |headers: HeaderMap, Form(f): Form<HashMap<String, String>>| async move {
                    match check_login(&headers, &f) {
                        Err(e) => e.into_response(),
                        Ok(true) => saml_page("https://signin.aws.amazon.com/saml").into_response(),
                        Ok(false) => login_page("login", "post", true).into_response(),
                    }
                },
            ),
        )
        .route(
            "/hop/start",
            get(|| async {
                Html(
                    r#"<body onload="document.forms[0].submit()"><form method="post" action="/hop/sso">
                    <input type="hidden" name="SAMLRequest" value="PHNhbWxwOkF1dGhuUmVxdWVzdC8+">
                    <input type="hidden" name="RelayState" value="rs-1"></form></body>"#,
                )
            }),
        )
        .route(
            "/hop/sso",
            post(|Form(f): Form<HashMap<String, String>>| async move {
                if f.contains_key("SAMLRequest") && f.get("RelayState").map(String::as_str) == Some("rs-1") {
                    Redirect::to("/basic/start").into_response()
                } else {
                    (StatusCode::BAD_REQUEST, "hidden inputs lost").into_response()
                }
            }),
        )
}

fn mfa_routes() -> Router {
    Router::new()
        .route(
            "/mfa/start",
            get(|| async { with_session(login_page("login", "post", false)) }),
        )
        .route(
            "/mfa/login",
            post(
                |headers: HeaderMap, Form(f): Form<HashMap<String, String>>| async move {
                    match check_login(&headers, &f) {
                        Err(e) => e.into_response(),
                        Ok(true) => Html(
                            r#"<title>Two-step verification</title><form method="post" action="otp">
                            <input type="hidden" name="flow" value="f1">
                            <label>Code</label><input type="text" name="otp" autocomplete="one-time-code">
                            <input type="submit" name="verify" value="Verify"></form>"#,
                        )
                        .into_response(),
                        Ok(false) => login_page("login", "post", true).into_response(),
                    }
                },
            ),
        )
        .route(
            "/mfa/otp",
            post(
                |headers: HeaderMap, Form(f): Form<HashMap<String, String>>| async move {
                    if !has_session(&headers) || f.get("flow").map(String::as_str) != Some("f1") {
                        return (StatusCode::BAD_REQUEST, "flow lost").into_response();
                    }
                    if f.get("otp").map(String::as_str) == Some(OTP) && f.contains_key("verify") {
                        saml_page("https://signin.aws.amazon.com/saml").into_response()
                    } else {
                        Html(r#"<p>Wrong code</p><form method="post" action="otp"><input type="hidden" name="flow" value="f1"><input name="otp"></form>"#).into_response()
                    }
                },
            ),
        )
}

fn other_routes() -> Router {
    Router::new()
        .route(
            "/get/start",
            get(|| async { with_session(login_page("/get/login", "get", false)) }),
        )
        .route(
            "/get/login",
            get(
                |headers: HeaderMap, Query(f): Query<HashMap<String, String>>| async move {
                    match check_login(&headers, &f) {
                        Err(e) => e.into_response(),
                        Ok(true) => saml_page("https://signin.aws.amazon.com/saml").into_response(),
                        Ok(false) => login_page("/get/login", "get", true).into_response(),
                    }
                },
            ),
        )
        .route(
            "/error/start",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/slow/start",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/loop/start", get(|| async { Redirect::temporary("/loop/again") }))
        .route("/loop/again", get(|| async { Redirect::temporary("/loop/start") }))
        .route(
            "/steps/start",
            get(|| async {
                Html(r#"<form method="get" action="/steps/start"><input type="hidden" name="n" value="1"></form>"#)
            }),
        )
        .route(
            "/noform/start",
            get(|| async { Html("<title>Down for maintenance</title><p>Come back later</p>") }),
        )
        .route(
            "/chain/start",
            get(|| async { saml_page("/chain/acs") }),
        )
        .route(
            "/chain/acs",
            post(|Form(f): Form<HashMap<String, String>>| async move {
                if f.contains_key("SAMLResponse") {
                    saml_page("https://signin.amazonaws.cn/saml").into_response()
                } else {
                    StatusCode::BAD_REQUEST.into_response()
                }
            }),
        )
}

/// Starts the fake on a free port; returns its base URL.
pub async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app()).await.unwrap() });
    format!("http://{addr}")
}
