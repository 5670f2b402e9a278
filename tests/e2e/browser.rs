//! Issue 10: the SAML login through the user's own browser. keyfob drives Debian's `chromium`
//! (headless here, through `KEYFOB_BROWSER_ARGS`) against the real SimpleSAMLphp IdP; the test
//! plays the user by attaching to the same browser over DevTools (the port Chromium writes into
//! `DevToolsActivePort` in keyfob's profile directory) and typing into the IdP's real page.
//!
//! Every browser here maps the AWS sign-in host to a loopback TLS recorder
//! (`--host-resolver-rules`, and its throwaway certificate accepted by key): the sign-in POST
//! must be answered by keyfob, so the recorder must never see a request.

use crate::support::*;
use keyfob_tests::fake::{FakeAws, FakeConfig, Op};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

const DEVELOPER: &str = "arn:aws:iam::111122223333:role/Developer";
const ADMIN: &str = "arn:aws:iam::111122223333:role/Admin";
const PROFILE: &str = "corp";
/// `KEYFOB_BROWSER_ARGS` here. basic: Chromium keeps its cookie key out of the test keychain.
const BROWSER_ARGS: [&str; 3] = ["--headless=new", "--no-sandbox", "--password-store=basic"];

/// The "AWS sign-in host": a loopback TLS server with a throwaway certificate for
/// `signin.aws.amazon.com` and `*.signin.aws.amazon.com`, which the test's Chromium accepts
/// by its key (`--ignore-certificate-errors-spki-list`, set by [`setup`] only). It keeps the
/// request line of every HTTP request that reaches it: a POST of the SAMLResponse would be
/// there. A bare connection (Chromium may preconnect to a form's target) sends no request.
struct Recorder {
    port: u16,
    /// The SPKI hash of the certificate's key, for `--ignore-certificate-errors-spki-list`.
    spki: String,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Self {
        use base64::Engine as _;
        use rcgen::{CertificateParams, KeyPair, PublicKeyData as _};
        use sha2::Digest as _;
        use tokio_rustls::rustls;
        let params = CertificateParams::new(vec![
            "signin.aws.amazon.com".to_owned(),
            "*.signin.aws.amazon.com".to_owned(),
        ])
        .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let spki = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(key.subject_public_key_info()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert.der().clone()],
                    rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
                )
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let l = lines.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (config, l) = (config.clone(), l.clone());
                std::thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    let mut request_head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request_head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request_head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request_head);
                    let line = text.lines().next().unwrap_or_default();
                    let line = line.rsplit_once(' ').map_or(line, |(l, _)| l).to_owned();
                    l.lock().unwrap().push(line);
                    let _ = tls.write_all(
                        // An inline icon: the probe's page asks for nothing more.
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 36\r\nconnection: close\r\n\r\n<link rel=\"icon\" href=\"data:,\">probe",
                    );
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        Self { port, spki, lines }
    }

    /// Their request lines (method and target).
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

/// What a browser-login test needs: the sandbox, the IdP, the recorder standing in for AWS.
struct Setup {
    sb: Sandbox,
    idp: String,
    recorder: Recorder,
}

/// The browser and the IdP, or `None` (skip; a failure with `KEYFOB_TEST_REQUIRE_PEERS=1`).
fn peers() -> Option<(String, String)> {
    let browser = peer("KEYFOB_TEST_BROWSER")?;
    let idp = peer("KEYFOB_TEST_SAML_IDP_URL")?;
    Some((browser, idp))
}

/// A sandbox whose `[profile corp]` was written by `keyfob configure saml --browser` for
/// `idp`, with STS at `sts`, `extra` config lines, and Chromium headless with the AWS sign-in
/// hosts mapped to a recorder.
fn setup(backend: Backend, browser: &str, idp: &str, sts: &str, extra: &str) -> Setup {
    let mut sb = Sandbox::new(backend);
    let recorder = Recorder::start();
    sb.set_env("AWS_ENDPOINT_URL_STS", sts);
    let wrapper = sb.home().join("browser");
    let p = recorder.port;
    write_script(
        &wrapper,
        &format!(
            "#!/bin/sh\nexec '{browser}' '--host-resolver-rules=MAP signin.aws.amazon.com 127.0.0.1:{p},MAP *.signin.aws.amazon.com 127.0.0.1:{p}' '--ignore-certificate-errors-spki-list={spki}' \"$@\"\n",
            spki = recorder.spki
        ),
    );
    sb.set_env("KEYFOB_BROWSER", &wrapper.display().to_string());
    sb.set_env("KEYFOB_BROWSER_ARGS", &BROWSER_ARGS.join(" "));
    let out = sb.run(&[
        "configure",
        "saml",
        PROFILE,
        "--url",
        idp,
        "--browser",
        "--region",
        "us-east-1",
    ]);
    assert_success(&out);
    if !extra.is_empty() {
        let config = sb.read_config();
        sb.write_config(&format!("{config}{extra}"));
    }
    Setup {
        sb,
        idp: idp.to_owned(),
        recorder,
    }
}

fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// keyfob's browser profile directory for the IdP (the sandbox's `KEYFOB_CACHE_DIR`).
fn profile_dir(sb: &Sandbox, idp: &str) -> PathBuf {
    keyfob_saml::browser::profile_dir(&sb.home().join(".cache/keyfob"), &Url::parse(idp).unwrap())
}

/// Runs keyfob and waits at most `limit` for it: a hang is a failure, not a stuck test run.
fn run_bounded(sb: &Sandbox, args: &[&str], limit: Duration) -> Output {
    let mut cmd = sb.keyfob(args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn keyfob");
    wait_bounded(child, limit)
}

fn wait_bounded(child: std::process::Child, limit: Duration) -> Output {
    wait_or_kill(child, limit).unwrap_or_else(|hung| {
        panic!(
            "keyfob did not finish within {} s; it said: {}",
            limit.as_secs(),
            stderr(&hung)
        )
    })
}

/// keyfob's output, or (`Err`) what it had said when it was killed after `limit`.
fn wait_or_kill(child: std::process::Child, limit: Duration) -> Result<Output, Output> {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    if let Ok(out) = rx.recv_timeout(limit) {
        return Ok(out.expect("wait keyfob"));
    }
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    Err(rx.recv().expect("keyfob's output").expect("wait keyfob"))
}

/// Plays the user in a thread of its own (see [`keyfob_tests::player`]).
fn play_user(
    dir: PathBuf,
    user: &'static str,
    password: &'static str,
) -> std::thread::JoinHandle<Result<String, String>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(keyfob_tests::player::type_into_login_page(
            &dir,
            user,
            password,
            Duration::from_secs(90),
        ))
    })
}

/// `keyfob login --profile corp --browser ARGS…` while the test types `user`'s password.
fn login_typing(s: &Setup, user: &'static str, password: &'static str, more: &[&str]) -> Output {
    let dir = profile_dir(&s.sb, &s.idp);
    let _ = std::fs::remove_file(dir.join("DevToolsActivePort"));
    // -vv: a hang shows how far keyfob got (and debug output must hold no secret either).
    let mut args = vec!["-vv", "login", "--profile", PROFILE, "--browser"];
    args.extend_from_slice(more);
    let mut cmd = s.sb.keyfob(&args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn keyfob");
    let player = play_user(dir, user, password);
    finish_typing(child, player)
}

/// keyfob's output once it has ended (killed after 120 s) and the player's typing: when either
/// failed, the panic says what both did (the player's steps, keyfob's stderr).
fn finish_typing(
    child: std::process::Child,
    player: std::thread::JoinHandle<Result<String, String>>,
) -> Output {
    let out = wait_or_kill(child, Duration::from_secs(120));
    let typing = player.join().unwrap();
    match (out, typing) {
        (Ok(out), Ok(_)) => out,
        (out, typing) => {
            let (Ok(out) | Err(out)) = out;
            panic!(
                "the test's typing: {typing:?}; keyfob {}: {}",
                out.status,
                stderr(&out)
            )
        }
    }
}

fn no_secret_in(out: &Output, password: &str) {
    let all = format!("{}{}", stdout(out), stderr(out));
    assert!(!all.contains(password), "the password leaked: {all}");
    assert!(!all.contains("SAMLResponse"), "{all}");
    assert!(
        !all.contains("PHNhbWxw"),
        "a base64 SAML response leaked: {all}"
    );
}

fn delete_cached_credentials(sb: &Sandbox, backend: Backend) {
    use keyfob_core::store::SessionStore as _;
    let store = sb.keychain_of(backend).unwrap();
    assert!(
        store
            .delete(&keyfob_core::store::keys::credentials(PROFILE))
            .unwrap()
    );
}

fn caller_arn_via_botocore(sb: &Sandbox) -> Option<String> {
    let code = "import boto3\ns = boto3.Session(profile_name='corp')\nprint(s.client('sts').get_caller_identity()['Arn'])\nprint(s.get_credentials().method)";
    let out = python(sb, code, &[])?;
    assert_success(&out);
    Some(stdout(&out))
}

// Proof 1 (and 8): the test types alice's password into SimpleSAMLphp's real page; keyfob
// takes the response, answers the POST to AWS itself, and botocore through credential_process
// is assumed-role/Developer/alice at moto.
on_each_backend!(browser_login_types_into_simplesamlphp_and_botocore_gets_developer);
fn browser_login_types_into_simplesamlphp_and_botocore_gets_developer(backend: Backend) {
    let (Some((browser, idp)), Some(moto)) = (peers(), peer("KEYFOB_TEST_MOTO_URL")) else {
        return;
    };
    let s = setup(backend, &browser, &idp, &moto, "");
    assert_eq!(
        s.sb.read_config(),
        format!(
            "[profile corp]\nkeyfob_saml_url = {idp}\nkeyfob_saml_login = browser\n\
             region = us-east-1\ncredential_process = keyfob credential-process --profile corp\n"
        )
    );
    let out = login_typing(&s, "alice", "alicepw", &[]);
    assert_success(&out);
    assert!(
        stderr(&out).contains(&format!("Assumed {DEVELOPER} for profile corp.")),
        "{}",
        stderr(&out)
    );
    no_secret_in(&out, "alicepw");
    assert_eq!(s.sb.stored_keys(), ["creds/corp"], "no password is stored");
    if let Some(arn) = caller_arn_via_botocore(&s.sb) {
        assert_eq!(
            arn,
            "arn:aws:sts::111122223333:assumed-role/Developer/alice\ncustom-process\n"
        );
    }
    assert_eq!(
        s.recorder.lines(),
        Vec::<String>::new(),
        "nothing reached the AWS sign-in host"
    );
    let dir = profile_dir(&s.sb, &idp);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
    assert_no_browser_left(&dir);
}

/// No process still runs with `dir` as its user-data-dir (the browser was closed or killed).
fn assert_no_browser_left(dir: &Path) {
    let needle = format!("--user-data-dir={}", dir.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&needle))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "browser processes left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// Proof 8: nothing of the sign-in reaches the recorder that stands in for
// signin.aws.amazon.com, and that recorder does hear the same browser: after the login, the
// test starts the browser once more as keyfob did (the same wrapper with its host mapping and
// certificate key, the same arguments) and loads an AWS URL, which arrives.
#[test]
fn browser_login_answers_the_aws_post_itself_and_nothing_reaches_aws() {
    let (Some(backend), Some((browser, idp))) = (Backend::any(), peers()) else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let s = setup(backend, &browser, &idp, &fake.url(), "");
    let out = login_typing(&s, "alice", "alicepw", &[]);
    assert_success(&out);
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    let call = fake.last(Op::AssumeRoleWithSaml).unwrap();
    assert_eq!(call.form_field("RoleArn"), Some(DEVELOPER));
    assert_eq!(
        s.recorder.lines(),
        Vec::<String>::new(),
        "the sign-in reached the AWS host"
    );
    probe_the_aws_host(&s);
    assert_eq!(s.recorder.lines(), ["GET /probe"]);
    // A second sign-in (IdP cookie: no typing), now that the recorder is known to listen.
    delete_cached_credentials(&s.sb, backend);
    let out = run_bounded(
        &s.sb,
        &["login", "--profile", PROFILE],
        Duration::from_secs(90),
    );
    assert_success(&out);
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
    assert_eq!(
        s.recorder.lines(),
        ["GET /probe"],
        "the second sign-in reached the AWS host"
    );
}

/// Loads `https://signin.aws.amazon.com/probe` in the browser keyfob runs for this setup (its
/// wrapper and `KEYFOB_BROWSER_ARGS`; a profile directory of its own, as keyfob's restores its
/// last tabs), which prints the page.
fn probe_the_aws_host(s: &Setup) {
    let dir = s.sb.home().join("probe-profile");
    let mut cmd = std::process::Command::new(s.sb.home().join("browser"));
    cmd.args(BROWSER_ARGS)
        .arg(format!("--user-data-dir={}", dir.display()))
        .args(["--dump-dom", "https://signin.aws.amazon.com/probe"])
        .env("HOME", s.sb.home())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = wait_bounded(
        cmd.spawn().expect("start the browser"),
        Duration::from_secs(60),
    );
    assert!(
        stdout(&out).contains("probe"),
        "the browser did not load the AWS URL: {}",
        stderr(&out)
    );
}

// Proof 2: after the cached credentials are deleted, a second login needs no typing: the
// IdP's session cookie lives in keyfob's profile directory.
on_each_backend!(browser_login_a_second_time_needs_no_typing);
fn browser_login_a_second_time_needs_no_typing(backend: Backend) {
    let Some((browser, idp)) = peers() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let s = setup(backend, &browser, &idp, &fake.url(), "");
    assert_success(&login_typing(&s, "alice", "alicepw", &[]));
    assert_eq!(
        s.recorder.lines(),
        Vec::<String>::new(),
        "the first login reached the AWS host"
    );
    delete_cached_credentials(&s.sb, backend);
    assert!(s.sb.stored_keys().is_empty());
    // Nobody types now: a login page would time out (and fail this test) instead.
    let out = run_bounded(
        &s.sb,
        &["login", "--profile", PROFILE, "--browser"],
        Duration::from_secs(90),
    );
    assert_success(&out);
    assert!(
        stderr(&out).contains(&format!("Assumed {DEVELOPER}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.sb.stored_keys(), ["creds/corp"]);
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
    assert_eq!(s.recorder.lines(), Vec::<String>::new());
}

// Proof 4: bob has two roles. --role-arn picks Admin; without it and without a terminal, one
// line lists both.
#[test]
fn browser_login_for_bob_picks_admin_with_role_arn_and_lists_both_roles_without() {
    let (Some(backend), Some((browser, idp))) = (Backend::any(), peers()) else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let s = setup(backend, &browser, &idp, &fake.url(), "");
    let out = login_typing(&s, "bob", "bobpw", &["--role-arn", ADMIN]);
    assert_success(&out);
    assert!(
        stderr(&out).contains(&format!("Assumed {ADMIN} for profile corp.")),
        "{}",
        stderr(&out)
    );
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    assert_eq!(
        fake.last(Op::AssumeRoleWithSaml)
            .unwrap()
            .form_field("RoleArn"),
        Some(ADMIN)
    );
    delete_cached_credentials(&s.sb, backend);
    // bob's IdP session is still there: no typing, and no terminal to pick a role.
    let out = run_bounded(
        &s.sb,
        &["login", "--profile", PROFILE, "--browser"],
        Duration::from_secs(90),
    );
    let line = assert_one_line_error(&out);
    assert!(line.contains(DEVELOPER) && line.contains(ADMIN), "{line}");
    assert!(line.contains("--role-arn"), "{line}");
    assert!(s.sb.stored_keys().is_empty());
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    assert_eq!(s.recorder.lines(), Vec::<String>::new());
}

// Proof 5: credential_process renews through the headless browser while the IdP session is
// valid; once it is gone, one line naming `keyfob login`, and no hang.
on_each_backend!(browser_credential_process_refreshes_headless_until_the_idp_session_is_gone);
fn browser_credential_process_refreshes_headless_until_the_idp_session_is_gone(backend: Backend) {
    let Some((browser, idp)) = peers() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    // One-hour sessions are always inside a 13-hour window: every call refreshes.
    let s = setup(
        backend,
        &browser,
        &idp,
        &fake.url(),
        "keyfob_refresh_window = 13h\n",
    );
    assert_success(&login_typing(&s, "alice", "alicepw", &[]));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    let first = fake.last(Op::AssumeRoleWithSaml).unwrap();

    let out = run_bounded(
        &s.sb,
        &["credential-process", "--profile", PROFILE],
        Duration::from_secs(60),
    );
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(fake.issued_key(json["AccessKeyId"].as_str().unwrap()));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
    assert_ne!(
        first.form_field("SAMLAssertion"),
        fake.last(Op::AssumeRoleWithSaml)
            .unwrap()
            .form_field("SAMLAssertion"),
        "a new sign-in at the IdP, not a replayed assertion"
    );
    no_secret_in(&out, "alicepw");

    // The IdP session ends: its cookie is gone from the profile.
    let dir = profile_dir(&s.sb, &idp);
    assert_no_browser_left(&dir);
    let removed = ["Default/Network/Cookies", "Default/Cookies"]
        .iter()
        .filter(|f| std::fs::remove_file(dir.join(f)).is_ok())
        .count();
    assert!(removed > 0, "the cookie store exists in {}", dir.display());
    let started = Instant::now();
    let out = run_bounded(
        &s.sb,
        &["credential-process", "--profile", PROFILE],
        Duration::from_secs(60),
    );
    let line = assert_one_line_error(&out);
    assert!(line.contains("keyfob login --profile corp"), "{line}");
    assert!(line.contains("person"), "{line}");
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
    assert_no_browser_left(&dir);
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "no hang: the headless run is bounded"
    );
}

// Proof 5, with automatic sign-in on (issue 11): once the IdP session is gone, a
// credential_process that has a display opens the IdP's page in a browser window, the person
// signs in there, and the same call prints the credentials.
on_each_backend!(browser_credential_process_opens_the_login_window_once_the_idp_session_is_gone);
fn browser_credential_process_opens_the_login_window_once_the_idp_session_is_gone(
    backend: Backend,
) {
    use std::io::BufRead as _;
    let Some((browser, idp)) = peers() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut s = setup(backend, &browser, &idp, &fake.url(), "");
    assert_success(&login_typing(&s, "alice", "alicepw", &[]));
    // Cold: no cached credentials, and the IdP session is gone (its cookie deleted).
    delete_cached_credentials(&s.sb, backend);
    let dir = profile_dir(&s.sb, &idp);
    assert_no_browser_left(&dir);
    for f in ["Default/Network/Cookies", "Default/Cookies"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    s.sb.set_env("KEYFOB_AUTO_LOGIN", "1");
    s.sb.set_env("DISPLAY", ":99");
    // No controlling terminal: what keyfob tells the person goes to stderr.
    let mut cmd = s.sb.command("setsid");
    cmd.arg("--wait")
        .arg(bin("keyfob"))
        .args(["credential-process", "--profile", PROFILE]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn setsid keyfob");
    // The headless refresh finds a login page and gives up; then keyfob says it opens a
    // window. Only then does the test play the user (typing into the headless run would not
    // prove the window).
    let stderr_pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr_pipe).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no sign-in window announced; stderr: {said:?}"));
        let opens = line.contains("in the browser window keyfob opened");
        said.push(line);
        if opens {
            break;
        }
    }
    let host = Url::parse(&idp).unwrap().host_str().unwrap().to_owned();
    assert!(
        said.iter()
            .any(|l| l.contains(&format!("profile corp needs you to sign in at {host}"))),
        "{said:?}"
    );
    let player = play_user(dir.clone(), "alice", "alicepw");
    let out = finish_typing(child, player);
    said.extend(rx.try_iter());
    assert!(out.status.success(), "credential-process failed: {said:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(fake.issued_key(json["AccessKeyId"].as_str().unwrap()));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
    let all = format!("{}{}", stdout(&out), said.join("\n"));
    assert!(!all.contains("alicepw"), "{all}");
    assert!(!all.contains("SAMLResponse"), "{all}");
    assert_no_browser_left(&dir);
    assert_eq!(s.recorder.lines(), Vec::<String>::new());
}

// Proof 6: 20 concurrent cold credential_process calls make one browser run and one
// AssumeRoleWithSAML, and all 20 get valid JSON.
on_each_backend!(browser_twenty_concurrent_cold_credential_processes_make_one_browser_run);
fn browser_twenty_concurrent_cold_credential_processes_make_one_browser_run(backend: Backend) {
    let Some((browser, idp)) = peers() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut s = setup(backend, &browser, &idp, &fake.url(), "");
    assert_success(&login_typing(&s, "alice", "alicepw", &[]));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    delete_cached_credentials(&s.sb, backend);

    // A wrapper around the sandbox's browser that counts its starts.
    let starts = s.sb.home().join("browser-starts");
    let counting = s.sb.home().join("counting-browser");
    write_script(
        &counting,
        &format!(
            "#!/bin/sh\necho start >> '{}'\nexec '{}' \"$@\"\n",
            starts.display(),
            s.sb.home().join("browser").display()
        ),
    );
    s.sb.set_env("KEYFOB_BROWSER", &counting.display().to_string());

    let children: Vec<_> = (0..20)
        .map(|_| {
            let mut c = s.sb.keyfob(&["credential-process", "--profile", PROFILE]);
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| wait_bounded(c, Duration::from_secs(120)))
        .collect();
    let mut keys = std::collections::BTreeSet::new();
    for out in &outs {
        assert_success(out);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["Version"], 1);
        keys.insert(json["AccessKeyId"].as_str().unwrap().to_owned());
    }
    assert_eq!(keys.len(), 1, "all 20 got the one refresh's credentials");
    assert_eq!(
        fake.count(Op::AssumeRoleWithSaml),
        2,
        "one AssumeRoleWithSAML"
    );
    let runs = std::fs::read_to_string(&starts).unwrap_or_default();
    assert_eq!(runs.lines().count(), 1, "one browser run");
    assert_eq!(s.recorder.lines(), Vec::<String>::new());
}

// Proof 7: no browser anywhere: one line naming KEYFOB_BROWSER and the form login.
#[test]
fn browser_login_without_a_browser_names_keyfob_browser_and_the_form_login() {
    let (Some(backend), Some(idp)) = (Backend::any(), peer("KEYFOB_TEST_SAML_IDP_URL")) else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    let out = sb.run(&["configure", "saml", PROFILE, "--url", &idp, "--browser"]);
    assert_success(&out);
    // Only keyfob's own directory on PATH: no chromium, chrome, edge or brave.
    let bin_dir = bin("keyfob").parent().unwrap().display().to_string();
    sb.set_env("PATH", &bin_dir);
    for args in [
        &["login", "--profile", PROFILE][..],
        &["credential-process", "--profile", PROFILE][..],
    ] {
        let line = assert_one_line_error(&sb.run(args));
        assert!(line.contains("KEYFOB_BROWSER"), "{line}");
        assert!(
            line.contains("keyfob configure saml corp --url URL"),
            "{line}"
        );
        assert!(line.contains("without --browser"), "{line}");
    }
    sb.set_env("KEYFOB_BROWSER", "/nonexistent/chrome");
    let line = assert_one_line_error(&sb.run(&["login", "--profile", PROFILE]));
    assert!(
        line.contains("/nonexistent/chrome does not exist"),
        "{line}"
    );
    assert!(sb.stored_keys().is_empty());
}

/// A login page built by JavaScript in front of the IdP: `/start` has no form in its HTML;
/// its script builds one that posts to `/auth`, which for alice's password answers with the
/// auto-submitting form SimpleSAMLphp makes (a real signed response for alice), to the AWS
/// sign-in URL.
fn js_login_server(saml_response: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = vec![0u8; 65536];
            let mut len = 0;
            // Read the head and (for a POST) the body.
            while let Ok(n) = s.read(&mut buf[len..]) {
                if n == 0 {
                    break;
                }
                len += n;
                let text = String::from_utf8_lossy(&buf[..len]).into_owned();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let want = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if len >= head_end + 4 + want {
                        break;
                    }
                }
            }
            let req = String::from_utf8_lossy(&buf[..len]).into_owned();
            let body = if req.starts_with("GET /start") {
                JS_PAGE.to_owned()
            } else if req.starts_with("POST /auth") && req.contains("password=alicepw") {
                format!(
                    "<html><body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"https://signin.aws.amazon.com/saml\">\
                     <input type=\"hidden\" name=\"SAMLResponse\" value=\"{saml_response}\"></form></body></html>"
                )
            } else {
                "<html><body>no</body></html>".to_owned()
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

const JS_PAGE: &str = r#"<!doctype html><html><head><title>Sign in</title></head><body>
<div id="app">Loading…</div>
<script>
setTimeout(() => {
  const f = document.createElement('form');
  f.method = 'post'; f.action = '/auth';
  for (const [name, type] of [['username', 'text'], ['password', 'password']]) {
    const i = document.createElement('input'); i.name = name; i.type = type; f.appendChild(i);
  }
  const b = document.createElement('button'); b.type = 'submit'; b.textContent = 'Sign in';
  f.appendChild(b);
  const app = document.getElementById('app'); app.textContent = ''; app.appendChild(f);
}, 300);
</script></body></html>"#;

// Proof 3: a login page built by JavaScript: the form engine fails with one clear line; the
// browser login signs in.
#[test]
fn browser_login_signs_in_where_the_login_form_is_built_by_javascript() {
    let (Some(backend), Some((browser, idp))) = (Backend::any(), peers()) else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = rt
        .block_on(keyfob_saml::IdpClient::default().login(
            &idp,
            "alice",
            &keyfob_core::Secret::new("alicepw"),
            None,
        ))
        .unwrap();
    let port = js_login_server(response.base64.expose().to_owned());
    let front = format!("http://127.0.0.1:{port}/start");

    // The form engine finds no form in the page's HTML.
    let mut form = Sandbox::new(backend);
    form.set_env("AWS_ENDPOINT_URL_STS", &fake.url());
    assert_success(&form.run(&[
        "configure",
        "saml",
        PROFILE,
        "--url",
        &front,
        "--username",
        "alice",
    ]));
    let line = assert_one_line_error(&form.run_with_stdin(
        &["login", "--profile", PROFILE, "--password-stdin"],
        "alicepw\n",
    ));
    assert!(!line.contains("alicepw"), "{line}");
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 0);

    // The browser runs the script, the test types, keyfob captures.
    let s = setup(backend, &browser, &front, &fake.url(), "");
    let out = login_typing(&s, "alice", "alicepw", &[]);
    assert_success(&out);
    assert!(
        stderr(&out).contains(&format!("Assumed {DEVELOPER}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    assert_eq!(s.recorder.lines(), Vec::<String>::new());
}
