//! A full IdP login logged at TRACE holds no secret: not the password, the one-time code, the
//! IdP's hidden state, its cookie, a query string or the SAML response.
//!
//! Alone in its test binary, so the global subscriber sees every event.

mod common;

use common::fake_idp::{AUTH_STATE, OTP, PASSWORD, escape, saml_response_b64, serve};
use keyfob_core::Secret;
use keyfob_saml::idp::{IdpClient, IdpOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A `MakeWriter` that keeps everything written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn trace_logs_of_a_full_login_hold_no_secret() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let client = || IdpClient::new(IdpOptions::default());

    let provider = |_: &str| Some(Secret::new(OTP));
    let base = serve().await;
    let r = client()
        .login(
            &format!("{base}/mfa/start?token=query-sekrit"),
            "alice",
            &Secret::new(PASSWORD),
            Some(&provider),
        )
        .await
        .unwrap();
    let failed = client()
        .login(
            &format!("{base}/basic/start"),
            "alice",
            &Secret::new("wrong-pw-sekrit"),
            None,
        )
        .await
        .unwrap_err();
    tracing::debug!(error = %failed, response = ?r, "done");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("IdP page"), "nothing was logged: {logs}");
    for secret in [
        PASSWORD,
        "wrong-pw-sekrit",
        OTP,
        "query-sekrit",
        AUTH_STATE,
        &escape(AUTH_STATE),
        "cookie-value-7f3a",
        &saml_response_b64()[..40],
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into the logs:\n{logs}"
        );
    }
}
