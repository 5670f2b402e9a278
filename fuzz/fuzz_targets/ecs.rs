//! The reader of the ECS container-credentials answer on keyfob's paths: keyfob has none of its
//! own. With `credential_source = EcsContainer` it asks aws-config's `EcsCredentialsProvider`
//! (`keyfob_core::sdk_credentials`), whose parser (`json_credentials`) is private to aws-config,
//! so this target drives that provider with an HTTP client that answers every request with the
//! input, in process (no socket). Beyond "never panics":
//!
//! - what the SDK accepts, keyfob's own ECS answer (`keyfob serve`,
//!   `keyfob_core::server::credentials_json`) hands back to the SDK as the same credentials, to
//!   the second: a container given keyfob's endpoint reads what keyfob holds;
//! - keyfob's answer has only the fields an ECS answer has, and no `Debug` of the credentials
//!   shows a secret.
#![no_main]

use aws_config::ecs::EcsCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Utc};
use keyfob_core::{Credentials, Secret};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, LazyLock, Mutex};

/// The body the next request gets.
static ANSWER: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(Arc::default);

/// Answers every request with 200 and `ANSWER`.
#[derive(Debug)]
struct Answer(Arc<Mutex<Vec<u8>>>);

impl HttpConnector for Answer {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let body = self.0.lock().expect("not poisoned").clone();
        HttpConnectorFuture::ready(Ok(HttpResponse::new(
            200.try_into().expect("a status"),
            SdkBody::from(body),
        )))
    }
}

/// One runtime and one provider for every input (built once: they cost more than a run).
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

static PROVIDER: LazyLock<EcsCredentialsProvider> = LazyLock::new(|| {
    let connector = SharedHttpConnector::new(Answer(ANSWER.clone()));
    // What `keyfob serve` and `keyfob exec` hand out: a loopback full URI and a token. Without
    // a sleep implementation the provider does not retry, so each input is one request.
    // SAFETY: set once, before the provider reads them, while libFuzzer runs one thread
    // (`ProviderConfig::with_env` is private to aws-config).
    unsafe {
        std::env::set_var("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/");
        std::env::set_var("AWS_CONTAINER_AUTHORIZATION_TOKEN", "fuzz-token");
        std::env::remove_var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        std::env::remove_var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    }
    let config =
        ProviderConfig::empty().with_http_client(http_client_fn(move |_, _| connector.clone()));
    EcsCredentialsProvider::builder().configure(&config).build()
});

/// The SDK's reading of `body` as an ECS answer, as keyfob converts it
/// (`sdk_credentials::provide`).
fn read(body: &[u8]) -> Result<Credentials, String> {
    *ANSWER.lock().expect("not poisoned") = body.to_vec();
    let c = RUNTIME
        .block_on(PROVIDER.provide_credentials())
        .map_err(|e| keyfob_core::error::one_line(&e))?;
    Ok(Credentials {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: Secret::new(c.secret_access_key()),
        session_token: c.session_token().map(Secret::new),
        expiration: c.expiry().map(DateTime::<Utc>::from),
    })
}

/// `KEYFOB_FUZZ_VERBOSE=1`: print what the SDK made of each input.
static VERBOSE: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("KEYFOB_FUZZ_VERBOSE").is_some());

fuzz_target!(|data: &[u8]| {
    let answer = read(data);
    if *VERBOSE {
        eprintln!("{answer:?}");
    }
    let Ok(c) = answer else {
        return;
    };
    assert!(c.session_token.is_some(), "the SDK requires a Token");
    assert!(c.expiration.is_some(), "the SDK requires an Expiration");

    // keyfob's answer for these credentials, read by the SDK.
    let served = keyfob_core::server::credentials_json(&c, false);
    let fields: Vec<&str> = served
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["AccessKeyId", "Expiration", "SecretAccessKey", "Token"],
        "{served}"
    );
    let text = served.to_string();
    let back = read(text.as_bytes())
        .unwrap_or_else(|e| panic!("the SDK cannot read keyfob's answer {text}: {e}"));
    let want = Credentials {
        expiration: c.expiration.map(as_written),
        ..c.clone()
    };
    assert_eq!(back, want, "{text}");

    // Debug is the same whatever the secrets are.
    let blank = Credentials {
        secret_access_key: Secret::new(""),
        session_token: Some(Secret::new("")),
        ..c.clone()
    };
    assert_eq!(format!("{c:?}"), format!("{blank:?}"));
});

/// `t` as `rfc3339` writes it: moved into years 0–9999, without its fraction of a second.
fn as_written(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Timelike;
    let first = DateTime::from_timestamp(-62_167_219_200, 0).expect("0000-01-01T00:00:00Z");
    let last = DateTime::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z");
    let t = t.clamp(first, last);
    t.with_nanosecond(t.nanosecond() / 1_000_000_000 * 1_000_000_000)
        .expect("a whole second is valid")
}
