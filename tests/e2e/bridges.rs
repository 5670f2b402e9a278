//! Issue 5: the bridges for clients that cannot read the profiles — `export`, `exec`, the
//! container and IMDS credential server (`serve`), console sign-in, `whoami`, completions —
//! and the resolution of any profile under them (source_profile chains at moto's STS,
//! credential_source, loops, expired upstream sessions), with botocore and the Rust aws-config
//! as the clients.

use crate::support::*;
use keyfob_tests::fake::{FakeAws, FakeConfig, Op};
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
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request; the status and the body.
fn http(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let u = url::Url::parse(url).unwrap();
    let host = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    let mut path = u.path().to_owned();
    if let Some(q) = u.query() {
        path = format!("{path}?{q}");
    }
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).unwrap();
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

#[test]
fn serve_refreshes_sso_role_credentials_from_the_token_cache() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig {
        credential_lifetime_secs: 600,
        ..FakeConfig::default()
    })
    .unwrap();
    fake.configure(|c| c.device.auto_approve = true);
    let sb = sso_sandbox(backend, &fake);
    let served = Served::start(&sb, &["--profile", "dev"]).unwrap();
    let before = fake.count(Op::GetRoleCredentials);
    let a = ecs_credentials(&served);
    fake.expire_all();
    let b = ecs_credentials(&served);
    assert_ne!(a["AccessKeyId"], b["AccessKeyId"]);
    assert!(fake.count(Op::GetRoleCredentials) > before);
    assert!(fake.issued_key(b["AccessKeyId"].as_str().unwrap()));
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
    let Some(sb) = moto_sandbox() else { return };
    let out = sb.run(&[
        "exec",
        "--serve",
        "--profile",
        "MyRole",
        "--",
        "sh",
        "-c",
        "echo \"${AWS_ACCESS_KEY_ID-unset} $AWS_REGION\"; keyfob-sdk-probe",
    ]);
    assert_success(&out);
    assert_eq!(stdout(&out), format!("unset us-east-1\n{MY_ROLE_ARN}\n"));
    // The command's death by a signal comes back as 128+N.
    let out = sb.run(&[
        "exec",
        "--serve",
        "--profile",
        "MyRole",
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
