//! What the SSO end-to-end tests share: a sandbox pointed at a fake IAM Identity Center with an
//! sso-session configured, the `$BROWSER` stand-ins of `tests/data/`, and snapshots of what a
//! failed command must leave as it was.

use crate::support::*;
use keyfob_core::store::{Keychain, SessionStore};
use keyfob_tests::fake::FakeAws;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

/// The sso-session every test configures.
pub(crate) const SESSION: &str = "demo";
/// Its IAM Identity Center region.
pub(crate) const REGION: &str = "eu-west-1";

/// A file of `tests/data/`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// The start URL of the fake (http on loopback is the one non-https URL keyfob accepts).
pub(crate) fn start_url(fake: &FakeAws) -> String {
    format!("{}/start", fake.url())
}

/// The `KEYFOB_TEST_POLL_SCALE` of [`sso_sandbox`]: keyfob's device-flow and backoff waits
/// are this fraction of the real ones, and the fake enforces the poll interval at that scale.
pub(crate) const POLL_SCALE: f64 = 0.01;

/// A sandbox whose SDK endpoints are the fake, whose `$BROWSER` follows the sign-in redirect,
/// whose device-flow and backoff waits are 1 % of the real ones (and the fake's enforced
/// interval too), and whose config holds `[sso-session demo]` written by `keyfob configure`.
pub(crate) fn sso_sandbox(backend: Backend, fake: &FakeAws) -> Sandbox {
    let mut sb = Sandbox::new(backend);
    for (k, v) in fake.endpoint_env() {
        sb.set_env(k, &v);
    }
    sb.set_env("BROWSER", fixture("browser.sh").to_str().unwrap());
    sb.set_env("KEYFOB_TEST_POLL_SCALE", &POLL_SCALE.to_string());
    fake.configure(|c| c.device.interval_scale = POLL_SCALE);
    let url = start_url(fake);
    assert_success(&sb.run(&[
        "configure",
        "sso-session",
        SESSION,
        "--start-url",
        &url,
        "--region",
        REGION,
    ]));
    sb
}

/// `keyfob login --sso-session demo` plus `extra`, which must succeed.
pub(crate) fn login(sb: &Sandbox, extra: &[&str]) -> Output {
    let mut args = vec!["login", "--sso-session", SESSION];
    args.extend_from_slice(extra);
    let out = sb.run(&args);
    assert_success(&out);
    out
}

/// `keyfob populate --sso-session demo --region eu-west-1` plus `extra`.
pub(crate) fn populate(sb: &Sandbox, extra: &[&str]) -> Output {
    let mut args = vec!["populate", "--sso-session", SESSION, "--region", REGION];
    args.extend_from_slice(extra);
    sb.run(&args)
}

/// Every keychain entry of the sandbox with its value.
pub(crate) fn keychain_snapshot(sb: &Sandbox) -> BTreeMap<String, String> {
    let mut pairs = vec![
        (
            "KEYFOB_KEYRING".to_owned(),
            sb.backend.env_value().to_owned(),
        ),
        ("KEYFOB_KEYCHAIN_SERVICE".to_owned(), sb.service.clone()),
        (
            "KEYFOB_CACHE_DIR".to_owned(),
            sb.home().join(".cache/keyfob").display().to_string(),
        ),
    ];
    if let Ok(v) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        pairs.push(("DBUS_SESSION_BUS_ADDRESS".to_owned(), v));
    }
    let k = Keychain::open(&keyfob_core::Env::from_pairs(pairs)).expect("open keychain");
    k.list()
        .expect("list keychain")
        .into_iter()
        .map(|key| {
            let value = k.get(&key).expect("read keychain").unwrap_or_default();
            (key, value)
        })
        .collect()
}

/// What must not change when a command fails: the config's bytes and every keychain entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    config: Option<String>,
    keychain: BTreeMap<String, String>,
}

pub(crate) fn snapshot(sb: &Sandbox) -> Snapshot {
    Snapshot {
        config: std::fs::read(sb.config_path())
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        keychain: keychain_snapshot(sb),
    }
}

/// sha1 hex of `text`, as the AWS CLI names its token cache files (coreutils' `sha1sum`).
pub(crate) fn sha1_hex(text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sha1sum");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..40].to_owned()
}

/// The sso-session's mirror file: `~/.aws/sso/cache/<sha1(name)>.json`.
pub(crate) fn mirror_path(sb: &Sandbox, cache_key_of: &str) -> PathBuf {
    sb.home()
        .join(".aws/sso/cache")
        .join(format!("{}.json", sha1_hex(cache_key_of)))
}

/// The `[profile NAME]` names of a config, in order.
pub(crate) fn profile_names(config: &str) -> Vec<String> {
    config
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("[profile ")
                .and_then(|r| r.strip_suffix(']'))
                .map(str::to_owned)
        })
        .collect()
}

/// The lines of one `[profile NAME]` section (header excluded), or `None`.
pub(crate) fn section<'a>(config: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let header = format!("[profile {name}]");
    let mut lines = config.lines().skip_while(|l| l.trim() != header);
    lines.next()?;
    Some(
        lines
            .take_while(|l| !l.trim_start().starts_with('['))
            .filter(|l| !l.trim().is_empty())
            .collect(),
    )
}

/// The config with every section that carries `keyfob_managed = SESSION` cut out (header to the
/// next header): what is left is what the user wrote.
pub(crate) fn without_managed_sections(config: &str) -> String {
    let marker = format!("keyfob_managed = {SESSION}");
    let mut out = String::new();
    let mut chunk = String::new();
    let mut managed = false;
    for line in config.split_inclusive('\n') {
        if line.trim_start().starts_with('[') {
            if !managed {
                out.push_str(&chunk);
            }
            chunk.clear();
            managed = false;
        }
        if line.trim() == marker {
            managed = true;
        }
        chunk.push_str(line);
    }
    if !managed {
        out.push_str(&chunk);
    }
    out
}

/// The ARN the fake's STS answers for role credentials of `role` in `account`.
pub(crate) fn assumed_role_arn(account: &str, role: &str) -> String {
    format!("arn:aws:sts::{account}:assumed-role/{role}/test-user")
}

/// boto3's `GetCallerIdentity` ARN through `profile`, or `None` when there is no Python peer.
pub(crate) fn botocore_arn(sb: &Sandbox, profile: &str) -> Option<String> {
    let code = format!(
        "import boto3\nprint(boto3.Session(profile_name='{profile}').client('sts').get_caller_identity()['Arn'])"
    );
    let out = python(sb, &code, &[])?;
    assert_success(&out);
    Some(stdout(&out).trim().to_owned())
}

/// The Rust `aws-config`'s `GetCallerIdentity` ARN through `profile`.
pub(crate) fn aws_config_arn(sb: &Sandbox, profile: &str) -> String {
    let out = sb
        .command(bin("keyfob-sdk-probe"))
        .arg(profile)
        .output()
        .expect("run keyfob-sdk-probe");
    assert_success(&out);
    stdout(&out).trim().to_owned()
}
