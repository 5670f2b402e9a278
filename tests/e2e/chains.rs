//! Issue 9: role chains served by keyfob — `role_arn` + `source_profile` (any depth) or
//! `credential_source`, over any keyfob-served base, each hop cached in the keychain under the
//! single-flight lock and the fingerprint rule; `configure role`; the SDKs reading a chained
//! profile's `credential_process`.

use crate::sso_support::*;
use crate::support::*;
use keyfob_tests::fake::{FakeAws, FakeConfig, Op, StaticUser};
use std::process::Stdio;

const ADMIN_ROLE: &str = "arn:aws:iam::111100000002:role/Admin";

fn creds_json(out: &std::process::Output) -> serde_json::Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).expect("credential_process JSON")
}

fn key(j: &serde_json::Value) -> String {
    j["AccessKeyId"].as_str().unwrap().to_owned()
}

/// A signed-in, populated SSO sandbox with `extra` appended to its config.
fn sso_chain(backend: Backend, fake: &FakeAws, extra: &str) -> Sandbox {
    let sb = sso_sandbox(backend, fake);
    login(&sb, &[]);
    assert_success(&populate(&sb, &[]));
    let config = sb.read_config();
    sb.write_config(&format!("{config}\n{extra}"));
    sb
}

fn arn_of(fake: &FakeAws, akid: &str) -> String {
    fake.issued_credentials()
        .into_iter()
        .find(|c| c.access_key_id == akid)
        .map(|c| c.arn)
        .unwrap_or_default()
}

#[test]
fn fifty_concurrent_cold_calls_on_a_role_over_an_sso_profile_make_one_of_each_call() {
    for backend in Backend::available() {
        let fake = FakeAws::start(FakeConfig::default()).unwrap();
        let sb = sso_chain(
            backend,
            &fake,
            &format!(
                "[profile admin]\nrole_arn = {ADMIN_ROLE}\nsource_profile = acct-0001.ReadOnly\n"
            ),
        );
        fake.reset();
        fake.configure(|c| c.latency_ms = 300);
        let children: Vec<_> = (0..50)
            .map(|_| {
                sb.keyfob(&["credential-process", "--profile", "admin"])
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
            keys.insert(key(&json));
        }
        assert_eq!(fake.count(Op::GetRoleCredentials), 1, "{backend:?}");
        assert_eq!(fake.count(Op::AssumeRole), 1, "{backend:?}");
        assert_eq!(keys.len(), 1, "{keys:?}");
        let akid = keys.first().unwrap();
        assert!(
            arn_of(&fake, akid).starts_with("arn:aws:sts::111100000002:assumed-role/Admin/"),
            "{}",
            arn_of(&fake, akid)
        );
        // The next call is one keychain read: no base, no STS.
        let again = creds_json(&sb.run(&["credential-process", "--profile", "admin"]));
        assert_eq!(&key(&again), akid);
        assert_eq!(fake.count(Op::GetRoleCredentials), 1);
        assert_eq!(fake.count(Op::AssumeRole), 1);
    }
}

#[test]
fn each_hop_is_cached_and_a_changed_hop_or_base_is_a_miss() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = sso_chain(
        backend,
        &fake,
        "[profile ops]\nrole_arn = arn:aws:iam::111100000002:role/Ops\nsource_profile = acct-0001.Admin\n\
         [profile deep]\nrole_arn = arn:aws:iam::111100000003:role/Deep\nsource_profile = ops\nrole_session_name = me\n",
    );
    fake.reset();
    let deep = ["credential-process", "--profile", "deep"];
    let first = creds_json(&sb.run(&deep));
    assert!(arn_of(&fake, &key(&first)).contains("assumed-role/Deep/me"));
    assert_eq!(fake.count(Op::GetRoleCredentials), 1);
    assert_eq!(fake.count(Op::AssumeRole), 2, "two hops");
    // The middle hop is cached too: asking for it costs nothing.
    creds_json(&sb.run(&["credential-process", "--profile", "ops"]));
    assert_eq!(fake.count(Op::AssumeRole), 2);
    assert_eq!(key(&creds_json(&sb.run(&deep))), key(&first));

    // Re-pointing the top hop: only that hop is assumed again.
    let config = sb.read_config();
    sb.write_config(&config.replace("role/Deep", "role/Deeper"));
    let second = creds_json(&sb.run(&deep));
    assert!(arn_of(&fake, &key(&second)).contains("assumed-role/Deeper/me"));
    assert_eq!(fake.count(Op::AssumeRole), 3);
    assert_eq!(fake.count(Op::GetRoleCredentials), 1);

    // Re-pointing the base (another account's SSO role): every hop above it is a miss.
    let config = sb.read_config();
    let base = "[profile acct-0001.Admin]";
    let at = config.find(base).unwrap();
    let edited = format!(
        "{}{}",
        &config[..at],
        config[at..].replacen(
            "keyfob_sso_role_name = Admin",
            "keyfob_sso_role_name = ReadOnly",
            1
        )
    );
    sb.write_config(&edited);
    creds_json(&sb.run(&deep));
    assert_eq!(fake.count(Op::GetRoleCredentials), 2);
    assert_eq!(fake.count(Op::AssumeRole), 5);
}

#[test]
fn a_configured_role_is_read_by_botocore_and_aws_config_through_credential_process() {
    for backend in Backend::available() {
        let fake = FakeAws::start(FakeConfig::default()).unwrap();
        let sb = sso_chain(backend, &fake, "");
        assert_success(&sb.run(&[
            "configure",
            "role",
            "admin",
            "--role-arn",
            ADMIN_ROLE,
            "--source-profile",
            "acct-0001.ReadOnly",
            "--role-session-name",
            "chained",
            "--region",
            "eu-west-1",
        ]));
        let config = sb.read_config();
        assert!(config.contains("keyfob_role_arn = arn:aws:iam::111100000002:role/Admin"));
        assert!(
            !config.contains("\nrole_arn"),
            "the SDKs must not assume it themselves"
        );
        let expected = "arn:aws:sts::111100000002:assumed-role/Admin/chained";
        let out = python(
            &sb,
            "import boto3\nprint(boto3.Session(profile_name='admin').client('sts').get_caller_identity()['Arn'])",
            &[],
        );
        if let Some(out) = out {
            assert_success(&out);
            assert_eq!(stdout(&out).trim(), expected, "{backend:?}");
        }
        let out = sb
            .command(bin("keyfob-sdk-probe"))
            .arg("admin")
            .output()
            .unwrap();
        assert_success(&out);
        assert_eq!(stdout(&out).trim(), expected, "{backend:?}");
        // Both SDKs made one AssumeRole between them: the second was a keychain hit.
        assert_eq!(fake.count(Op::AssumeRole), 1, "{backend:?}");
    }
}

#[test]
fn a_chain_over_stored_iam_keys_assumes_its_role_at_moto() {
    let (Some(backend), Some(moto)) = (Backend::any(), peer("KEYFOB_TEST_MOTO_URL")) else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    sb.set_env("AWS_ENDPOINT_URL_STS", &moto);
    sb.write_config(
        "[profile base]\nregion = us-east-1\n\
         [profile dev]\nrole_arn = arn:aws:iam::111122223333:role/Dev\nsource_profile = base\n",
    );
    sb.add_user("base", AKID, SECRET);
    let first = creds_json(&sb.run(&["credential-process", "--profile", "dev"]));
    let again = creds_json(&sb.run(&["credential-process", "--profile", "dev"]));
    assert_eq!(key(&first), key(&again), "the hop is cached");
    let out = sb.run(&["whoami", "--profile", "dev", "--json"]);
    assert_success(&out);
    let id: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        id["Arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sts::111122223333:assumed-role/Dev/"),
        "{id}"
    );
}

#[test]
fn the_role_profiles_keys_reach_assume_role_and_mfa_is_asked_once_per_session() {
    for backend in Backend::available() {
        let fake = FakeAws::start(FakeConfig::default()).unwrap();
        let mut sb = Sandbox::new(backend);
        for (k, v) in fake.endpoint_env() {
            sb.set_env(k, &v);
        }
        let user = fake.static_user();
        sb.write_config(&format!(
            "[profile base]\nregion = eu-west-1\n\
             [profile audit]\nrole_arn = arn:aws:iam::123456789012:role/Audit\nsource_profile = base\n\
             role_session_name = auditor\nexternal_id = ext-123\nduration_seconds = 1800\n\
             mfa_serial = arn:aws:iam::123456789012:mfa/{}\nsource_identity = alice\n\
             keyfob_session_tags = team=sec, cost=42\nkeyfob_transitive_tag_keys = team\n",
            user.user_name
        ));
        sb.add_user("base", &user.access_key_id, &user.secret_access_key);
        // No code and nobody to ask: one line naming the login, and no STS call.
        let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", "audit"]));
        assert!(line.contains("needs an MFA code"), "{line}");
        assert!(line.contains("keyfob login --profile audit"), "{line}");
        assert_eq!(fake.count(Op::AssumeRole), 0);
        // `keyfob login` asks (here: the flag) and caches the session.
        assert_success(&sb.run(&["login", "--profile", "audit", "--mfa-code", "654321"]));
        let call = fake.last(Op::AssumeRole).unwrap();
        for (field, value) in [
            ("RoleArn", "arn:aws:iam::123456789012:role/Audit"),
            ("RoleSessionName", "auditor"),
            ("ExternalId", "ext-123"),
            ("DurationSeconds", "1800"),
            ("TokenCode", "654321"),
            ("SourceIdentity", "alice"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "sec"),
            ("Tags.member.2.Key", "cost"),
            ("Tags.member.2.Value", "42"),
            ("TransitiveTagKeys.member.1", "team"),
        ] {
            assert_eq!(call.form_field(field), Some(value), "{field} ({backend:?})");
        }
        // Every later call in the session is served without a code.
        for _ in 0..3 {
            creds_json(&sb.run(&["credential-process", "--profile", "audit"]));
        }
        assert_eq!(fake.count(Op::AssumeRole), 1, "{backend:?}");
    }
}

#[test]
fn a_credential_source_base_is_read_from_the_environment_and_its_hop_cached() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut sb = Sandbox::new(backend);
    for (k, v) in fake.endpoint_env() {
        sb.set_env(k, &v);
    }
    let user = StaticUser {
        access_key_id: "AKIAENVIRONMENT00001".to_owned(),
        secret_access_key: "environmentSecretAccessKey0000000000000".to_owned(),
        account_id: "123456789012".to_owned(),
        user_name: "ci-runner".to_owned(),
    };
    fake.register_user(user.clone());
    sb.set_env("AWS_ACCESS_KEY_ID", &user.access_key_id);
    sb.set_env("AWS_SECRET_ACCESS_KEY", &user.secret_access_key);
    sb.write_config(
        "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/Deploy\ncredential_source = Environment\n",
    );
    let first = creds_json(&sb.run(&["credential-process", "--profile", "deploy"]));
    creds_json(&sb.run(&["credential-process", "--profile", "deploy"]));
    assert_eq!(fake.count(Op::AssumeRole), 1);
    assert!(arn_of(&fake, &key(&first)).contains("assumed-role/Deploy/"));
    // Other keys in the environment: another base, so the cached hop is not theirs.
    let other = StaticUser {
        access_key_id: "AKIAENVIRONMENT00002".to_owned(),
        ..user
    };
    fake.register_user(other.clone());
    sb.set_env("AWS_ACCESS_KEY_ID", &other.access_key_id);
    creds_json(&sb.run(&["credential-process", "--profile", "deploy"]));
    assert_eq!(fake.count(Op::AssumeRole), 2);
}

#[test]
fn chain_errors_are_one_line_naming_the_links() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    sb.write_config(
        "[profile a]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\n\
         [profile b]\nrole_arn = arn:aws:iam::1:role/B\nsource_profile = a\n\
         [profile orphan]\nrole_arn = arn:aws:iam::1:role/O\nsource_profile = nowhere\n\
         [profile tags]\nrole_arn = arn:aws:iam::1:role/T\nsource_profile = a\nkeyfob_session_tags = nokey\n",
    );
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", "a"]));
    assert!(line.contains("infinite loop: a → b → a"), "{line}");
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", "orphan"]));
    assert!(
        line.contains("could not find source profile nowhere"),
        "{line}"
    );
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", "tags"]));
    assert!(line.contains("keyfob_session_tags"), "{line}");
}
