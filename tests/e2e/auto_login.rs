//! Issue 11 item 1: an expired session signs in from inside `credential_process`, once for all
//! callers — the PKCE browser login for twenty concurrent callers with a display, twenty
//! immediate one-line failures without display or terminal, and the SAML password prompt on a
//! pseudo-terminal the test types into.
//!
//! Every keyfob here runs under `setsid` (util-linux): a new session without a controlling
//! terminal, whatever terminal the test runner has, so the only terminal keyfob can reach is
//! the pseudo-terminal a test hands it.

use crate::sso_support::*;
use crate::support::*;
use keyfob_core::store::{SessionStore as _, keys};
use keyfob_tests::fake::{ExpireRequest, FakeAws, FakeConfig, Grant, Op};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The profile every SSO test asks for (populated, never served before the session expired).
const SSO_PROFILE: &str = "acct-0001.Admin";
/// How many concurrent callers.
const CALLERS: usize = 20;

/// A signed-in, populated sandbox whose session the fake has then expired, refresh token
/// included; automatic sign-in is at its default (on).
fn expired_sso(backend: Backend, fake: &FakeAws) -> Sandbox {
    let mut sb = sso_sandbox(backend, fake);
    login(&sb, &[]);
    assert_success(&populate(&sb, &[]));
    fake.expire(ExpireRequest {
        access_tokens: true,
        credentials: true,
        refresh_tokens: true,
        clients: false,
    });
    fake.reset();
    sb.unset_env("KEYFOB_AUTO_LOGIN");
    sb
}

/// `keyfob ARGS` in a new session with no controlling terminal.
fn detached(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = sb.command("setsid");
    c.arg("--wait").arg(bin("keyfob")).args(args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// `CALLERS` concurrent `credential-process` calls for `SSO_PROFILE`.
fn concurrent_callers(sb: &Sandbox) -> Vec<Output> {
    let children: Vec<_> = (0..CALLERS)
        .map(|_| {
            detached(sb, &["credential-process", "--profile", SSO_PROFILE])
                .spawn()
                .expect("spawn setsid keyfob")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait keyfob"))
        .collect()
}

on_each_backend!(twenty_callers_of_an_expired_sso_session_share_one_browser_sign_in);
fn twenty_callers_of_an_expired_sso_session_share_one_browser_sign_in(backend: Backend) {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut sb = expired_sso(backend, &fake);
    // A display, and a $BROWSER that approves at the fake (tests/data/browser.sh).
    sb.set_env("DISPLAY", ":99");
    // Slow answers, so that the twenty overlap for certain: every caller fails its first
    // attempt while the first sign-in is still under way.
    fake.configure(|c| c.latency_ms = 300);
    let outputs = concurrent_callers(&sb);
    let mut keys = std::collections::BTreeSet::new();
    let mut told = 0;
    for out in &outputs {
        assert_success(out);
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("credential_process JSON");
        assert_eq!(json["Version"], 1);
        assert!(json["Expiration"].as_str().unwrap().ends_with('Z'));
        keys.insert(json["AccessKeyId"].as_str().unwrap().to_owned());
        if stderr(out).contains("signing in to SSO session demo in your browser") {
            told += 1;
        }
    }
    // Exactly one authorization: one browser visit and one authorization code redeemed (the
    // login also sends a made-up code to check that the stored client is still known), no
    // device flow.
    let redeemed: Vec<String> = fake
        .history(Op::CreateToken)
        .iter()
        .filter_map(|r| r.json.as_ref())
        .filter(|j| j["grantType"] == "authorization_code" && j["code"] != "keyfob-client-check")
        .map(|j| j["code"].to_string())
        .collect();
    assert_eq!(redeemed.len(), 1, "{redeemed:?} {:?}", fake.counters());
    // One login's worth of authorization-code grants: the check and the redemption.
    assert_eq!(fake.count_grant(Grant::AuthorizationCode), 2);
    assert_eq!(fake.count(Op::Authorize), 1, "{:?}", fake.counters());
    assert_eq!(fake.count_grant(Grant::DeviceCode), 0);
    assert_eq!(fake.count(Op::StartDeviceAuthorization), 0);
    // No terminal here: the one process that signed in said so on stderr, nobody else did.
    assert_eq!(told, 1);
    for key in &keys {
        assert!(fake.issued_key(key), "{key} was issued by the fake");
    }
    // The fresh session serves the next call from the keychain, with no sign-in.
    let out = detached(&sb, &["credential-process", "--profile", SSO_PROFILE])
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(fake.count_grant(Grant::AuthorizationCode), 2);
    assert_eq!(fake.count(Op::Authorize), 1);
}

on_each_backend!(twenty_callers_without_display_or_terminal_fail_at_once_without_a_sign_in);
fn twenty_callers_without_display_or_terminal_fail_at_once_without_a_sign_in(backend: Backend) {
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut sb = expired_sso(backend, &fake);
    sb.unset_env("DISPLAY");
    sb.unset_env("WAYLAND_DISPLAY");
    let begun = Instant::now();
    let outputs = concurrent_callers(&sb);
    // A bound for a hang, not a speed measurement: no caller waited for a sign-in (5 minutes).
    assert!(
        begun.elapsed() < Duration::from_secs(60),
        "{:?}",
        begun.elapsed()
    );
    for out in &outputs {
        let line = assert_one_line_error(out);
        assert!(line.contains("run: keyfob login"), "{line}");
    }
    assert_eq!(fake.count_grant(Grant::AuthorizationCode), 0);
    assert_eq!(fake.count_grant(Grant::DeviceCode), 0);
    assert_eq!(fake.count(Op::Authorize), 0);
    assert_eq!(fake.count(Op::StartDeviceAuthorization), 0);
    assert_eq!(fake.count(Op::RegisterClient), 0);

    // Switched off, a display does not start a sign-in either.
    sb.set_env("DISPLAY", ":99");
    sb.set_env("KEYFOB_AUTO_LOGIN", "0");
    let out = detached(&sb, &["credential-process", "--profile", SSO_PROFILE])
        .output()
        .unwrap();
    assert!(assert_one_line_error(&out).contains("run: keyfob login"));
    assert_eq!(fake.count(Op::Authorize), 0);
    // A value that is neither on nor off is refused before anything happens.
    sb.set_env("KEYFOB_AUTO_LOGIN", "sometimes");
    let out = detached(&sb, &["credential-process", "--profile", SSO_PROFILE])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("KEYFOB_AUTO_LOGIN=sometimes"));
    assert_eq!(fake.count(Op::Authorize), 0);
}

/// Runs `keyfob ARGS` with a pseudo-terminal as its controlling terminal (and nothing else:
/// stdin is /dev/null, stdout and stderr are pipes), answering `answer` once `prompt` shows on
/// the terminal. Returns (exit code, stdout, stderr, what the terminal showed).
fn on_a_pty(
    sb: &Sandbox,
    args: &[&str],
    prompt: &str,
    answer: &str,
) -> Option<(i64, String, String, String)> {
    const DRIVER: &str = r#"
import fcntl, json, os, select, subprocess, sys, termios, time
master, slave = os.openpty()
def take_terminal():
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, start_new_session=True,
                     preexec_fn=take_terminal, pass_fds=(slave,))
os.close(slave)
prompt, answer = os.environ["PTY_PROMPT"].encode(), os.environ["PTY_ANSWER"].encode()
seen, answered, deadline = b"", False, time.time() + 90
while time.time() < deadline:
    ready, _, _ = select.select([master], [], [], 0.1)
    if ready:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and prompt in seen:
            os.write(master, answer + b"\n")
            answered = True
    elif p.poll() is not None:
        break
out, err = p.communicate(timeout=90)
print(json.dumps({"rc": p.returncode, "stdout": out.decode(), "stderr": err.decode(),
                  "tty": seen.decode(errors="replace")}))
"#;
    let py = peer("KEYFOB_TEST_PYTHON")?;
    let out = sb
        .command(py)
        .arg("-c")
        .arg(DRIVER)
        .arg(bin("keyfob"))
        .args(args)
        .env("PTY_PROMPT", prompt)
        .env("PTY_ANSWER", answer)
        .output()
        .expect("run the pty driver");
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("driver JSON");
    Some((
        v["rc"].as_i64().unwrap(),
        v["stdout"].as_str().unwrap().to_owned(),
        v["stderr"].as_str().unwrap().to_owned(),
        v["tty"].as_str().unwrap().to_owned(),
    ))
}

on_each_backend!(saml_credential_process_asks_for_a_removed_password_on_the_terminal);
fn saml_credential_process_asks_for_a_removed_password_on_the_terminal(backend: Backend) {
    let Some(idp) = peer("KEYFOB_TEST_SAML_IDP_URL") else {
        return;
    };
    if peer("KEYFOB_TEST_PYTHON").is_none() {
        return;
    }
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
        "alice",
        "--region",
        "us-east-1",
    ]));
    assert_success(&sb.run_with_stdin(
        &["login", "--profile", "corp", "--password-stdin"],
        "alicepw\n",
    ));
    assert_success(&sb.run(&["login", "--profile", "corp", "--forget-password"]));
    let has_password = |sb: &Sandbox| sb.stored_keys().contains(&"saml-password/corp".to_owned());
    assert!(!has_password(&sb));
    // And the credentials it made have run out (gone from the keychain).
    assert!(
        sb.keychain_of(backend)
            .unwrap()
            .delete(&keys::credentials("corp"))
            .unwrap()
    );
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    sb.unset_env("KEYFOB_AUTO_LOGIN");

    let Some((rc, out, err, tty)) = on_a_pty(
        &sb,
        &["credential-process", "--profile", "corp"],
        "IdP password:",
        "alicepw",
    ) else {
        return;
    };
    assert_eq!(rc, 0, "stderr: {err}\nterminal: {tty}");
    // The credentials on stdout, the prompt on the terminal only.
    let json: serde_json::Value = serde_json::from_str(&out).expect("credential_process JSON");
    assert_eq!(json["Version"], 1);
    assert!(fake.issued_key(json["AccessKeyId"].as_str().unwrap()));
    assert!(
        tty.contains("profile corp needs the IdP password of alice"),
        "{tty}"
    );
    assert!(tty.contains("IdP password:"), "{tty}");
    assert!(!out.contains("IdP password") && !err.contains("IdP password:"));
    // Typed without echo, and never printed anywhere.
    for seen in [&tty, &out, &err] {
        assert!(!seen.contains("alicepw"), "the password showed: {seen}");
    }
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
    // The password that worked is kept for the silent refreshes.
    assert!(has_password(&sb));

    // Without a terminal the same profile is one line at once, and nothing is asked.
    assert_success(&sb.run(&["login", "--profile", "corp", "--forget-password"]));
    sb.keychain_of(backend)
        .unwrap()
        .delete(&keys::credentials("corp"))
        .unwrap();
    let out = detached(&sb, &["credential-process", "--profile", "corp"])
        .output()
        .unwrap();
    assert!(assert_one_line_error(&out).contains("run: keyfob login --profile corp"));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
}
