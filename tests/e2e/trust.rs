//! Issue 8 ("Trust"): cached credentials belong to the configuration that made them, nothing
//! waits forever, names the SDKs cannot read are refused, writes are safe, corrupt keychain
//! entries are never echoed — each against a real or hostile peer on 127.0.0.1.

use crate::sso_support::*;
use crate::support::*;
use keyfob_tests::fake::{FakeAws, FakeConfig, Op};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn creds_json(out: &std::process::Output) -> serde_json::Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).expect("credential_process JSON")
}

/// Replaces the first line `key = old` with `key = new` in the sandbox's config.
fn edit_config(sb: &Sandbox, key: &str, old: &str, new: &str) {
    let config = sb.read_config();
    let from = format!("{key} = {old}\n");
    assert!(config.contains(&from), "{from:?} not in:\n{config}");
    sb.write_config(&config.replacen(&from, &format!("{key} = {new}\n"), 1));
}

// ---------------------------------------------------------------------------------------------
// 1. Cached credentials belong to the configuration that made them

#[test]
fn an_sso_profile_repointed_to_another_account_gets_that_accounts_keys() {
    for backend in Backend::available() {
        let fake = FakeAws::start(FakeConfig::default()).unwrap();
        let sb = sso_sandbox(backend, &fake);
        login(&sb, &[]);
        assert_success(&populate(&sb, &[]));
        let profile = ["credential-process", "--profile", "acct-0001.Admin"];
        let first = creds_json(&sb.run(&profile));
        let key = |j: &serde_json::Value| j["AccessKeyId"].as_str().unwrap().to_owned();
        let account_of = |akid: &str| {
            fake.issued_credentials()
                .into_iter()
                .find(|c| c.access_key_id == akid)
                .map(|c| c.account_id)
        };
        assert_eq!(account_of(&key(&first)).as_deref(), Some("111100000001"));
        // Served from the cache while nothing changed.
        assert_eq!(key(&creds_json(&sb.run(&profile))), key(&first));
        assert_eq!(fake.count(Op::GetRoleCredentials), 1, "{backend:?}");

        // A hand edit (or a teammate's populate) points the profile at another account.
        edit_config(&sb, "keyfob_sso_account_id", "111100000001", "111100000002");
        let second = creds_json(&sb.run(&profile));
        assert_ne!(key(&second), key(&first), "{backend:?}");
        assert_eq!(account_of(&key(&second)).as_deref(), Some("111100000002"));
        assert_eq!(fake.count(Op::GetRoleCredentials), 2, "{backend:?}");
        let req = fake.last(Op::GetRoleCredentials).unwrap();
        assert_eq!(req.query["account_id"], "111100000002");

        // The role name counts too.
        edit_config(&sb, "keyfob_sso_role_name", "Admin", "ReadOnly");
        let third = creds_json(&sb.run(&profile));
        assert_ne!(key(&third), key(&second));
        let req = fake.last(Op::GetRoleCredentials).unwrap();
        assert_eq!(req.query["role_name"], "ReadOnly");
        assert_eq!(fake.count(Op::GetRoleCredentials), 3, "{backend:?}");
    }
}

#[test]
fn an_sso_session_repointed_to_another_start_url_does_not_reuse_the_old_token() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);
    assert_success(&populate(&sb, &[]));
    let url = start_url(&fake);
    edit_config(&sb, "sso_start_url", &url, &format!("{url}/other"));
    let out = sb.run(&["credential-process", "--profile", "acct-0001.Admin"]);
    let line = assert_one_line_error(&out);
    assert!(
        line.contains(&format!("keyfob login --sso-session {SESSION}")),
        "{line}"
    );
    assert_eq!(fake.count(Op::GetRoleCredentials), 0);

    // Scopes are part of a token's identity too.
    edit_config(&sb, "sso_start_url", &format!("{url}/other"), &url);
    creds_json(&sb.run(&["credential-process", "--profile", "acct-0001.Admin"]));
    edit_config(
        &sb,
        "sso_registration_scopes",
        "sso:account:access",
        "sso:account:access,codewhisperer:completions",
    );
    let out = sb.run(&["credential-process", "--profile", "acct-0002.Admin"]);
    assert_one_line_error(&out);
}

#[test]
fn a_saml_profile_repointed_to_another_role_gets_that_roles_keys() {
    const DEVELOPER: &str = "arn:aws:iam::111122223333:role/Developer";
    const ADMIN: &str = "arn:aws:iam::111122223333:role/Admin";
    let Some(idp) = peer("KEYFOB_TEST_SAML_IDP_URL") else {
        return;
    };
    for backend in Backend::available() {
        let fake = FakeAws::start(FakeConfig::default()).unwrap();
        let mut sb = Sandbox::new(backend);
        sb.set_env("AWS_ENDPOINT_URL_STS", &fake.url());
        assert_success(&sb.run(&[
            "configure",
            "saml",
            "corp",
            "--url",
            &idp,
            "--username",
            "bob",
            "--role-arn",
            DEVELOPER,
            "--region",
            "us-east-1",
        ]));
        assert_success(&sb.run_with_stdin(
            &["login", "--profile", "corp", "--password-stdin"],
            "bobpw\n",
        ));
        let arn_of = |akid: &str| {
            fake.issued_credentials()
                .into_iter()
                .find(|c| c.access_key_id == akid)
                .map(|c| c.arn)
                .unwrap_or_default()
        };
        let cp = ["credential-process", "--profile", "corp"];
        let first = creds_json(&sb.run(&cp));
        let first_key = first["AccessKeyId"].as_str().unwrap().to_owned();
        assert!(
            arn_of(&first_key).contains("assumed-role/Developer/"),
            "{backend:?}"
        );
        assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);

        edit_config(&sb, "keyfob_saml_role_arn", DEVELOPER, ADMIN);
        let second = creds_json(&sb.run(&cp));
        let second_key = second["AccessKeyId"].as_str().unwrap().to_owned();
        assert_ne!(second_key, first_key, "{backend:?}");
        assert!(
            arn_of(&second_key).contains("assumed-role/Admin/"),
            "{backend:?}"
        );
        assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2, "a silent re-login");
        let call = fake.last(Op::AssumeRoleWithSaml).unwrap();
        assert_eq!(call.form_field("RoleArn"), Some(ADMIN));
        // And served from the cache after that.
        creds_json(&sb.run(&cp));
        assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2, "{backend:?}");
    }
}

#[test]
fn an_mfa_session_is_not_served_once_the_mfa_serial_changes() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut sb = Sandbox::new(backend);
    sb.write_config(
        "[profile dev]\nmfa_serial = arn:aws:iam::123456789012:mfa/one\nregion = eu-west-1\n",
    );
    let user = fake.static_user();
    sb.add_user("dev", &user.access_key_id, &user.secret_access_key);
    for (k, v) in fake.endpoint_env() {
        sb.set_env(k, &v);
    }
    let cp = [
        "credential-process",
        "--profile",
        "dev",
        "--mfa-code",
        "123456",
    ];
    creds_json(&sb.run(&cp));
    creds_json(&sb.run(&cp));
    assert_eq!(fake.count(Op::GetSessionToken), 1);
    edit_config(
        &sb,
        "mfa_serial",
        "arn:aws:iam::123456789012:mfa/one",
        "arn:aws:iam::123456789012:mfa/two",
    );
    creds_json(&sb.run(&cp));
    assert_eq!(fake.count(Op::GetSessionToken), 2);
    let call = fake.last(Op::GetSessionToken).unwrap();
    assert_eq!(
        call.form_field("SerialNumber"),
        Some("arn:aws:iam::123456789012:mfa/two")
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Nothing waits forever

/// A server on 127.0.0.1 that accepts connections and never answers. The sockets stay open as
/// long as the returned listener thread runs (the test's lifetime).
fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    url
}

/// A server that answers every request 200 with an endless XML body, announced as
/// `content_length` bytes (or chunked when `None`). Returns its URL and a counter of the bytes
/// it managed to send.
fn flooding_server(
    content_length: Option<u64>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let framing = match content_length {
                    Some(n) => format!("Content-Length: {n}\r\n"),
                    None => "Transfer-Encoding: chunked\r\n".to_owned(),
                };
                let header = format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n{framing}\r\n");
                if s.write_all(header.as_bytes()).is_err() {
                    return;
                }
                let block = vec![b'x'; 64 * 1024];
                loop {
                    let r = match content_length {
                        Some(_) => s.write_all(&block),
                        None => s
                            .write_all(format!("{:x}\r\n", block.len()).as_bytes())
                            .and_then(|()| s.write_all(&block))
                            .and_then(|()| s.write_all(b"\r\n")),
                    };
                    if r.is_err() {
                        return;
                    }
                    counter.fetch_add(block.len() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    (url, sent)
}

fn mfa_profile_at(backend: Backend, sts: &str) -> Sandbox {
    let mut sb = Sandbox::new(backend);
    sb.write_config(
        "[profile dev]\nmfa_serial = arn:aws:iam::123456789012:mfa/u\nregion = eu-west-1\n",
    );
    sb.add_user("dev", AKID, SECRET);
    sb.set_env("AWS_ENDPOINT_URL_STS", sts);
    sb
}

#[test]
fn an_sts_that_never_answers_fails_five_concurrent_callers_with_one_line_within_a_minute() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = mfa_profile_at(backend, &silent_server());
    let start = Instant::now();
    let children: Vec<_> = (0..5)
        .map(|_| {
            sb.keyfob(&[
                "credential-process",
                "--profile",
                "dev",
                "--mfa-code",
                "123456",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let line = assert_one_line_error(&out);
        assert!(line.contains("GetSessionToken"), "{line}");
        assert!(line.contains("no answer within"), "{line}");
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "SDKs give a credential process about a minute; all five took {took:?}"
    );
}

#[test]
fn an_sts_answer_larger_than_the_cap_is_refused_unread() {
    let Some(backend) = Backend::any() else {
        return;
    };
    for length in [Some(200 * 1024 * 1024), None] {
        let (url, sent) = flooding_server(length);
        let sb = mfa_profile_at(backend, &url);
        let out = sb.run(&[
            "credential-process",
            "--profile",
            "dev",
            "--mfa-code",
            "123456",
        ]);
        let line = assert_one_line_error(&out);
        assert!(
            line.contains("larger than 1048576 bytes"),
            "{length:?}: {line}"
        );
        // keyfob stopped reading: the server got nowhere near 200 MB out.
        let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            sent < 64 * 1024 * 1024,
            "{length:?}: {sent} bytes were sent"
        );
    }
}

#[test]
fn a_refresh_lock_held_too_long_fails_with_one_line_naming_the_holder() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = mfa_profile_at(backend, &silent_server());
    let lock = keyfob_core::lock::lock_path(&sb.home().join(".cache/keyfob"), "profile", "dev");
    let _held = keyfob_core::lock::FileLock::acquire(&lock, Duration::ZERO).unwrap();
    let out = sb.run(&[
        "credential-process",
        "--profile",
        "dev",
        "--mfa-code",
        "123456",
    ]);
    let line = assert_one_line_error(&out);
    assert!(
        line.contains(&format!("pid {}", std::process::id())),
        "names the holder: {line}"
    );
    assert!(line.contains("profile dev"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// 6. Names

#[test]
fn random_names_through_add_and_configure_round_trip_or_are_refused() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    let name =
        proptest::string::string_regex(r"[-a-zA-Z0-9_./%@:+ #=\[\];'\x22ü\t]{0,12}").unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&name, |name| {
            sb.write_config("[profile keep]\nregion = eu-west-1\n");
            let valid =
                keyfob_core::profile::validate_name(keyfob_core::profile::NameKind::Profile, &name)
                    .is_ok();
            let outs = [
                // After `--`: a name such as `-q` reaches keyfob's check, not clap's options.
                sb.run(&[
                    "configure",
                    "saml",
                    "--url",
                    "https://idp.example.com/sso",
                    "--username",
                    "u",
                    "--",
                    &name,
                ]),
                sb.run_with_stdin(
                    &["add", "--from-stdin", "--yes", "--", &name],
                    &format!("{AKID}\n{SECRET}\n"),
                ),
            ];
            let config = sb.read_config();
            let parsed = keyfob_core::profile::Profiles::parse(&config, "").unwrap();
            for out in &outs {
                // Never a panic (101), never a crash: success or a refusal.
                prop_assert!(
                    matches!(out.status.code(), Some(0 | 2)),
                    "{name:?}: {:?} {}",
                    out.status.code(),
                    stderr(out)
                );
            }
            if valid {
                for out in &outs {
                    prop_assert!(out.status.success(), "{name:?}: {}", stderr(out));
                }
                let p = parsed.profile(&name);
                prop_assert!(p.is_some(), "{name:?} not read back:\n{config}");
                let p = p.unwrap();
                prop_assert_eq!(p.get("keyfob_saml_username"), Some("u"));
                prop_assert!(p.get("credential_process").is_some());
                let key = format!("iam-user/{name}");
                prop_assert!(sb.stored_keys().contains(&key), "{:?}", sb.stored_keys());
                assert_success(&sb.run(&["remove", &name]));
            } else {
                for out in &outs {
                    let line = assert_usage_error(out);
                    prop_assert!(line.contains("cannot be used"), "{line}");
                }
                prop_assert_eq!(&config, "[profile keep]\nregion = eu-west-1\n");
                prop_assert!(sb.stored_keys().is_empty(), "{:?}", sb.stored_keys());
            }
            Ok(())
        })
        .unwrap();
}

/// Exit 2 with one line on stderr and nothing on stdout; returns the line.
#[track_caller]
fn assert_usage_error(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(o.stdout.is_empty());
    lines[0].to_owned()
}

// ---------------------------------------------------------------------------------------------
// 7. Writes

#[test]
fn concurrent_adds_through_a_symlinked_config_and_its_target_keep_every_profile() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    let real = sb.home().join("dotfiles-aws-config");
    std::fs::write(&real, "# managed by my dotfiles\n").unwrap();
    std::fs::remove_file(sb.config_path()).ok();
    std::os::unix::fs::symlink(&real, sb.config_path()).unwrap();
    // Half the writers reach the file through the link, half through its target.
    let link = sb.config_path().display().to_string();
    let target = real.display().to_string();
    let mut children = Vec::new();
    for i in 0..40 {
        sb.set_env("AWS_CONFIG_FILE", if i % 2 == 0 { &link } else { &target });
        let mut c = sb.keyfob(&["add", &format!("p{i}"), "--from-stdin", "--yes"]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{AKID}\n{SECRET}\n").as_bytes())
            .unwrap();
        children.push(child);
    }
    for child in children {
        assert_success(&child.wait_with_output().unwrap());
    }
    let text = std::fs::read_to_string(&real).unwrap();
    let parsed = keyfob_core::profile::Profiles::parse(&text, "").unwrap();
    assert_eq!(parsed.profile_names().len(), 40, "{text}");
    assert!(text.starts_with("# managed by my dotfiles\n"));
    assert!(
        std::fs::symlink_metadata(sb.config_path())
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_read_only_config_is_left_alone_and_add_stores_nothing() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    let text = "# generated by my config manager\n[profile base]\nregion = eu-west-1\n";
    sb.write_config(text);
    std::fs::set_permissions(sb.config_path(), std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = sb.run_with_stdin(
        &["add", "base", "--from-stdin", "--yes"],
        &format!("{AKID}\n{SECRET}\n"),
    );
    let line = assert_one_line_error(&out);
    assert!(line.contains("read-only"), "{line}");
    assert!(sb.stored_keys().is_empty(), "{:?}", sb.stored_keys());
    let out = sb.run(&[
        "configure",
        "sso-session",
        "acme",
        "--start-url",
        "https://acme.awsapps.com/start",
        "--region",
        "eu-west-1",
    ]);
    assert_one_line_error(&out);
    assert_eq!(sb.read_config(), text);
    let mode = std::fs::metadata(sb.config_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o444);
}

#[test]
fn a_dangling_symlinked_config_is_an_error_not_replaced() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    std::fs::remove_file(sb.config_path()).ok();
    let gone = sb.home().join("dotfiles/aws-config");
    std::os::unix::fs::symlink(&gone, sb.config_path()).unwrap();
    let out = sb.run(&[
        "configure",
        "sso-session",
        "acme",
        "--start-url",
        "https://acme.awsapps.com/start",
        "--region",
        "eu-west-1",
    ]);
    let line = assert_one_line_error(&out);
    assert!(line.contains("does not exist"), "{line}");
    assert!(
        std::fs::symlink_metadata(sb.config_path())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!gone.exists());
}

#[test]
fn export_to_a_file_always_leaves_it_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut sb = Sandbox::new(backend);
    sb.write_config("[profile dev]\nmfa_serial = arn:aws:iam::123456789012:mfa/u\n");
    let user = fake.static_user();
    sb.add_user("dev", &user.access_key_id, &user.secret_access_key);
    sb.set_env("AWS_ENDPOINT_URL_STS", &fake.url());
    let file = sb.home().join("creds.env");
    std::fs::write(&file, "OLD=1\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A leftover of a crashed earlier export holds secrets: the next write removes it.
    let leftover = sb.home().join(".creds.env.a1b2c3.tmp");
    std::fs::write(&leftover, "AWS_SECRET_ACCESS_KEY=left-by-a-crash\n").unwrap();
    let out = sb.run(&[
        "export",
        "--profile",
        "dev",
        "--mfa-code",
        "123456",
        "--format",
        "env",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_success(&out);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("AWS_SECRET_ACCESS_KEY")
    );
    assert!(!leftover.exists());
}

// ---------------------------------------------------------------------------------------------
// 8. Secrets

#[test]
fn a_corrupt_keychain_entry_is_reported_without_its_contents() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    sb.write_config("[profile dev]\nregion = eu-west-1\n");
    sb.add_user("dev", AKID, SECRET);
    // Something else wrote the entry: a bare secret instead of keyfob's JSON.
    sb.put_raw("iam-user/dev", "\"hunter2-this-is-a-secret\"");
    let out = sb.run(&["credential-process", "--profile", "dev"]);
    let line = assert_one_line_error(&out);
    assert!(line.contains("corrupt"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
    let out = sb.run(&["status"]);
    assert!(!stderr(&out).contains("hunter2") && !stdout(&out).contains("hunter2"));
}
