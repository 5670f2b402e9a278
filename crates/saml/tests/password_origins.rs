//! Issue 8.3, "the password goes only where the user pointed", against a hostile IdP and a
//! recorder on two loopback origins (`common/hostile.rs`). The https cases (a TLS IdP, https to
//! http) run end to end in `tests/e2e/saml.rs`; the rules themselves are unit-tested in
//! `src/origins.rs`.

mod common;

use common::fake_idp::{PASSWORD, saml_response_b64};
use common::hostile::{Recorder, hostile, recorder};
use keyfob_core::Secret;
use keyfob_saml::idp::{IdpClient, IdpError, IdpOptions};
use std::time::Duration;

async fn login_at(start: &str, trusted: &[String]) -> Result<keyfob_saml::SamlResponse, IdpError> {
    IdpClient::new(IdpOptions {
        timeout: Duration::from_secs(5),
        ..IdpOptions::default()
    })
    .with_trusted_origins(trusted)
    .for_profile("corp")
    .login(start, "alice", &Secret::new(PASSWORD), None)
    .await
}

/// A hostile IdP sending to a fresh recorder.
async fn setup() -> (String, Recorder) {
    let rec = recorder().await;
    let idp = hostile(&rec.url).await;
    (idp, rec)
}

#[tokio::test]
async fn a_307_or_308_of_the_password_to_another_origin_is_refused_and_never_sent() {
    for (route, status) in [("r307", 307), ("r308", 308)] {
        let (idp, rec) = setup().await;
        let err = login_at(&format!("{idp}/{route}/start"), &[])
            .await
            .unwrap_err();
        match &err {
            IdpError::PasswordNotTrusted {
                origin, redirect, ..
            } => {
                assert_eq!(origin, &rec.url, "{err}");
                assert_eq!(*redirect, Some(status), "{err}");
            }
            other => panic!("{route}: {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&rec.url)
                && text.contains("keyfob_saml_trusted_origins of profile corp")
                && !text.contains(PASSWORD),
            "{text}"
        );
        assert!(
            rec.requests().is_empty(),
            "{route}: the recorder got {:?}",
            rec.requests()
        );
    }
}

#[tokio::test]
async fn a_307_to_a_trusted_origin_resends_the_password_there() {
    let (idp, rec) = setup().await;
    let r = login_at(&format!("{idp}/r307/start"), std::slice::from_ref(&rec.url))
        .await
        .unwrap();
    assert_eq!(r.base64.expose(), saml_response_b64());
    let got = rec.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].method, "POST");
    assert!(rec.saw_password(), "a 307 keeps the body: {got:?}");
}

#[tokio::test]
async fn a_307_within_the_idp_origin_resends_the_password() {
    let (idp, rec) = setup().await;
    let r = login_at(&format!("{idp}/same307/start"), &[])
        .await
        .unwrap();
    assert_eq!(r.base64.expose(), saml_response_b64());
    assert!(rec.requests().is_empty());
}

#[tokio::test]
async fn a_303_after_the_password_becomes_a_get_without_it_to_any_origin() {
    let (idp, rec) = setup().await;
    let r = login_at(&format!("{idp}/r303/start"), &[]).await.unwrap();
    assert_eq!(r.base64.expose(), saml_response_b64());
    let got = rec.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0].method.as_str(), got[0].uri.as_str()),
        ("GET", "/collect")
    );
    assert!(got[0].body.is_empty(), "{got:?}");
    assert!(!rec.saw_password());
}

#[tokio::test]
async fn a_login_form_posting_to_another_origin_is_refused_unless_trusted() {
    let (idp, rec) = setup().await;
    let start = format!("{idp}/offsite/start");
    let err = login_at(&start, &[]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the IdP's login form would send your password to {}, which is not the origin of keyfob_saml_url; if you trust it, add it to keyfob_saml_trusted_origins of profile corp",
            rec.url
        )
    );
    assert!(rec.requests().is_empty(), "{:?}", rec.requests());
    // A trusted origin, with a path-less trailing slash as a user might write it.
    let r = login_at(&start, &[format!("{}/", rec.url)]).await.unwrap();
    assert_eq!(r.base64.expose(), saml_response_b64());
    assert!(rec.saw_password());
}

#[tokio::test]
async fn a_get_login_form_is_refused_even_to_a_trusted_origin() {
    let (idp, rec) = setup().await;
    let err = login_at(
        &format!("{idp}/getform/start"),
        std::slice::from_ref(&rec.url),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, IdpError::PasswordInUrl { .. }), "{err}");
    assert!(rec.requests().is_empty(), "{:?}", rec.requests());
}

#[tokio::test]
async fn a_password_free_redirect_crosses_origins() {
    let (idp, rec) = setup().await;
    let r = login_at(&format!("{idp}/cross/start"), &[]).await.unwrap();
    assert_eq!(r.base64.expose(), saml_response_b64());
    let got = rec.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].method.as_str(), got[0].uri.as_str()),
        ("GET", "/page")
    );
}

#[tokio::test]
async fn a_bad_trusted_origin_fails_before_any_request() {
    let rec = recorder().await;
    for entry in [
        "evil.example",
        "https://login.example.com/path",
        "http://login.example.com",
    ] {
        let err = login_at(&format!("{}/start", rec.url), &[entry.to_owned()])
            .await
            .unwrap_err();
        assert!(matches!(err, IdpError::BadTrustedOrigin { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("keyfob_saml_trusted_origins of profile corp: ")
                && text.contains(entry),
            "{text}"
        );
    }
    assert!(rec.requests().is_empty(), "{:?}", rec.requests());
}
