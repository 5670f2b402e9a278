//! The IdP client against a real SimpleSAMLphp, and AssumeRoleWithSAML against moto with that
//! IdP's real assertion. `./scripts/test` starts both and sets `KEYFOB_TEST_REQUIRE_PEERS=1`,
//! which turns a missing peer into a failure; without it these tests skip (with a note on
//! stderr). By hand:
//!
//! ```sh
//! scripts/saml-idp/setup.sh /tmp/kf-idp 18491
//! export KEYFOB_TEST_SAML_IDP_URL=$(scripts/saml-idp/start.sh /tmp/kf-idp)
//! MOTO_ACCOUNT_ID=111122223333 moto_server -H 127.0.0.1 -p 18492 &
//! export KEYFOB_TEST_MOTO_URL=http://127.0.0.1:18492
//! cargo test -p keyfob-saml --test real_peers
//! ```
//!
//! `moto_loader_alone_follows_aws_endpoint_url_sts` checks that aws-config's loader alone routes
//! the call to `AWS_ENDPOINT_URL_STS`: it runs itself again as a child process with that
//! variable set to moto, so that no other test of the run sees it.

use keyfob_core::env::{Clock, Env, SystemClock};
use keyfob_core::profile::Plan;
use keyfob_core::source::CredentialSource;
use keyfob_core::{Credentials, Secret};
use keyfob_saml::assertion::{RolePair, parse_response};
use keyfob_saml::idp::{IdpClient, IdpError, IdpOptions};
use keyfob_saml::sts::{StsRequest, assume_role_with_saml, endpoint_from_env};
use keyfob_saml::{Partition, SamlSource};

const DEVELOPER: &str = "arn:aws:iam::111122223333:role/Developer";
const ADMIN: &str = "arn:aws:iam::111122223333:role/Admin";
const CORP: &str = "arn:aws:iam::111122223333:saml-provider/corp";

fn pair(role: &str) -> RolePair {
    RolePair {
        role_arn: role.into(),
        principal_arn: CORP.into(),
    }
}

/// An optional peer's address from the environment: `None` (the test skips) when it is not
/// set, and a failure when `KEYFOB_TEST_REQUIRE_PEERS=1` — the same rule as `require`/`peer`
/// in `tests/e2e/support.rs`, which this crate cannot depend on.
#[allow(clippy::print_stderr)] // the one way to tell the runner a peer test did not run
fn peer(var: &str, test: &str) -> Option<String> {
    let v = std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    if v.is_none() {
        assert!(
            std::env::var("KEYFOB_TEST_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{test}: {var} is not set but KEYFOB_TEST_REQUIRE_PEERS=1: run the tests with ./scripts/test"
        );
        eprintln!("note: {test} skipped: {var} is not set (see tests/real_peers.rs)");
    }
    v
}

async fn login(url: &str, user: &str, password: &str) -> Result<Secret, IdpError> {
    IdpClient::new(IdpOptions::default())
        .login(url, user, &Secret::new(password), None)
        .await
        .map(|r| {
            assert_eq!(r.acs_url.as_str(), "https://signin.aws.amazon.com/saml");
            r.base64
        })
}

#[tokio::test]
async fn simplesamlphp_alice_has_one_role() {
    let Some(url) = peer(
        "KEYFOB_TEST_SAML_IDP_URL",
        "simplesamlphp_alice_has_one_role",
    ) else {
        return;
    };
    let response = login(&url, "alice", "alicepw").await.unwrap();
    let a = parse_response(response.expose(), SystemClock.now()).unwrap();
    assert_eq!(a.roles, [pair(DEVELOPER)]);
    assert_eq!(a.role_session_name.as_deref(), Some("alice"));
    assert_eq!(a.session_duration, Some(3600));
    assert_eq!(a.partition, Partition::Aws);
    let left = a.not_on_or_after.unwrap() - SystemClock.now();
    assert!(
        left > chrono::Duration::minutes(3) && left <= chrono::Duration::minutes(6),
        "{left}"
    );
}

#[tokio::test]
async fn simplesamlphp_bob_has_two_roles() {
    let Some(url) = peer(
        "KEYFOB_TEST_SAML_IDP_URL",
        "simplesamlphp_bob_has_two_roles",
    ) else {
        return;
    };
    let response = login(&url, "bob", "bobpw").await.unwrap();
    let a = parse_response(response.expose(), SystemClock.now()).unwrap();
    assert_eq!(a.roles, [pair(DEVELOPER), pair(ADMIN)]);
    assert_eq!(keyfob_saml::choose_role(&a.roles, None).unwrap(), None);
    assert_eq!(
        keyfob_saml::choose_role(&a.roles, Some(ADMIN)).unwrap(),
        Some(pair(ADMIN))
    );
}

#[tokio::test]
async fn simplesamlphp_wrong_password_fails_cleanly() {
    let Some(url) = peer(
        "KEYFOB_TEST_SAML_IDP_URL",
        "simplesamlphp_wrong_password_fails_cleanly",
    ) else {
        return;
    };
    let err = login(&url, "alice", "not-alicepw").await.unwrap_err();
    assert!(matches!(err, IdpError::BadCredentials), "{err}");
}

fn check(creds: &Credentials) {
    assert!(
        creds.access_key_id.starts_with("ASIA"),
        "{}",
        creds.access_key_id
    );
    assert!(!creds.secret_access_key.is_empty());
    assert!(creds.session_token.as_ref().is_some_and(|t| !t.is_empty()));
    assert!(creds.expiration.unwrap() > SystemClock.now());
}

#[tokio::test]
async fn moto_accepts_alices_real_assertion() {
    let (Some(idp), Some(moto)) = (
        peer(
            "KEYFOB_TEST_SAML_IDP_URL",
            "moto_accepts_alices_real_assertion",
        ),
        peer("KEYFOB_TEST_MOTO_URL", "moto_accepts_alices_real_assertion"),
    ) else {
        return;
    };
    let response = login(&idp, "alice", "alicepw").await.unwrap();
    let a = parse_response(response.expose(), SystemClock.now()).unwrap();
    let env = Env::from_pairs([("AWS_ENDPOINT_URL_STS", moto.as_str())]);
    let endpoint = endpoint_from_env(&env);
    let request = StsRequest {
        profile: "alice",
        region: "us-east-1",
        endpoint_url: endpoint.as_deref(),
        use_profile_config: false,
        role: &a.roles[0],
        saml_assertion: &response,
        duration_seconds: keyfob_saml::sts::effective_duration(Some(7200), a.session_duration),
    };
    check(&assume_role_with_saml(&request).await.unwrap());

    // And the whole source, as credential_process would run it.
    let plan = Plan::Saml {
        url: idp,
        username: "alice".into(),
        role_arn: None,
        principal_arn: None,
        duration_seconds: Some(3600),
        trusted_origins: Vec::new(),
        browser: false,
    };
    let creds = SamlSource::from_plan("alice", &plan, Some(Secret::new("alicepw")))
        .unwrap()
        .with_env(&env)
        .with_profile_config(false)
        .fetch()
        .await
        .unwrap();
    check(&creds);
    assert_eq!(
        caller_arn(&moto, &creds).await,
        "arn:aws:sts::111122223333:assumed-role/Developer/alice"
    );
}

/// Who STS says these credentials are (moto accepts any signature).
async fn caller_arn(endpoint: &str, creds: &Credentials) -> String {
    let provider = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        creds.secret_access_key.expose(),
        creds.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "test",
    );
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(provider)
        .build();
    let out = aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    out.arn().unwrap_or_default().to_owned()
}

/// Set in the child that `moto_loader_alone_follows_aws_endpoint_url_sts` starts.
const LOADER_CHILD: &str = "KEYFOB_TEST_LOADER_CHILD";
/// What the child prints after its call went to moto.
const LOADER_DONE: &str = "loader-only AssumeRoleWithSAML answered by moto as ";

#[tokio::test]
#[allow(clippy::print_stdout)] // the child tells its parent that it got this far
async fn moto_loader_alone_follows_aws_endpoint_url_sts() {
    const TEST: &str = "moto_loader_alone_follows_aws_endpoint_url_sts";
    let (Some(idp), Some(moto)) = (
        peer("KEYFOB_TEST_SAML_IDP_URL", TEST),
        peer("KEYFOB_TEST_MOTO_URL", TEST),
    ) else {
        return;
    };
    if std::env::var(LOADER_CHILD).is_ok() {
        // The child: no endpoint given, no profile read; only the loader's environment says
        // where STS is.
        assert_eq!(
            std::env::var("AWS_ENDPOINT_URL_STS").as_deref(),
            Ok(moto.as_str())
        );
        let response = login(&idp, "alice", "alicepw").await.unwrap();
        let a = parse_response(response.expose(), SystemClock.now()).unwrap();
        let request = StsRequest {
            profile: "alice",
            region: "us-east-1",
            endpoint_url: None,
            use_profile_config: false,
            role: &a.roles[0],
            saml_assertion: &response,
            duration_seconds: Some(3600),
        };
        let creds = assume_role_with_saml(&request).await.unwrap();
        check(&creds);
        println!("{LOADER_DONE}{}", caller_arn(&moto, &creds).await);
        return;
    }
    // The parent: the same test again in a child process whose environment alone points STS
    // at moto (setting it here would change what every other test of this binary sees).
    let exe = std::env::current_exe().unwrap();
    let out = tokio::process::Command::new(exe)
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(LOADER_CHILD, "1")
        .env("AWS_ENDPOINT_URL_STS", &moto)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "{LOADER_DONE}arn:aws:sts::111122223333:assumed-role/Developer/alice"
        )),
        "the child did not reach moto through the loader:\n{stdout}"
    );
}
