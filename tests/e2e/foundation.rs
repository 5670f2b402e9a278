//! Issue 2: `add`, `credential-process`, `status`, `remove` on both real keychains, bad input,
//! and botocore / aws-config reading what keyfob serves (role chains through moto's STS).

use crate::support::*;

#[test]
fn add_then_credential_process_prints_version_1_json_on_every_keychain() {
    for backend in Backend::available() {
        let sb = Sandbox::new(backend);
        sb.add_user("base", AKID, SECRET);
        let config = sb.read_config();
        assert!(
            config.contains(
                "[profile base]\ncredential_process = keyfob credential-process --profile base\n"
            ),
            "{config}"
        );
        let out = sb.run(&["credential-process", "--profile", "base"]);
        assert_success(&out);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["Version"], 1, "{backend:?}");
        assert_eq!(json["AccessKeyId"], AKID);
        assert_eq!(json["SecretAccessKey"], SECRET);
        assert!(json.get("Expiration").is_none());
        assert_eq!(
            sb.stored_keys(),
            vec!["iam-user/base".to_owned()],
            "{backend:?}"
        );
    }
}

#[test]
fn aws_profile_selects_the_profile_and_empty_aws_profile_counts_as_unset() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    sb.add_user("default", AKID, SECRET);
    sb.add_user("other", "AKIAOTHEROTHEROTHER1", SECRET);
    sb.set_env("AWS_PROFILE", "");
    let out = sb.run(&["credential-process"]);
    assert_success(&out);
    assert!(stdout(&out).contains(AKID));
    sb.set_env("AWS_PROFILE", "other");
    let out = sb.run(&["credential-process"]);
    assert!(
        stdout(&out).contains("AKIAOTHEROTHEROTHER1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn add_without_a_terminal_or_yes_refuses_and_stores_nothing() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    let out = sb.run_with_stdin(
        &["add", "base", "--from-stdin"],
        &format!("{AKID}\n{SECRET}\n"),
    );
    let line = assert_one_line_error(&out);
    assert!(line.contains("--yes"), "{line}");
    assert!(sb.stored_keys().is_empty());
    assert!(!sb.config_path().exists());
}

#[test]
fn add_rejects_malformed_keys_and_stores_nothing() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    let out = sb.run_with_stdin(
        &["add", "base", "--from-stdin", "--yes"],
        "not a key\nsecret\n",
    );
    let line = assert_one_line_error(&out);
    assert!(line.contains("access key id"), "{line}");
    assert!(sb.stored_keys().is_empty());
    assert!(!sb.config_path().exists());
}

#[test]
fn add_keeps_the_users_config_and_offers_to_clean_the_credentials_file() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    let user_config = "# my settings\n[default]\nregion = eu-west-1 ; inline\n\n[profile base]\nregion = us-east-2\n";
    sb.write_config(user_config);
    std::fs::write(
        sb.credentials_path(),
        format!("[other]\naws_access_key_id = AKIAKEEPKEEPKEEPKEEP\naws_secret_access_key = x\n\n[base]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    let out = sb.run_with_stdin(
        &["add", "base", "--from-stdin", "--yes"],
        &format!("{AKID}\n{SECRET}\n"),
    );
    assert_success(&out);
    assert!(
        stderr(&out).contains("--remove-from-credentials-file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        sb.read_config(),
        "# my settings\n[default]\nregion = eu-west-1 ; inline\n\n[profile base]\nregion = us-east-2\ncredential_process = keyfob credential-process --profile base\n"
    );
    let out = sb.run_with_stdin(
        &[
            "add",
            "base",
            "--from-stdin",
            "--yes",
            "--remove-from-credentials-file",
        ],
        &format!("{AKID}\n{SECRET}\n"),
    );
    assert_success(&out);
    let creds = std::fs::read_to_string(sb.credentials_path()).unwrap();
    assert!(!creds.contains(SECRET), "{creds}");
    assert!(
        creds.contains("[other]\naws_access_key_id = AKIAKEEPKEEPKEEPKEEP"),
        "{creds}"
    );
    // Written once, not twice.
    assert_eq!(sb.read_config().matches("credential_process").count(), 1);
}

on_each_backend!(status_lists_entries_without_secrets_and_remove_forgets_them);
fn status_lists_entries_without_secrets_and_remove_forgets_them(backend: Backend) {
    let sb = Sandbox::new(backend);
    sb.add_user("base", AKID, SECRET);
    let out = sb.run(&["status", "--json"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(!text.contains(SECRET));
    let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rows[0]["kind"], "iam-user keys");
    assert_eq!(rows[0]["name"], "base");
    let out = sb.run(&["status"]);
    assert!(!stdout(&out).contains(SECRET));
    assert!(stdout(&out).contains("base"));

    assert_success(&sb.run(&["remove", "base"]));
    assert!(sb.stored_keys().is_empty());
    let line = assert_one_line_error(&sb.run(&["remove", "base"]));
    assert!(line.contains("keyfob status"), "{line}");
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", "base"]));
    assert!(line.contains("keyfob add base"), "{line}");
}

#[test]
fn unknown_profile_is_one_line_naming_the_files() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    sb.write_config("[profile a]\nregion = eu-west-1\n");
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", "nope"]));
    assert!(line.contains("profile nope not found"), "{line}");
    assert!(
        line.contains(&sb.config_path().display().to_string()),
        "{line}"
    );
}

#[test]
fn malformed_config_names_file_and_line_and_changes_nothing() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    let text = "[profile a]\nregion = eu-west-1\nthis line is broken\n";
    sb.write_config(text);
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", "a"]));
    assert!(line.contains("line 3"), "{line}");
    assert!(
        line.contains(&sb.config_path().display().to_string()),
        "{line}"
    );
    assert_eq!(sb.read_config(), text);
}

#[test]
fn unknown_keychain_backend_is_a_clear_error() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    sb.set_env("KEYFOB_KEYRING", "mock");
    let line = assert_one_line_error(&sb.run(&["status"]));
    assert!(line.contains("KEYFOB_KEYRING=\"mock\""), "{line}");
    assert!(line.contains("secret-service or keyutils"), "{line}");
}

#[test]
fn secret_service_that_is_not_running_is_named_with_the_fix() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    sb.set_env("KEYFOB_KEYRING", "secret-service");
    sb.set_env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    let line = assert_one_line_error(&sb.run(&["status"]));
    assert!(line.contains("Secret Service"), "{line}");
    assert!(line.contains("KEYFOB_KEYRING=keyutils"), "{line}");
}

on_each_backend!(secrets_never_reach_verbose_logs);
fn secrets_never_reach_verbose_logs(backend: Backend) {
    let sb = Sandbox::new(backend);
    let out = sb.run_with_stdin(
        &["-vvv", "add", "base", "--from-stdin", "--yes"],
        &format!("{AKID}\n{SECRET}\n"),
    );
    assert_success(&out);
    assert!(!stderr(&out).contains(SECRET), "{}", stderr(&out));
    let out = sb.run(&["-vvv", "credential-process", "--profile", "base"]);
    assert_success(&out);
    assert!(!stderr(&out).contains(SECRET), "{}", stderr(&out));
    assert!(!stderr(&out).is_empty(), "-vvv logs something");
}

const ROLE_CONFIG: &str = "[profile MyRole]\nrole_arn = arn:aws:iam::111122223333:role/MyRole\nsource_profile = base\nrole_session_name = e2e\nregion = us-east-1\n";

fn role_sandbox() -> Option<(Sandbox, String)> {
    let backend = Backend::any()?;
    let moto = peer("KEYFOB_TEST_MOTO_URL")?;
    let mut sb = Sandbox::new(backend);
    sb.write_config(ROLE_CONFIG);
    sb.add_user("base", AKID, SECRET);
    sb.set_env("AWS_ENDPOINT_URL_STS", &moto);
    Some((sb, moto))
}

#[test]
fn botocore_assumes_a_role_whose_source_profile_keyfob_serves() {
    let Some((sb, _moto)) = role_sandbox() else {
        return;
    };
    let code = "import boto3\ns = boto3.Session(profile_name='MyRole')\nprint(s.client('sts').get_caller_identity()['Arn'])\nprint(s.get_credentials().method)";
    let Some(out) = python(&sb, code, &[]) else {
        return;
    };
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.starts_with("arn:aws:sts::111122223333:assumed-role/MyRole/e2e\n"),
        "{text}"
    );
    assert!(text.contains("assume-role"), "{text}");
}

#[test]
fn rust_aws_config_assumes_a_role_whose_source_profile_keyfob_serves() {
    let Some((sb, _moto)) = role_sandbox() else {
        return;
    };
    let out = sb
        .command(bin("keyfob-sdk-probe"))
        .arg("MyRole")
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "arn:aws:sts::111122223333:assumed-role/MyRole/e2e\n"
    );
}

#[test]
fn botocore_reads_the_base_profile_through_credential_process() {
    let Some((sb, _moto)) = role_sandbox() else {
        return;
    };
    let code = "import boto3\nc = boto3.Session(profile_name='base').get_credentials()\nprint(c.method, c.access_key)";
    let Some(out) = python(&sb, code, &[]) else {
        return;
    };
    assert_success(&out);
    assert_eq!(stdout(&out), format!("custom-process {AKID}\n"));
}

// keyfob is two programs (keyfob_core::programs): `keyfob` answers a cache hit by itself, in
// every way a request can name the profile, and hands anything else to `keyfob-engine` next to
// it. Alone in a directory, it still serves the hit, and names the engine for everything else.
#[test]
fn keyfob_alone_serves_a_cache_hit_and_names_its_engine_for_anything_else() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    sb.add_user("base", AKID, SECRET);
    let front = keyfob_alone(&sb);
    let run = |sb: &Sandbox, args: &[&str]| sb.command(&front).args(args).output().unwrap();
    for args in [
        &["credential-process", "--profile", "base"][..],
        &["credential-process", "--profile=base"],
        &["credential-process", "-p", "base"],
    ] {
        let out = run(&sb, args);
        assert_success(&out);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["AccessKeyId"], AKID, "{args:?}");
    }
    sb.set_env("AWS_PROFILE", "base");
    assert_success(&run(&sb, &["credential-process"]));
    // Not a hit, or not a request a hit may answer: the engine's.
    for args in [
        &["credential-process", "--profile", "nothing-stored"][..],
        &["-v", "credential-process", "--profile", "base"],
        &["status"],
        &["--version"],
    ] {
        let line = assert_one_line_error(&run(&sb, args));
        assert!(
            line.contains("cannot run keyfob-engine") && line.contains("reinstall keyfob"),
            "{args:?}: {line}"
        );
    }
    // Next to its engine, the same requests are answered.
    let out = sb.run(&["-v", "credential-process", "--profile", "base"]);
    assert_success(&out);
    assert!(stdout(&out).contains(AKID));
}
