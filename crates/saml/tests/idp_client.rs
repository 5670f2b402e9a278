//! The IdP client against the fake IdP in `common/fake_idp.rs` (its route table is there).

mod common;

use common::fake_idp::{OTP, PASSWORD, saml_response_b64, serve};
use keyfob_core::Secret;
use keyfob_saml::idp::{IdpClient, IdpError, IdpOptions};
use keyfob_saml::{Assertion, MfaProvider};
use std::sync::Mutex;
use std::time::Duration;

fn client() -> IdpClient {
    IdpClient::new(IdpOptions {
        timeout: Duration::from_millis(1500),
        ..IdpOptions::default()
    })
}

async fn login(
    path: &str,
    password: &str,
    mfa: Option<&dyn MfaProvider>,
) -> Result<keyfob_saml::SamlResponse, IdpError> {
    let base = serve().await;
    client()
        .login(
            &format!("{base}{path}"),
            "alice",
            &Secret::new(password),
            mfa,
        )
        .await
}

#[tokio::test]
async fn login_form_then_saml_response() {
    let r = login(
        "/basic/start?spentityid=urn:amazon:webservices",
        PASSWORD,
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.base64.expose(), saml_response_b64());
    assert_eq!(r.acs_url.as_str(), "https://signin.aws.amazon.com/saml");
    assert_eq!(r.relay_state, None);
    let a = Assertion::from_base64(r.base64.expose()).unwrap();
    assert_eq!(a.roles.len(), 1);
}

#[tokio::test]
async fn wrong_password_is_bad_credentials_and_not_retried() {
    let err = login("/basic/start", "wrong", None).await.unwrap_err();
    assert!(matches!(err, IdpError::BadCredentials), "{err}");
    assert_eq!(
        err.to_string(),
        "the IdP rejected the user name or password; nothing was stored"
    );
    assert!(err.needs_user());
}

#[tokio::test]
async fn an_intermediate_auto_submit_hop_is_followed() {
    let r = login("/hop/start", PASSWORD, None).await.unwrap();
    assert_eq!(r.base64.expose(), saml_response_b64());
}

#[tokio::test]
async fn a_get_login_form_is_refused_not_submitted_in_the_query() {
    // Issue 8.3: a GET form would put the password into a URL (logs, history, Referer).
    let err = login("/get/start", PASSWORD, None).await.unwrap_err();
    assert!(matches!(err, IdpError::PasswordInUrl { .. }), "{err}");
    assert!(!err.to_string().contains(PASSWORD), "{err}");
}

#[tokio::test]
async fn a_saml_response_for_another_idp_is_one_more_hop() {
    let r = login("/chain/start", PASSWORD, None).await.unwrap();
    assert_eq!(r.acs_url.as_str(), "https://signin.amazonaws.cn/saml");
}

#[tokio::test]
async fn server_errors_name_status_and_url_without_query() {
    let err = login("/error/start?SAMLRequest=sekrit", PASSWORD, None)
        .await
        .unwrap_err();
    assert!(matches!(err, IdpError::Http { status: 500, .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 500") && text.contains("/error/start"),
        "{text}"
    );
    assert!(!text.contains("sekrit"), "{text}");
}

#[tokio::test]
async fn a_slow_idp_times_out() {
    let base = serve().await;
    let started = std::time::Instant::now();
    let err = IdpClient::new(IdpOptions {
        timeout: Duration::from_millis(300),
        ..IdpOptions::default()
    })
    .login(
        &format!("{base}/slow/start?x=sekrit"),
        "alice",
        &Secret::new(PASSWORD),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, IdpError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!err.to_string().contains("sekrit"), "{err}");
}

#[tokio::test]
async fn a_redirect_loop_is_stopped() {
    let err = login("/loop/start", PASSWORD, None).await.unwrap_err();
    assert!(matches!(err, IdpError::TooManyRedirects { .. }), "{err}");
}

#[tokio::test]
async fn endless_forms_stop_after_the_step_limit() {
    let err = login("/steps/start", PASSWORD, None).await.unwrap_err();
    assert!(matches!(err, IdpError::TooManySteps(10)), "{err}");
}

#[tokio::test]
async fn a_page_with_no_form_is_named_by_its_title() {
    let err = login("/noform/start", PASSWORD, None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the IdP page \"Down for maintenance\" at {} has no form; keyfob cannot go on from it",
            match &err {
                IdpError::NoForm { url, .. } => url.clone(),
                _ => panic!("{err}"),
            }
        )
    );
}

#[tokio::test]
async fn an_mfa_page_without_a_provider_needs_interaction() {
    let err = login("/mfa/start", PASSWORD, None).await.unwrap_err();
    assert!(matches!(err, IdpError::NeedsInteraction), "{err}");
    assert!(err.needs_user());
    // A provider that cannot ask either (no terminal) is the same.
    let nobody = |_: &str| None;
    let err = login("/mfa/start", PASSWORD, Some(&nobody))
        .await
        .unwrap_err();
    assert!(matches!(err, IdpError::NeedsInteraction), "{err}");
}

#[tokio::test]
async fn an_mfa_page_is_answered_by_the_provider() {
    let asked = Mutex::new(Vec::new());
    let provider = |host: &str| {
        asked.lock().unwrap().push(host.to_owned());
        Some(Secret::new(format!(" {OTP} ")))
    };
    let r = login("/mfa/start", PASSWORD, Some(&provider))
        .await
        .unwrap();
    assert_eq!(r.base64.expose(), saml_response_b64());
    assert_eq!(*asked.lock().unwrap(), ["127.0.0.1"]);

    let wrong = |_: &str| Some(Secret::new("000000"));
    let err = login("/mfa/start", PASSWORD, Some(&wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, IdpError::BadMfaCode), "{err}");
}

#[tokio::test]
async fn an_unreachable_idp_is_reported() {
    // Bind then drop a listener: nothing answers on that port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = client()
        .login(
            &format!("http://127.0.0.1:{port}/sso?q=sekrit"),
            "alice",
            &Secret::new(PASSWORD),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, IdpError::Unreachable { .. }), "{err}");
    assert!(!err.to_string().contains("sekrit"), "{err}");
    let err = client()
        .login(
            "ftp://idp.example.com/",
            "alice",
            &Secret::new(PASSWORD),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, IdpError::BadUrl(_)), "{err}");
}
