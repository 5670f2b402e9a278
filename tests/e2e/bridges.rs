//! Issue 5: the bridges for clients that cannot read the profiles — `export`, `exec`, the
//! container and IMDS credential server (`serve`), console sign-in, `whoami`, completions —
//! and the resolution of any profile under them (source_profile chains at moto's STS,
//! credential_source, loops, expired upstream sessions), with botocore and the Rust aws-config
//! as the clients.

use crate::support::*;
use keyfob_tests::fake::{FakeAws, FakeConfig, Grant, InjectedFailure, Op};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

const MOTO_ACCOUNT: &str = "111122223333";

/// `MyRole` assumed at moto with the keys of `base`, which keyfob holds.
const ROLE_CONFIG: &str = "[profile MyRole]\nrole_arn = arn:aws:iam::111122223333:role/MyRole\nsource_profile = base\nrole_session_name = e2e\nregion = us-east-1\n\
[profile Chained]\nrole_arn = arn:aws:iam::111122223333:role/Chained\nsource_profile = MyRole\nrole_session_name = chained\nregion = us-east-1\n";

const MY_ROLE_ARN: &str = "arn:aws:sts::111122223333:assumed-role/MyRole/e2e";

fn moto_sandbox() -> Option<Sandbox> {
    let backend = Backend::any()?;
    let moto = peer("KEYFOB_TEST_MOTO_URL")?;
    let mut sb = Sandbox::new(backend);
    sb.write_config(ROLE_CONFIG);
    sb.add_user("base", AKID, SECRET);
    sb.set_env("AWS_ENDPOINT_URL_STS", &moto);
    Some(sb)
}

/// A sandbox whose `base` is the fake's static IAM user, with the fake as every endpoint.
fn fake_sandbox(backend: Backend, fake: &FakeAws, extra_config: &str) -> Sandbox {
    let mut sb = Sandbox::new(backend);
    sb.write_config(extra_config);
    let user = fake.static_user();
    sb.add_user("base", &user.access_key_id, &user.secret_access_key);
    for (k, v) in fake.endpoint_env() {
        sb.set_env(k, &v);
    }
    sb
}

/// An empty file, to give a client no profiles at all.
fn empty_file(sb: &Sandbox, name: &str) -> String {
    let p = sb.home().join(name);
    std::fs::write(&p, "").unwrap();
    p.display().to_string()
}

// ---------------------------------------------------------------------------------------------
// `keyfob serve` as a child process

struct Served {
    child: Child,
    vars: BTreeMap<String, String>,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `keyfob serve ARGS` and reads the `export` lines it prints; `Err` with its
    /// stderr when it exits instead.
    fn start(sb: &Sandbox, args: &[&str]) -> Result<Served, String> {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        let mut child = sb
            .keyfob(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keyfob serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut vars = BTreeMap::new();
        while vars.len() < 2 {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.wait();
                std::thread::sleep(std::time::Duration::from_millis(100));
                return Err(stderr.lock().unwrap().clone());
            }
            let (k, v) = line
                .trim()
                .strip_prefix("export ")
                .and_then(|kv| kv.split_once('='))
                .unwrap_or_else(|| panic!("not an export line: {line:?}"));
            // A path is single-quoted when it needs it; the tests' paths have no quote inside.
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(v);
            vars.insert(k.to_owned(), v.to_owned());
        }
        Ok(Served {
            child,
            vars,
            stderr,
        })
    }

    fn var(&self, k: &str) -> &str {
        &self.vars[k]
    }

    fn url(&self) -> String {
        self.vars
            .get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .or_else(|| self.vars.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
            .cloned()
            .unwrap()
    }

    /// What the server logged so far.
    fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `127.0.0.1:PORT`.
    fn addr(&self) -> String {
        let u = url::Url::parse(&self.url()).unwrap();
        format!("{}:{}", u.host_str().unwrap(), u.port().unwrap())
    }

    fn port(&self) -> u16 {
        url::Url::parse(&self.url()).unwrap().port().unwrap()
    }

    /// Waits (at most 60 s) until the server has logged `text`.
    fn wait_for_log(&self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self.logs().contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "the server never logged {text:?}: {}",
                self.logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Stops the server as Ctrl-C in a terminal or a service manager would (SIGTERM), and
    /// waits (at most 60 s) for it to exit.
    #[cfg(unix)]
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "keyfob serve did not stop on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request; the status and the body. A `Host` in `headers` replaces the URL's
/// (`("Host", "")` leaves it out), and so does a `Content-Length`.
fn http(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let u = url::Url::parse(url).unwrap();
    let addr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    let mut path = u.path().to_owned();
    if let Some(q) = u.query() {
        path = format!("{path}?{q}");
    }
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    let given = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !given("host") {
        let _ = write!(req, "Host: {addr}\r\n");
    }
    if !given("content-length") && !given("transfer-encoding") {
        req.push_str("Content-Length: 0\r\n");
    }
    for (k, v) in headers.iter().filter(|(_, v)| !v.is_empty()) {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    raw_http(&addr, req.as_bytes())
}

/// Sends `request` as it is on a new connection; the status of the answer (0 for none) and
/// its body.
fn raw_http(addr: &str, request: &[u8]) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    // A server that answers before reading everything may close first: its answer still counts.
    let _ = stream.write_all(request);
    read_answer(&mut stream)
}

/// Reads an answer until the server closes the connection (or resets it: what arrived counts).
fn read_answer(stream: &mut std::net::TcpStream) -> (u16, String) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
    let resp = String::from_utf8_lossy(&bytes);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn ecs_credentials(served: &Served) -> serde_json::Value {
    let (status, body) = http(
        "GET",
        &served.url(),
        &[(
            "Authorization",
            served.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        )],
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

// ---------------------------------------------------------------------------------------------
// serve

#[test]
fn botocore_and_aws_config_read_credentials_from_serve() {
    let Some(sb) = moto_sandbox() else { return };
    let served = Served::start(&sb, &["--profile", "MyRole"]).unwrap();
    let uri = served.url();
    assert!(uri.starts_with("http://127.0.0.1:"), "{uri}");
    let token = served.var("AWS_CONTAINER_AUTHORIZATION_TOKEN").to_owned();
    assert_eq!(token.len(), 64, "32 random bytes, hex");
    let container = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.as_str()),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_REGION", "us-east-1"),
    ];
    let code = "import boto3\ns = boto3.Session()\nprint(s.client('sts').get_caller_identity()['Arn'])\nprint(s.get_credentials().method)";
    if let Some(out) = python(&sb, code, &container) {
        assert_success(&out);
        assert_eq!(stdout(&out), format!("{MY_ROLE_ARN}\ncontainer-role\n"));
    }
    let mut probe = sb.command(bin("keyfob-sdk-probe"));
    probe.envs(container);
    let out = probe.output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), format!("{MY_ROLE_ARN}\n"));
    let logs = served.logs();
    assert!(!logs.contains(&token), "the token is never logged: {logs}");
}

#[test]
fn serve_refuses_a_wrong_or_missing_token_and_never_logs_secrets() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    let served = Served::start(&sb, &["-vvv", "--profile", "base"]).unwrap();
    let url = served.url();
    let token = served.var("AWS_CONTAINER_AUTHORIZATION_TOKEN").to_owned();
    assert_eq!(http("GET", &url, &[]).0, 403);
    assert_eq!(
        http("GET", &url, &[("Authorization", "not-the-token")]).0,
        403
    );
    assert_eq!(
        http(
            "GET",
            &url,
            &[("Authorization", &format!("Bearer {token}"))]
        )
        .0,
        403
    );
    assert_eq!(
        http("GET", &format!("{url}other"), &[("Authorization", &token)]).0,
        404
    );
    let creds = ecs_credentials(&served);
    // Long-term keys never leave: the server hands out a GetSessionToken session bought with them.
    let akid = creds["AccessKeyId"].as_str().unwrap();
    assert_ne!(akid, fake.static_user().access_key_id);
    assert!(fake.issued_key(akid));
    assert_eq!(fake.count(Op::GetSessionToken), 1);
    for key in ["SecretAccessKey", "Token", "Expiration"] {
        assert!(
            creds[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key}: {creds}"
        );
    }
    let logs = served.logs();
    assert!(logs.contains("request"), "-vvv logs requests: {logs}");
    for secret in [
        token.as_str(),
        creds["SecretAccessKey"].as_str().unwrap(),
        creds["Token"].as_str().unwrap(),
        &fake.static_user().secret_access_key,
    ] {
        assert!(!logs.contains(secret), "a secret reached the log: {logs}");
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 8.4: the server answers only local SDKs

/// `keyfob serve ARGS` for the static user of `fake` (GetSessionToken sessions).
fn serve_fake_base(sb: &Sandbox, args: &[&str]) -> Served {
    let mut all = args.to_vec();
    all.extend(["--profile", "base"]);
    Served::start(sb, &all).unwrap()
}

/// An IMDSv2 session token `PUT` with `headers` added; the status and the body.
fn imds_put_token(served: &Served, ttl: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut all = vec![("X-aws-ec2-metadata-token-ttl-seconds", ttl)];
    all.extend_from_slice(headers);
    http("PUT", &format!("{}latest/api/token", served.url()), &all)
}

fn imds_roles_url(served: &Served) -> String {
    format!("{}latest/meta-data/iam/security-credentials/", served.url())
}

#[test]
fn serve_answers_only_requests_addressed_to_its_own_loopback_host() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    for imds in [false, true] {
        let served = serve_fake_base(&sb, if imds { &["--imds"] } else { &[] });
        let port = served.port();
        // What a web page that rebinds its own name to 127.0.0.1 sends, and other strangers.
        let refused = [
            format!("evil.example:{port}"),
            format!("rebind.evil.example:{port}"),
            format!("localhost.evil.example:{port}"),
            format!("127.0.0.1.nip.io:{port}"),
            format!("192.168.1.10:{port}"),
            format!("localhost:{}", port.wrapping_add(1)),
            format!("127.0.0.1:{}", port.wrapping_add(1)),
            format!("127.0.0.1:{port}, evil.example:{port}"),
        ];
        let allowed = [
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("127.0.0.2:{port}"),
            format!("[::1]:{port}"),
        ];
        let ask = |host: &str| -> (u16, String) {
            if imds {
                imds_put_token(&served, "60", &[("Host", host)])
            } else {
                http(
                    "GET",
                    &served.url(),
                    &[
                        ("Host", host),
                        (
                            "Authorization",
                            served.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
                        ),
                    ],
                )
            }
        };
        for host in &refused {
            let (status, body) = ask(host);
            assert_eq!(status, 403, "imds {imds}, Host {host}: {body}");
            assert!(
                !body.contains("SecretAccessKey") && body.len() < 200,
                "{body}"
            );
        }
        // No Host at all (HTTP/1.0 style).
        assert_eq!(ask("").0, 403, "imds {imds}, no Host");
        // An absolute request target naming another host, with a loopback Host.
        let (status, _) = raw_http(
            &served.addr(),
            format!(
                "GET http://evil.example:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(status, 403, "imds {imds}, absolute target");
        // Two Hosts, the first one right.
        let (status, _) = raw_http(
            &served.addr(),
            format!(
                "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(status, 403, "imds {imds}, two Host headers");
        for host in &allowed {
            let (status, body) = ask(host);
            assert_eq!(status, 200, "imds {imds}, Host {host}: {body}");
        }
        if imds {
            // A valid session token does not help a request for another host.
            let token = imds_put_token(&served, "60", &[]).1;
            let with = |host: &str| {
                http(
                    "GET",
                    &imds_roles_url(&served),
                    &[("Host", host), ("X-aws-ec2-metadata-token", &token)],
                )
                .0
            };
            assert_eq!(with(&refused[0]), 403);
            assert_eq!(with(&allowed[0]), 200);
        }
        let logs = served.logs();
        assert!(!logs.contains("SecretAccessKey"), "{logs}");
    }
}

#[test]
fn serve_closes_a_connection_that_sends_its_headers_too_slowly() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    // -vv: the server says why it closed the connection.
    let served = serve_fake_base(&sb, &["-vv"]);
    // One connection that never sends a byte, one that sends its headers a line a second.
    let mut idle = std::net::TcpStream::connect(served.addr()).unwrap();
    let mut slow = std::net::TcpStream::connect(served.addr()).unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(1)))
        .unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    // A slowloris client: one more header line a second, never the blank line that ends them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    for line in 0.. {
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a client that never finishes its headers was kept for 60 s"
        );
        if slow
            .write_all(format!("X-Slow-{line}: 1\r\n").as_bytes())
            .is_err()
        {
            break;
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains(" 200 "), "{answer}");
    served.wait_for_log("read header from client timeout");
    // The idle one is closed too (by now, or within 60 s): read gives end of file.
    idle.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    assert!(
        matches!(idle.read(&mut buf), Ok(0)),
        "an idle connection is closed"
    );
    // The server itself is fine.
    ecs_credentials(&served);
}

#[test]
fn serve_lets_connections_beyond_its_cap_wait_until_others_close() {
    /// `server::MAX_CONNECTIONS`.
    const CAP: usize = 64;
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    let served = serve_fake_base(&sb, &[]);
    let idle: Vec<std::net::TcpStream> = (0..CAP)
        .map(|_| std::net::TcpStream::connect(served.addr()).unwrap())
        .collect();
    served.wait_for_log(&format!("{CAP} connections are open"));
    let mut extra = std::net::TcpStream::connect(served.addr()).unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        served.addr(),
        served.var("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    );
    extra.write_all(request.as_bytes()).unwrap();
    extra
        .set_read_timeout(Some(std::time::Duration::from_secs(1)))
        .unwrap();
    let mut byte = [0u8; 1];
    match extra.read(&mut byte) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!(
            "connection {} was served while {CAP} were open: {other:?}",
            CAP + 1
        ),
    }
    // Once the others are gone, the waiting one is served, and so is everyone after it.
    drop(idle);
    extra
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let (status, body) = read_answer(&mut extra);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("SecretAccessKey"), "{body}");
    ecs_credentials(&served);
}

#[test]
fn serve_refuses_request_bodies_it_does_not_need_and_oversized_headers() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    let served = serve_fake_base(&sb, &[]);
    let token = served.var("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    let url = served.url();
    let (status, body) = http(
        "GET",
        &url,
        &[("Authorization", token), ("Content-Length", "1048576")],
    );
    assert_eq!(status, 413, "{body}");
    assert!(!body.contains("SecretAccessKey"), "{body}");
    let (status, _) = http(
        "GET",
        &url,
        &[("Authorization", token), ("Transfer-Encoding", "chunked")],
    );
    assert_eq!(status, 411, "a body of unknown length");
    let imds = serve_fake_base(&sb, &["--imds"]);
    assert_eq!(
        imds_put_token(&imds, "60", &[("Content-Length", "1025")]).0,
        413
    );
    assert_eq!(
        imds_put_token(&imds, "60", &[("Content-Length", "0")]).0,
        200
    );
    // Request heads are bounded too (16 KiB).
    let huge = "x".repeat(32 * 1024);
    let (status, _) = http(
        "GET",
        &url,
        &[("Authorization", token), ("X-Padding", &huge)],
    );
    assert_eq!(status, 431, "a 32 KiB header");
    ecs_credentials(&served);
}

#[cfg(unix)]
#[test]
fn serve_token_file_is_private_and_read_by_botocore_and_aws_config() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(sb) = moto_sandbox() else { return };
    let dir = sb.home().join("run");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("keyfob-token");
    // A file the user left there, readable by all: replaced by a private one.
    std::fs::write(&path, "stale").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path_text = path.display().to_string();
    let mut served =
        Served::start(&sb, &["--profile", "MyRole", "--token-file", &path_text]).unwrap();
    assert_eq!(
        served.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        path_text
    );
    assert!(
        !served
            .vars
            .contains_key("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        "the token is not printed: {:?}",
        served.vars
    );
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(&path).unwrap();
    assert_eq!(token.len(), 64, "the bare token, no newline: {token:?}");
    let (status, _) = http("GET", &served.url(), &[("Authorization", &token)]);
    assert_eq!(status, 200);

    let uri = served.url();
    let container = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path_text.as_str()),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_REGION", "us-east-1"),
    ];
    let code = "import boto3\ns = boto3.Session()\nprint(s.client('sts').get_caller_identity()['Arn'])\nprint(s.get_credentials().method)";
    if let Some(out) = python(&sb, code, &container) {
        assert_success(&out);
        assert_eq!(stdout(&out), format!("{MY_ROLE_ARN}\ncontainer-role\n"));
    }
    let mut probe = sb.command(bin("keyfob-sdk-probe"));
    probe.envs(container);
    let out = probe.output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), format!("{MY_ROLE_ARN}\n"));
    assert!(!served.logs().contains(&token), "the token is never logged");

    assert!(served.terminate().success(), "{}", served.logs());
    assert!(!path.exists(), "the token file is removed on exit");
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[cfg(unix)]
#[test]
fn serve_token_file_is_never_written_through_a_symlink_or_over_a_non_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    let target = sb.home().join("precious");
    std::fs::write(&target, "keep me").unwrap();
    let symlink = sb.home().join("token-link");
    std::os::unix::fs::symlink(&target, &symlink).unwrap();
    let dangling = sb.home().join("dangling-link");
    std::os::unix::fs::symlink(sb.home().join("nowhere"), &dangling).unwrap();
    let read_only = sb.home().join("read-only");
    std::fs::write(&read_only, "mine").unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
    let cases = [
        (symlink.clone(), "symlink"),
        (dangling.clone(), "symlink"),
        (sb.home().join(".aws"), "not a regular file"),
        (read_only.clone(), "read-only"),
        (
            sb.home().join("no-such-dir/token"),
            "directory does not exist",
        ),
    ];
    for (path, why) in &cases {
        let path_text = path.display().to_string();
        let line = assert_one_line_error(&sb.run(&[
            "serve",
            "--profile",
            "base",
            "--token-file",
            &path_text,
        ]));
        assert!(line.contains(&path_text) && line.contains(why), "{line}");
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    assert_eq!(std::fs::read_to_string(&read_only).unwrap(), "mine");
    assert!(!sb.home().join("nowhere").exists());
    assert_eq!(
        fake.count(Op::GetSessionToken),
        0,
        "refused before anything was resolved"
    );
    // IMDS has no token to write.
    let out = sb.run(&[
        "serve",
        "--imds",
        "--token-file",
        "/tmp/x",
        "--profile",
        "base",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn serve_answers_a_failing_source_in_one_line_and_keeps_serving() {
    let Some(backend) = Backend::any() else {
        return;
    };
    // Ten-minute role sessions are inside the refresh window: every request resolves again.
    let fake = FakeAws::start(FakeConfig {
        credential_lifetime_secs: 600,
        ..FakeConfig::default()
    })
    .unwrap();
    let sb = fake_sandbox(
        backend,
        &fake,
        "[profile dev-role]\nrole_arn = arn:aws:iam::123456789012:role/Dev\nsource_profile = base\nrole_session_name = serve-e2e\n",
    );
    for imds in [false, true] {
        let mut args = vec!["--profile", "dev-role"];
        if imds {
            args.push("--imds");
        }
        let served = Served::start(&sb, &args).unwrap();
        let get = || -> (u16, String) {
            if imds {
                let token = imds_put_token(&served, "60", &[]).1;
                http(
                    "GET",
                    &format!("{}dev-role", imds_roles_url(&served)),
                    &[("X-aws-ec2-metadata-token", &token)],
                )
            } else {
                http(
                    "GET",
                    &served.url(),
                    &[(
                        "Authorization",
                        served.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
                    )],
                )
            }
        };
        assert_eq!(
            get().0,
            200,
            "imds {imds}: the credentials resolved at start"
        );
        // A hostile message: two lines, to see that the answer keeps to one.
        fake.inject(InjectedFailure {
            op: Op::AssumeRole,
            status: 403,
            count: 1,
            code: Some("AccessDenied".to_owned()),
            message: Some("not authorized to assume Dev\nsecond line".to_owned()),
            retry_after_ms: None,
        });
        let before = fake.count(Op::AssumeRole);
        let (status, body) = get();
        assert_eq!(fake.count(Op::AssumeRole), before + 1);
        assert_eq!(status, 500, "imds {imds}: {body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["Code"], "CredentialsUnavailable", "{doc}");
        let message = doc["Message"].as_str().unwrap();
        assert!(!message.contains('\n'), "one line: {message:?}");
        assert!(
            message.contains("AccessDenied") || message.contains("not authorized"),
            "{message}"
        );
        assert!(!body.contains("SecretAccessKey"), "{body}");
        // The server is still up and resolves again on the next request.
        let (status, body) = get();
        assert_eq!(status, 200, "imds {imds}: {body}");
        assert_eq!(fake.count(Op::AssumeRole), before + 2);
        assert!(
            served.logs().contains("cannot serve credentials"),
            "{}",
            served.logs()
        );
    }
}

#[test]
fn serve_hands_out_fresh_role_credentials_as_they_expire_without_restarting() {
    let Some(backend) = Backend::any() else {
        return;
    };
    // Ten-minute role sessions are inside the 15-minute refresh window at once.
    let fake = FakeAws::start(FakeConfig {
        credential_lifetime_secs: 600,
        ..FakeConfig::default()
    })
    .unwrap();
    let sb = fake_sandbox(
        backend,
        &fake,
        "[profile dev-role]\nrole_arn = arn:aws:iam::123456789012:role/Dev\nsource_profile = base\nrole_session_name = serve-e2e\n",
    );
    let served = Served::start(&sb, &["--profile", "dev-role"]).unwrap();
    let first = ecs_credentials(&served);
    let second = ecs_credentials(&served);
    assert_ne!(first["AccessKeyId"], second["AccessKeyId"]);
    assert_eq!(fake.count(Op::AssumeRole), 2, "one at start, one refresh");
    for c in [&first, &second] {
        assert!(fake.issued_key(c["AccessKeyId"].as_str().unwrap()));
    }
}

/// The SSO profile of `sso_sandbox`, served in-process from keyfob's token cache.
fn sso_sandbox(backend: Backend, fake: &FakeAws) -> Sandbox {
    let mut sb = Sandbox::new(backend);
    sb.write_config(&format!(
        "[sso-session acme]\nsso_start_url = {}/start\nsso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n\n\
         [profile dev]\nkeyfob_sso_session = acme\nkeyfob_sso_account_id = 111100000001\nkeyfob_sso_role_name = Admin\nregion = eu-west-1\ncredential_process = keyfob credential-process --profile dev\n\n\
         [profile on-sso]\nrole_arn = arn:aws:iam::111100000001:role/Deploy\nsource_profile = dev\n",
        fake.url()
    ));
    for (k, v) in fake.endpoint_env() {
        sb.set_env(k, &v);
    }
    assert_success(&sb.run(&[
        "login",
        "--sso-session",
        "acme",
        "--use-device-code",
        "--no-browser",
    ]));
    sb
}

/// keyfob's default refresh window, in seconds: credentials with less left are fetched again.
const REFRESH_WINDOW_SECS: i64 = 15 * 60;

/// How far past the refresh window the fake's credentials last when a test shows an expiry-driven
/// refresh: the time it has to show they are served from memory, and then waits out.
const PAST_WINDOW_SECS: i64 = 15;

/// When credentials with this `Expiration` enter the default refresh window. The JSON has whole
/// seconds, cut down: the real moment is at most a second later.
fn enters_window(creds: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    let expiration = creds["Expiration"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(expiration)
        .unwrap()
        .with_timezone(&chrono::Utc)
        - chrono::Duration::seconds(REFRESH_WINDOW_SECS)
}

/// Asserts that `t` is still ahead: what the test observed before it happened outside the
/// refresh window.
#[track_caller]
fn assert_before(t: chrono::DateTime<chrono::Utc>) {
    assert!(
        chrono::Utc::now() < t,
        "precondition: the credentials entered the refresh window before the test could check that they are served from memory ({PAST_WINDOW_SECS} s: is the machine overloaded?)"
    );
}

/// Sleeps until two seconds after `t`.
fn sleep_past(t: chrono::DateTime<chrono::Utc>) {
    let left = t + chrono::Duration::seconds(2) - chrono::Utc::now();
    if let Ok(left) = left.to_std() {
        std::thread::sleep(left);
    }
}

#[test]
fn serve_refreshes_sso_role_credentials_from_the_token_cache() {
    let Some(backend) = Backend::any() else {
        return;
    };
    // Outside the refresh window for PAST_WINDOW_SECS, then inside it.
    let fake = FakeAws::start(FakeConfig {
        credential_lifetime_secs: REFRESH_WINDOW_SECS + PAST_WINDOW_SECS,
        ..FakeConfig::default()
    })
    .unwrap();
    fake.configure(|c| c.device.auto_approve = true);
    let sb = sso_sandbox(backend, &fake);
    assert_eq!(fake.count(Op::GetRoleCredentials), 0, "login fetches none");
    let served = Served::start(&sb, &["--profile", "dev"]).unwrap();
    assert_eq!(fake.count(Op::GetRoleCredentials), 1, "resolved at start");
    let a = ecs_credentials(&served);
    let b = ecs_credentials(&served);
    let refresh_at = enters_window(&a);
    assert_before(refresh_at);
    assert_eq!(a["AccessKeyId"], b["AccessKeyId"]);
    assert_eq!(
        fake.count(Op::GetRoleCredentials),
        1,
        "outside the refresh window the server answers from memory"
    );

    sleep_past(refresh_at);
    let c = ecs_credentials(&served);
    assert_ne!(a["AccessKeyId"], c["AccessKeyId"]);
    assert_eq!(
        fake.count(Op::GetRoleCredentials),
        2,
        "inside the refresh window the next request fetches once, with the cached SSO token"
    );
    assert!(fake.issued_key(c["AccessKeyId"].as_str().unwrap()));
    let d = ecs_credentials(&served);
    assert_eq!(c["AccessKeyId"], d["AccessKeyId"]);
    assert_eq!(fake.count(Op::GetRoleCredentials), 2, "and not again");
    assert_eq!(
        fake.count_grant(Grant::RefreshToken),
        0,
        "the token was still valid"
    );
}

#[test]
fn an_expired_upstream_session_names_the_link_and_the_login_command() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    fake.configure(|c| c.device.auto_approve = true);
    let sb = sso_sandbox(backend, &fake);
    assert_success(&sb.run(&["logout", "--sso-session", "acme"]));
    let line = assert_one_line_error(&sb.run(&["export", "--profile", "on-sso"]));
    assert!(line.contains("on-sso → dev"), "{line}");
    assert!(line.contains("keyfob login --sso-session acme"), "{line}");
    let line = assert_one_line_error(&sb.run(&["serve", "--profile", "dev"]));
    assert!(line.contains("keyfob login --sso-session acme"), "{line}");
}

#[test]
fn serve_on_a_port_in_use_is_one_line() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let line = assert_one_line_error(&sb.run(&["serve", "--profile", "base", "--port", &port]));
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert!(line.contains("in use"), "{line}");
}

#[test]
fn imds_serves_botocore_and_aws_config_with_a_session_token() {
    let Some(sb) = moto_sandbox() else { return };
    let served = Served::start(&sb, &["--imds", "--profile", "MyRole"]).unwrap();
    let url = served.url();
    assert_eq!(served.var("AWS_EC2_METADATA_DISABLED"), "false");
    let roles = format!("{url}latest/meta-data/iam/security-credentials/");
    assert_eq!(http("GET", &roles, &[]).0, 401, "a token is required");
    assert_eq!(http("PUT", &format!("{url}latest/api/token"), &[]).0, 400);
    let (status, token) = http(
        "PUT",
        &format!("{url}latest/api/token"),
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    );
    assert_eq!(status, 200);
    let token = token.trim().to_owned();
    let (status, role) = http("GET", &roles, &[("X-aws-ec2-metadata-token", &token)]);
    assert_eq!((status, role.trim()), (200, "MyRole"));
    let (status, body) = http(
        "GET",
        &format!("{roles}MyRole"),
        &[("X-aws-ec2-metadata-token", &token)],
    );
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["Code"], "Success");
    assert_eq!(doc["Type"], "AWS-HMAC");

    let config = empty_file(&sb, "empty-config");
    let creds_file = empty_file(&sb, "empty-credentials");
    let imds = [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "false"),
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", creds_file.as_str()),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_REGION", "us-east-1"),
    ];
    let code = "import boto3\ns = boto3.Session()\nprint(s.client('sts').get_caller_identity()['Arn'])\nprint(s.get_credentials().method)";
    if let Some(out) = python(&sb, code, &imds) {
        assert_success(&out);
        assert_eq!(stdout(&out), format!("{MY_ROLE_ARN}\niam-role\n"));
    }
    let mut probe = sb.command(bin("keyfob-sdk-probe"));
    probe.envs(imds);
    let out = probe.output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), format!("{MY_ROLE_ARN}\n"));
}

#[test]
fn imds_refuses_session_token_requests_that_came_through_a_proxy() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    let served = serve_fake_base(&sb, &["--imds"]);
    let (status, body) = imds_put_token(&served, "60", &[("X-Forwarded-For", "203.0.113.9")]);
    assert_eq!(status, 403, "{body}");
    assert!(
        body.len() < 100 && !body.chars().all(|c| c.is_ascii_hexdigit()),
        "{body}"
    );
    let (status, token) = imds_put_token(&served, "60", &[]);
    assert_eq!(status, 200);
    assert_eq!(token.len(), 64);
}

#[test]
fn imds_session_tokens_stop_working_after_their_ttl() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    let served = serve_fake_base(&sb, &["--imds"]);
    let (status, short) = imds_put_token(&served, "1", &[]);
    assert_eq!(status, 200);
    let (status, long) = imds_put_token(&served, "60", &[]);
    assert_eq!(status, 200);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let roles = |token: &str| {
        http(
            "GET",
            &imds_roles_url(&served),
            &[("X-aws-ec2-metadata-token", token)],
        )
        .0
    };
    assert_eq!(roles(&short), 401, "a 1-second token, 2.5 s later");
    assert_eq!(roles(&long), 200, "a 60-second token, 2.5 s later");
    for ttl in ["0", "21601", "-1", "soon"] {
        assert_eq!(imds_put_token(&served, ttl, &[]).0, 400, "ttl {ttl}");
    }
    assert_eq!(imds_put_token(&served, "21600", &[]).0, 200);
}

#[test]
fn imds_keeps_at_most_1024_session_tokens_and_drops_the_oldest() {
    /// `server::IMDS_MAX_TOKENS`.
    const CAP: usize = 1024;
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    let served = serve_fake_base(&sb, &["--imds"]);
    let tokens: Vec<String> = (0..=CAP)
        .map(|_| {
            let (status, token) = imds_put_token(&served, "600", &[]);
            assert_eq!(status, 200);
            token
        })
        .collect();
    let roles = |token: &str| {
        http(
            "GET",
            &imds_roles_url(&served),
            &[("X-aws-ec2-metadata-token", token)],
        )
        .0
    };
    assert_eq!(roles(&tokens[0]), 401, "the oldest of {} went", CAP + 1);
    assert_eq!(roles(&tokens[1]), 200, "the next oldest stays");
    assert_eq!(roles(&tokens[CAP]), 200, "the newest stays");
}

#[test]
fn imds_answers_404_for_a_role_it_does_not_serve() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake, "");
    let served = serve_fake_base(&sb, &["--imds"]);
    let token = imds_put_token(&served, "60", &[]).1;
    let get = |role: &str| {
        http(
            "GET",
            &format!("{}{role}", imds_roles_url(&served)),
            &[("X-aws-ec2-metadata-token", &token)],
        )
    };
    let (status, role) = get("");
    assert_eq!((status, role.as_str()), (200, "base"));
    for other in ["Admin", "base2", "BASE", "base%2F..%2Fbase"] {
        let (status, body) = get(other);
        assert_eq!(status, 404, "{other}: {body}");
        assert!(!body.contains("SecretAccessKey"), "{body}");
    }
    assert_eq!(
        fake.count(Op::GetSessionToken),
        1,
        "nothing resolved for them"
    );
    assert_eq!(get("base").0, 200);
}

// ---------------------------------------------------------------------------------------------
// exec

#[test]
fn exec_passes_stdin_and_the_exit_code_of_the_command() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    sb.add_user("base", AKID, SECRET);
    let out = sb.run_with_stdin(
        &["exec", "--profile", "base", "--", "sh", "-c", "cat; exit 7"],
        "hello from stdin\n",
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from stdin\n");
    let out = sb.run(&["exec", "--profile", "base", "--", "no-such-command-here"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(stderr(&out).contains("cannot run no-such-command-here"));
}

#[test]
fn exec_sets_credentials_and_region_and_clears_conflicting_variables() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    sb.write_config("[profile base]\nregion = eu-west-1\n");
    sb.add_user("base", AKID, SECRET);
    for (k, v) in [
        ("AWS_PROFILE", "other"),
        ("AWS_DEFAULT_PROFILE", "other"),
        ("AWS_SESSION_TOKEN", "stale"),
        ("AWS_SECURITY_TOKEN", "stale"),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/"),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "stale"),
    ] {
        sb.set_env(k, v);
    }
    let script = "echo \"$AWS_ACCESS_KEY_ID|$AWS_SECRET_ACCESS_KEY|$AWS_REGION|$AWS_DEFAULT_REGION|$KEYFOB_PROFILE\"; \
                  echo \"${AWS_PROFILE-unset}|${AWS_DEFAULT_PROFILE-unset}|${AWS_SESSION_TOKEN-unset}|${AWS_SECURITY_TOKEN-unset}|${AWS_CONTAINER_CREDENTIALS_FULL_URI-unset}|${AWS_CONTAINER_AUTHORIZATION_TOKEN-unset}\"";
    let out = sb.run(&["exec", "--profile", "base", "--", "sh", "-c", script]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        format!("{AKID}|{SECRET}|eu-west-1|eu-west-1|base\nunset|unset|unset|unset|unset|unset\n")
    );
}

#[test]
fn exec_refuses_to_nest_inside_another_profile_unless_allowed() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    sb.add_user("base", AKID, SECRET);
    sb.set_env("KEYFOB_PROFILE", "outer");
    let line = assert_one_line_error(&sb.run(&["exec", "--profile", "base", "--", "true"]));
    assert!(line.contains("profile outer"), "{line}");
    assert!(line.contains("--allow-nested"), "{line}");
    let out = sb.run(&[
        "exec",
        "--allow-nested",
        "--profile",
        "base",
        "--",
        "sh",
        "-c",
        "echo $KEYFOB_PROFILE",
    ]);
    assert_success(&out);
    assert_eq!(stdout(&out), "base\n");
    sb.set_env("KEYFOB_PROFILE", "base");
    assert_success(&sb.run(&["exec", "--profile", "base", "--", "true"]));
}

#[test]
fn exec_serve_gives_the_command_a_refreshing_container_endpoint() {
    let Some(backend) = Backend::any() else {
        return;
    };
    // Outside the refresh window for PAST_WINDOW_SECS, then inside it.
    let fake = FakeAws::start(FakeConfig {
        credential_lifetime_secs: REFRESH_WINDOW_SECS + PAST_WINDOW_SECS,
        ..FakeConfig::default()
    })
    .unwrap();
    let sb = fake_sandbox(
        backend,
        &fake,
        "[profile dev-role]\nrole_arn = arn:aws:iam::123456789012:role/Dev\nsource_profile = base\nrole_session_name = exec-e2e\nregion = eu-west-1\n",
    );
    // The command hands its endpoint to the test, waits for the go, then asks aws-config.
    let endpoint = sb.home().join("endpoint");
    let go = sb.home().join("go");
    let script = format!(
        "printf '%s\\n%s\\n' \"$AWS_CONTAINER_CREDENTIALS_FULL_URI\" \"$AWS_CONTAINER_AUTHORIZATION_TOKEN\" > '{e}.tmp' && mv '{e}.tmp' '{e}' && \
         while [ ! -e '{go}' ]; do sleep 0.1; done && \
         echo \"${{AWS_ACCESS_KEY_ID-unset}} $AWS_REGION\" && keyfob-sdk-probe",
        e = endpoint.display(),
        go = go.display()
    );
    let child = sb
        .keyfob(&[
            "exec",
            "--serve",
            "--profile",
            "dev-role",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !endpoint.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&endpoint).unwrap();
    let (url, token) = text.trim().split_once('\n').unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let get = || {
        let (status, body) = http("GET", url, &[("Authorization", token)]);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    assert_eq!(fake.count(Op::AssumeRole), 1, "resolved at start");
    let a = get();
    let refresh_at = enters_window(&a);
    let b = get();
    assert_before(refresh_at);
    assert_eq!(a["AccessKeyId"], b["AccessKeyId"]);
    assert_eq!(fake.count(Op::AssumeRole), 1, "served from memory");
    sleep_past(refresh_at);
    let c = get();
    assert_ne!(a["AccessKeyId"], c["AccessKeyId"]);
    assert_eq!(
        fake.count(Op::AssumeRole),
        2,
        "refreshed once, in the window"
    );
    assert!(fake.issued_key(c["AccessKeyId"].as_str().unwrap()));

    // The command's own SDK gets the fresh credentials from the same endpoint.
    std::fs::write(&go, "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "unset eu-west-1\narn:aws:sts::123456789012:assumed-role/Dev/exec-e2e\n"
    );
    assert_eq!(fake.count(Op::AssumeRole), 2);
    let who = fake.last(Op::GetCallerIdentity).unwrap();
    assert!(
        who.header("authorization")
            .is_some_and(|a| a.contains(c["AccessKeyId"].as_str().unwrap())),
        "the command signed with the refreshed key: {who:?}"
    );

    // The command's death by a signal comes back as 128+N.
    let out = sb.run(&[
        "exec",
        "--serve",
        "--profile",
        "dev-role",
        "--",
        "sh",
        "-c",
        "kill -TERM $$",
    ]);
    assert_eq!(out.status.code(), Some(128 + 15), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// export, whoami and resolution of any profile

#[test]
fn export_env_evaluated_by_bash_gives_botocore_the_role() {
    let Some(sb) = moto_sandbox() else { return };
    let Some(py) = peer("KEYFOB_TEST_PYTHON") else {
        return;
    };
    let script = format!(
        "set -e; eval \"$(keyfob export --profile MyRole --format env)\"; exec '{py}' -c \"import boto3; print(boto3.client('sts').get_caller_identity()['Arn']); print(boto3.Session().get_credentials().method)\""
    );
    let out = sb.command("bash").arg("-c").arg(&script).output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), format!("{MY_ROLE_ARN}\nenv\n"));
}

#[test]
fn a_source_profile_chain_resolves_through_moto_assume_role() {
    let Some(sb) = moto_sandbox() else { return };
    let out = sb.run(&["whoami", "--profile", "MyRole", "--json"]);
    assert_success(&out);
    let who: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(who["Arn"], MY_ROLE_ARN);
    assert_eq!(who["Account"], MOTO_ACCOUNT);
    let out = sb.run(&["whoami", "--profile", "Chained"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("Arn:     arn:aws:sts::111122223333:assumed-role/Chained/chained\n"),
        "{}",
        stdout(&out)
    );
    let out = sb.run(&["export", "--profile", "MyRole", "--format", "json"]);
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["Version"], 1);
    assert!(json["SessionToken"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(json["Expiration"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn a_profile_whose_credential_process_runs_keyfob_is_served_in_process() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    // Run by a shell, this line would fail: keyfob must read it, not spawn it.
    sb.write_config(
        "[profile self]\ncredential_process = keyfob credential-process --profile self && false\n",
    );
    let out = sb.run_with_stdin(
        &["add", "self", "--from-stdin", "--no-config"],
        &format!("{AKID}\n{SECRET}\n"),
    );
    assert_success(&out);
    let out = sb.run(&["export", "--profile", "self", "--format", "json"]);
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["AccessKeyId"], AKID);
}

#[test]
fn credential_source_environment_assumes_the_role_with_the_environment_keys() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let Some(moto) = peer("KEYFOB_TEST_MOTO_URL") else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    sb.write_config("[profile envrole]\nrole_arn = arn:aws:iam::111122223333:role/EnvRole\ncredential_source = Environment\nrole_session_name = from-env\nregion = us-east-1\n");
    sb.set_env("AWS_ENDPOINT_URL_STS", &moto);
    sb.set_env("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY01");
    sb.set_env("AWS_SECRET_ACCESS_KEY", "environment-secret");
    let out = sb.run(&["whoami", "--profile", "envrole"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("arn:aws:sts::111122223333:assumed-role/EnvRole/from-env"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_source_profile_loop_is_one_line_naming_every_link() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    sb.write_config(
        "[profile a]\nrole_arn = arn:aws:iam::111122223333:role/A\nsource_profile = b\n\
         [profile b]\nrole_arn = arn:aws:iam::111122223333:role/B\nsource_profile = a\n",
    );
    for cmd in ["export", "exec", "whoami", "console", "serve"] {
        let mut args = vec![cmd, "--profile", "a"];
        if cmd == "exec" {
            args.extend(["--", "true"]);
        }
        let line = assert_one_line_error(&sb.run(&args));
        assert!(line.contains("infinite loop: a → b → a"), "{cmd}: {line}");
    }
}

#[test]
fn an_unknown_profile_is_one_line_naming_the_files() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    sb.write_config("[profile a]\nregion = eu-west-1\n");
    for cmd in ["export", "whoami", "console", "serve"] {
        let line = assert_one_line_error(&sb.run(&[cmd, "--profile", "nope"]));
        assert!(line.contains("profile nope not found"), "{cmd}: {line}");
        assert!(
            line.contains(&sb.config_path().display().to_string()),
            "{line}"
        );
    }
}

#[test]
fn export_credentials_writes_a_private_section_and_warns_of_expiry() {
    let Some(sb) = moto_sandbox() else { return };
    let file = sb.home().join("exported-credentials");
    std::fs::write(&file, "[keep]\naws_access_key_id = AKIAKEEP\n").unwrap();
    let out = sb.run(&[
        "export",
        "--profile",
        "MyRole",
        "--format",
        "credentials",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_success(&out);
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("expire at"), "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("[keep]\naws_access_key_id = AKIAKEEP\n"),
        "{text}"
    );
    assert!(text.contains("[MyRole]\naws_access_key_id = "), "{text}");
    assert!(text.contains("aws_session_token = "), "{text}");
    let fresh = sb.home().join("new-credentials");
    assert_success(&sb.run(&[
        "export",
        "--profile",
        "MyRole",
        "--format",
        "credentials",
        "--file",
        fresh.to_str().unwrap(),
    ]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

// ---------------------------------------------------------------------------------------------
// console

/// A fake of the federation endpoint: records each getSigninToken query, answers a fixed token.
struct Federation {
    url: String,
    queries: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
}

fn federation() -> Federation {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/federation", listener.local_addr().unwrap());
    let queries = Arc::new(Mutex::new(Vec::new()));
    let recorded = queries.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().route(
                "/federation",
                axum::routing::get(
                    move |axum::extract::RawQuery(raw): axum::extract::RawQuery| {
                        let recorded = recorded.clone();
                        async move {
                            let q: BTreeMap<String, String> =
                                url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                                    .into_owned()
                                    .collect();
                            recorded.lock().unwrap().push(q);
                            axum::Json(serde_json::json!({ "SigninToken": "FAKE-SIGNIN-TOKEN" }))
                        }
                    },
                ),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    Federation { url, queries }
}

#[test]
fn console_url_is_built_through_the_federation_endpoint() {
    let Some(mut sb) = moto_sandbox() else { return };
    let fed = federation();
    sb.set_env("KEYFOB_FEDERATION_ENDPOINT", &fed.url);

    // A role assumed with an IAM user's keys: SessionDuration is sent.
    let out = sb.run(&[
        "console",
        "--profile",
        "MyRole",
        "--no-browser",
        "--duration-seconds",
        "3600",
    ]);
    assert_success(&out);
    let url = stdout(&out);
    assert_eq!(
        url,
        format!(
            "{}?Action=login&Issuer=keyfob&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2F&SigninToken=FAKE-SIGNIN-TOKEN\n",
            fed.url
        )
    );
    assert!(
        !stderr(&out).contains("FAKE-SIGNIN-TOKEN"),
        "the URL is never logged"
    );
    let q = fed.queries.lock().unwrap().last().cloned().unwrap();
    assert_eq!(q["Action"], "getSigninToken");
    assert_eq!(q["SessionDuration"], "3600");
    let session: serde_json::Value = serde_json::from_str(&q["Session"]).unwrap();
    let fields: Vec<&String> = session.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["sessionId", "sessionKey", "sessionToken"]);
    for f in ["sessionId", "sessionKey", "sessionToken"] {
        assert!(
            session[f].as_str().is_some_and(|v| !v.is_empty()),
            "{session}"
        );
    }
    assert_ne!(
        session["sessionId"], AKID,
        "temporary credentials, not the user's keys"
    );

    // A chained role: no SessionDuration, and a warning saying why.
    let out = sb.run(&[
        "console",
        "--profile",
        "Chained",
        "--no-browser",
        "--duration-seconds",
        "3600",
        "--destination",
        "https://console.aws.amazon.com/s3/home?region=us-east-1",
    ]);
    assert_success(&out);
    assert!(stderr(&out).contains("chained role"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2Fs3%2Fhome%3Fregion%3Dus-east-1&"
        ),
        "{}",
        stdout(&out)
    );
    let q = fed.queries.lock().unwrap().last().cloned().unwrap();
    assert!(!q.contains_key("SessionDuration"), "{q:?}");

    // Long-term keys cannot sign in.
    let line = assert_one_line_error(&sb.run(&["console", "--profile", "base", "--no-browser"]));
    assert!(line.contains("long-term"), "{line}");
    assert_eq!(fed.queries.lock().unwrap().len(), 2);
}

#[test]
fn console_sends_keys_only_to_an_https_or_loopback_federation_endpoint() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut sb = fake_sandbox(
        backend,
        &fake,
        "[profile dev-role]\nrole_arn = arn:aws:iam::123456789012:role/Dev\nsource_profile = base\nrole_session_name = console-e2e\nregion = eu-west-1\n",
    );
    for endpoint in [
        "http://192.0.2.1:9/federation",
        "http://signin.aws.amazon.com/federation",
        "http://localhost.evil.example:9/federation",
        "ftp://127.0.0.1/federation",
        "not a url",
    ] {
        sb.set_env("KEYFOB_FEDERATION_ENDPOINT", endpoint);
        let line =
            assert_one_line_error(&sb.run(&["console", "--profile", "dev-role", "--no-browser"]));
        assert!(
            line.contains("KEYFOB_FEDERATION_ENDPOINT") && line.contains(endpoint),
            "{line}"
        );
    }
    // Refused before the role's credentials existed: no request could have carried them.
    assert_eq!(fake.count(Op::AssumeRole), 0);

    let fed = federation();
    let localhost = fed.url.replace("127.0.0.1", "localhost");
    for endpoint in [fed.url.as_str(), localhost.as_str()] {
        sb.set_env("KEYFOB_FEDERATION_ENDPOINT", endpoint);
        let out = sb.run(&["console", "--profile", "dev-role", "--no-browser"]);
        assert_success(&out);
        assert!(
            stdout(&out).starts_with(&format!("{endpoint}?Action=login&")),
            "{}",
            stdout(&out)
        );
    }
    let queries = fed.queries.lock().unwrap();
    assert_eq!(queries.len(), 2);
    let session: serde_json::Value = serde_json::from_str(&queries[0]["Session"]).unwrap();
    assert!(fake.issued_key(session["sessionId"].as_str().unwrap()));
}

/// A hostile federation endpoint on 127.0.0.1: each connection gets `answer` (after the request
/// head), or nothing at all while the test runs when `answer` is `None`.
fn hostile_federation(answer: Option<Vec<u8>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/federation", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut silent = Vec::new();
        for mut conn in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            match &answer {
                Some(bytes) => {
                    let _ = conn.write_all(bytes);
                }
                None => silent.push(conn),
            }
        }
    });
    url
}

#[test]
fn console_gives_up_on_a_federation_endpoint_that_floods_or_never_answers() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let mut sb = fake_sandbox(
        backend,
        &fake,
        "[profile dev-role]\nrole_arn = arn:aws:iam::123456789012:role/Dev\nsource_profile = base\nrole_session_name = console-e2e\nregion = eu-west-1\n",
    );
    // 8 MiB of JSON-looking answer: more than a sign-in token could ever be.
    let body = format!("{{\"SigninToken\":\"{}\"}}", "a".repeat(8 * 1024 * 1024));
    let mut flood = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    flood.extend_from_slice(body.as_bytes());
    sb.set_env(
        "KEYFOB_FEDERATION_ENDPOINT",
        &hostile_federation(Some(flood)),
    );
    let line =
        assert_one_line_error(&sb.run(&["console", "--profile", "dev-role", "--no-browser"]));
    assert!(line.contains("more than 64 KiB"), "{line}");

    // Accepts, reads the request, never answers: bounded by the operation timeout (30 s).
    sb.set_env("KEYFOB_FEDERATION_ENDPOINT", &hostile_federation(None));
    let started = std::time::Instant::now();
    let out = sb.run(&["console", "--profile", "dev-role", "--no-browser"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "console waited {:?}",
        started.elapsed()
    );
    let line = assert_one_line_error(&out);
    assert!(line.contains("no answer within 30 s"), "{line}");
    let secret_free = !line.contains("sessionKey") && !line.contains("Session=");
    assert!(secret_free, "{line}");
}

// ---------------------------------------------------------------------------------------------
// status, completions, man

#[test]
fn status_lists_served_profiles_with_the_time_left() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(
        backend,
        &fake,
        "[profile dev]\nmfa_serial = arn:aws:iam::123456789012:mfa/static-user\n",
    );
    let user = fake.static_user();
    let out = sb.run_with_stdin(
        &["add", "dev", "--from-stdin", "--yes"],
        &format!("{}\n{}\n", user.access_key_id, user.secret_access_key),
    );
    assert_success(&out);
    assert_success(&sb.run(&["login", "--profile", "dev", "--mfa-code", "123456"]));
    let out = sb.run(&["status"]);
    assert_success(&out);
    let text = stdout(&out);
    let dev = text
        .lines()
        .find(|l| l.starts_with("profile/mfa"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        dev.contains(" dev ") && dev.contains("valid") && dev.contains("left)"),
        "{dev}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("profile/keys") && l.contains("base")),
        "{text}"
    );
    let out = sb.run(&["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "profile/mfa" && r["name"] == "dev" && r["state"] == "valid"),
        "{rows}"
    );
}

#[test]
fn completions_offer_the_configs_profile_names() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    sb.write_config(
        "[profile alpha]\nregion = eu-west-1\n[profile beta.Admin]\nregion = eu-west-1\n",
    );
    let out = sb.run(&["__complete-profiles"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "alpha\nbeta.Admin\n");
    let script = sb.home().join("keyfob.bash");
    let out = sb.run(&["completions", "bash"]);
    assert_success(&out);
    std::fs::write(&script, &out.stdout).unwrap();
    let probe = format!(
        "source '{}'; COMP_WORDS=(keyfob export --profile b); COMP_CWORD=3; _keyfob_profiles keyfob b export; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = sb.command("bash").arg("-c").arg(&probe).output().unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), "beta.Admin\n");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = sb.run(&["completions", shell]);
        assert_success(&out);
        assert!(!out.stdout.is_empty(), "{shell}");
    }
    let out = sb.run(&["man"]);
    assert_success(&out);
    assert!(stdout(&out).contains(".TH keyfob 1"), "{}", stdout(&out));
}
