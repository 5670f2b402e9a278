//! Issue 2: profiles with `mfa_serial` get GetSessionToken sessions, cached in the keychain,
//! refreshed once for many concurrent callers (counted by the fake STS).

use crate::support::*;
use keyfob_tests::fake::{FakeAws, FakeConfig, Op, StaticUser};

fn mfa_sandbox(backend: Backend, fake: &FakeAws, extra: &str) -> Sandbox {
    let user = fake.static_user();
    mfa_sandbox_with_keys(
        backend,
        fake,
        extra,
        &user.access_key_id,
        &user.secret_access_key,
    )
}

/// `[profile dev]` with an MFA device and these IAM user keys in the keychain. The fake STS
/// verifies every signature: a test passes only if keyfob signs with the secret it was given.
fn mfa_sandbox_with_keys(
    backend: Backend,
    fake: &FakeAws,
    extra: &str,
    access_key_id: &str,
    secret: &str,
) -> Sandbox {
    let mut sb = Sandbox::new(backend);
    sb.write_config(&format!(
        "[profile dev]\nmfa_serial = arn:aws:iam::123456789012:mfa/static-user\nregion = eu-west-1\n{extra}"
    ));
    sb.add_user("dev", access_key_id, secret);
    for (k, v) in fake.endpoint_env() {
        sb.set_env(k, &v);
    }
    sb
}

#[test]
fn fifty_concurrent_cold_requests_make_exactly_one_get_session_token() {
    for backend in Backend::available() {
        let fake = FakeAws::start(FakeConfig {
            latency_ms: 300,
            ..FakeConfig::default()
        })
        .unwrap();
        let sb = mfa_sandbox(backend, &fake, "");
        let children: Vec<_> = (0..50)
            .map(|_| {
                sb.keyfob(&[
                    "credential-process",
                    "--profile",
                    "dev",
                    "--mfa-code",
                    "123456",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        let mut key_ids = std::collections::BTreeSet::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_success(&out);
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(json["Version"], 1);
            assert!(json["Expiration"].as_str().unwrap().ends_with('Z'));
            key_ids.insert(json["AccessKeyId"].as_str().unwrap().to_owned());
        }
        assert_eq!(fake.count(Op::GetSessionToken), 1, "{backend:?}");
        assert_eq!(key_ids.len(), 1, "all 50 got the one session: {key_ids:?}");
        assert!(fake.issued_key(key_ids.first().unwrap()));
    }
}

on_each_backend!(a_cached_session_is_served_without_calling_sts);
fn a_cached_session_is_served_without_calling_sts(backend: Backend) {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = mfa_sandbox(backend, &fake, "");
    assert_success(&sb.run(&["login", "--profile", "dev", "--mfa-code", "123456"]));
    for _ in 0..3 {
        let out = sb.run(&["credential-process", "--profile", "dev"]);
        assert_success(&out);
        assert!(stdout(&out).contains("\"SessionToken\""));
    }
    assert_eq!(fake.count(Op::GetSessionToken), 1);
    let last = fake.last(Op::GetSessionToken).unwrap();
    let body = format!("{last:?}");
    assert!(body.contains("123456"), "the code reached STS: {body}");
}

on_each_backend!(credentials_inside_the_refresh_window_are_refreshed_and_the_window_is_per_profile);
fn credentials_inside_the_refresh_window_are_refreshed_and_the_window_is_per_profile(
    backend: Backend,
) {
    // Ten-minute sessions: inside the default 15-minute window at once.
    let fake = FakeAws::start(FakeConfig {
        credential_lifetime_secs: 600,
        ..FakeConfig::default()
    })
    .unwrap();
    let sb = mfa_sandbox(backend, &fake, "");
    for _ in 0..2 {
        assert_success(&sb.run(&[
            "credential-process",
            "--profile",
            "dev",
            "--mfa-code",
            "123456",
        ]));
    }
    assert_eq!(fake.count(Op::GetSessionToken), 2);

    let fake = FakeAws::start(FakeConfig {
        credential_lifetime_secs: 600,
        ..FakeConfig::default()
    })
    .unwrap();
    let sb = mfa_sandbox(backend, &fake, "keyfob_refresh_window = 5m\n");
    for _ in 0..2 {
        assert_success(&sb.run(&[
            "credential-process",
            "--profile",
            "dev",
            "--mfa-code",
            "123456",
        ]));
    }
    assert_eq!(fake.count(Op::GetSessionToken), 1);
}

#[test]
fn without_a_code_or_terminal_credential_process_says_to_log_in() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = mfa_sandbox(backend, &fake, "");
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", "dev"]));
    assert!(line.contains("run: keyfob login --profile dev"), "{line}");
    assert_eq!(fake.count(Op::GetSessionToken), 0);
}

on_each_backend!(a_wrong_mfa_code_is_one_line_and_stores_nothing);
fn a_wrong_mfa_code_is_one_line_and_stores_nothing(backend: Backend) {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    fake.configure(|c| c.sts.bad_mfa = true);
    let sb = mfa_sandbox(backend, &fake, "");
    let line =
        assert_one_line_error(&sb.run(&["login", "--profile", "dev", "--mfa-code", "000000"]));
    assert!(line.contains("GetSessionToken"), "{line}");
    assert!(line.contains("AccessDenied"), "{line}");
    assert_eq!(sb.stored_keys(), vec!["iam-user/dev".to_owned()]);
}

#[test]
fn an_unreachable_sts_is_one_line() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut sb = mfa_sandbox(backend, &fake, "");
    drop(fake);
    sb.set_env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
    let line =
        assert_one_line_error(&sb.run(&["login", "--profile", "dev", "--mfa-code", "123456"]));
    assert!(line.contains("could not reach"), "{line}");
}

#[test]
fn an_iam_user_stored_with_a_wrong_secret_is_refused_by_sts_in_one_line() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let user = fake.static_user();
    let wrong = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYnotTheSecret";
    let sb = mfa_sandbox_with_keys(backend, &fake, "", &user.access_key_id, wrong);
    let out = sb.run(&[
        "credential-process",
        "--profile",
        "dev",
        "--mfa-code",
        "123456",
    ]);
    let line = assert_one_line_error(&out);
    assert!(line.contains("GetSessionToken"), "{line}");
    assert!(line.contains("SignatureDoesNotMatch"), "{line}");
    assert!(!line.contains(wrong), "the secret is never shown: {line}");
    assert_eq!(fake.count(Op::GetSessionToken), 1);
    assert!(fake.issued_credentials().is_empty(), "STS issued nothing");
    assert_eq!(sb.stored_keys(), vec!["iam-user/dev".to_owned()]);
}

#[test]
fn a_user_registered_with_the_fake_is_served_with_its_own_key() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let carol = StaticUser {
        access_key_id: "AKIAE2EREGISTERED001".to_owned(),
        secret_access_key: "carolsSecretAccessKey0000000000000000000".to_owned(),
        account_id: "210987654321".to_owned(),
        user_name: "carol".to_owned(),
    };
    fake.register_user(carol.clone());
    let sb = mfa_sandbox_with_keys(
        backend,
        &fake,
        "",
        &carol.access_key_id,
        &carol.secret_access_key,
    );
    let out = sb.run(&["whoami", "--profile", "dev", "--mfa-code", "123456"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("arn:aws:iam::210987654321:user/carol"),
        "{}",
        stdout(&out)
    );
    // Signed with the session's keys, which STS issued against carol's signed request.
    let signer = fake.last(Op::GetCallerIdentity).unwrap();
    let session = fake.issued_credentials().pop().unwrap();
    assert!(
        signer
            .header("authorization")
            .unwrap()
            .contains(&format!("Credential={}/", session.access_key_id)),
        "{signer:?}"
    );
}
