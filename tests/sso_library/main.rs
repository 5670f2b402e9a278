//! keyfob-sso's library against the fake IAM Identity Center, in process, through the real
//! SDK clients pointed at loopback by `AWS_ENDPOINT_URL_SSO_OIDC` / `AWS_ENDPOINT_URL_SSO`.
//! (They live in this package, not in crates/sso, so that no crate depends on keyfob-tests.)
//!
//! Most tests keep the session in an in-memory store (test-only: keyfob itself has no such
//! fallback). `keychain_round_trip_with_keyutils` uses the kernel keyring: it needs
//! `KEYFOB_TEST_KEYUTILS=1` inside `keyctl session -` (as `./scripts/test` runs it), and fails
//! rather than skips without them when `KEYFOB_TEST_REQUIRE_PEERS=1`:
//! `KEYFOB_TEST_KEYUTILS=1 keyctl session - cargo nextest run -p keyfob-tests --test sso_library`.

mod common;

use chrono::{Duration, Utc};
use common::{Browser, World};
use keyfob_core::env::SystemClock;
use keyfob_core::source::CredentialSource;
use keyfob_core::store::SessionStore;
use keyfob_sso::accounts::{ListOptions, Progress};
use keyfob_sso::login::LoginOptions;
use keyfob_sso::{
    Flow, RoleCredentialsSource, SsoContext, SsoError, list_accounts, login, logout, valid_token,
};
use keyfob_tests::fake::{FakeConfig, Grant, InjectedFailure, Op, Org, POLLED_TOO_FAST};

#[tokio::test]
async fn device_flow_survives_pending_and_slow_down() {
    let mut config = FakeConfig::default();
    config.device.slow_down_polls = 1;
    config.device.pending_polls = 2;
    let w = World::new(config);
    let ui = Browser::default();
    let started = std::time::Instant::now();
    let token = login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &ui,
        &LoginOptions::default(),
    )
    .await
    .unwrap();
    // interval 1 s, then 6 s after slow_down, scaled by 0.01: at least 10 + 3 × 60 ms.
    assert!(started.elapsed() >= std::time::Duration::from_millis(190));
    assert!(w.fake.count_grant(Grant::DeviceCode) >= 4);
    // The fake enforces the (scaled) interval plus 5 s per slow_down: keyfob kept it.
    assert_eq!(w.fake.counters()[POLLED_TOO_FAST], 0);
    assert!(token.refresh_token.is_some());
    let reg = w.fake.last(Op::RegisterClient).unwrap().json.unwrap();
    assert_eq!(reg["clientType"], "public");
    assert_eq!(reg["scopes"], serde_json::json!(["sso:account:access"]));
    // The mirror is what botocore reads: ~/.aws/sso/cache/sha1("acme").json.
    let mirror = keyfob_sso::token::cache_file_path(&w.env, &w.cfg);
    assert_eq!(
        mirror,
        w.home
            .path()
            .join(".aws/sso/cache/293abb6b76d7791c0732cc517d38c4b5c734b87f.json")
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mirror).unwrap()).unwrap();
    assert_eq!(doc["accessToken"], token.access_token.expose());
    assert_eq!(doc["startUrl"], w.cfg.start_url);
    for key in [
        "refreshToken",
        "clientId",
        "clientSecret",
        "registrationExpiresAt",
    ] {
        assert!(doc.get(key).is_some(), "{key} missing: {doc}");
    }

    // A second login reuses the registration.
    login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &ui,
        &LoginOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(w.fake.count(Op::RegisterClient), 1);
}

#[tokio::test]
async fn device_flow_denied_and_expired() {
    let mut config = FakeConfig::default();
    config.device.auto_approve = true;
    config.device.deny = true;
    let w = World::new(config);
    let ui = Browser::default();
    let err = login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &ui,
        &LoginOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SsoError::Denied { .. }), "{err}");
    w.fake.configure(|c| {
        c.device.deny = false;
        c.device.expire = true;
    });
    let err = login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &ui,
        &LoginOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the device code expired before it was approved; run keyfob login again"
    );
}

#[tokio::test]
async fn pkce_login_follows_the_authorize_redirect() {
    let w = World::new(FakeConfig::default());
    let ui = Browser::default();
    let token = login(&w.ctx(), &w.cfg, Flow::Pkce, &ui, &LoginOptions::default())
        .await
        .unwrap();
    assert!(token.refresh_token.is_some());
    assert_eq!(w.fake.count_grant(Grant::AuthorizationCode), 1);
    let reg = w.fake.last(Op::RegisterClient).unwrap().json.unwrap();
    assert_eq!(
        reg["grantTypes"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        reg["redirectUris"],
        serde_json::json!(["http://127.0.0.1/oauth/callback"])
    );
    assert_eq!(reg["issuerUrl"], w.cfg.start_url);
    let url = ui.seen.lock().unwrap()[0].clone();
    assert!(
        url.starts_with(&format!(
            "{}/authorize?response_type=code&client_id=",
            w.fake.url()
        )),
        "{url}"
    );
    assert!(
        url.contains("&code_challenge_method=S256&scopes=sso%3Aaccount%3Aaccess&code_challenge=")
    );
    // The browser's tab got the success page.
    for _ in 0..100 {
        if ui.callback_status.lock().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(*ui.callback_status.lock().unwrap(), Some(200));
}

#[tokio::test]
async fn pkce_denied_in_the_browser() {
    let mut config = FakeConfig::default();
    config.pkce.deny = true;
    let w = World::new(config);
    let err = login(
        &w.ctx(),
        &w.cfg,
        Flow::Pkce,
        &Browser::default(),
        &LoginOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SsoError::Denied { .. }), "{err}");
    assert_eq!(w.fake.count_grant(Grant::AuthorizationCode), 0);
}

#[tokio::test]
async fn refresh_after_the_server_expired_the_token() {
    let mut config = FakeConfig::default();
    config.device.auto_approve = true;
    let w = World::new(config);
    let first = login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &Browser::default(),
        &LoginOptions::default(),
    )
    .await
    .unwrap();
    let account = w.fake.config().org.accounts[0].clone();
    let source = RoleCredentialsSource::new(w.ctx(), w.cfg.clone(), &account.id, &account.roles[0]);
    let creds = source.fetch().await.unwrap();
    assert!(creds.expiration.unwrap() > Utc::now() + Duration::minutes(30));
    assert!(w.fake.issued_key(&creds.access_key_id));

    // The server forgets the token: the portal's 401 makes keyfob refresh once.
    w.fake.expire_all();
    let creds = source.fetch().await.unwrap();
    assert!(w.fake.issued_key(&creds.access_key_id));
    assert_eq!(w.fake.count_grant(Grant::RefreshToken), 1);
    let now = valid_token(&w.ctx(), &w.cfg, Duration::minutes(15))
        .await
        .unwrap();
    assert_ne!(now.access_token, first.access_token);
    // The rotated refresh token reached the mirror.
    let mirror = keyfob_sso::token::cache_file_path(&w.env, &w.cfg);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mirror).unwrap()).unwrap();
    assert_eq!(doc["accessToken"], now.access_token.expose());
    assert_eq!(
        doc["refreshToken"],
        now.refresh_token.as_ref().unwrap().expose()
    );

    // Refresh token dead too: the login hint.
    w.fake.expire(keyfob_tests::fake::ExpireRequest {
        access_tokens: true,
        credentials: true,
        refresh_tokens: true,
        clients: false,
    });
    let err = source.fetch().await.unwrap_err();
    assert!(err.needs_user);
    assert_eq!(
        err.to_string(),
        "SSO session acme has expired; run: keyfob login --sso-session acme"
    );
}

#[tokio::test]
async fn no_access_to_a_role_points_at_populate() {
    let mut config = FakeConfig::default();
    config.device.auto_approve = true;
    let w = World::new(config);
    login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &Browser::default(),
        &LoginOptions::default(),
    )
    .await
    .unwrap();
    let source = RoleCredentialsSource::new(w.ctx(), w.cfg.clone(), "999999999999", "Admin");
    let err = source.fetch_credentials().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no access to role Admin in account 999999999999; run keyfob populate --sso-session acme to see what you can reach"
    );
}

#[tokio::test]
async fn listing_pages_and_survives_throttling() {
    let mut config = FakeConfig::with_org(Org::generated(45, 3));
    config.device.auto_approve = true;
    config.page_size = 20;
    config.throttle_every_n = 7;
    let w = World::new(config);
    login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &Browser::default(),
        &LoginOptions::default(),
    )
    .await
    .unwrap();
    w.fake.fail_next(Op::ListAccounts, 429, 2);
    w.fake.fail_next(Op::ListAccountRoles, 503, 1);
    let mut seen: Vec<Progress> = Vec::new();
    let accounts = list_accounts(
        &w.ctx(),
        &w.cfg,
        &ListOptions {
            concurrency: 4,
            // Every 7th call throttled whatever the rate: the governor slows to ~10 calls a
            // second, so the 55 calls need more than the 6 s the test scale makes of the
            // default deadline.
            deadline: Some(std::time::Duration::from_secs(120)),
            ..ListOptions::default()
        },
        &mut |p| seen.push(p),
    )
    .await
    .unwrap();
    assert_eq!(accounts.len(), 45);
    assert!(
        accounts
            .iter()
            .all(|a| a.roles == ["Admin", "Dev", "ReadOnly"])
    );
    assert_eq!(accounts[0].account_name, "acct-0001");
    assert_eq!(seen.first().unwrap().accounts_done, 0);
    assert_eq!(
        *seen.last().unwrap(),
        Progress {
            accounts_done: 45,
            accounts_total: 45
        }
    );
    // Roles are listed while later pages of accounts come in: each report moves one of the
    // two forward, and never back.
    assert!(seen.windows(2).all(|p| {
        let (a, b) = (p[0], p[1]);
        a.accounts_done <= b.accounts_done
            && a.accounts_total <= b.accounts_total
            && a != b
            && b.accounts_done <= b.accounts_total
    }));
    // 3 pages of accounts, 2 throttled first tries, plus periodic 429s.
    assert!(w.fake.count(Op::ListAccounts) >= 5);
}

#[tokio::test]
async fn logout_revokes_and_forgets() {
    let mut config = FakeConfig::default();
    config.device.auto_approve = true;
    let w = World::new(config);
    let token = login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &Browser::default(),
        &LoginOptions::default(),
    )
    .await
    .unwrap();
    let summary = logout(&w.ctx(), &w.cfg).await.unwrap();
    assert!(summary.signed_out_remotely);
    assert_eq!(summary.keychain_entries_deleted, 2);
    assert!(summary.cache_file_removed);
    assert!(summary.remote_error.is_none());
    assert!(w.store.list().unwrap().is_empty());
    assert!(
        w.fake
            .issued_tokens()
            .iter()
            .any(|t| t.access_token == token.access_token.expose() && t.revoked)
    );
    let err = valid_token(&w.ctx(), &w.cfg, Duration::minutes(15))
        .await
        .unwrap_err();
    assert!(err.needs_login());
    // Logging out twice is fine.
    let again = logout(&w.ctx(), &w.cfg).await.unwrap();
    assert!(!again.signed_out_remotely && again.keychain_entries_deleted == 0);
}

#[tokio::test]
async fn keychain_round_trip_with_keyutils() {
    if !keyfob_tests::peers::available("KEYFOB_TEST_KEYUTILS") {
        return;
    }
    let mut config = FakeConfig::default();
    config.device.auto_approve = true;
    let service = format!("keyfob-test-{:016x}", rand::random::<u64>());
    let w = World::with_env(
        config,
        &[
            ("KEYFOB_KEYRING", "keyutils"),
            ("KEYFOB_KEYCHAIN_SERVICE", &service),
        ],
    );
    let keychain = keyfob_core::store::Keychain::open(&w.env).unwrap();
    let ctx = SsoContext {
        store: &keychain,
        clock: &SystemClock,
        env: &w.env,
    };
    let result = async {
        login(
            &ctx,
            &w.cfg,
            Flow::Device,
            &Browser::default(),
            &LoginOptions::default(),
        )
        .await?;
        let account = w.fake.config().org.accounts[0].clone();
        RoleCredentialsSource::new(ctx, w.cfg.clone(), &account.id, &account.roles[0])
            .fetch_credentials()
            .await?;
        logout(&ctx, &w.cfg).await
    }
    .await;
    // Whatever happened, leave nothing behind in the persistent keyring.
    for key in keychain.list().unwrap_or_default() {
        let _ = keychain.delete(&key);
    }
    let summary = result.unwrap();
    assert_eq!(summary.keychain_entries_deleted, 2);
    assert!(keychain.list().unwrap().is_empty());
}

#[tokio::test]
async fn listing_follows_every_page_of_an_accounts_roles() {
    // 45 roles in one account, pages of 20: three pages; keyfob asks for 100 a page.
    let mut org = Org::generated(3, 2);
    org.accounts[1].roles = (1..=45).map(|n| format!("Role{n:02}")).collect();
    let mut config = FakeConfig::with_org(org);
    config.device.auto_approve = true;
    config.page_size = 20;
    let w = World::new(config);
    login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &Browser::default(),
        &LoginOptions::default(),
    )
    .await
    .unwrap();
    let accounts = list_accounts(&w.ctx(), &w.cfg, &ListOptions::default(), &mut |_| {})
        .await
        .unwrap();
    let big = accounts
        .iter()
        .find(|a| a.account_id == "111100000002")
        .unwrap();
    assert_eq!(big.roles.len(), 45, "{:?}", big.roles);
    assert_eq!(big.roles.first().map(String::as_str), Some("Role01"));
    assert_eq!(big.roles.last().map(String::as_str), Some("Role45"));
    let pages: Vec<_> = w
        .fake
        .history(Op::ListAccountRoles)
        .into_iter()
        .filter(|r| r.query["account_id"] == "111100000002")
        .collect();
    assert_eq!(pages.len(), 3);
    assert!(!pages[0].query.contains_key("next_token"));
    assert!(
        pages[1..]
            .iter()
            .all(|p| p.query.contains_key("next_token"))
    );
}

#[tokio::test]
async fn role_credentials_wait_out_throttling_and_its_retry_after() {
    let mut config = FakeConfig::default();
    config.device.auto_approve = true;
    let w = World::new(config);
    login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &Browser::default(),
        &LoginOptions::default(),
    )
    .await
    .unwrap();
    w.fake.reset();
    w.fake.inject(InjectedFailure {
        op: Op::GetRoleCredentials,
        status: 429,
        count: 2,
        code: None,
        message: None,
        retry_after_ms: Some(300),
    });
    let account = w.fake.config().org.accounts[0].clone();
    let creds = RoleCredentialsSource::new(w.ctx(), w.cfg.clone(), &account.id, &account.roles[0])
        .fetch_credentials()
        .await
        .unwrap();
    assert!(w.fake.issued_key(&creds.access_key_id));
    let attempts = w.fake.history(Op::GetRoleCredentials);
    assert_eq!(attempts.len(), 3, "two throttled, then served");
    for pair in attempts.windows(2) {
        let gap = (pair[1].at - pair[0].at).to_std().unwrap();
        assert!(
            gap >= std::time::Duration::from_millis(300),
            "waited {gap:?}, less than the server's x-amz-retry-after"
        );
    }
}

#[tokio::test]
async fn oidc_errors_carry_the_servers_description() {
    let w = World::new(FakeConfig::default());
    w.fake.inject(InjectedFailure {
        op: Op::RegisterClient,
        status: 400,
        count: 1,
        code: Some("InvalidClientMetadataException".into()),
        message: Some("the scope sso:nothing is not known here".into()),
        retry_after_ms: None,
    });
    let err = login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &Browser::default(),
        &LoginOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "IAM Identity Center OIDC RegisterClient failed: InvalidClientMetadataException: the scope sso:nothing is not known here"
    );
}

#[tokio::test]
async fn a_forgotten_registration_is_replaced_once_in_both_flows() {
    let mut config = FakeConfig::default();
    config.device.auto_approve = true;
    let w = World::new(config);
    for flow in [Flow::Device, Flow::Pkce] {
        let ui = Browser::default();
        login(&w.ctx(), &w.cfg, flow, &ui, &LoginOptions::default())
            .await
            .unwrap();
        let registered = w.fake.count(Op::RegisterClient);
        let forgotten: Vec<String> = w
            .fake
            .issued_tokens()
            .into_iter()
            .map(|t| t.client_id)
            .collect();
        assert!(w.fake.forget_clients(None) >= 1);
        let authorized_before = w.fake.history(Op::Authorize).len();
        login(&w.ctx(), &w.cfg, flow, &ui, &LoginOptions::default())
            .await
            .unwrap();
        // PKCE asks before opening the browser: no browser goes to /authorize with a client
        // the IdP no longer knows.
        for request in &w.fake.history(Op::Authorize)[authorized_before..] {
            assert!(
                !forgotten.contains(&request.query["client_id"]),
                "{flow}: the browser was sent to /authorize with a forgotten client"
            );
        }
        assert_eq!(
            w.fake.count(Op::RegisterClient),
            registered + 1,
            "{flow}: exactly one new registration"
        );
        // The new one is stored and reused.
        login(&w.ctx(), &w.cfg, flow, &ui, &LoginOptions::default())
            .await
            .unwrap();
        assert_eq!(w.fake.count(Op::RegisterClient), registered + 1, "{flow}");
    }
}

#[tokio::test]
async fn device_flow_polls_on_through_throttling() {
    let mut config = FakeConfig::default();
    config.device.auto_approve = true;
    config.device.pending_polls = 1;
    let w = World::new(config);
    // More 429s than the SDK's three attempts of one poll: keyfob slows down and polls on.
    w.fake.inject(InjectedFailure {
        op: Op::CreateToken,
        status: 429,
        count: 4,
        code: None,
        message: None,
        retry_after_ms: None,
    });
    let token = login(
        &w.ctx(),
        &w.cfg,
        Flow::Device,
        &Browser::default(),
        &LoginOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        w.fake
            .issued_tokens()
            .iter()
            .any(|t| t.access_token == token.access_token.expose())
    );
    // 4 throttled, 1 pending, 1 served.
    assert_eq!(w.fake.count(Op::CreateToken), 6);
    assert_eq!(w.fake.count_grant(Grant::DeviceCode), 2);
    assert_eq!(w.fake.counters()[POLLED_TOO_FAST], 0);
}
