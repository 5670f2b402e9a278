//! Issue 3: IAM Identity Center end to end — `configure sso-session`, `login` (PKCE with a
//! `$BROWSER` that follows the redirect, and the device flow), `populate`, `credential-process`,
//! `logout` — against the fake IAM Identity Center on loopback, with botocore and the Rust
//! `aws-config` reading what keyfob writes.

use crate::sso_support::*;
use crate::support::*;
use base64::Engine as _;
use keyfob_tests::fake::{
    Account, ExpireRequest, FakeAws, FakeConfig, Grant, InjectedFailure, Op, Org, POLLED_TOO_FAST,
};
use sha2::Digest as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Stdio;
use std::time::Duration;

fn start(config: FakeConfig) -> FakeAws {
    FakeAws::start(config).expect("start the fake IAM Identity Center")
}

/// A sandbox signed in (PKCE) with the default 3 × 2 org populated in process style.
fn populated(backend: Backend, fake: &FakeAws) -> Sandbox {
    let sb = sso_sandbox(backend, fake);
    login(&sb, &[]);
    assert_success(&populate(&sb, &[]));
    sb
}

/// The credential_process JSON of a successful run.
#[track_caller]
fn creds_json(out: &std::process::Output) -> serde_json::Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).expect("credential_process JSON")
}

fn not_signed_in_line() -> String {
    format!(
        "keyfob: error: SSO session {SESSION} is not signed in; run: keyfob login --sso-session {SESSION}"
    )
}

fn expired_line() -> String {
    format!(
        "keyfob: error: SSO session {SESSION} has expired; run: keyfob login --sso-session {SESSION}"
    )
}

// ---------------------------------------------------------------------------------------------
// login

#[test]
fn login_pkce_registers_a_public_client_and_redirects_with_s256() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    let out = login(&sb, &[]);
    assert!(
        stderr(&out).contains("Signed in to SSO session demo"),
        "{}",
        stderr(&out)
    );

    let reg = fake.last(Op::RegisterClient).expect("RegisterClient");
    assert_eq!(reg.json_str("clientType"), Some("public"));
    assert_eq!(
        reg.json_strs("grantTypes"),
        ["authorization_code", "refresh_token"]
    );
    assert_eq!(
        reg.json_strs("redirectUris"),
        ["http://127.0.0.1/oauth/callback"]
    );
    assert_eq!(reg.json_str("issuerUrl"), Some(start_url(&fake).as_str()));
    assert_eq!(reg.json_strs("scopes"), ["sso:account:access"]);

    let auth = fake
        .last(Op::Authorize)
        .expect("$BROWSER reached /authorize");
    let q = &auth.query;
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scopes"], "sso:account:access");
    let redirect = &q["redirect_uri"];
    let port = redirect
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.strip_suffix("/oauth/callback"))
        .unwrap_or_else(|| panic!("loopback redirect URI: {redirect}"));
    assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "{redirect}");
    assert!(q["state"].len() >= 16, "state: {:?}", q["state"]);

    let token = fake.last(Op::CreateToken).expect("CreateToken");
    assert_eq!(token.json_str("grantType"), Some("authorization_code"));
    assert_eq!(token.json_str("redirectUri"), Some(redirect.as_str()));
    assert_eq!(token.json_str("clientId"), Some(q["client_id"].as_str()));
    let verifier = token.json_str("codeVerifier").expect("codeVerifier");
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier));
    assert_eq!(challenge, q["code_challenge"], "S256 of the verifier");

    assert_eq!(fake.count_grant(Grant::AuthorizationCode), 1);
    assert_eq!(fake.count(Op::StartDeviceAuthorization), 0);
    assert_eq!(
        sb.stored_keys(),
        vec!["sso-client/demo".to_owned(), "sso-token/demo".to_owned()]
    );
    // No mirror unless asked for.
    assert!(!sb.home().join(".aws/sso/cache").exists());

    // A second login reuses the registration, after asking the IdP whether it still knows
    // it (one token request with a code that cannot exist, before the browser opens).
    login(&sb, &[]);
    assert_eq!(fake.count(Op::RegisterClient), 1);
    assert_eq!(fake.count_grant(Grant::AuthorizationCode), 3);
    let codes: Vec<String> = fake
        .history(Op::CreateToken)
        .iter()
        .filter_map(|r| r.json_str("code").map(str::to_owned))
        .collect();
    assert_eq!(codes[1], "keyfob-client-check", "{codes:?}");
    assert_eq!(fake.count(Op::Authorize), 2);
}

#[test]
fn login_device_flow_survives_pending_and_slow_down() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    fake.configure(|c| {
        c.device.slow_down_polls = 2;
        c.device.pending_polls = 2;
    });
    let sb = sso_sandbox(backend, &fake);
    let out = login(&sb, &["--use-device-code"]);
    let err = stderr(&out);
    assert!(
        err.contains("Using the device-code flow (--use-device-code)"),
        "{err}"
    );
    let device = fake
        .last(Op::StartDeviceAuthorization)
        .expect("StartDeviceAuthorization");
    assert_eq!(device.json_str("startUrl"), Some(start_url(&fake).as_str()));
    // The user code is shown, and $BROWSER opened verificationUriComplete, which approved it.
    let verify = fake.last(Op::Verify).expect("$BROWSER reached /verify");
    assert!(err.contains(&verify.query["user_code"]), "{err}");
    assert_eq!(fake.count(Op::Authorize), 0);

    // Two slow_down, two authorization_pending, then the token (more pending polls only if
    // the browser stand-in was slower than the poll interval).
    let polls = fake.history(Op::CreateToken);
    assert!(polls.len() >= 5, "{} polls", polls.len());
    assert!(
        polls
            .iter()
            .all(|p| p.json_str("grantType") == Some(Grant::DeviceCode.wire()))
    );
    // Each slow_down adds 5 s to the 1 s interval (scaled to 1 %: 10 ms → 60 ms → 110 ms).
    let gaps: Vec<Duration> = polls
        .windows(2)
        .map(|w| (w[1].at - w[0].at).to_std().unwrap())
        .collect();
    assert!(gaps[0] >= Duration::from_millis(55), "{gaps:?}");
    assert!(
        gaps[1..].iter().all(|g| *g >= Duration::from_millis(105)),
        "{gaps:?}"
    );
    // The fake enforces the same (scaled) interval plus 5 s per slow_down: keyfob kept it.
    assert!(fake.config().device.enforce_interval);
    assert_eq!(fake.counters()[POLLED_TOO_FAST], 0, "{:?}", fake.counters());
    assert!(sb.stored_keys().contains(&"sso-token/demo".to_owned()));
}

#[test]
fn login_without_a_display_or_browser_falls_back_to_the_device_flow_and_says_why() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    fake.configure(|c| c.device.auto_approve = true);
    let mut sb = sso_sandbox(backend, &fake);
    sb.set_env("BROWSER", "");
    let out = login(&sb, &["--no-browser"]);
    let err = stderr(&out);
    assert!(
        err.contains("Using the device-code flow: there is no graphical display"),
        "{err}"
    );
    assert_eq!(fake.count_grant(Grant::DeviceCode), 1);
    assert_eq!(fake.count(Op::Authorize), 0);
}

#[test]
fn a_denied_sign_in_is_one_line_and_stores_nothing() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    let before = snapshot(&sb);

    fake.configure(|c| c.pkce.deny = true);
    let line = assert_one_line_error(&sb.run(&["-q", "login", "--sso-session", SESSION]));
    assert!(
        line.contains("the sign-in was denied in the browser"),
        "{line}"
    );
    assert_eq!(snapshot(&sb), before, "PKCE denial");
    assert_eq!(fake.count_grant(Grant::AuthorizationCode), 0);

    fake.configure(|c| {
        c.pkce.deny = false;
        c.device.deny = true;
    });
    let line = assert_one_line_error(&sb.run(&[
        "-q",
        "login",
        "--sso-session",
        SESSION,
        "--use-device-code",
    ]));
    assert!(
        line.contains("the sign-in was denied in the browser"),
        "{line}"
    );
    assert_eq!(snapshot(&sb), before, "device-flow denial");
}

#[test]
fn an_expired_device_code_is_one_line_and_stores_nothing() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    fake.configure(|c| {
        c.device.expire = true;
        c.device.auto_approve = true;
    });
    let sb = sso_sandbox(backend, &fake);
    let before = snapshot(&sb);
    let line = assert_one_line_error(&sb.run(&[
        "-q",
        "login",
        "--sso-session",
        SESSION,
        "--use-device-code",
    ]));
    assert!(
        line.contains("the device code expired before it was approved"),
        "{line}"
    );
    assert_eq!(snapshot(&sb), before);

    // A code whose lifetime runs out while nobody approves it: keyfob stops polling by itself.
    fake.configure(|c| {
        c.device.expire = false;
        c.device.auto_approve = false;
        c.device.expires_in_secs = 2;
    });
    let mut sb = sb;
    sb.set_env("BROWSER", "true");
    let line = assert_one_line_error(&sb.run(&[
        "-q",
        "login",
        "--sso-session",
        SESSION,
        "--use-device-code",
    ]));
    assert!(
        line.contains("the device code expired before it was approved"),
        "{line}"
    );
    assert_eq!(snapshot(&sb), before);
}

#[test]
fn legacy_profile_login_uses_the_device_flow_and_mirrors_under_the_start_url() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    let url = start_url(&fake);
    sb.write_config(&format!(
        "[profile old]\nsso_start_url = {url}\nsso_region = {REGION}\nsso_account_id = 111100000001\n\
         sso_role_name = Admin\nregion = {REGION}\n"
    ));
    login_profile(&sb, "old");
    // The device flow (polls until $BROWSER has approved the code), never PKCE.
    assert_eq!(fake.count(Op::StartDeviceAuthorization), 1);
    assert!(fake.count_grant(Grant::DeviceCode) >= 1);
    assert_eq!(fake.count(Op::Authorize), 0);
    let mirror = mirror_path(&sb, &url);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mirror).expect("mirror file")).unwrap();
    assert_eq!(doc["startUrl"], url.as_str());
    let json = creds_json(&sb.run(&["credential-process", "--profile", "old"]));
    assert!(fake.issued_key(json["AccessKeyId"].as_str().unwrap()));
    if let Some(arn) = botocore_arn(&sb, "old") {
        assert_eq!(arn, assumed_role_arn("111100000001", "Admin"));
    }
}

fn login_profile(sb: &Sandbox, profile: &str) {
    assert_success(&sb.run(&["login", "--profile", profile]));
}

// ---------------------------------------------------------------------------------------------
// refresh

on_each_backend!(an_access_token_the_portal_refuses_is_refreshed_with_the_refresh_token);
fn an_access_token_the_portal_refuses_is_refreshed_with_the_refresh_token(backend: Backend) {
    let fake = start(FakeConfig::default());
    let sb = populated(backend, &fake);
    fake.expire_all();
    fake.reset();
    let json = creds_json(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
    assert!(fake.issued_key(json["AccessKeyId"].as_str().unwrap()));
    assert_eq!(fake.count_grant(Grant::RefreshToken), 1);
    // Refused once with the old token, served with the new one.
    assert_eq!(fake.count(Op::GetRoleCredentials), 2);
    let newest = fake.issued_tokens().pop().unwrap();
    assert_eq!(newest.grant, "refresh_token");
    let stored = &keychain_snapshot(&sb)["sso-token/demo"];
    assert!(
        stored.contains(&newest.access_token),
        "the rotated token is stored"
    );
    assert!(stored.contains(newest.refresh_token.as_deref().unwrap()));

    // The rotated refresh token works again later.
    fake.expire_all();
    creds_json(&sb.run(&["credential-process", "--profile", "acct-0002.Admin"]));
    assert_eq!(fake.count_grant(Grant::RefreshToken), 2);
}

on_each_backend!(a_token_inside_the_refresh_window_is_refreshed_before_use);
fn a_token_inside_the_refresh_window_is_refreshed_before_use(backend: Backend) {
    // Ten-minute tokens: inside the 15-minute window as soon as they are issued.
    let fake = start(FakeConfig {
        token_lifetime_secs: 600,
        ..FakeConfig::default()
    });
    let sb = populated(backend, &fake);
    fake.reset();
    creds_json(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
    assert_eq!(fake.count_grant(Grant::RefreshToken), 1);
    assert_eq!(
        fake.count(Op::GetRoleCredentials),
        1,
        "no refused call first"
    );
}

#[test]
fn when_refresh_is_impossible_credential_process_names_the_login_command() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = populated(backend, &fake);
    fake.expire(ExpireRequest {
        access_tokens: true,
        refresh_tokens: true,
        ..ExpireRequest::default()
    });
    let before = snapshot(&sb);
    let out = sb.run(&["credential-process", "--profile", "acct-0001.Admin"]);
    assert_eq!(assert_one_line_error(&out), expired_line());
    assert_eq!(snapshot(&sb), before);

    // An expired client registration: the same.
    let fake = start(FakeConfig::default());
    let sb = populated(backend, &fake);
    fake.expire(ExpireRequest {
        access_tokens: true,
        clients: true,
        ..ExpireRequest::default()
    });
    let out = sb.run(&["credential-process", "--profile", "acct-0002.Admin"]);
    assert_eq!(assert_one_line_error(&out), expired_line());

    // Never signed in at all: the same, and nothing goes on the wire.
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    let config = sb.read_config();
    sb.write_config(&format!(
        "{config}\n[profile p]\nkeyfob_sso_session = demo\nkeyfob_sso_account_id = 111100000001\nkeyfob_sso_role_name = Admin\n"
    ));
    let out = sb.run(&["credential-process", "--profile", "p"]);
    assert_eq!(assert_one_line_error(&out), not_signed_in_line());
    assert!(
        fake.counters().values().all(|n| *n == 0),
        "{:?}",
        fake.counters()
    );
}

// ---------------------------------------------------------------------------------------------
// credential-process

on_each_backend!(credential_process_serves_cached_credentials_and_fetches_fresh_ones_when_due);
fn credential_process_serves_cached_credentials_and_fetches_fresh_ones_when_due(backend: Backend) {
    let fake = start(FakeConfig::default());
    let sb = populated(backend, &fake);
    fake.reset();
    let mut keys = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let json = creds_json(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
        assert_eq!(json["Version"], 1);
        keys.insert(json["AccessKeyId"].as_str().unwrap().to_owned());
        let issued = fake.issued_credentials().pop().unwrap();
        assert_eq!(json["SecretAccessKey"], issued.secret_access_key.as_str());
        assert_eq!(json["SessionToken"], issued.session_token.as_str());
        assert_eq!(
            json["Expiration"],
            issued
                .expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str()
        );
    }
    assert_eq!(keys.len(), 1);
    assert_eq!(
        fake.count(Op::GetRoleCredentials),
        1,
        "1 call for 3 requests"
    );
    let req = fake.last(Op::GetRoleCredentials).unwrap();
    assert_eq!(req.query["account_id"], "111100000001");
    assert_eq!(req.query["role_name"], "Admin");

    // Another profile is its own cache entry.
    creds_json(&sb.run(&["credential-process", "--profile", "acct-0002.ReadOnly"]));
    assert_eq!(fake.count(Op::GetRoleCredentials), 2);

    // Credentials that expire inside the refresh window are fetched fresh every time.
    fake.configure(|c| c.credential_lifetime_secs = 600);
    for _ in 0..2 {
        creds_json(&sb.run(&["credential-process", "--profile", "acct-0003.Admin"]));
    }
    assert_eq!(fake.count(Op::GetRoleCredentials), 4);
}

#[test]
fn fifty_concurrent_cold_credential_process_calls_make_one_get_role_credentials() {
    for backend in Backend::available() {
        let fake = start(FakeConfig::default());
        let sb = populated(backend, &fake);
        fake.reset();
        // Slow answers, so the fifty overlap for certain.
        fake.configure(|c| c.latency_ms = 300);
        let children: Vec<_> = (0..50)
            .map(|_| {
                sb.keyfob(&["credential-process", "--profile", "acct-0001.Admin"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut keys = std::collections::BTreeSet::new();
        for child in children {
            let json = creds_json(&child.wait_with_output().unwrap());
            assert_eq!(json["Version"], 1);
            assert!(json["Expiration"].as_str().unwrap().ends_with('Z'));
            keys.insert(json["AccessKeyId"].as_str().unwrap().to_owned());
        }
        assert_eq!(fake.count(Op::GetRoleCredentials), 1, "{backend:?}");
        assert_eq!(keys.len(), 1, "all 50 got the same credentials: {keys:?}");
        assert!(fake.issued_key(keys.first().unwrap()));
    }
}

// ---------------------------------------------------------------------------------------------
// populate

#[test]
fn populate_prune_removes_only_managed_profiles_no_longer_assigned() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::with_org(Org::generated(3, 3)));
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);
    assert_success(&populate(&sb, &[]));
    assert_eq!(profile_names(&sb.read_config()).len(), 9);
    let config = sb.read_config();
    sb.write_config(&format!(
        "{config}\n[profile acct-0003.Admin.mine]\nregion = us-east-1\n\n\
         [profile other.Admin]\nsso_session = other\nsso_account_id = 111100000003\nsso_role_name = Admin\n\
         keyfob_managed = other\n"
    ));

    // acct-0003 is gone, and acct-0001 lost its Dev role.
    fake.configure(|c| {
        c.org = Org::generated(2, 3);
        c.org.accounts[0].roles.retain(|r| r != "Dev");
    });
    let out = populate(&sb, &[]);
    assert_success(&out);
    assert!(stderr(&out).contains("0 removed"), "{}", stderr(&out));
    assert_eq!(
        profile_names(&sb.read_config()).len(),
        11,
        "nothing pruned without --prune"
    );

    let out = populate(&sb, &["--prune"]);
    assert_success(&out);
    assert!(stderr(&out).contains("4 removed"), "{}", stderr(&out));
    assert_eq!(
        profile_names(&sb.read_config()),
        [
            "acct-0001.Admin",
            "acct-0001.ReadOnly",
            "acct-0002.Admin",
            "acct-0002.Dev",
            "acct-0002.ReadOnly",
            "acct-0003.Admin.mine",
            "other.Admin",
        ]
    );
}

#[test]
fn populate_dry_run_prints_a_unified_diff_and_writes_nothing() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);
    let before = snapshot(&sb);
    let out = populate(&sb, &["--dry-run"]);
    assert_success(&out);
    let diff = stdout(&out);
    let path = sb.config_path().display().to_string();
    assert!(
        diff.starts_with(&format!("--- {path}\n+++ {path}\n@@ ")),
        "{diff}"
    );
    assert!(diff.contains("\n+[profile acct-0001.Admin]\n"), "{diff}");
    assert!(diff.contains("\n+keyfob_managed = demo\n"), "{diff}");
    assert!(
        !diff
            .lines()
            .any(|l| l.starts_with('-') && !l.starts_with("---")),
        "{diff}"
    );
    assert!(
        stderr(&out).contains("9 would be added"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&sb), before, "a dry run writes nothing");

    // What the dry run showed is what a real run writes.
    assert_success(&populate(&sb, &[]));
    let written = sb.read_config();
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| &l[1..])
        .collect();
    for line in &added {
        assert!(written.lines().any(|w| w == *line), "{line:?} not written");
    }

    // Nothing to do: an empty diff. A shrunk org with --prune: only removals.
    let out = populate(&sb, &["--dry-run"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "");
    fake.configure(|c| c.org = Org::generated(2, 2));
    let out = populate(&sb, &["--dry-run", "--prune"]);
    assert_success(&out);
    let diff = stdout(&out);
    assert!(diff.contains("\n-[profile acct-0003.Admin]\n"), "{diff}");
    assert!(
        !diff
            .lines()
            .any(|l| l.starts_with('+') && !l.starts_with("+++")),
        "{diff}"
    );
    assert_eq!(sb.read_config(), written);
}

/// A config as people keep them: comments of both kinds, odd spacing, a nested `s3` block,
/// `[services]`, `[plugins]`, a section keyfob has never heard of, a profile written by hand
/// under a name `populate` will want, and no blank line before some headers.
const USER_CONFIG: &str = "\
# my AWS config — written by hand, please keep it that way
;  a semicolon comment

[default]
region = us-east-1   
output=json
# a comment at the end of [default]
[profile dev]
role_arn = arn:aws:iam::123456789012:role/Dev
source_profile = default
s3 =
    max_concurrent_requests = 20
    addressing_style = path

[services local]
s3 =
  endpoint_url = http://127.0.0.1:9000
sso_oidc =
  endpoint_url = http://127.0.0.1:9001

[plugins]
cli_legacy_plugin_path = /opt/aws/plugins

[sso-session demo]
sso_start_url = START_URL
sso_region = eu-west-1
; the session's own comment

[profile acct-0002.Dev]
# mine, not keyfob's
region = ap-south-1

[some-tool  weird header]
key=value = with = signs
\tindented = with a tab
";

#[test]
fn populate_keeps_user_comments_and_sections_byte_for_byte() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::with_org(Org::generated(3, 3)));
    let sb = sso_sandbox(backend, &fake);
    let original = USER_CONFIG.replace("START_URL", &start_url(&fake));
    sb.write_config(&original);
    login(&sb, &[]);
    let out = populate(&sb, &[]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("left alone because you wrote them yourself: acct-0002.Dev"),
        "{}",
        stderr(&out)
    );
    let after = sb.read_config();
    assert_eq!(profile_names(&after).len(), 2 + 8);
    // New profiles go at the end, after a blank line: every byte before them is the user's.
    assert!(after.starts_with(&original), "{after}");
    assert_eq!(without_managed_sections(&after), format!("{original}\n"));

    // The user comments inside a generated profile; a new region rewrites only managed keys.
    let commented = after.replace(
        "[profile acct-0001.Admin]\n",
        "[profile acct-0001.Admin]\n# the one I use most\n",
    );
    assert_ne!(commented, after);
    sb.write_config(&commented);
    let out = sb.run(&[
        "populate",
        "--sso-session",
        SESSION,
        "--region",
        "us-west-2",
    ]);
    assert_success(&out);
    assert!(stderr(&out).contains("8 updated"), "{}", stderr(&out));
    let again = sb.read_config();
    assert_eq!(without_managed_sections(&again), format!("{original}\n"));
    let admin = section(&again, "acct-0001.Admin").unwrap();
    assert!(admin.contains(&"# the one I use most"), "{admin:?}");
    assert!(admin.contains(&"region = us-west-2"), "{admin:?}");
    assert_eq!(
        section(&again, "acct-0002.Dev").unwrap(),
        ["# mine, not keyfob's", "region = ap-south-1"]
    );
}

#[test]
fn populate_names_profiles_by_template_lowercases_and_breaks_collisions_by_account_id() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::with_org(Org::new(vec![
        Account::new("111100000001", "Prod Account", &["Admin"]),
        Account::new("111100000002", "prod-account", &["Admin"]),
        Account::new("111100000003", "Prod/Account", &["Admin", "ReadOnly"]),
        Account::new("111100000004", "Dev", &["AWSPowerUser"]),
    ])));
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);

    let template = ["--name-template", "{account_name}-{role_name}"];
    assert_success(&populate(&sb, &template));
    let mut names = profile_names(&sb.read_config());
    names.sort();
    assert_eq!(
        names,
        [
            "Dev-AWSPowerUser",
            "Prod-Account-Admin.111100000001",
            "Prod-Account-Admin.111100000003",
            "Prod-Account-ReadOnly",
            "prod-account-Admin",
        ]
    );

    let out = populate(&sb, &[&template[..], &["--lower", "--prune"]].concat());
    assert_success(&out);
    let mut names = profile_names(&sb.read_config());
    names.sort();
    assert_eq!(
        names,
        [
            "dev-awspoweruser",
            "prod-account-admin.111100000001",
            "prod-account-admin.111100000002",
            "prod-account-admin.111100000003",
            "prod-account-readonly",
        ]
    );
    // The same input names the same profiles: a second run changes nothing.
    let config = sb.read_config();
    assert_success(&populate(&sb, &[&template[..], &["--lower"]].concat()));
    assert_eq!(sb.read_config(), config);

    let out = populate(
        &sb,
        &[
            "--name-template",
            "{sso_session}_{account_id}_{role_name}@{region}",
            "--prune",
        ],
    );
    assert_success(&out);
    let config = sb.read_config();
    let names = profile_names(&config);
    assert!(
        names.contains(&"demo_111100000004_AWSPowerUser-eu-west-1".to_owned()),
        "{names:?}"
    );
    let section = section(&config, "demo_111100000004_AWSPowerUser-eu-west-1").unwrap();
    assert!(
        section.iter().any(|l| l
            .ends_with("credential-process --profile demo_111100000004_AWSPowerUser-eu-west-1")),
        "{section:?}"
    );

    // A template keyfob cannot use is one line, before any call and any write.
    let before = snapshot(&sb);
    fake.reset();
    let line = assert_one_line_error(&populate(
        &sb,
        &["--name-template", "{account}.{role_name}"],
    ));
    assert!(line.contains("unknown field {account}"), "{line}");
    assert_eq!(snapshot(&sb), before);
    assert_eq!(fake.count(Op::ListAccounts), 0);
}

on_each_backend!(a_native_profiles_cache_hit_is_served_without_reading_its_token_issue_8);
/// Issue 8: `credential-process` asked for a native SSO profile itself serves a cache hit with
/// the one keychain read a hit needs. It used to read the session's token first, only to
/// decide that keyfob serves the profile (a third of a hit's keychain work); a miss still
/// decides with that read.
fn a_native_profiles_cache_hit_is_served_without_reading_its_token_issue_8(backend: Backend) {
    use keyfob_core::store::SessionStore as _;
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);
    assert_success(&populate(&sb, &["--style", "native"]));
    assert!(sb.read_config().contains("sso_session = demo"));
    fake.reset();
    let first = creds_json(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
    assert_eq!(fake.count(Op::GetRoleCredentials), 1);

    // The token goes; the role credentials it fetched stay fresh in the cache.
    assert!(
        sb.keychain_of(backend)
            .unwrap()
            .delete("sso-token/demo")
            .unwrap()
    );
    let hit = creds_json(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
    assert_eq!(hit["AccessKeyId"], first["AccessKeyId"]);
    assert_eq!(
        fake.count(Op::GetRoleCredentials),
        1,
        "served from the cache"
    );

    // A miss decides as before: keyfob holds no token for the session, so aws-config resolves
    // the profile (and finds no token in ~/.aws/sso/cache either), and keyfob calls nobody.
    let out = sb.run(&["credential-process", "--profile", "acct-0002.ReadOnly"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert_eq!(fake.count(Op::GetRoleCredentials), 1);
    assert!(!sb.home().join(".aws/sso/cache").exists());
}

// Issue 9 (cached hit): a profile populate wrote (keyfob's keys and a credential_process line
// that runs keyfob) is a hit `keyfob` answers alone: copied into a directory without its
// engine, it serves the cached role credentials and calls nobody.
on_each_backend!(a_populated_profiles_cache_hit_is_served_by_keyfob_without_its_engine);
fn a_populated_profiles_cache_hit_is_served_by_keyfob_without_its_engine(backend: Backend) {
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);
    assert_success(&populate(&sb, &[]));
    assert!(
        sb.read_config()
            .contains("credential_process = keyfob credential-process --profile acct-0001.Admin")
    );
    let first = creds_json(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
    fake.reset();
    let front = keyfob_alone(&sb);
    let out = sb
        .command(&front)
        .args(["credential-process", "--profile", "acct-0001.Admin"])
        .output()
        .unwrap();
    assert_eq!(creds_json(&out)["AccessKeyId"], first["AccessKeyId"]);
    assert_eq!(
        fake.counters().values().sum::<u64>(),
        0,
        "a hit calls nobody"
    );
    // The next profile is a miss: the engine's, which this directory lacks.
    let out = sb
        .command(&front)
        .args(["credential-process", "--profile", "acct-0002.ReadOnly"])
        .output()
        .unwrap();
    assert!(assert_one_line_error(&out).contains("cannot run keyfob-engine"));
    assert_eq!(fake.counters().values().sum::<u64>(), 0);
}

// ---------------------------------------------------------------------------------------------
// the AWS CLI token cache mirror, and native profiles

#[test]
fn native_style_with_write_sso_cache_mirrors_the_token_in_the_aws_cli_format() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    let out = login(&sb, &["--write-sso-cache"]);
    assert!(
        stderr(&out).contains("also written to ~/.aws/sso/cache"),
        "{}",
        stderr(&out)
    );

    let out = populate(&sb, &["--style", "native"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("run keyfob login --sso-session demo --write-sso-cache"),
        "{}",
        stderr(&out)
    );
    let config = sb.read_config();
    assert!(config.contains("keyfob_write_sso_cache = true"), "{config}");
    assert_eq!(
        section(&config, "acct-0002.ReadOnly").unwrap(),
        [
            "sso_session = demo",
            "sso_account_id = 111100000002",
            "sso_role_name = ReadOnly",
            "region = eu-west-1",
            "keyfob_managed = demo",
        ]
    );

    let path = mirror_path(&sb, SESSION);
    // sha1("demo"), as the AWS CLI names the file of an sso-session.
    assert!(
        path.ends_with(".aws/sso/cache/89e495e7941cf9e40e6980d14a16bf023ccd4c91.json"),
        "{}",
        path.display()
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);

    let doc: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut fields: Vec<&str> = doc.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "accessToken",
            "clientId",
            "clientSecret",
            "expiresAt",
            "refreshToken",
            "region",
            "registrationExpiresAt",
            "startUrl",
        ]
    );
    let token = fake.issued_tokens().pop().unwrap();
    let create = fake.last(Op::CreateToken).unwrap();
    assert_eq!(doc["startUrl"], start_url(&fake).as_str());
    assert_eq!(doc["region"], REGION);
    assert_eq!(doc["accessToken"], token.access_token.as_str());
    assert_eq!(doc["refreshToken"], token.refresh_token.as_deref().unwrap());
    assert_eq!(doc["clientId"], create.json_str("clientId").unwrap());
    assert_eq!(
        doc["clientSecret"],
        create.json_str("clientSecret").unwrap()
    );
    for key in ["expiresAt", "registrationExpiresAt"] {
        let t = doc[key].as_str().unwrap();
        assert!(
            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%SZ").is_ok() && t.len() == 20,
            "{key} = {t}: the AWS CLI's %Y-%m-%dT%H:%M:%SZ"
        );
    }
    let expires = chrono::NaiveDateTime::parse_from_str(
        doc["expiresAt"].as_str().unwrap(),
        "%Y-%m-%dT%H:%M:%SZ",
    )
    .unwrap()
    .and_utc();
    assert!((expires - token.expires_at).num_seconds().abs() <= 5);

    // populate turned the mirror on for the session: a plain login keeps it written.
    let old = std::fs::read_to_string(&path).unwrap();
    login(&sb, &[]);
    let new = std::fs::read_to_string(&path).unwrap();
    assert_ne!(old, new);
    assert!(new.contains(&fake.issued_tokens().pop().unwrap().access_token));
    assert_eq!(mode(&path), 0o600);
}

on_each_backend!(botocore_and_aws_config_resolve_process_style_profiles);
fn botocore_and_aws_config_resolve_process_style_profiles(backend: Backend) {
    let fake = start(FakeConfig::default());
    let sb = populated(backend, &fake);
    assert_eq!(
        aws_config_arn(&sb, "acct-0001.Admin"),
        assumed_role_arn("111100000001", "Admin")
    );
    if let Some(arn) = botocore_arn(&sb, "acct-0002.ReadOnly") {
        assert_eq!(arn, assumed_role_arn("111100000002", "ReadOnly"));
    }
    // Both went through keyfob, which cached what it fetched for each profile.
    let stored = sb.stored_keys();
    assert!(
        stored.contains(&"creds/acct-0001.Admin".to_owned()),
        "{stored:?}"
    );
    if peer("KEYFOB_TEST_PYTHON").is_some() {
        assert!(stored.contains(&"creds/acct-0002.ReadOnly".to_owned()));
        assert_eq!(fake.count(Op::GetRoleCredentials), 2);
    }
}

#[test]
fn botocore_and_aws_config_resolve_native_profiles_through_the_mirror() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &["--write-sso-cache"]);
    assert_success(&populate(&sb, &["--style", "native"]));
    fake.reset();
    assert_eq!(
        aws_config_arn(&sb, "acct-0003.Admin"),
        assumed_role_arn("111100000003", "Admin")
    );
    assert_eq!(
        fake.count(Op::GetRoleCredentials),
        1,
        "aws-config called the portal itself"
    );
    if let Some(arn) = botocore_arn(&sb, "acct-0002.ReadOnly") {
        assert_eq!(arn, assumed_role_arn("111100000002", "ReadOnly"));
        assert_eq!(fake.count(Op::GetRoleCredentials), 2);
    }
    // keyfob still serves the same session to a process-style profile from its keychain.
    let config = sb.read_config();
    sb.write_config(&format!(
        "{config}\n[profile p]\nkeyfob_sso_session = demo\nkeyfob_sso_account_id = 111100000001\nkeyfob_sso_role_name = ReadOnly\n"
    ));
    creds_json(&sb.run(&["credential-process", "--profile", "p"]));
}

#[test]
fn botocore_refreshes_a_mirrored_token_keyfob_wrote() {
    let Some(backend) = Backend::any() else {
        return;
    };
    if peer("KEYFOB_TEST_PYTHON").is_none() {
        return;
    }
    // Ten-minute tokens: botocore refreshes anything with less than 15 minutes left.
    let fake = start(FakeConfig {
        token_lifetime_secs: 600,
        ..FakeConfig::default()
    });
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &["--write-sso-cache"]);
    assert_success(&populate(&sb, &["--style", "native"]));
    let path = mirror_path(&sb, SESSION);
    let read = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let before = read();
    fake.reset();

    let arn = botocore_arn(&sb, "acct-0001.Admin").unwrap();
    assert_eq!(arn, assumed_role_arn("111100000001", "Admin"));
    assert_eq!(
        fake.count_grant(Grant::RefreshToken),
        1,
        "{:?}",
        fake.counters()
    );
    let refresh = fake.last(Op::CreateToken).unwrap();
    assert_eq!(
        refresh.json_str("refreshToken"),
        before["refreshToken"].as_str()
    );
    assert_eq!(refresh.json_str("clientId"), before["clientId"].as_str());

    let after = read();
    let newest = fake.issued_tokens().pop().unwrap();
    assert_eq!(newest.grant, "refresh_token");
    assert_ne!(after["accessToken"], before["accessToken"]);
    assert_eq!(after["accessToken"], newest.access_token.as_str());
    assert_eq!(
        after["refreshToken"],
        newest.refresh_token.as_deref().unwrap()
    );
    assert_eq!(after["startUrl"], before["startUrl"]);
    assert_eq!(after["clientSecret"], before["clientSecret"]);
}

// ---------------------------------------------------------------------------------------------
// logout

on_each_backend!(logout_ends_the_session_and_forgets_tokens_and_the_mirror);
fn logout_ends_the_session_and_forgets_tokens_and_the_mirror(backend: Backend) {
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &["--write-sso-cache"]);
    assert_success(&populate(&sb, &[]));
    creds_json(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
    let mirror = mirror_path(&sb, SESSION);
    assert!(mirror.exists());

    let out = sb.run(&["logout", "--sso-session", SESSION]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("session ended at the server"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fake.count(Op::Logout), 1);
    assert!(fake.issued_tokens().iter().all(|t| t.revoked));
    assert!(!mirror.exists());
    // The token, the registration and the role credentials fetched with them, as
    // `aws sso logout` does.
    assert_eq!(sb.stored_keys(), Vec::<String>::new());
    assert!(
        stderr(&out).contains("3 keychain entries deleted"),
        "{}",
        stderr(&out)
    );
    // The refresh token went with the session: keyfob does not even try it.
    let refreshes = fake.count_grant(Grant::RefreshToken);
    for profile in ["acct-0001.Admin", "acct-0002.Admin"] {
        let out = sb.run(&["credential-process", "--profile", profile]);
        assert_eq!(assert_one_line_error(&out), not_signed_in_line());
    }
    assert_eq!(fake.count_grant(Grant::RefreshToken), refreshes);
    assert_eq!(fake.count(Op::GetRoleCredentials), 1);

    // Signed out already: --all has nothing to do.
    let out = sb.run(&["logout", "--all"]);
    assert_success(&out);
    assert_eq!(fake.count(Op::Logout), 1);
}

#[test]
fn a_session_ended_elsewhere_is_tried_once_and_then_login_is_named() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = populated(backend, &fake);
    // `aws sso logout` (or the administrator) ends the session at the IdP: its access and
    // refresh tokens stop working, while keyfob still holds them.
    let token = fake.issued_tokens().pop().unwrap().access_token;
    let mut stream = std::net::TcpStream::connect(fake.addr()).unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!(
            "POST /logout HTTP/1.1\r\nHost: {}\r\nx-amz-sso_bearer_token: {token}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            fake.addr()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    fake.reset();
    let out = sb.run(&["credential-process", "--profile", "acct-0001.Admin"]);
    assert_eq!(assert_one_line_error(&out), expired_line());
    // The refused token, one refresh with the dead refresh token, and no more.
    assert_eq!(fake.count(Op::GetRoleCredentials), 1);
    assert_eq!(fake.count_grant(Grant::RefreshToken), 1);
}

// ---------------------------------------------------------------------------------------------
// bad input: one line, exit 1, no config byte and no keychain entry changed

#[test]
fn an_unknown_session_is_one_line_naming_the_configure_command() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = populated(backend, &fake);
    let before = snapshot(&sb);
    fake.reset();
    for args in [
        &["login", "--sso-session", "nope"][..],
        &["populate", "--sso-session", "nope"],
        &["logout", "--sso-session", "nope"],
    ] {
        let line = assert_one_line_error(&sb.run(args));
        assert!(
            line.contains("there is no [sso-session nope]"),
            "{args:?}: {line}"
        );
        assert!(
            line.contains("run: keyfob configure sso-session nope --start-url URL --region REGION"),
            "{line}"
        );
    }
    let config = sb.read_config();
    sb.write_config(&format!(
        "{config}\n[profile lost]\nkeyfob_sso_session = nope\nkeyfob_sso_account_id = 111100000001\nkeyfob_sso_role_name = Admin\n"
    ));
    let before_lost = snapshot(&sb);
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", "lost"]));
    assert!(line.contains("there is no [sso-session nope]"), "{line}");
    assert_eq!(snapshot(&sb), before_lost);
    sb.write_config(&config);
    assert_eq!(snapshot(&sb), before);
    assert!(
        fake.counters().values().all(|n| *n == 0),
        "{:?}",
        fake.counters()
    );
}

#[test]
fn configure_refuses_a_start_url_that_is_not_https_and_a_region_that_does_not_exist() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    let before = snapshot(&sb);
    let line = assert_one_line_error(&sb.run(&[
        "configure",
        "sso-session",
        "corp",
        "--start-url",
        "http://corp.awsapps.com/start",
        "--region",
        "eu-west-1",
    ]));
    assert!(line.contains("must be an https:// URL"), "{line}");
    let line = assert_one_line_error(&sb.run(&[
        "configure",
        "sso-session",
        "corp",
        "--start-url",
        "https://corp.awsapps.com/start",
        "--region",
        "europe-1",
    ]));
    assert!(line.contains("is not an AWS region"), "{line}");
    assert_eq!(snapshot(&sb), before);

    // The same checks on a hand-written section, before anything goes on the wire.
    for (url, region, wanted) in [
        (
            "http://corp.awsapps.com/start",
            "eu-west-1",
            "is not an https:// URL",
        ),
        (
            "https://corp.awsapps.com/start",
            "Frankfurt",
            "is not an AWS region",
        ),
    ] {
        sb.write_config(&format!(
            "[sso-session corp]\nsso_start_url = {url}\nsso_region = {region}\n"
        ));
        let before = snapshot(&sb);
        let line = assert_one_line_error(&sb.run(&["login", "--sso-session", "corp"]));
        assert!(line.contains(wanted), "{line}");
        assert_eq!(snapshot(&sb), before);
    }
    assert_eq!(fake.count(Op::RegisterClient), 0);
}

#[test]
fn hostile_callbacks_get_400_or_403_and_the_login_still_completes() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let mut sb = sso_sandbox(backend, &fake);
    // Before the real redirect, the stand-in plays local processes: a forged state, no state,
    // and the real query under a foreign Host (a DNS-rebinding page); it logs their statuses.
    let log = sb.home().join("hostile.log");
    sb.set_env(
        "BROWSER",
        fixture("browser-hostile-callbacks.sh").to_str().unwrap(),
    );
    sb.set_env("KEYFOB_TEST_HOSTILE_LOG", log.to_str().unwrap());
    let out = login(&sb, &[]);
    assert!(
        stderr(&out).contains("Signed in to SSO session demo"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "400\n400\n403\n",
        "forged state, no state, foreign Host"
    );
    let exchanged: Vec<String> = fake
        .history(Op::CreateToken)
        .iter()
        .filter_map(|r| r.json_str("code").map(str::to_owned))
        .collect();
    assert_eq!(exchanged.len(), 1, "{exchanged:?}");
    assert!(exchanged[0].starts_with("fakecode"), "{exchanged:?}");
    assert_eq!(fake.count(Op::Authorize), 1);
    assert!(sb.stored_keys().contains(&"sso-token/demo".to_owned()));
}

#[test]
fn a_registration_the_idp_forgot_is_replaced_by_exactly_one_new_one() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    for flow in [&[][..], &["--use-device-code"]] {
        login(&sb, flow);
        let registered = fake.count(Op::RegisterClient);
        let stored = keychain_snapshot(&sb)["sso-client/demo"].clone();
        assert!(fake.forget_clients(None) >= 1);
        login(&sb, flow);
        assert_eq!(
            fake.count(Op::RegisterClient),
            registered + 1,
            "{flow:?}: one new RegisterClient"
        );
        assert_ne!(
            keychain_snapshot(&sb)["sso-client/demo"],
            stored,
            "the new registration replaced the forgotten one"
        );
    }

    // A new registration the IdP refuses as well is the error, not a loop.
    fake.forget_clients(None);
    fake.reset();
    fake.inject(InjectedFailure {
        op: Op::StartDeviceAuthorization,
        status: 401,
        count: 2,
        code: Some("InvalidClientException".into()),
        message: Some("Client registration is not accepted here".into()),
        retry_after_ms: None,
    });
    let before = snapshot(&sb);
    let line = assert_one_line_error(&sb.run(&[
        "-q",
        "login",
        "--sso-session",
        SESSION,
        "--use-device-code",
    ]));
    assert!(line.contains("InvalidClientException"), "{line}");
    assert!(
        line.contains("Client registration is not accepted here"),
        "the server's error_description: {line}"
    );
    assert_eq!(fake.count(Op::RegisterClient), 1);
    assert_eq!(fake.count(Op::StartDeviceAuthorization), 2);
    assert_eq!(snapshot(&sb), before);
}

#[test]
fn credential_process_backs_off_through_throttling_and_succeeds() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = populated(backend, &fake);
    let throttle = |op: Op, count: u32| {
        fake.inject(InjectedFailure {
            op,
            status: 429,
            count,
            code: None,
            message: None,
            retry_after_ms: Some(200),
        });
    };
    let gaps = |op: Op| -> Vec<Duration> {
        fake.history(op)
            .windows(2)
            .map(|w| (w[1].at - w[0].at).to_std().unwrap())
            .collect()
    };

    // GetRoleCredentials: throttled twice, served on the third attempt.
    fake.reset();
    throttle(Op::GetRoleCredentials, 2);
    let json = creds_json(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
    assert!(fake.issued_key(json["AccessKeyId"].as_str().unwrap()));
    assert_eq!(fake.count(Op::GetRoleCredentials), 3);
    let waited = gaps(Op::GetRoleCredentials);
    assert!(
        waited.iter().all(|g| *g >= Duration::from_millis(200)),
        "keyfob waited the server's x-amz-retry-after: {waited:?}"
    );
    #[allow(clippy::print_stderr)] // the figures, for whoever reads the test's output
    {
        eprintln!("GetRoleCredentials: 3 attempts, waits {waited:?}");
    }

    // The refresh (CreateToken): the portal refuses the expired token, the refresh is
    // throttled twice, then the token and the credentials are served.
    fake.expire_all();
    fake.reset();
    throttle(Op::CreateToken, 2);
    creds_json(&sb.run(&["credential-process", "--profile", "acct-0002.Admin"]));
    let refreshes = fake.history(Op::CreateToken);
    assert_eq!(refreshes.len(), 3, "two throttled, then served");
    assert!(
        refreshes
            .iter()
            .all(|r| r.json_str("grantType") == Some("refresh_token"))
    );
    // Throttled calls are turned away before the grant is looked at.
    assert_eq!(fake.count_grant(Grant::RefreshToken), 1);
    assert_eq!(
        fake.count(Op::GetRoleCredentials),
        2,
        "refused once, then served"
    );
    let waited = gaps(Op::CreateToken);
    assert!(
        waited.iter().all(|g| *g >= Duration::from_millis(200)),
        "{waited:?}"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("CreateToken (refresh): 3 attempts, waits {waited:?}");
    }

    // Throttled on every attempt: one line, nothing cached.
    fake.reset();
    throttle(Op::GetRoleCredentials, 10);
    let before = snapshot(&sb);
    let line =
        assert_one_line_error(&sb.run(&["credential-process", "--profile", "acct-0003.Admin"]));
    assert!(
        line.contains("GetRoleCredentials failed: TooManyRequestsException"),
        "{line}"
    );
    assert_eq!(fake.count(Op::GetRoleCredentials), 3, "bounded attempts");
    assert_eq!(snapshot(&sb), before);
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "throttled throughout: {} GetRoleCredentials attempts",
            fake.count(Op::GetRoleCredentials)
        );
    }
}

#[test]
fn populate_lists_every_page_of_an_accounts_roles() {
    let Some(backend) = Backend::any() else {
        return;
    };
    // 45 roles in one account; the fake serves 20 a page whatever keyfob asks for.
    let mut org = Org::generated(2, 2);
    org.accounts[1].roles = (1..=45).map(|n| format!("Role{n:02}")).collect();
    let fake = start(FakeConfig::with_org(org));
    assert_eq!(fake.config().page_size, 20);
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);
    let out = populate(&sb, &[]);
    assert_success(&out);
    let names = profile_names(&sb.read_config());
    let big: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("acct-0002."))
        .collect();
    assert_eq!(big.len(), 45, "{big:?}");
    assert!(names.contains(&"acct-0002.Role45".to_owned()));
    let pages = fake
        .history(Op::ListAccountRoles)
        .into_iter()
        .filter(|r| r.query["account_id"] == "111100000002")
        .count();
    assert_eq!(pages, 3);
}

#[test]
fn server_errors_from_oidc_and_the_portal_are_one_line() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    let before = snapshot(&sb);
    fake.fail_next(Op::RegisterClient, 500, 10);
    let line = assert_one_line_error(&sb.run(&["-q", "login", "--sso-session", SESSION]));
    assert!(line.contains("RegisterClient failed"), "{line}");
    assert!(line.contains("InternalServerException"), "{line}");
    assert_eq!(snapshot(&sb), before);

    fake.reset();
    fake.fail_next(Op::CreateToken, 503, 10);
    let line = assert_one_line_error(&sb.run(&["-q", "login", "--sso-session", SESSION]));
    assert!(line.contains("CreateToken failed"), "{line}");
    assert_eq!(snapshot(&sb), before);

    // Signed in; the portal fails every listing attempt: populate writes nothing.
    fake.reset();
    login(&sb, &[]);
    let before = snapshot(&sb);
    fake.fail_next(Op::ListAccounts, 500, 100);
    let line = assert_one_line_error(&populate(&sb, &[]));
    assert!(line.contains("ListAccounts failed"), "{line}");
    assert_eq!(snapshot(&sb), before);

    // And GetRoleCredentials: credential-process caches nothing.
    fake.reset();
    assert_success(&populate(&sb, &[]));
    let before = snapshot(&sb);
    fake.fail_next(Op::GetRoleCredentials, 500, 10);
    let line =
        assert_one_line_error(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
    assert!(line.contains("GetRoleCredentials failed"), "{line}");
    assert_eq!(snapshot(&sb), before);
}

#[test]
fn an_unreachable_endpoint_is_one_line() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    // A first login: RegisterClient cannot be reached.
    let mut sb = sso_sandbox(backend, &fake);
    sb.set_env("AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:9");
    let before = snapshot(&sb);
    let line = assert_one_line_error(&sb.run(&["-q", "login", "--sso-session", SESSION]));
    assert!(
        line.contains("could not reach the IAM Identity Center endpoint http://127.0.0.1:9"),
        "{line}"
    );
    assert_eq!(snapshot(&sb), before);

    // Signed in and populated; then the portal cannot be reached.
    let mut sb = populated(backend, &fake);
    let before = snapshot(&sb);
    sb.set_env("AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:9");
    let line =
        assert_one_line_error(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
    assert!(
        line.contains("could not reach the IAM Identity Center endpoint http://127.0.0.1:9"),
        "{line}"
    );
    assert_eq!(snapshot(&sb), before);
}

#[test]
fn a_corrupt_token_cache_file_is_ignored_and_never_overwritten_by_a_failure() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    let config = sb.read_config();
    sb.write_config(&format!(
        "{config}\n[profile p]\nkeyfob_sso_session = demo\nkeyfob_sso_account_id = 111100000001\nkeyfob_sso_role_name = Admin\n"
    ));
    let mirror = mirror_path(&sb, SESSION);
    std::fs::create_dir_all(mirror.parent().unwrap()).unwrap();
    let garbage = "{\"accessToken\": \"half a file";
    std::fs::write(&mirror, garbage).unwrap();
    let before = snapshot(&sb);
    let out = sb.run(&["credential-process", "--profile", "p"]);
    assert_eq!(assert_one_line_error(&out), not_signed_in_line());
    assert_eq!(snapshot(&sb), before);
    assert_eq!(std::fs::read_to_string(&mirror).unwrap(), garbage);
    assert!(fake.counters().values().all(|n| *n == 0));

    // After a login the keychain's token serves, corrupt file or not.
    login(&sb, &[]);
    creds_json(&sb.run(&["credential-process", "--profile", "p"]));
}

// ---------------------------------------------------------------------------------------------
// secrets

#[test]
fn verbose_login_and_credential_process_never_log_a_secret() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let sb = sso_sandbox(backend, &fake);
    let mut logs = String::new();
    let mut run = |args: &[&str]| {
        let out = sb.run(args);
        assert_success(&out);
        logs.push_str(&stderr(&out));
    };
    run(&[
        "-vvv",
        "login",
        "--sso-session",
        SESSION,
        "--write-sso-cache",
    ]);
    run(&["-vvv", "populate", "--sso-session", SESSION]);
    run(&["-vvv", "credential-process", "--profile", "acct-0001.Admin"]);
    run(&["-vvv", "credential-process", "--profile", "acct-0001.Admin"]);
    // The refresh path too: the refresh token and the client secret go on the wire there.
    fake.expire_all();
    run(&["-vvv", "credential-process", "--profile", "acct-0002.Admin"]);
    run(&[
        "-vvv",
        "login",
        "--sso-session",
        SESSION,
        "--use-device-code",
    ]);
    run(&["-vvv", "status"]);
    run(&["-vvv", "logout", "--sso-session", SESSION]);
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "{logs}");
    assert!(fake.count_grant(Grant::RefreshToken) >= 1);

    let mut secrets: Vec<String> = Vec::new();
    for t in fake.issued_tokens() {
        secrets.push(t.access_token);
        secrets.extend(t.refresh_token);
    }
    for c in fake.issued_credentials() {
        secrets.push(c.secret_access_key);
        secrets.push(c.session_token);
    }
    for req in fake.history(Op::CreateToken) {
        for key in [
            "clientSecret",
            "codeVerifier",
            "code",
            "refreshToken",
            "deviceCode",
        ] {
            if let Some(v) = req.json_str(key) {
                secrets.push(v.to_owned());
            }
        }
    }
    assert!(secrets.len() >= 10, "{}", secrets.len());
    for s in &secrets {
        assert!(s.len() >= 16, "a secret long enough to be unambiguous: {s}");
        assert!(!logs.contains(s.as_str()), "a secret reached stderr: {s}");
    }
}
