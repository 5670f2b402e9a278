//! Issue 9's snapshots (insta), of what the user reads: the `status` table after real sign-ins,
//! every one-line error a user can meet with its hint and exit code (the real binary on bad
//! input, one file per group), and the binary's `--help` against the snapshots that
//! `crates/cli/src/help_snapshots.rs` keeps. Times, temp paths, ports and keychain service
//! names are filtered out. The files live in `tests/e2e/snapshots/`; `scripts/snapshots`
//! accepts every change at once (CONTRIBUTING.md, "Snapshots").

use crate::sso_support::*;
use crate::support::*;
use keyfob_core::console::ConsoleError;
use keyfob_core::kubeconfig::KubeconfigError;
use keyfob_core::lock::{Holder, LockError};
use keyfob_core::serve::ServeError;
use keyfob_core::store::{Backend as StoreBackend, StoreError};
use keyfob_tests::fake::{ExpireRequest, FakeAws, FakeConfig};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Output;

/// Where the snapshots go, and what is filtered out of them before they are compared.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    // A sandbox's temp HOME, wherever TMPDIR puts it.
    s.add_filter(r#"[^\s"'(]*keyfob-e2e-[A-Za-z0-9]+"#, "[HOME]");
    s.add_filter(r"keyfob-test-\d+", "[SERVICE]");
    s.add_filter(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
        "[TIME]",
    );
    s.add_filter(r"\((\d+h)?\d+m left\)", "([LEFT])");
    s.add_filter(r"(127\.0\.0\.1|localhost|\[::1\]):\d+", "$1:[PORT]");
    // A case that printed credentials by mistake must not put them in a file.
    s.add_filter(
        r#""(SecretAccessKey|SessionToken|AccessKeyId)":"[^"]*""#,
        r#""$1":"[REDACTED]""#,
    );
    s
}

/// Many cases of one group in one snapshot: each case's name, exit code and output lines.
struct Cases {
    text: String,
    /// Failures (exit 1) that printed more or less than one line, or anything on stdout.
    not_one_line: Vec<String>,
}

impl Cases {
    fn new() -> Self {
        Self {
            text: String::new(),
            not_one_line: Vec::new(),
        }
    }

    /// Records a failure that must be one `keyfob: error:` line on stderr and nothing on stdout.
    fn error(&mut self, case: &str, out: &Output) {
        let err = stderr(out);
        let lines = err.lines().filter(|l| !l.trim().is_empty()).count();
        if out.status.success()
            || lines != 1
            || !err.starts_with("keyfob: error: ")
            || !out.stdout.is_empty()
        {
            self.not_one_line.push(case.to_owned());
        }
        self.any(case, out);
    }

    /// Records any outcome (clap's usage errors are several lines, by design).
    fn any(&mut self, case: &str, out: &Output) {
        let code = out
            .status
            .code()
            .map_or_else(|| "killed by a signal".to_owned(), |c| c.to_string());
        let _ = writeln!(self.text, "{case}\n  exit {code}");
        for line in stderr(out).lines() {
            let _ = writeln!(self.text, "  stderr| {line}");
        }
        for line in stdout(out).lines() {
            let _ = writeln!(self.text, "  stdout| {line}");
        }
        self.text.push('\n');
    }

    #[track_caller]
    fn check(self, name: &str) {
        settings().bind(|| insta::assert_snapshot!(name, self.text));
        assert!(
            self.not_one_line.is_empty(),
            "not one error line on stderr (or output on stdout): {:?}",
            self.not_one_line
        );
    }
}

/// Runs `args` with `stdin` (empty when `None`).
fn run(sb: &Sandbox, args: &[&str], stdin: Option<&str>) -> Output {
    match stdin {
        Some(text) => sb.run_with_stdin(args, text),
        None => sb.run(args),
    }
}

/// A loopback port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// status

on_each_backend!(snapshot_status_table);
/// The `status` table with an SSO session (token, client, populated profiles, one profile's
/// cached credentials), an IAM user, an MFA session, a role chain over the IAM user and, when the
/// IdP and moto run, a SAML profile with its password and credentials.
fn snapshot_status_table(backend: Backend) {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let idp = peer("KEYFOB_TEST_SAML_IDP_URL");
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);
    assert_success(&populate(&sb, &[]));
    let user = fake.static_user();
    let config = sb.read_config();
    sb.write_config(&format!(
        "{config}\n[profile dev]\nmfa_serial = arn:aws:iam::123456789012:mfa/static-user\nregion = eu-west-1\n"
    ));
    sb.add_user("dev", &user.access_key_id, &user.secret_access_key);
    assert_success(&sb.run(&["login", "--profile", "dev", "--mfa-code", "123456"]));
    sb.add_user("ci", &user.access_key_id, &user.secret_access_key);
    assert_success(&sb.run(&[
        "configure",
        "role",
        "deploy",
        "--role-arn",
        "arn:aws:iam::123456789012:role/Deploy",
        "--source-profile",
        "ci",
        "--region",
        "eu-west-1",
    ]));
    assert_success(&sb.run(&["credential-process", "--profile", "deploy"]));
    assert_success(&sb.run(&["credential-process", "--profile", "acct-0001.ReadOnly"]));
    if let Some(idp) = &idp {
        // The fake answers AssumeRoleWithSAML for the IdP's roles too.
        assert_success(&sb.run(&[
            "configure",
            "saml",
            "corp",
            "--url",
            idp,
            "--username",
            "alice",
            "--region",
            "us-east-1",
        ]));
        let out = sb.run_with_stdin(
            &["login", "--profile", "corp", "--password-stdin"],
            "alicepw\n",
        );
        assert_success(&out);
    }
    let out = sb.run(&["status"]);
    assert_success(&out);
    let name = if idp.is_some() {
        "status-table"
    } else {
        "status-table-without-saml"
    };
    settings().bind(|| insta::assert_snapshot!(name, stdout(&out)));
}

// ---------------------------------------------------------------------------------------------
// errors

/// The config of the profile and chain cases.
const PROFILES: &str = "\
[profile loop-a]
role_arn = arn:aws:iam::111122223333:role/A
source_profile = loop-b
[profile loop-b]
role_arn = arn:aws:iam::111122223333:role/B
source_profile = loop-a
[profile orphan]
role_arn = arn:aws:iam::111122223333:role/A
source_profile = nowhere
[profile sourceless]
role_arn = arn:aws:iam::111122223333:role/A
[profile both]
role_arn = arn:aws:iam::111122223333:role/A
source_profile = keys
credential_source = Environment
[profile half-keys]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
[profile empty]
region = eu-west-1
[profile web]
web_identity_token_file = /nonexistent/token
[profile half-sso]
sso_start_url = https://example.awsapps.com/start
[profile lost-session]
sso_session = nowhere
sso_account_id = 111122223333
sso_role_name = ReadOnly
[profile bad-duration]
role_arn = arn:aws:iam::111122223333:role/A
source_profile = keys
duration_seconds = soon
[profile keys]
credential_process = keyfob credential-process --profile keys
[profile others]
credential_process = /usr/bin/some-other-tool
[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = eu-west-1
";

/// Profiles, chains, names, the config file and the keychain: no peer but the keychain.
#[test]
// A table of cases: long by nature, one line per case.
#[allow(clippy::too_many_lines)]
fn snapshot_errors_config_and_profiles() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut cases = Cases::new();
    let sb = Sandbox::new(backend);
    cases.error(
        "credential-process, no config at all",
        &sb.run(&["credential-process", "--profile", "dev"]),
    );
    sb.write_config(PROFILES);
    for (case, profile) in [
        ("unknown profile", "nope"),
        ("source_profile loop", "loop-a"),
        ("source_profile names no profile", "orphan"),
        ("role_arn without a source", "sourceless"),
        ("source_profile and credential_source", "both"),
        ("half a key pair", "half-keys"),
        ("nothing that gives credentials", "empty"),
        ("web identity without role_arn", "web"),
        ("half the SSO keys", "half-sso"),
        ("sso_session names no section", "lost-session"),
        ("duration_seconds not a number", "bad-duration"),
        ("keyfob's profile, nothing stored", "keys"),
        ("another program's credential_process", "others"),
    ] {
        cases.error(
            &format!("credential-process: {case}"),
            &sb.run(&["credential-process", "--profile", profile]),
        );
    }
    for (case, args) in [
        ("export: loop", &["export", "--profile", "loop-a"][..]),
        (
            "exec: unknown profile",
            &["exec", "--profile", "nope", "--", "true"],
        ),
        ("whoami: unknown profile", &["whoami", "--profile", "nope"]),
        (
            "console: unknown profile",
            &["console", "--profile", "nope"],
        ),
        ("login: unknown profile", &["login", "--profile", "nope"]),
        ("login: long-term keys", &["login", "--profile", "keys"]),
        (
            "login: unknown sso-session",
            &["login", "--sso-session", "nope"],
        ),
        ("remove: nothing stored", &["remove", "nope"]),
        ("logout: no session named", &["logout"]),
        (
            "populate: unknown sso-session",
            &["populate", "--sso-session", "nope"],
        ),
        (
            "populate: not a region",
            &["populate", "--sso-session", "corp", "--region", "mars-1"],
        ),
    ] {
        cases.error(case, &sb.run(args));
    }
    // `keyfob` without `keyfob-engine` next to it (keyfob_core::programs).
    let front = keyfob_alone(&sb);
    cases.error(
        "keyfob without keyfob-engine: status",
        &sb.command(&front).arg("status").output().unwrap(),
    );

    // Names and values that configure refuses.
    let url = "https://example.awsapps.com/start";
    for (case, args) in [
        (
            "add: name starting with -",
            &["add", "-dev", "--from-stdin"][..],
        ),
        ("add: name with a space", &["add", "my dev", "--from-stdin"]),
        (
            "configure sso-session: name with a space",
            &[
                "configure",
                "sso-session",
                "a b",
                "--start-url",
                url,
                "--region",
                "us-east-1",
            ],
        ),
        (
            "configure sso-session: http start URL",
            &[
                "configure",
                "sso-session",
                "ab",
                "--start-url",
                "http://example.com/start",
                "--region",
                "us-east-1",
            ],
        ),
        (
            "configure sso-session: start URL not a URL",
            &[
                "configure",
                "sso-session",
                "ab",
                "--start-url",
                "start",
                "--region",
                "us-east-1",
            ],
        ),
        (
            "configure sso-session: not a region",
            &[
                "configure",
                "sso-session",
                "ab",
                "--start-url",
                url,
                "--region",
                "Europe",
            ],
        ),
        (
            "configure saml: name with ]",
            &["configure", "saml", "a]b", "--url", url, "--username", "u"],
        ),
        (
            "configure saml: http URL",
            &[
                "configure",
                "saml",
                "corp",
                "--url",
                "http://idp.example.com/sso",
                "--username",
                "u",
            ],
        ),
        (
            "configure saml: bad trusted origin",
            &[
                "configure",
                "saml",
                "corp",
                "--url",
                url,
                "--username",
                "u",
                "--trusted-origin",
                "idp.example.com",
            ],
        ),
        (
            "configure role: bad name",
            &[
                "configure",
                "role",
                "-r",
                "--role-arn",
                "arn:aws:iam::111122223333:role/A",
                "--source-profile",
                "keys",
            ],
        ),
        (
            "configure role: not a role ARN",
            &[
                "configure",
                "role",
                "r",
                "--role-arn",
                "Admin",
                "--source-profile",
                "keys",
            ],
        ),
    ] {
        cases.error(case, &sb.run(args));
    }
    for (case, stdin) in [
        ("add: no input", ""),
        ("add: one line", "AKIAIOSFODNN7EXAMPLE\n"),
        ("add: key id that is not one", "not-a-key\nsecret\n"),
        (
            "add: secret with a space",
            "AKIAIOSFODNN7EXAMPLE\nsecret key\n",
        ),
    ] {
        cases.error(
            case,
            &run(&sb, &["add", "dev", "--from-stdin", "--yes"], Some(stdin)),
        );
    }

    // A malformed config: every command that reads it says which line.
    let broken = Sandbox::new(backend);
    broken.write_config("[profile a]\nregion = eu-west-1\n[profile b\nregion = eu-west-1\n");
    for (case, args) in [
        (
            "malformed config: credential-process",
            &["credential-process", "--profile", "a"][..],
        ),
        (
            "malformed config: configure",
            &[
                "configure",
                "sso-session",
                "s",
                "--start-url",
                url,
                "--region",
                "us-east-1",
            ],
        ),
        ("malformed config: status", &["status"]),
    ] {
        cases.any(case, &broken.run(args));
    }

    // A config keyfob cannot write: its directory is a file.
    let mut blocked = Sandbox::new(backend);
    let file = blocked.home().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    blocked.set_env("AWS_CONFIG_FILE", file.join("config").to_str().unwrap());
    cases.error(
        "config cannot be written",
        &blocked.run(&[
            "configure",
            "sso-session",
            "s",
            "--start-url",
            url,
            "--region",
            "us-east-1",
        ]),
    );

    // Keychains that cannot be used.
    let mut odd = Sandbox::new(backend);
    odd.set_env("KEYFOB_KEYRING", "mock");
    cases.error("KEYFOB_KEYRING names no backend", &odd.run(&["status"]));
    let mut no_bus = Sandbox::new(backend);
    no_bus.set_env("KEYFOB_KEYRING", "secret-service");
    no_bus.set_env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    cases.error("Secret Service not running", &no_bus.run(&["status"]));
    sb.put_raw("iam-user/keys", "not json");
    cases.error(
        "corrupt keychain entry",
        &sb.run(&["credential-process", "--profile", "keys"]),
    );

    // Arguments clap refuses (exit 2, its usual usage block).
    for (case, args) in [
        ("unknown command", &["frobnicate"][..]),
        ("exec without a command", &["exec", "--profile", "keys"]),
        ("unknown shell", &["completions", "nosh"]),
    ] {
        cases.any(case, &sb.run(args));
    }
    cases.check("errors-config-and-profiles");
}

/// SSO against the fake IAM Identity Center: expired sessions, denied and expired sign-ins, a
/// role the user cannot reach, an endpoint that does not answer, a bad name template.
#[test]
fn snapshot_errors_sso() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut cases = Cases::new();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = sso_sandbox(backend, &fake);
    cases.error("populate before any login", &populate(&sb, &[]));
    login(&sb, &[]);
    assert_success(&populate(&sb, &[]));
    let config = sb.read_config();
    sb.write_config(&format!(
        "{config}\n[profile unassigned]\nsso_session = {SESSION}\nsso_account_id = 999999999999\nsso_role_name = Admin\nregion = eu-west-1\n"
    ));
    cases.error(
        "a role the user is not assigned",
        &sb.run(&["credential-process", "--profile", "unassigned"]),
    );
    cases.error(
        "bad name template",
        &populate(&sb, &["--name-template", "{nope}"]),
    );
    fake.expire(ExpireRequest {
        refresh_tokens: true,
        ..ExpireRequest::default()
    });
    cases.error(
        "expired token and refresh token",
        &sb.run(&["credential-process", "--profile", "acct-0001.ReadOnly"]),
    );
    cases.error(
        "logout: unknown session",
        &sb.run(&["logout", "--sso-session", "nope"]),
    );

    fake.configure(|c| c.pkce.deny = true);
    cases.error(
        "sign-in denied in the browser",
        &sb.run(&["-q", "login", "--sso-session", SESSION]),
    );
    fake.configure(|c| {
        c.pkce.deny = false;
        c.device.deny = true;
    });
    cases.error(
        "device sign-in denied",
        &sb.run(&["-q", "login", "--sso-session", SESSION, "--use-device-code"]),
    );
    fake.configure(|c| {
        c.device.deny = false;
        c.device.expire = true;
    });
    cases.error(
        "device code expired",
        &sb.run(&["-q", "login", "--sso-session", SESSION, "--use-device-code"]),
    );

    let mut gone = sso_sandbox(backend, &fake);
    let port = closed_port();
    for (k, _) in fake.endpoint_env() {
        gone.set_env(k, &format!("http://127.0.0.1:{port}"));
    }
    cases.error(
        "IAM Identity Center unreachable",
        &gone.run(&["-q", "login", "--sso-session", SESSION, "--use-device-code"]),
    );
    cases.check("errors-sso");
}

/// STS (the fake, which checks every signature), MFA, role chains, and the commands that use
/// their credentials: console, eks-token, kubeconfig, serve, exec.
#[test]
// A table of cases: long by nature, one line per case.
#[allow(clippy::too_many_lines)]
fn snapshot_errors_sts_and_serving() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut cases = Cases::new();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let user = fake.static_user();
    let mut sb = Sandbox::new(backend);
    for (k, v) in fake.endpoint_env() {
        sb.set_env(k, &v);
    }
    sb.write_config(
        "[profile dev]\nmfa_serial = arn:aws:iam::123456789012:mfa/static-user\nregion = eu-west-1\n\
         [profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/Deploy\nsource_profile = stranger\nregion = eu-west-1\n",
    );
    sb.add_user("dev", &user.access_key_id, &user.secret_access_key);
    sb.add_user("ci", &user.access_key_id, &user.secret_access_key);
    sb.add_user("stranger", AKID, SECRET);
    sb.add_user(
        "wrong-secret",
        &user.access_key_id,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYnotTheSecret",
    );
    cases.error(
        "MFA session needed, no code, no terminal",
        &sb.run(&["credential-process", "--profile", "dev"]),
    );
    fake.configure(|c| c.sts.bad_mfa = true);
    cases.error(
        "wrong MFA code",
        &sb.run(&["login", "--profile", "dev", "--mfa-code", "000000"]),
    );
    fake.configure(|c| c.sts.bad_mfa = false);
    cases.error(
        "access key STS does not know",
        &sb.run(&["whoami", "--profile", "stranger"]),
    );
    cases.error(
        "secret access key that does not match",
        &sb.run(&["whoami", "--profile", "wrong-secret"]),
    );
    cases.error(
        "role chain over keys STS does not know",
        &sb.run(&["credential-process", "--profile", "deploy"]),
    );

    // Commands that take the credentials somewhere.
    let port = closed_port();
    let mut console = Sandbox::new(backend);
    for (k, v) in fake.endpoint_env() {
        console.set_env(k, &v);
    }
    console.add_user("ci", &user.access_key_id, &user.secret_access_key);
    console.write_config(&format!(
        "{}region = eu-west-1\n[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/Admin\nsource_profile = ci\nregion = eu-west-1\n",
        console.read_config()
    ));
    for (case, endpoint) in [
        (
            "console: federation endpoint over plain http",
            "http://signin.example.com/federation".to_owned(),
        ),
        (
            "console: federation endpoint not a URL",
            "signin".to_owned(),
        ),
        (
            "console: federation endpoint unreachable",
            format!("http://127.0.0.1:{port}/federation"),
        ),
    ] {
        console.set_env("KEYFOB_FEDERATION_ENDPOINT", &endpoint);
        cases.error(
            case,
            &console.run(&["console", "--profile", "admin", "--no-browser"]),
        );
    }
    cases.error(
        "console: long-term keys without a session",
        &sb.run(&["console", "--profile", "ci", "--no-browser"]),
    );
    for (case, args) in [
        (
            "eks-token: cluster name with a space",
            &["eks-token", "--cluster", "my cluster", "--profile", "ci"][..],
        ),
        (
            "eks-token: role ARN that is not one",
            &[
                "eks-token",
                "--cluster",
                "prod",
                "--profile",
                "ci",
                "--role-arn",
                "Admin",
            ],
        ),
        (
            "serve: token file in a missing directory",
            &[
                "serve",
                "--profile",
                "ci",
                "--token-file",
                "/nonexistent/dir/token",
            ],
        ),
        (
            "exec: a program that does not exist",
            &["exec", "--profile", "ci", "--", "/nonexistent/program"],
        ),
    ] {
        cases.error(case, &sb.run(args));
    }
    let kube = sb.home().join("kubeconfig");
    std::fs::write(&kube, "apiVersion: v1\nusers: [unclosed\n").unwrap();
    cases.error(
        "kubeconfig --write: not YAML",
        &sb.run(&[
            "kubeconfig",
            "--cluster",
            "prod",
            "--profile",
            "ci",
            "--region",
            "eu-west-1",
            "--write",
            "--kubeconfig",
            kube.to_str().unwrap(),
        ]),
    );
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    cases.error(
        "serve: port in use",
        &sb.run(&["serve", "--profile", "ci", "--port", &busy_port]),
    );
    drop(busy);

    let mut gone = Sandbox::new(backend);
    gone.write_config("[profile dev]\nmfa_serial = arn:aws:iam::123456789012:mfa/static-user\nregion = eu-west-1\n");
    gone.add_user("dev", &user.access_key_id, &user.secret_access_key);
    gone.set_env("AWS_ENDPOINT_URL_STS", &format!("http://127.0.0.1:{port}"));
    cases.error(
        "STS unreachable",
        &gone.run(&["login", "--profile", "dev", "--mfa-code", "123456"]),
    );
    cases.check("errors-sts-and-serving");
}

/// SAML against the real SimpleSAMLphp IdP (STS: the fake): a wrong password, two roles and no
/// choice, a pasted response without roles, a profile that is not SAML, an IdP that is down.
#[test]
fn snapshot_errors_saml() {
    let (Some(backend), Some(idp)) = (Backend::any(), peer("KEYFOB_TEST_SAML_IDP_URL")) else {
        return;
    };
    let mut cases = Cases::new();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut sb = Sandbox::new(backend);
    sb.set_env("AWS_ENDPOINT_URL_STS", &fake.url());
    for (profile, user) in [("corp", "alice"), ("two-roles", "bob")] {
        assert_success(&sb.run(&[
            "configure",
            "saml",
            profile,
            "--url",
            &idp,
            "--username",
            user,
            "--region",
            "us-east-1",
        ]));
    }
    let login = |profile: &str, password: &str, more: &[&str]| {
        let mut args = vec!["login", "--profile", profile, "--password-stdin"];
        args.extend_from_slice(more);
        sb.run_with_stdin(&args, &format!("{password}\n"))
    };
    cases.error("wrong password", &login("corp", "not-alicepw", &[]));
    cases.error(
        "no password on stdin",
        &sb.run_with_stdin(&["login", "--profile", "corp", "--password-stdin"], ""),
    );
    cases.error("two roles, none chosen", &login("two-roles", "bobpw", &[]));
    cases.error(
        "a role the assertion does not offer",
        &login(
            "corp",
            "alicepw",
            &["--role-arn", "arn:aws:iam::111122223333:role/Nope"],
        ),
    );
    fake.configure(|c| c.sts.deny_saml = true);
    cases.error("STS refuses the assertion", &login("corp", "alicepw", &[]));
    fake.configure(|c| c.sts.deny_saml = false);
    cases.error(
        "credential-process before any login",
        &sb.run(&["credential-process", "--profile", "corp"]),
    );

    let no_roles = sb.home().join("no-roles.b64");
    let xml = "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"><saml:Assertion><saml:Subject><saml:NameID>alice</saml:NameID></saml:Subject><saml:AttributeStatement/></saml:Assertion></samlp:Response>";
    std::fs::write(&no_roles, base64_encode(xml)).unwrap();
    cases.error(
        "a pasted response without roles",
        &sb.run(&[
            "login",
            "--profile",
            "corp",
            "--saml-response-file",
            no_roles.to_str().unwrap(),
        ]),
    );
    let garbage = sb.home().join("garbage.b64");
    std::fs::write(&garbage, "this is not base64!").unwrap();
    cases.error(
        "a pasted response that is not base64",
        &sb.run(&[
            "login",
            "--profile",
            "corp",
            "--saml-response-file",
            garbage.to_str().unwrap(),
        ]),
    );

    let down = format!(
        "http://127.0.0.1:{}/simplesaml/saml2/idp/SSOService.php",
        closed_port()
    );
    let config = sb.read_config();
    sb.write_config(&format!(
        "{config}[profile down]\nkeyfob_saml_url = {down}\nkeyfob_saml_username = alice\nregion = us-east-1\n"
    ));
    cases.error("IdP unreachable", &login("down", "alicepw", &[]));
    cases.check("errors-saml");
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

// ---------------------------------------------------------------------------------------------
// --help

/// The `--help` snapshots are made from clap's command tree (`crates/cli/src/help_snapshots.rs`);
/// this checks that the binary prints exactly them in a terminal of 100 columns.
#[test]
fn the_binary_prints_the_help_clap_renders() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/cli/src/snapshots/help");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("the --help snapshots") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "snap") {
            continue;
        }
        let snap = std::fs::read_to_string(&path).unwrap();
        let (header, body) = snap
            .strip_prefix("---\n")
            .and_then(|s| s.split_once("\n---\n"))
            .unwrap_or_else(|| panic!("{}: not an insta snapshot", path.display()));
        let command = header
            .lines()
            .find_map(|l| l.strip_prefix("description: "))
            .unwrap_or_else(|| panic!("{}: no description", path.display()));
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"keyfob"), "{command}");
        let out = std::process::Command::new(bin("keyfob"))
            .args(&words[1..])
            .env_clear()
            .env("COLUMNS", "100")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_success(&out);
        assert_eq!(
            stdout(&out).trim_end(),
            body.trim_end(),
            "`{command}` differs from {}",
            path.display()
        );
        checked += 1;
    }
    assert!(
        checked > 10,
        "only {checked} --help snapshots in {}",
        dir.display()
    );
}

// ---------------------------------------------------------------------------------------------
// errors built by hand

/// One line per error value: what the CLI prints for it (`keyfob: error: LINE; run: HINT`) and
/// its exit code, through the same [`keyfob_core::Report`] the binary uses.
struct Rendered(String);

impl Rendered {
    fn add(&mut self, case: &str, report: &keyfob_core::Report) {
        let _ = writeln!(
            self.0,
            "{case}\n  exit {}\n  stderr| keyfob: error: {report}\n  hint| {}\n",
            report.exit_code(),
            report.hint().unwrap_or("-")
        );
    }
}

/// The errors only a hostile or failing peer produces (the tests that meet them are in
/// trust.rs, saml.rs, sso.rs and the crates' own tests): each variant of the library error
/// enums that the end-to-end groups above do not reach, built from plausible values.
#[test]
// A table of cases: long by nature, one line per case.
#[allow(clippy::too_many_lines)]
fn snapshot_errors_of_hostile_and_failing_peers() {
    use keyfob_saml::{AssertionError, IdpError, RolePair, SamlError, StsError};
    use keyfob_sso::SsoError;
    use keyfob_sso::error::Service;
    let mut r = Rendered(String::new());
    let idp_url = "https://idp.example.com/sso".to_owned();
    let io = || std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    let roles = vec![
        RolePair {
            role_arn: "arn:aws:iam::111122223333:role/Developer".into(),
            principal_arn: "arn:aws:iam::111122223333:saml-provider/corp".into(),
        },
        RolePair {
            role_arn: "arn:aws:iam::111122223333:role/Admin".into(),
            principal_arn: "arn:aws:iam::111122223333:saml-provider/corp".into(),
        },
    ];

    for (case, e) in [
        ("IdpError::BadUrl", IdpError::BadUrl("ftp://idp".into())),
        (
            "IdpError::Http",
            IdpError::Http {
                status: 503,
                url: idp_url.clone(),
            },
        ),
        (
            "IdpError::Timeout",
            IdpError::Timeout {
                url: idp_url.clone(),
                seconds: 30,
            },
        ),
        (
            "IdpError::TooManyRedirects",
            IdpError::TooManyRedirects {
                url: idp_url.clone(),
                max: 10,
            },
        ),
        ("IdpError::TooManySteps", IdpError::TooManySteps(8)),
        (
            "IdpError::NoForm",
            IdpError::NoForm {
                url: idp_url.clone(),
                title: Some("Sign in".into()),
                reason: "no form with a password field".into(),
            },
        ),
        (
            "IdpError::TooLarge",
            IdpError::TooLarge {
                url: idp_url.clone(),
                max: 1 << 20,
            },
        ),
        (
            "IdpError::InsecureForm",
            IdpError::InsecureForm {
                url: "http://idp.example.com/login".into(),
            },
        ),
        (
            "IdpError::PasswordNotTrusted (form)",
            IdpError::PasswordNotTrusted {
                origin: "https://evil.example.net".into(),
                profile: Some("corp".into()),
                redirect: None,
            },
        ),
        (
            "IdpError::PasswordNotTrusted (307)",
            IdpError::PasswordNotTrusted {
                origin: "https://evil.example.net".into(),
                profile: Some("corp".into()),
                redirect: Some(307),
            },
        ),
        (
            "IdpError::PasswordDowngrade",
            IdpError::PasswordDowngrade {
                origin: "http://idp.example.com".into(),
                redirect: Some(308),
            },
        ),
        (
            "IdpError::PasswordInUrl",
            IdpError::PasswordInUrl {
                url: idp_url.clone(),
            },
        ),
        (
            "IdpError::InsecureRedirect",
            IdpError::InsecureRedirect {
                url: "http://idp.example.com/next".into(),
            },
        ),
        (
            "IdpError::NotHttp",
            IdpError::NotHttp {
                url: "file:///etc/passwd".into(),
            },
        ),
        (
            "IdpError::BadTrustedOrigin",
            IdpError::BadTrustedOrigin {
                profile: Some("corp".into()),
                entry: "idp.example.com".into(),
                reason: "has no scheme",
            },
        ),
        ("IdpError::BadMfaCode", IdpError::BadMfaCode),
        ("IdpError::NeedsInteraction", IdpError::NeedsInteraction),
    ] {
        r.add(case, &SamlError::from(e).into());
    }
    for (case, e) in [
        (
            "AssertionError::TooLarge",
            AssertionError::TooLarge(2 << 20),
        ),
        (
            "AssertionError::NotXml",
            AssertionError::NotXml("unexpected end of input".into()),
        ),
        (
            "AssertionError::NotSamlResponse",
            AssertionError::NotSamlResponse("html".into()),
        ),
        (
            "AssertionError::Status",
            AssertionError::Status {
                status: "urn:oasis:names:tc:SAML:2.0:status:Responder".into(),
                message: Some("user locked".into()),
            },
        ),
        ("AssertionError::Encrypted", AssertionError::Encrypted),
        ("AssertionError::NoAssertion", AssertionError::NoAssertion),
        (
            "AssertionError::MalformedRole",
            AssertionError::MalformedRole("Admin".into()),
        ),
        (
            "AssertionError::BadTime",
            AssertionError::BadTime {
                attribute: "NotOnOrAfter",
                value: "tomorrow".into(),
            },
        ),
    ] {
        r.add(case, &SamlError::from(e).into());
    }
    for (case, e) in [
        (
            "StsError::DurationTooLong",
            StsError::DurationTooLong {
                profile: "corp".into(),
                requested: 43200,
            },
        ),
        (
            "StsError::NotTrusted",
            StsError::NotTrusted {
                role: "arn:aws:iam::111122223333:role/Admin".into(),
                provider: "arn:aws:iam::111122223333:saml-provider/corp".into(),
                message: "Not authorized to perform sts:AssumeRoleWithSAML".into(),
            },
        ),
        (
            "StsError::AssertionExpired",
            StsError::AssertionExpired("ExpiredTokenException".into()),
        ),
        (
            "StsError::Rejected",
            StsError::Rejected {
                code: "InvalidIdentityToken".into(),
                message: "Specified provider doesn't exist".into(),
            },
        ),
        (
            "StsError::RegionDisabled",
            StsError::RegionDisabled {
                region: "ap-east-1".into(),
                profile: "corp".into(),
            },
        ),
        (
            "StsError::Service",
            StsError::Service("InternalFailure".into()),
        ),
        ("StsError::Timeout", StsError::Timeout("us-east-1".into())),
        (
            "StsError::Unreachable",
            StsError::Unreachable {
                region: "us-east-1".into(),
                reason: "connection refused".into(),
            },
        ),
        ("StsError::NoCredentials", StsError::NoCredentials),
    ] {
        r.add(case, &SamlError::from(e).into());
    }
    for (case, e) in [
        (
            "SamlError::RoleNotOffered",
            SamlError::RoleNotOffered {
                wanted: "arn:aws:iam::111122223333:role/Ops".into(),
                available: roles.clone(),
            },
        ),
        (
            "SamlError::RoleAmbiguous",
            SamlError::RoleAmbiguous {
                available: roles.clone(),
            },
        ),
        ("SamlError::NoRoleChosen", SamlError::NoRoleChosen),
        ("SamlError::NoPassword", SamlError::NoPassword),
    ] {
        r.add(case, &e.into());
    }

    let section = "[sso-session acme]".to_owned();
    for (case, e) in [
        (
            "SsoError::MissingKey",
            SsoError::MissingKey {
                section: section.clone(),
                key: "sso_region",
            },
        ),
        (
            "SsoError::BadRegion",
            SsoError::BadRegion {
                section: section.clone(),
                key: "sso_region",
                region: "Europe".into(),
            },
        ),
        (
            "SsoError::BadValue",
            SsoError::BadValue {
                section: section.clone(),
                key: "keyfob_write_sso_cache",
                value: "maybe".into(),
                expected: "true or false",
            },
        ),
        (
            "SsoError::Service",
            SsoError::Service {
                service: Service::Oidc,
                operation: "CreateToken",
                code: "InvalidClientException".into(),
                message: "client expired".into(),
                status: Some(400),
            },
        ),
        (
            "SsoError::Service (throttled)",
            SsoError::Service {
                service: Service::Portal,
                operation: "ListAccountRoles",
                code: "TooManyRequestsException".into(),
                message: "Rate exceeded".into(),
                status: Some(429),
            },
        ),
        (
            "SsoError::CallbackTimeout",
            SsoError::CallbackTimeout { minutes: 5 },
        ),
        (
            "SsoError::Callback",
            SsoError::Callback {
                reason: "address in use".into(),
            },
        ),
        (
            "SsoError::Lock",
            SsoError::Lock {
                path: PathBuf::from("/home/u/.cache/keyfob/sso-acme.lock"),
                reason: "permission denied".into(),
            },
        ),
        (
            "SsoError::CacheFile",
            SsoError::CacheFile {
                path: PathBuf::from("/home/u/.aws/sso/cache/0123abcd.json"),
                reason: "permission denied".into(),
            },
        ),
        (
            "SsoError::ListingDeadline",
            SsoError::ListingDeadline {
                session: "acme".into(),
                limit: "10 min".into(),
                accounts: 1000,
                all_found: false,
                roles_listed: 612,
                throttled: 431,
            },
        ),
    ] {
        r.add(case, &e.into());
    }

    let path = || PathBuf::from("/home/u/.aws/config");
    let reports: Vec<(&str, keyfob_core::Report)> = vec![
        (
            "StoreError::Unavailable",
            StoreError::Unavailable {
                reason: "no D-Bus session bus".into(),
            }
            .into(),
        ),
        (
            "StoreError::Locked",
            StoreError::Locked {
                backend: StoreBackend::SecretService,
                reason: "the collection is locked".into(),
            }
            .into(),
        ),
        (
            "StoreError::KeyutilsSession",
            StoreError::KeyutilsSession {
                reason: "Permission denied".into(),
            }
            .into(),
        ),
        (
            "StoreError::Dropped",
            StoreError::Dropped {
                backend: StoreBackend::Keyutils,
                key: "creds/dev".into(),
            }
            .into(),
        ),
        (
            "StoreError::Backend",
            StoreError::Backend {
                backend: StoreBackend::SecretService,
                key: "creds/dev".into(),
                reason: "D-Bus timeout".into(),
            }
            .into(),
        ),
        (
            "ConsoleError::Transport",
            ConsoleError::Transport {
                what: "could not reach",
                endpoint: "https://signin.aws.amazon.com/federation".into(),
                why: "connection reset".into(),
            }
            .into(),
        ),
        (
            "ConsoleError::TooLarge",
            ConsoleError::TooLarge {
                endpoint: "https://signin.aws.amazon.com/federation".into(),
            }
            .into(),
        ),
        (
            "ConsoleError::Refusal",
            ConsoleError::Refusal {
                status: 400,
                detail: "Invalid session".into(),
            }
            .into(),
        ),
        (
            "ConsoleError::BadAnswer",
            ConsoleError::BadAnswer("no SigninToken").into(),
        ),
        (
            "LockError::Busy",
            LockError::Busy {
                path: PathBuf::from("/home/u/.cache/keyfob/dev.lock"),
                holder: Some(Holder {
                    pid: 4242,
                    name: Some("keyfob".into()),
                }),
                waited: std::time::Duration::from_secs(60),
            }
            .into(),
        ),
        (
            "ServeError::TimedOut",
            ServeError::TimedOut {
                profile: "dev".into(),
                budget: std::time::Duration::from_secs(30),
            }
            .into(),
        ),
        (
            "EditError::NotUtf8",
            keyfob_core::editor::EditError::NotUtf8 { path: path() }.into(),
        ),
        (
            "EditError::DanglingSymlink",
            keyfob_core::editor::EditError::DanglingSymlink {
                path: path(),
                target: PathBuf::from("/mnt/dotfiles/aws-config"),
            }
            .into(),
        ),
        (
            "EditError::ReadOnly",
            keyfob_core::editor::EditError::ReadOnly { path: path() }.into(),
        ),
        (
            "EditError::Write",
            keyfob_core::editor::EditError::Write {
                path: path(),
                source: std::io::Error::other("No space left on device"),
            }
            .into(),
        ),
        (
            "KubeconfigError::Busy",
            KubeconfigError::Busy {
                path: PathBuf::from("/home/u/.kube/config.lock"),
            }
            .into(),
        ),
        (
            "KubeconfigError::NotKubeconfig",
            KubeconfigError::NotKubeconfig {
                path: PathBuf::from("/home/u/.kube/config"),
                what: "users is not a list",
            }
            .into(),
        ),
        (
            "KubeconfigError::Read",
            KubeconfigError::Read {
                path: PathBuf::from("/home/u/.kube/config"),
                source: io(),
            }
            .into(),
        ),
        (
            "ProcessJsonError::UnsupportedVersion",
            keyfob_core::credentials::ProcessJsonError::UnsupportedVersion(2).into(),
        ),
        (
            "BadRefreshWindow",
            keyfob_core::credentials::BadRefreshWindow("soon".into()).into(),
        ),
        (
            "TooLarge",
            keyfob_core::net::TooLarge { max: 1 << 20 }.into(),
        ),
        (
            "ContainerUriError::NotAllowed",
            keyfob_core::server::ContainerUriError::NotAllowed("http://169.254.1.1/creds".into())
                .into(),
        ),
    ];
    for (case, report) in reports {
        r.add(case, &report);
    }
    settings().bind(|| insta::assert_snapshot!("errors-of-hostile-and-failing-peers", r.0));
}
