//! The fake driven by the real Rust SDK clients: if these pass, the wire formats are what the
//! SDKs send and parse.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use aws_sdk_sso::error::ProvideErrorMetadata as _;
use aws_sdk_sso::operation::RequestId as _;
use aws_sdk_ssooidc::operation::create_token::CreateTokenError;
use aws_smithy_types::retry::RetryConfig;
use base64::Engine as _;
use serde_json::{Value, json};

use super::oidc::pkce_challenge;
use super::*;

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn region() -> aws_sdk_sso::config::Region {
    aws_sdk_sso::config::Region::new("eu-west-1")
}

fn oidc(fake: &FakeAws) -> aws_sdk_ssooidc::Client {
    aws_sdk_ssooidc::Client::from_conf(
        aws_sdk_ssooidc::Config::builder()
            .behavior_version(aws_sdk_ssooidc::config::BehaviorVersion::latest())
            .endpoint_url(fake.url())
            .region(region())
            .build(),
    )
}

fn sso(fake: &FakeAws, retry: RetryConfig) -> aws_sdk_sso::Client {
    aws_sdk_sso::Client::from_conf(
        aws_sdk_sso::Config::builder()
            .behavior_version(aws_sdk_sso::config::BehaviorVersion::latest())
            .endpoint_url(fake.url())
            .region(region())
            .retry_config(retry)
            .build(),
    )
}

fn sts(fake: &FakeAws, creds: Option<aws_sdk_sts::config::Credentials>) -> aws_sdk_sts::Client {
    let mut config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .endpoint_url(fake.url())
        .region(region());
    if let Some(creds) = creds {
        config = config.credentials_provider(creds);
    }
    aws_sdk_sts::Client::from_conf(config.build())
}

fn creds(
    access_key_id: &str,
    secret: &str,
    token: Option<&str>,
) -> aws_sdk_sts::config::Credentials {
    aws_sdk_sts::config::Credentials::new(
        access_key_id,
        secret,
        token.map(str::to_owned),
        None,
        "fake-aws-test",
    )
}

/// A blocking HTTP/1.1 request without redirects: status, lower-case headers, body.
fn http(
    fake: &FakeAws,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, BTreeMap<String, String>, String) {
    let mut stream = TcpStream::connect(fake.addr()).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        fake.addr(),
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn http_json(fake: &FakeAws, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, _, body) = http(fake, method, path, body);
    (status, serde_json::from_str(&body).unwrap())
}

fn create_token_error(err: aws_sdk_ssooidc::error::SdkError<CreateTokenError>) -> CreateTokenError {
    err.into_service_error()
}

struct Login {
    client_id: String,
    client_secret: String,
    access_token: String,
    refresh_token: Option<String>,
}

/// Register and run an auto-approved device flow.
async fn login(fake: &FakeAws) -> Login {
    fake.configure(|c| c.device.auto_approve = true);
    let client = oidc(fake);
    let reg = client
        .register_client()
        .client_name("keyfob-test")
        .client_type("public")
        .scopes("sso:account:access")
        .send()
        .await
        .unwrap();
    let (id, secret) = (reg.client_id().unwrap(), reg.client_secret().unwrap());
    let device = client
        .start_device_authorization()
        .client_id(id)
        .client_secret(secret)
        .start_url(START_URL)
        .send()
        .await
        .unwrap();
    let token = client
        .create_token()
        .client_id(id)
        .client_secret(secret)
        .grant_type(DEVICE_GRANT)
        .device_code(device.device_code().unwrap())
        .send()
        .await
        .unwrap();
    Login {
        client_id: id.to_owned(),
        client_secret: secret.to_owned(),
        access_token: token.access_token().unwrap().to_owned(),
        refresh_token: token.refresh_token().map(str::to_owned),
    }
}

#[tokio::test]
async fn device_flow_answers_pending_until_the_browser_approves() {
    let fake = FakeAws::start(FakeConfig {
        device: DeviceScript {
            pending_polls: 1,
            // This client polls back to back; the interval has its own test.
            enforce_interval: false,
            ..DeviceScript::default()
        },
        ..FakeConfig::default()
    })
    .unwrap();
    let client = oidc(&fake);
    let reg = client
        .register_client()
        .client_name("keyfob")
        .client_type("public")
        .scopes("sso:account:access")
        .issuer_url(START_URL)
        .send()
        .await
        .unwrap();
    assert!(reg.client_secret_expires_at() > reg.client_id_issued_at());
    let sent = fake.last(Op::RegisterClient).unwrap();
    assert_eq!(sent.json_str("clientType"), Some("public"));
    assert_eq!(sent.json_strs("scopes"), ["sso:account:access"]);
    assert_eq!(sent.json_str("issuerUrl"), Some(START_URL));

    let (id, secret) = (reg.client_id().unwrap(), reg.client_secret().unwrap());
    let device = client
        .start_device_authorization()
        .client_id(id)
        .client_secret(secret)
        .start_url(START_URL)
        .send()
        .await
        .unwrap();
    assert_eq!(device.interval(), 1);
    assert_eq!(device.expires_in(), 600);
    let complete = device.verification_uri_complete().unwrap();
    assert_eq!(
        complete,
        format!(
            "{}/verify?user_code={}",
            fake.url(),
            device.user_code().unwrap()
        )
    );

    let poll = || {
        client
            .create_token()
            .client_id(id)
            .client_secret(secret)
            .grant_type(DEVICE_GRANT)
            .device_code(device.device_code().unwrap())
            .send()
    };
    let err = create_token_error(poll().await.unwrap_err());
    assert!(err.is_authorization_pending_exception(), "{err:?}");
    // Past the scripted pending answer, it still waits for the user.
    let err = create_token_error(poll().await.unwrap_err());
    assert!(err.is_authorization_pending_exception(), "{err:?}");

    let (status, _, page) = http(
        &fake,
        "GET",
        complete.strip_prefix(&fake.url()).unwrap(),
        "",
    );
    assert_eq!(status, 200);
    assert!(page.contains("approved"), "{page}");

    let token = poll().await.unwrap();
    assert_eq!(token.token_type(), Some("Bearer"));
    assert_eq!(token.expires_in(), 8 * 3600);
    assert!(
        token.refresh_token().is_some(),
        "clients with scopes get a refresh token"
    );
    assert!(
        fake.issued_tokens()
            .iter()
            .any(|t| Some(t.access_token.as_str()) == token.access_token())
    );

    let err = create_token_error(poll().await.unwrap_err());
    assert!(
        err.is_invalid_grant_exception(),
        "a device code is single-use: {err:?}"
    );
    assert_eq!(fake.count_grant(Grant::DeviceCode), 4);
    assert_eq!(fake.count(Op::Verify), 1);
}

#[tokio::test]
async fn device_flow_scripts_slow_down_deny_and_expiry() {
    let fake = FakeAws::start(FakeConfig {
        device: DeviceScript {
            auto_approve: true,
            slow_down_polls: 1,
            deny: true,
            enforce_interval: false,
            ..DeviceScript::default()
        },
        ..FakeConfig::default()
    })
    .unwrap();
    let client = oidc(&fake);
    let reg = client
        .register_client()
        .client_name("keyfob")
        .client_type("public")
        .send()
        .await
        .unwrap();
    let (id, secret) = (reg.client_id().unwrap(), reg.client_secret().unwrap());
    let start = || async {
        client
            .start_device_authorization()
            .client_id(id)
            .client_secret(secret)
            .start_url(START_URL)
            .send()
            .await
            .unwrap()
    };
    let poll = |device_code: String| {
        client
            .create_token()
            .client_id(id)
            .client_secret(secret)
            .grant_type(DEVICE_GRANT)
            .device_code(device_code)
            .send()
    };
    let device = start().await;
    let code = device.device_code().unwrap().to_owned();
    let err = create_token_error(poll(code.clone()).await.unwrap_err());
    assert!(err.is_slow_down_exception(), "{err:?}");
    let err = create_token_error(poll(code).await.unwrap_err());
    assert!(err.is_access_denied_exception(), "{err:?}");
    let CreateTokenError::AccessDeniedException(denied) = err else {
        unreachable!()
    };
    assert_eq!(denied.error(), Some("access_denied"));

    fake.configure(|c| {
        c.device = DeviceScript {
            expire: true,
            enforce_interval: false,
            ..DeviceScript::default()
        };
    });
    let device = start().await;
    let err = create_token_error(
        poll(device.device_code().unwrap().to_owned())
            .await
            .unwrap_err(),
    );
    assert!(err.is_expired_token_exception(), "{err:?}");

    let err = client
        .start_device_authorization()
        .client_id(id)
        .client_secret("wrong")
        .start_url(START_URL)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_client_exception(), "{err:?}");

    // Registrations that expire must be redone.
    fake.expire(ExpireRequest {
        clients: true,
        ..ExpireRequest::default()
    });
    let err = client
        .start_device_authorization()
        .client_id(id)
        .client_secret(secret)
        .start_url(START_URL)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_client_exception(), "{err:?}");
}

#[tokio::test]
async fn refresh_grant_rotates_the_refresh_token() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let session = login(&fake).await;
    let old_refresh = session.refresh_token.unwrap();
    let client = oidc(&fake);
    let refresh = |token: String| {
        client
            .create_token()
            .client_id(&session.client_id)
            .client_secret(&session.client_secret)
            .grant_type("refresh_token")
            .refresh_token(token)
            .send()
    };
    let refreshed = refresh(old_refresh.clone()).await.unwrap();
    assert_ne!(refreshed.access_token().unwrap(), session.access_token);
    let new_refresh = refreshed.refresh_token().unwrap();
    assert_ne!(new_refresh, old_refresh);
    let err = create_token_error(refresh(old_refresh).await.unwrap_err());
    assert!(err.is_invalid_grant_exception(), "{err:?}");
    refresh(new_refresh.to_owned()).await.unwrap();
    assert_eq!(fake.count_grant(Grant::RefreshToken), 3);
}

#[tokio::test]
async fn authorization_code_grant_checks_pkce_and_redirect_uri() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let client = oidc(&fake);
    let reg = client
        .register_client()
        .client_name("keyfob")
        .client_type("public")
        .grant_types("authorization_code")
        .grant_types("refresh_token")
        .redirect_uris("http://127.0.0.1/oauth/callback")
        .issuer_url(START_URL)
        .scopes("sso:account:access")
        .send()
        .await
        .unwrap();
    let (id, secret) = (reg.client_id().unwrap(), reg.client_secret().unwrap());
    let redirect_uri = "http://127.0.0.1:4567/oauth/callback";
    let verifier = "a-verifier-that-is-long-enough-for-rfc-7636-rules-0123456789";
    let authorize = |challenge: &str| {
        let mut url = url::Url::parse(&format!("{}/authorize", fake.url())).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", "st4te")
            .append_pair("code_challenge_method", "S256")
            .append_pair("scopes", "sso:account:access")
            .append_pair("code_challenge", challenge);
        let (status, headers, _) = http(&fake, "GET", &url[url::Position::BeforePath..], "");
        assert_eq!(status, 302);
        let location = url::Url::parse(&headers["location"]).unwrap();
        assert_eq!(&location[..url::Position::AfterPath], redirect_uri);
        location
            .query_pairs()
            .into_owned()
            .collect::<BTreeMap<_, _>>()
    };
    let redeem = |code: String, verifier: &str, redirect: &str| {
        client
            .create_token()
            .client_id(id)
            .client_secret(secret)
            .grant_type("authorization_code")
            .code(code)
            .code_verifier(verifier)
            .redirect_uri(redirect)
            .send()
    };

    let params = authorize(&pkce_challenge(verifier));
    assert_eq!(params["state"], "st4te");
    let code = params["code"].clone();
    let token = redeem(code.clone(), verifier, redirect_uri).await.unwrap();
    assert!(token.refresh_token().is_some());
    let err = create_token_error(redeem(code, verifier, redirect_uri).await.unwrap_err());
    assert!(
        err.is_invalid_grant_exception(),
        "codes are single-use: {err:?}"
    );

    let code = authorize(&pkce_challenge(verifier))["code"].clone();
    let err = create_token_error(
        redeem(code, "another-verifier", redirect_uri)
            .await
            .unwrap_err(),
    );
    assert!(err.is_invalid_grant_exception(), "{err:?}");

    let code = authorize(&pkce_challenge(verifier))["code"].clone();
    let err = create_token_error(
        redeem(code, verifier, "http://127.0.0.1:4568/oauth/callback")
            .await
            .unwrap_err(),
    );
    assert!(err.is_invalid_grant_exception(), "{err:?}");

    fake.configure(|c| c.pkce.deny = true);
    let params = authorize(&pkce_challenge(verifier));
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st4te");
    assert!(!params.contains_key("code"));

    // A device-only grant is refused to a client registered for PKCE.
    let err = create_token_error(
        client
            .create_token()
            .client_id(id)
            .client_secret(secret)
            .grant_type(DEVICE_GRANT)
            .device_code("x")
            .send()
            .await
            .unwrap_err(),
    );
    assert!(err.is_unauthorized_client_exception(), "{err:?}");
    assert_eq!(fake.count(Op::Authorize), 4);
    assert_eq!(fake.count_grant(Grant::AuthorizationCode), 4);
}

#[tokio::test]
async fn portal_pages_accounts_and_serves_role_credentials() {
    let fake = FakeAws::start(FakeConfig::with_org(Org::generated(45, 3))).unwrap();
    let session = login(&fake).await;
    let portal = sso(&fake, RetryConfig::disabled());

    let accounts: Vec<_> = portal
        .list_accounts()
        .access_token(&session.access_token)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(accounts.len(), 45);
    assert_eq!(fake.count(Op::ListAccounts), 3, "pages of 20, 20 and 5");
    assert_eq!(accounts[0].account_id(), Some("111100000001"));
    assert_eq!(accounts[0].account_name(), Some("acct-0001"));
    assert_eq!(accounts[0].email_address(), Some("acct-0001@example.com"));
    assert_eq!(
        fake.last(Op::ListAccounts)
            .unwrap()
            .header("x-amz-sso_bearer_token"),
        Some(session.access_token.as_str())
    );

    let page = portal
        .list_accounts()
        .access_token(&session.access_token)
        .max_results(7)
        .send()
        .await
        .unwrap();
    assert_eq!(page.account_list().len(), 7);
    assert!(page.next_token().is_some());
    assert!(page.request_id().is_some());

    let roles = portal
        .list_account_roles()
        .access_token(&session.access_token)
        .account_id("111100000002")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = roles
        .role_list()
        .iter()
        .filter_map(|r| r.role_name())
        .collect();
    assert_eq!(names, ["Admin", "ReadOnly", "Dev"]);
    assert!(roles.next_token().is_none());

    let before = chrono::Utc::now().timestamp_millis();
    let out = portal
        .get_role_credentials()
        .access_token(&session.access_token)
        .account_id("111100000002")
        .role_name("Dev")
        .send()
        .await
        .unwrap();
    let role = out.role_credentials().unwrap();
    let key = role.access_key_id().unwrap();
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert!(fake.issued_key(key));
    let lifetime = role.expiration() - before;
    assert!((3_590_000..=3_610_000).contains(&lifetime), "{lifetime}");

    let identity = sts(
        &fake,
        Some(creds(
            key,
            role.secret_access_key().unwrap(),
            role.session_token(),
        )),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(
        identity.arn(),
        Some("arn:aws:sts::111100000002:assumed-role/Dev/test-user")
    );
    assert_eq!(identity.account(), Some("111100000002"));

    portal
        .logout()
        .access_token(&session.access_token)
        .send()
        .await
        .unwrap();
    let err = portal
        .list_accounts()
        .access_token(&session.access_token)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_unauthorized_exception(), "{err:?}");
}

#[tokio::test]
async fn portal_errors_are_the_ones_the_sdk_knows() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let session = login(&fake).await;
    let portal = sso(&fake, RetryConfig::disabled());

    let err = portal
        .get_role_credentials()
        .access_token(&session.access_token)
        .account_id("111100000001")
        .role_name("NotAssigned")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    assert_eq!(err.code(), Some("ForbiddenException"));
    assert_eq!(err.message(), Some("No access"));

    let err = portal
        .list_accounts()
        .access_token("not-a-token")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_unauthorized_exception(), "{err:?}");

    // Reset restarts the throttle's count too: call 1 passes, call 2 is throttled.
    fake.reset();
    fake.configure(|c| c.throttle_every_n = 2);
    let list = || {
        portal
            .list_accounts()
            .access_token(&session.access_token)
            .send()
    };
    list().await.unwrap();
    let err = list().await.unwrap_err().into_service_error();
    assert!(err.is_too_many_requests_exception(), "{err:?}");

    // The SDK's own retry gets past injected server errors.
    fake.configure(|c| c.throttle_every_n = 0);
    fake.fail_next(Op::ListAccounts, 500, 1);
    let before = fake.count(Op::ListAccounts);
    sso(&fake, RetryConfig::standard())
        .list_accounts()
        .access_token(&session.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(fake.count(Op::ListAccounts), before + 2);
}

#[tokio::test]
async fn expiry_sends_clients_down_their_refresh_paths() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let session = login(&fake).await;
    let portal = sso(&fake, RetryConfig::disabled());
    let out = portal
        .get_role_credentials()
        .access_token(&session.access_token)
        .account_id("111100000001")
        .role_name("Admin")
        .send()
        .await
        .unwrap();
    let role = out.role_credentials().unwrap();

    let summary = fake.expire_all();
    assert_eq!((summary.access_tokens, summary.credentials), (1, 1));
    let err = portal
        .list_accounts()
        .access_token(&session.access_token)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_unauthorized_exception(), "{err:?}");
    let err = sts(
        &fake,
        Some(creds(
            role.access_key_id().unwrap(),
            role.secret_access_key().unwrap(),
            role.session_token(),
        )),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
        Some("ExpiredToken")
    );

    // The refresh token still works after an expiry.
    oidc(&fake)
        .create_token()
        .client_id(&session.client_id)
        .client_secret(&session.client_secret)
        .grant_type("refresh_token")
        .refresh_token(session.refresh_token.unwrap())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn sts_serves_the_static_user_session_tokens_and_mfa() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let user = fake.static_user();
    let client = sts(
        &fake,
        Some(creds(&user.access_key_id, &user.secret_access_key, None)),
    );

    let me = client.get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/static-user"));
    assert_eq!(me.account(), Some("123456789012"));
    let sent = fake.last(Op::GetCallerIdentity).unwrap();
    assert_eq!(sent.form_field("Action"), Some("GetCallerIdentity"));
    assert_eq!(sent.form_field("Version"), Some("2011-06-15"));

    let session = client
        .get_session_token()
        .duration_seconds(900)
        .serial_number("arn:aws:iam::123456789012:mfa/static-user")
        .token_code("123456")
        .send()
        .await
        .unwrap();
    let c = session.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA"));
    let lifetime = c.expiration().secs() - chrono::Utc::now().timestamp();
    assert!((880..=900).contains(&lifetime), "{lifetime}");
    let sent = fake.last(Op::GetSessionToken).unwrap();
    assert_eq!(sent.form_field("TokenCode"), Some("123456"));

    let session_client = sts(
        &fake,
        Some(creds(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token()),
        )),
    );
    let me = session_client.get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/static-user"));
    let err = session_client.get_session_token().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
        Some("AccessDenied")
    );

    fake.configure(|c| c.sts.bad_mfa = true);
    let err = client
        .get_session_token()
        .serial_number("arn:aws:iam::123456789012:mfa/static-user")
        .token_code("654321")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
        Some("AccessDenied")
    );
    assert_eq!(fake.count(Op::GetSessionToken), 3);

    let err = sts(&fake, Some(creds("AKIANOTISSUEDBYFAKE0", "x", None)))
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
        Some("InvalidClientTokenId")
    );
}

#[tokio::test]
async fn sts_assumes_roles_directly_and_with_saml() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let user = fake.static_user();
    let client = sts(
        &fake,
        Some(creds(&user.access_key_id, &user.secret_access_key, None)),
    );
    let role_arn = "arn:aws:iam::222233334444:role/deploy/Deployer";
    let out = client
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("keyfob-session")
        .send()
        .await
        .unwrap();
    let assumed = out.assumed_role_user().unwrap();
    assert_eq!(
        assumed.arn(),
        "arn:aws:sts::222233334444:assumed-role/Deployer/keyfob-session"
    );
    assert!(assumed.assumed_role_id().ends_with(":keyfob-session"));
    let c = out.credentials().unwrap();
    let chained = sts(
        &fake,
        Some(creds(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token()),
        )),
    );
    let me = chained.get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some(assumed.arn()));
    let err = chained
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("again")
        .duration_seconds(7200)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
        Some("ValidationError")
    );

    let saml_role = "arn:aws:iam::555566667777:role/SamlAdmin";
    let principal = "arn:aws:iam::555566667777:saml-provider/TestIdP";
    let assertion = format!(
        r#"<saml2p:Response><saml2:Assertion><saml2:Issuer>https://idp.test/</saml2:Issuer>
        <saml2:Subject><saml2:NameID>alice@example.com</saml2:NameID></saml2:Subject>
        <saml2:AttributeStatement>
        <saml2:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role">
          <saml2:AttributeValue>{saml_role},{principal}</saml2:AttributeValue></saml2:Attribute>
        <saml2:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName">
          <saml2:AttributeValue>alice</saml2:AttributeValue></saml2:Attribute>
        </saml2:AttributeStatement></saml2:Assertion></saml2p:Response>"#
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(&assertion);
    let unsigned = sts(&fake, None);
    let out = unsigned
        .assume_role_with_saml()
        .role_arn(saml_role)
        .principal_arn(principal)
        .saml_assertion(&encoded)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::555566667777:assumed-role/SamlAdmin/alice"
    );
    assert_eq!(out.subject(), Some("alice@example.com"));
    assert_eq!(out.issuer(), Some("https://idp.test/"));
    assert!(fake.issued_key(out.credentials().unwrap().access_key_id()));
    assert_eq!(
        fake.last(Op::AssumeRoleWithSaml)
            .unwrap()
            .form_field("SAMLAssertion"),
        Some(encoded.as_str())
    );

    let err = unsigned
        .assume_role_with_saml()
        .role_arn("arn:aws:iam::555566667777:role/NotInAssertion")
        .principal_arn(principal)
        .saml_assertion(&encoded)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
        Some("AccessDenied")
    );
}

#[test]
fn control_api_drives_the_fake_over_http() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let (status, counters) = http_json(&fake, "GET", "/_fake/counters", "");
    assert_eq!(status, 200);
    assert_eq!(counters["ListAccounts"], 0);
    assert_eq!(counters["CreateToken.device_code"], 0);

    let (status, config) = http_json(
        &fake,
        "POST",
        "/_fake/config",
        r#"{"device": {"pending_polls": 2, "auto_approve": true}, "page_size": 5}"#,
    );
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["device"]["pending_polls"], 2);
    assert_eq!(fake.config().page_size, 5);
    assert!(fake.config().device.auto_approve);
    let (status, _) = http_json(&fake, "POST", "/_fake/config", r#"{"pagesize": 5}"#);
    assert_eq!(status, 400);

    let (status, _) = http_json(
        &fake,
        "POST",
        "/_fake/fail",
        &json!({"op": "RegisterClient", "status": 500}).to_string(),
    );
    assert_eq!(status, 200);
    let (status, headers, body) = http(
        &fake,
        "POST",
        "/client/register",
        r#"{"clientName":"x","clientType":"public"}"#,
    );
    assert_eq!(status, 500, "{body}");
    assert_eq!(headers["x-amzn-errortype"], "InternalServerException");
    let (status, reg) = http_json(
        &fake,
        "POST",
        "/client/register",
        r#"{"clientName":"x","clientType":"public"}"#,
    );
    assert_eq!(status, 200);
    assert!(reg["clientId"].is_string());

    let (status, last) = http_json(&fake, "GET", "/_fake/last/registerclient", "");
    assert_eq!(status, 200);
    assert_eq!(last["json"]["clientName"], "x");
    assert_eq!(http_json(&fake, "GET", "/_fake/last/Nope", "").0, 404);
    assert_eq!(http_json(&fake, "GET", "/_fake/last/Logout", "").0, 404);

    let (_, counters) = http_json(&fake, "GET", "/_fake/counters", "");
    assert_eq!(counters["RegisterClient"], 2);
    let (status, expired) = http_json(&fake, "POST", "/_fake/expire", "");
    assert_eq!(status, 200);
    assert_eq!(expired["access_tokens"], 0);
    let (status, _) = http_json(&fake, "POST", "/_fake/reset", "");
    assert_eq!(status, 200);
    assert_eq!(fake.count(Op::RegisterClient), 0);
    assert_eq!(fake.config().page_size, 5, "reset keeps the config");
    http_json(&fake, "POST", "/_fake/reset?all=true", "");
    assert_eq!(fake.config(), FakeConfig::default());

    let (status, headers, _) = http(&fake, "GET", "/nothing/here", "");
    assert_eq!(status, 404);
    assert_eq!(headers["x-amzn-errortype"], "UnknownOperationException");
}

#[test]
fn device_codes_can_be_approved_over_the_control_api() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    fake.configure(|c| c.device.enforce_interval = false);
    let (_, reg) = http_json(
        &fake,
        "POST",
        "/client/register",
        r#"{"clientName":"x","clientType":"public"}"#,
    );
    let body = json!({
        "clientId": reg["clientId"], "clientSecret": reg["clientSecret"], "startUrl": START_URL,
    });
    let (_, device) = http_json(&fake, "POST", "/device_authorization", &body.to_string());
    let poll = json!({
        "clientId": reg["clientId"], "clientSecret": reg["clientSecret"],
        "grantType": DEVICE_GRANT, "deviceCode": device["deviceCode"],
    })
    .to_string();
    let (status, headers, body) = http(&fake, "POST", "/token", &poll);
    assert_eq!(status, 400);
    assert_eq!(headers["x-amzn-errortype"], "AuthorizationPendingException");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "authorization_pending");
    let (_, approved) = http_json(&fake, "POST", "/_fake/approve", "");
    assert_eq!(approved["approved"], 1);
    let (status, token) = http_json(&fake, "POST", "/token", &poll);
    assert_eq!(status, 200);
    assert_eq!(token["tokenType"], "Bearer");
    assert!(
        token.get("refreshToken").is_none(),
        "no scopes, no refresh token"
    );
}

#[test]
fn generated_org_has_stable_ids_and_role_names() {
    let org = Org::generated(2, 8);
    assert_eq!(org.accounts[1].id, "111100000002");
    assert_eq!(org.accounts[1].name, "acct-0002");
    assert_eq!(
        org.accounts[0].roles,
        [
            "Admin", "ReadOnly", "Dev", "Billing", "Audit", "Ops", "Role7", "Role8"
        ]
    );
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

/// A blocking `GET` with a bearer token: status, headers, body as JSON.
fn portal_get(fake: &FakeAws, path: &str, token: &str) -> (u16, BTreeMap<String, String>, Value) {
    let mut stream = TcpStream::connect(fake.addr()).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nx-amz-sso_bearer_token: {token}\r\n\r\n",
        fake.addr()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (
        status,
        headers,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn device_polls_sooner_than_the_interval_plus_slow_downs_get_slow_down() {
    // 1 s intervals at 20 %: 200 ms, and 5 s more (1 s) for every slow_down given. Wide
    // enough that a loaded machine's slow request still counts as "at once".
    let fake = FakeAws::start(FakeConfig {
        device: DeviceScript {
            interval_scale: 0.2,
            ..DeviceScript::default()
        },
        ..FakeConfig::default()
    })
    .unwrap();
    assert!(fake.config().device.enforce_interval, "on by default");
    let client = oidc(&fake);
    let reg = client
        .register_client()
        .client_name("keyfob")
        .client_type("public")
        .send()
        .await
        .unwrap();
    let (id, secret) = (reg.client_id().unwrap(), reg.client_secret().unwrap());
    let device = client
        .start_device_authorization()
        .client_id(id)
        .client_secret(secret)
        .start_url(START_URL)
        .send()
        .await
        .unwrap();
    let poll = || {
        client
            .create_token()
            .client_id(id)
            .client_secret(secret)
            .grant_type(DEVICE_GRANT)
            .device_code(device.device_code().unwrap())
            .send()
    };
    let sleep = |ms| tokio::time::sleep(std::time::Duration::from_millis(ms));
    // The first poll has nothing to be too soon after.
    let err = create_token_error(poll().await.unwrap_err());
    assert!(err.is_authorization_pending_exception(), "{err:?}");
    // At once again: too soon.
    let err = create_token_error(poll().await.unwrap_err());
    assert!(err.is_slow_down_exception(), "{err:?}");
    assert_eq!(fake.counters()[POLLED_TOO_FAST], 1);
    // The old interval is no longer enough: 200 ms + 1 s are due now.
    sleep(600).await;
    let err = create_token_error(poll().await.unwrap_err());
    assert!(err.is_slow_down_exception(), "{err:?}");
    // After two slow_downs, 2.2 s.
    sleep(2600).await;
    let err = create_token_error(poll().await.unwrap_err());
    assert!(err.is_authorization_pending_exception(), "{err:?}");
    assert_eq!(fake.counters()[POLLED_TOO_FAST], 2);
    fake.approve_all();
    sleep(2600).await;
    poll().await.unwrap();
}

/// `GET /authorize` for this client and redirect URI, as a browser would (no redirects
/// followed).
fn authorize_as_browser(
    fake: &FakeAws,
    client_id: &str,
    redirect_uri: &str,
) -> (u16, BTreeMap<String, String>, String) {
    let mut url = url::Url::parse(&format!("{}/authorize", fake.url())).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", "st4te")
        .append_pair("code_challenge_method", "S256")
        .append_pair("code_challenge", &pkce_challenge("v"));
    http(fake, "GET", &url[url::Position::BeforePath..], "")
}

#[tokio::test]
async fn clients_registered_without_grants_get_the_device_and_refresh_grants_only() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let client = oidc(&fake);
    // Registered without grant types, as the AWS CLI registers device-flow clients.
    let device_client = client
        .register_client()
        .client_name("device")
        .client_type("public")
        .scopes("sso:account:access")
        .send()
        .await
        .unwrap();
    let (id, secret) = (
        device_client.client_id().unwrap(),
        device_client.client_secret().unwrap(),
    );
    let (status, headers, page) =
        authorize_as_browser(&fake, id, "http://127.0.0.1:4567/oauth/callback");
    assert_eq!(status, 400, "no redirect for a client without the grant");
    assert!(!headers.contains_key("location"));
    assert!(page.contains("unauthorized_client"), "{page}");
    let err = create_token_error(
        client
            .create_token()
            .client_id(id)
            .client_secret(secret)
            .grant_type("authorization_code")
            .code("any")
            .code_verifier("v")
            .redirect_uri("http://127.0.0.1:4567/oauth/callback")
            .send()
            .await
            .unwrap_err(),
    );
    assert!(err.is_unauthorized_client_exception(), "{err:?}");
    let CreateTokenError::UnauthorizedClientException(e) = &err else {
        unreachable!()
    };
    assert!(
        e.error_description()
            .unwrap()
            .contains("authorization_code"),
        "{e:?}"
    );
    // Its device code and refresh token grants work.
    let session = login(&fake).await;
    oidc(&fake)
        .create_token()
        .client_id(&session.client_id)
        .client_secret(&session.client_secret)
        .grant_type("refresh_token")
        .refresh_token(session.refresh_token.unwrap())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn pkce_clients_get_their_redirect_uri_their_grants_and_nothing_else() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let client = oidc(&fake);
    // Only its redirect URI (any port on loopback), no device flow, and no refresh token
    // unless it registered that grant too.
    let pkce = client
        .register_client()
        .client_name("pkce")
        .client_type("public")
        .grant_types("authorization_code")
        .redirect_uris("http://127.0.0.1/oauth/callback")
        .scopes("sso:account:access")
        .send()
        .await
        .unwrap();
    let (pid, psecret) = (pkce.client_id().unwrap(), pkce.client_secret().unwrap());
    for unregistered in [
        "http://127.0.0.1:4567/other/callback",
        "http://localhost:4567/oauth/callback",
        "https://attacker.example/oauth/callback",
    ] {
        let (status, headers, _) = authorize_as_browser(&fake, pid, unregistered);
        assert_eq!(status, 400, "{unregistered}");
        assert!(!headers.contains_key("location"), "{unregistered}");
    }
    let redirect_uri = "http://127.0.0.1:4567/oauth/callback";
    let (status, headers, _) = authorize_as_browser(&fake, pid, redirect_uri);
    assert_eq!(status, 302);
    let location = url::Url::parse(&headers["location"]).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let token = client
        .create_token()
        .client_id(pid)
        .client_secret(psecret)
        .grant_type("authorization_code")
        .code(code)
        .code_verifier("v")
        .redirect_uri(redirect_uri)
        .send()
        .await
        .unwrap();
    assert!(token.refresh_token().is_none(), "no refresh_token grant");
    let err = client
        .start_device_authorization()
        .client_id(pid)
        .client_secret(psecret)
        .start_url(START_URL)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_unauthorized_client_exception(), "{err:?}");
}

#[tokio::test]
async fn forgotten_registrations_are_invalid_clients() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let session = login(&fake).await;
    assert_eq!(fake.forget_clients(Some(&session.client_id)), 1);
    let err = oidc(&fake)
        .start_device_authorization()
        .client_id(&session.client_id)
        .client_secret(&session.client_secret)
        .start_url(START_URL)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_client_exception(), "{err:?}");
    let (status, forgotten) = http_json(&fake, "POST", "/_fake/forget_clients", "");
    assert_eq!((status, forgotten["forgotten"].as_u64()), (200, Some(0)));
}

#[tokio::test]
async fn page_tokens_are_opaque_and_bound_to_caller_operation_and_account() {
    let mut org = Org::generated(3, 2);
    org.accounts[1].roles = (1..=45).map(|n| format!("Role{n:02}")).collect();
    let fake = FakeAws::start(FakeConfig::with_org(org)).unwrap();
    let alice = login(&fake).await;
    let bob = login(&fake).await;
    let roles = |account: &str, token: &str, next: Option<&str>| {
        let next = next.map(|n| format!("&next_token={n}")).unwrap_or_default();
        let path = format!("/assignment/roles?account_id={account}&max_result=100{next}");
        portal_get(&fake, &path, token)
    };
    let (status, _, page) = roles("111100000002", &alice.access_token, None);
    assert_eq!(status, 200);
    assert_eq!(
        page["roleList"].as_array().unwrap().len(),
        20,
        "pages of 20"
    );
    let next = page["nextToken"].as_str().unwrap().to_owned();
    assert!(!next.contains("20") || next.len() > 16, "opaque: {next}");
    for (account, token, what) in [
        (
            "111100000001",
            alice.access_token.as_str(),
            "another account",
        ),
        ("111100000002", bob.access_token.as_str(), "another caller"),
    ] {
        let (status, headers, body) = roles(account, token, Some(&next));
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(headers["x-amzn-errortype"], "InvalidRequestException");
    }
    let (status, _, _) = portal_get(
        &fake,
        &format!("/assignment/accounts?next_token={next}"),
        &alice.access_token,
    );
    assert_eq!(status, 400, "another operation");
    let (status, _, _) = roles("111100000002", &alice.access_token, Some("fakepage-20"));
    assert_eq!(status, 400, "a guessed position");
    let (status, _, page) = roles("111100000002", &alice.access_token, Some(&next));
    assert_eq!(status, 200);
    assert_eq!(page["roleList"][0]["roleName"], "Role21");

    // The SDK's paginator walks all three pages.
    let all: Vec<String> = sso(&fake, RetryConfig::disabled())
        .list_account_roles()
        .access_token(&alice.access_token)
        .account_id("111100000002")
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r.role_name().map(str::to_owned))
        .collect();
    assert_eq!(all.len(), 45);
    assert_eq!(all[44], "Role45");
}

#[tokio::test]
async fn logout_ends_the_session_refresh_tokens_included() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let session = login(&fake).await;
    let other = login(&fake).await;
    let client = oidc(&fake);
    let refresh = |token: String| {
        client
            .create_token()
            .client_id(&session.client_id)
            .client_secret(&session.client_secret)
            .grant_type("refresh_token")
            .refresh_token(token)
            .send()
    };
    let refreshed = refresh(session.refresh_token.clone().unwrap())
        .await
        .unwrap();
    let portal = sso(&fake, RetryConfig::disabled());
    portal
        .logout()
        .access_token(refreshed.access_token().unwrap())
        .send()
        .await
        .unwrap();
    for token in [&session.access_token, refreshed.access_token().unwrap()] {
        let err = portal
            .list_accounts()
            .access_token(token)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_unauthorized_exception(), "{err:?}");
    }
    let err = create_token_error(
        refresh(refreshed.refresh_token().unwrap().to_owned())
            .await
            .unwrap_err(),
    );
    assert!(err.is_invalid_grant_exception(), "{err:?}");
    // Another sign-in is another session.
    portal
        .list_accounts()
        .access_token(&other.access_token)
        .send()
        .await
        .unwrap();
    let tokens = fake.issued_tokens();
    assert_eq!(tokens.iter().filter(|t| t.revoked).count(), 2);
}

#[tokio::test]
async fn sts_checks_every_signature_against_the_secret_it_knows() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let user = fake.static_user();
    let code = |err: &aws_sdk_sts::error::SdkError<_>| {
        aws_sdk_sts::error::ProvideErrorMetadata::code(err).map(str::to_owned)
    };
    let wrong = sts(
        &fake,
        Some(creds(
            &user.access_key_id,
            "not-the-secret-access-key",
            None,
        )),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap_err();
    assert_eq!(code(&wrong).as_deref(), Some("SignatureDoesNotMatch"));
    assert_eq!(wrong.raw_response().unwrap().status().as_u16(), 403);

    // A key registered over the control API.
    let (status, _) = http_json(
        &fake,
        "POST",
        "/_fake/keys",
        &json!({
            "access_key_id": "AKIAREGISTEREDUSER01",
            "secret_access_key": "registeredSecretAccessKey000000000000000",
            "account_id": "210987654321",
            "user_name": "alice",
        })
        .to_string(),
    );
    assert_eq!(status, 200);
    let me = sts(
        &fake,
        Some(creds(
            "AKIAREGISTEREDUSER01",
            "registeredSecretAccessKey000000000000000",
            None,
        )),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::210987654321:user/alice"));
    assert!(fake.issued_key("AKIAREGISTEREDUSER01"));

    // Issued credentials: their secret, and their session token.
    let session = sts(
        &fake,
        Some(creds(&user.access_key_id, &user.secret_access_key, None)),
    )
    .get_session_token()
    .send()
    .await
    .unwrap();
    let c = session.credentials().unwrap();
    let err = sts(
        &fake,
        Some(creds(c.access_key_id(), "wrong", Some(c.session_token()))),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("SignatureDoesNotMatch"));
    let err = sts(
        &fake,
        Some(creds(c.access_key_id(), c.secret_access_key(), None)),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("InvalidClientTokenId"));

    // Unsigned, or signed in a way that is not SigV4.
    let (status, _, body) = http(
        &fake,
        "POST",
        "/",
        "Action=GetCallerIdentity&Version=2011-06-15",
    );
    assert_eq!(status, 403);
    assert!(body.contains("MissingAuthenticationToken"), "{body}");
}

#[tokio::test]
async fn throttling_reaches_role_credentials_and_create_token_with_retry_after() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let session = login(&fake).await;
    fake.reset();
    fake.configure(|c| {
        c.throttle_every_n = 2;
        c.throttled_ops = vec![Op::GetRoleCredentials, Op::CreateToken];
    });
    let portal = sso(&fake, RetryConfig::disabled());
    let get = || {
        portal
            .get_role_credentials()
            .access_token(&session.access_token)
            .account_id("111100000001")
            .role_name("Admin")
            .send()
    };
    get().await.unwrap();
    let err = get().await.unwrap_err().into_service_error();
    assert!(err.is_too_many_requests_exception(), "{err:?}");
    let no_retries = aws_sdk_ssooidc::Client::from_conf(
        aws_sdk_ssooidc::Config::builder()
            .behavior_version(aws_sdk_ssooidc::config::BehaviorVersion::latest())
            .endpoint_url(fake.url())
            .region(region())
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let refresh = no_retries
        .create_token()
        .client_id(&session.client_id)
        .client_secret(&session.client_secret)
        .grant_type("refresh_token")
        .refresh_token(session.refresh_token.clone().unwrap());
    refresh.clone().send().await.unwrap();
    let err = refresh.send().await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 429);
    assert_eq!(
        aws_sdk_ssooidc::error::ProvideErrorMetadata::code(&err),
        Some("TooManyRequestsException")
    );
    assert_eq!(fake.count(Op::GetRoleCredentials), 2);
    assert_eq!(fake.count(Op::CreateToken), 2);

    // An injected one can say how long to wait.
    fake.configure(|c| c.throttle_every_n = 0);
    fake.inject(InjectedFailure {
        op: Op::GetRoleCredentials,
        status: 429,
        count: 1,
        code: None,
        message: None,
        retry_after_ms: Some(1500),
    });
    let err = get().await.unwrap_err();
    let headers = err.raw_response().unwrap().headers();
    assert_eq!(headers.get("x-amz-retry-after"), Some("1500"));
    assert_eq!(headers.get("retry-after"), Some("2"));
}

#[test]
fn the_token_bucket_refills_at_its_rate_up_to_its_burst() {
    use super::state::TokenBucket;
    use std::time::{Duration, Instant};
    let close = |got: Result<(), Option<Duration>>, ms: u64| {
        let got = got.unwrap_err().unwrap();
        let want = Duration::from_millis(ms);
        assert!(
            got.abs_diff(want) < Duration::from_micros(1),
            "{got:?}, not {want:?}"
        );
    };
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut bucket = TokenBucket::full(RateLimit::new(10.0, 3), t0);
    for _ in 0..3 {
        assert_eq!(bucket.take(t0), Ok(()));
    }
    // Empty: the next token is 100 ms away; half of it has come after 50 ms.
    close(bucket.take(t0), 100);
    close(bucket.take(at(50)), 50);
    assert_eq!(bucket.take(at(100)), Ok(()));
    close(bucket.take(at(100)), 100);
    // A quiet spell fills it up to the burst and no further.
    for _ in 0..3 {
        assert_eq!(bucket.take(at(60_000)), Ok(()));
    }
    assert!(bucket.take(at(60_000)).is_err());
    // Without a rate the burst is all there is, for ever.
    let mut bucket = TokenBucket::full(RateLimit::new(0.0, 1), t0);
    assert_eq!(bucket.take(t0), Ok(()));
    assert_eq!(bucket.take(at(3_600_000)), Err(None));
}

#[tokio::test]
async fn a_rate_limit_is_one_token_bucket_for_the_portal_calls() {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let session = login(&fake).await;
    fake.reset();
    // One token every 20 s: none comes back while the test makes its calls.
    fake.configure(|c| {
        c.rate_limit = Some(RateLimit {
            rate: 0.05,
            burst: 3,
            retry_after: true,
            ..RateLimit::default()
        });
    });
    let portal = sso(&fake, RetryConfig::disabled());
    let roles = || {
        portal
            .list_account_roles()
            .access_token(&session.access_token)
            .account_id("111100000001")
            .send()
    };
    // ListAccounts, ListAccountRoles and GetRoleCredentials share the 3 tokens.
    portal
        .list_accounts()
        .access_token(&session.access_token)
        .send()
        .await
        .unwrap();
    roles().await.unwrap();
    portal
        .get_role_credentials()
        .access_token(&session.access_token)
        .account_id("111100000001")
        .role_name("Admin")
        .send()
        .await
        .unwrap();
    let err = roles().await.unwrap_err();
    let response = err.raw_response().unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let ms: u64 = response
        .headers()
        .get("x-amz-retry-after")
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20_000).contains(&ms), "{ms}");
    assert_eq!(
        response.headers().get("retry-after"),
        Some(ms.div_ceil(1000).to_string().as_str())
    );
    assert!(
        err.into_service_error().is_too_many_requests_exception(),
        "the SDK reads it as throttling"
    );
    assert_eq!(fake.throttled(), 1);
    assert_eq!(fake.counters()[RETRIED_TOO_SOON], 0);
    // The same request straight back is too soon (and still throttled); another is not.
    roles().await.unwrap_err();
    assert_eq!(fake.counters()[RETRIED_TOO_SOON], 1);
    assert_eq!(fake.throttled(), 2);
    portal
        .list_accounts()
        .access_token(&session.access_token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(fake.counters()[RETRIED_TOO_SOON], 1);
    // Calls outside the bucket's operations take nothing from it.
    oidc(&fake)
        .register_client()
        .client_name("another")
        .client_type("public")
        .send()
        .await
        .unwrap();

    // A reset refills it; `null` over the control API lifts the limit; a patch sets one.
    fake.reset();
    for _ in 0..3 {
        roles().await.unwrap();
    }
    roles().await.unwrap_err();
    let (status, config) = http_json(&fake, "POST", "/_fake/config", r#"{"rate_limit": null}"#);
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["rate_limit"], Value::Null);
    for _ in 0..5 {
        roles().await.unwrap();
    }
    let (status, config) = http_json(
        &fake,
        "POST",
        "/_fake/config",
        r#"{"rate_limit": {"rate": 0, "burst": 1}}"#,
    );
    assert_eq!(status, 200, "{config}");
    assert_eq!(
        config["rate_limit"]["ops"],
        json!(["ListAccounts", "ListAccountRoles", "GetRoleCredentials"])
    );
    roles().await.unwrap();
    let err = roles().await.unwrap_err();
    // Without `retry_after` the 429 says nothing about when to come back.
    let headers = err.raw_response().unwrap().headers();
    assert_eq!(headers.get("x-amz-retry-after"), None);
    assert_eq!(headers.get("retry-after"), None);
    let (_, counters) = http_json(&fake, "GET", "/_fake/counters", "");
    assert_eq!(counters[THROTTLED], json!(2));
}
