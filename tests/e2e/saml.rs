//! Issue 4: SAML profiles end to end — `configure saml`, `login` against the real SimpleSAMLphp
//! IdP (form login, one and two roles, wrong password, a pasted SAMLResponse), STS
//! AssumeRoleWithSAML at moto (one role: moto answers 500 to several) or at the fake (two roles,
//! counted calls), the SDKs reading the profile through `credential_process`, and the silent
//! refresh with the stored password.

use crate::support::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyfob_tests::fake::{FakeAws, FakeConfig, Op};
use std::io::{Read as _, Write as _};

const DEVELOPER: &str = "arn:aws:iam::111122223333:role/Developer";
const ADMIN: &str = "arn:aws:iam::111122223333:role/Admin";
const PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/corp";
const PROFILE: &str = "corp";

/// A sandbox with `[profile corp]` written by `keyfob configure saml` for `user` at `idp`, plus
/// `extra` config lines, STS at `sts`.
fn saml_sandbox(backend: Backend, idp: &str, user: &str, sts: &str, extra: &str) -> Sandbox {
    let mut sb = Sandbox::new(backend);
    sb.set_env("AWS_ENDPOINT_URL_STS", sts);
    configure(&sb, idp, user, &["--region", "us-east-1"]);
    if !extra.is_empty() {
        let config = sb.read_config();
        sb.write_config(&format!("{config}{extra}"));
    }
    sb
}

fn configure(sb: &Sandbox, idp: &str, user: &str, more: &[&str]) {
    let mut args = vec![
        "configure",
        "saml",
        PROFILE,
        "--url",
        idp,
        "--username",
        user,
    ];
    args.extend_from_slice(more);
    assert_success(&sb.run(&args));
}

fn login_with_password(sb: &Sandbox, password: &str, more: &[&str]) -> std::process::Output {
    let mut args = vec!["login", "--profile", PROFILE, "--password-stdin"];
    args.extend_from_slice(more);
    sb.run_with_stdin(&args, &format!("{password}\n"))
}

fn status_json(sb: &Sandbox) -> Vec<(String, String, String)> {
    let out = sb.run(&["status", "--json"]);
    assert_success(&out);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["name"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn has_password(sb: &Sandbox) -> bool {
    sb.stored_keys()
        .contains(&format!("saml-password/{PROFILE}"))
}

fn credential_process(sb: &Sandbox) -> serde_json::Value {
    let out = sb.run(&["credential-process", "--profile", PROFILE]);
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Who the Rust SDK says the profile is, through `credential_process`.
fn sdk_probe_arn(sb: &Sandbox) -> String {
    let out = sb
        .command(bin("keyfob-sdk-probe"))
        .arg(PROFILE)
        .output()
        .unwrap();
    assert_success(&out);
    stdout(&out)
}

/// The base64 SAMLResponse SimpleSAMLphp posts for `user`, as a browser would see it.
fn capture_response(idp: &str, user: &str, password: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = rt
        .block_on(keyfob_saml::IdpClient::default().login(
            idp,
            user,
            &keyfob_core::Secret::new(password),
            None,
        ))
        .unwrap();
    response.base64.expose().to_owned()
}

/// The response with its XML changed by `edit`, base64 again (the signature no longer matches,
/// which keyfob does not check: STS does).
fn edited(b64: &str, edit: impl FnOnce(String) -> String) -> String {
    let xml = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
    STANDARD.encode(edit(xml))
}

/// A loopback HTTP server that answers every request with `status`, for as long as the test
/// runs.
fn http_status_server(status: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    port
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn idp_url_on(port: u16) -> String {
    format!(
        "http://127.0.0.1:{port}/simplesaml/saml2/idp/SSOService.php?spentityid=urn:amazon:webservices"
    )
}

#[test]
fn configure_saml_writes_the_profile_and_refuses_plain_http_to_another_host() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    let url = "https://idp.corp.example/simplesaml/saml2/idp/SSOService.php?spentityid=urn:amazon:webservices";
    let out = sb.run(&[
        "configure",
        "saml",
        "corp-dev",
        "--url",
        url,
        "--username",
        "alice",
        "--role-arn",
        DEVELOPER,
        "--principal-arn",
        PROVIDER,
        "--duration-seconds",
        "3600",
        "--region",
        "eu-west-1",
    ]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("Next: keyfob login --profile corp-dev"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        sb.read_config(),
        format!(
            "[profile corp-dev]\nkeyfob_saml_url = {url}\nkeyfob_saml_username = alice\n\
             keyfob_saml_role_arn = {DEVELOPER}\nkeyfob_saml_principal_arn = {PROVIDER}\n\
             duration_seconds = 3600\nregion = eu-west-1\n\
             credential_process = keyfob credential-process --profile corp-dev\n"
        )
    );
    assert!(sb.stored_keys().is_empty());

    let before = sb.read_config();
    let line = assert_one_line_error(&sb.run(&[
        "configure",
        "saml",
        "other",
        "--url",
        "http://idp.corp.example/sso",
        "--username",
        "alice",
    ]));
    assert!(line.contains("https://"), "{line}");
    assert!(line.contains("nothing was written"), "{line}");
    assert_eq!(sb.read_config(), before);
}

on_each_backend!(saml_login_for_one_role_serves_botocore_and_the_rust_sdk_through_moto);
fn saml_login_for_one_role_serves_botocore_and_the_rust_sdk_through_moto(backend: Backend) {
    let (Some(idp), Some(moto)) = (
        peer("KEYFOB_TEST_SAML_IDP_URL"),
        peer("KEYFOB_TEST_MOTO_URL"),
    ) else {
        return;
    };
    let sb = saml_sandbox(backend, &idp, "alice", &moto, "");
    assert_eq!(
        sb.read_config(),
        format!(
            "[profile corp]\nkeyfob_saml_url = {idp}\nkeyfob_saml_username = alice\n\
             region = us-east-1\ncredential_process = keyfob credential-process --profile corp\n"
        )
    );
    assert!(!has_password(&sb), "nothing stored before the login");

    let out = login_with_password(&sb, "alicepw", &[]);
    assert_success(&out);
    assert!(
        stderr(&out).contains(&format!("Assumed {DEVELOPER} for profile corp.")),
        "{}",
        stderr(&out)
    );
    let status = status_json(&sb);
    for want in [
        ("saml password", "corp", "stored"),
        ("credentials", "corp", "valid"),
    ] {
        assert!(
            status
                .iter()
                .any(|(k, n, s)| (k.as_str(), n.as_str(), s.as_str()) == want),
            "{want:?} in {status:?}"
        );
    }
    let mut keys = sb.stored_keys();
    keys.sort();
    assert_eq!(keys, ["creds/corp", "saml-password/corp"]);
    assert!(
        !std::fs::read_to_string(sb.credentials_path())
            .unwrap_or_default()
            .contains("aws_secret_access_key"),
        "nothing in ~/.aws/credentials"
    );

    // The cached credentials are served as they are.
    let json = credential_process(&sb);
    assert_eq!(json["Version"], 1);
    assert!(json["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(credential_process(&sb)["AccessKeyId"], json["AccessKeyId"]);

    let expected = "arn:aws:sts::111122223333:assumed-role/Developer/alice";
    let code = "import boto3\ns = boto3.Session(profile_name='corp')\nprint(s.client('sts').get_caller_identity()['Arn'])\nprint(s.get_credentials().method)";
    if let Some(out) = python(&sb, code, &[]) {
        assert_success(&out);
        assert_eq!(stdout(&out), format!("{expected}\ncustom-process\n"));
    }
    assert_eq!(sdk_probe_arn(&sb), format!("{expected}\n"));
}

#[test]
fn saml_login_with_role_arn_assumes_that_role_of_two() {
    let (Some(backend), Some(idp)) = (Backend::any(), peer("KEYFOB_TEST_SAML_IDP_URL")) else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = saml_sandbox(backend, &idp, "bob", &fake.url(), "");
    let out = login_with_password(&sb, "bobpw", &["--role-arn", ADMIN]);
    assert_success(&out);
    assert!(
        stderr(&out).contains(&format!("Assumed {ADMIN}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    let call = fake.last(Op::AssumeRoleWithSaml).unwrap();
    assert_eq!(call.form_field("RoleArn"), Some(ADMIN));
    assert_eq!(call.form_field("PrincipalArn"), Some(PROVIDER));
    assert_eq!(call.form_field("DurationSeconds"), Some("3600"));
    assert!(!sb.read_config().contains("keyfob_saml_role_arn"));
    assert_eq!(
        sdk_probe_arn(&sb),
        "arn:aws:sts::111122223333:assumed-role/Admin/bob\n"
    );
}

#[test]
fn saml_login_with_two_roles_and_no_terminal_lists_them_and_stores_nothing() {
    let (Some(backend), Some(idp)) = (Backend::any(), peer("KEYFOB_TEST_SAML_IDP_URL")) else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = saml_sandbox(backend, &idp, "bob", &fake.url(), "");
    let line = assert_one_line_error(&login_with_password(&sb, "bobpw", &[]));
    assert!(
        line.contains(DEVELOPER) && line.contains(ADMIN),
        "both roles listed: {line}"
    );
    assert!(line.contains("--role-arn"), "{line}");
    assert!(sb.stored_keys().is_empty(), "{:?}", sb.stored_keys());
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 0);
}

#[test]
fn saml_wrong_password_is_one_line_and_stores_nothing() {
    let (Some(backend), Some(idp)) = (Backend::any(), peer("KEYFOB_TEST_SAML_IDP_URL")) else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = saml_sandbox(backend, &idp, "alice", &fake.url(), "");
    let line = assert_one_line_error(&login_with_password(&sb, "not-alicepw", &[]));
    assert!(
        line.contains("the IdP rejected the user name or password"),
        "{line}"
    );
    assert!(!line.contains("not-alicepw"), "{line}");
    assert!(sb.stored_keys().is_empty(), "{:?}", sb.stored_keys());
    assert!(!status_json(&sb).iter().any(|(k, ..)| k == "saml password"));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 0);
}

on_each_backend!(saml_credential_process_refreshes_silently_with_the_stored_password);
fn saml_credential_process_refreshes_silently_with_the_stored_password(backend: Backend) {
    let Some(idp) = peer("KEYFOB_TEST_SAML_IDP_URL") else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    // One-hour sessions are always inside a 13-hour window: every call refreshes.
    let sb = saml_sandbox(
        backend,
        &idp,
        "alice",
        &fake.url(),
        "keyfob_refresh_window = 13h\n",
    );
    assert_success(&login_with_password(&sb, "alicepw", &[]));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    let first = fake.last(Op::AssumeRoleWithSaml).unwrap();

    // stdin is /dev/null and there is no terminal: nothing can be asked.
    let json = credential_process(&sb);
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
    let second = fake.last(Op::AssumeRoleWithSaml).unwrap();
    assert_ne!(
        first.form_field("SAMLAssertion"),
        second.form_field("SAMLAssertion"),
        "a new sign-in at the IdP, not a replayed assertion"
    );
    let key = json["AccessKeyId"].as_str().unwrap();
    assert!(fake.issued_key(key));
    // The refreshed credentials replaced the cached ones.
    let out = sb.run(&["status", "--json"]);
    assert_success(&out);
    assert_eq!(credential_process(&sb)["Version"], 1);
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 3);
    assert!(has_password(&sb));
}

on_each_backend!(
    saml_credential_process_without_a_stored_password_says_to_log_in_and_forget_password_clears_it
);
fn saml_credential_process_without_a_stored_password_says_to_log_in_and_forget_password_clears_it(
    backend: Backend,
) {
    let Some(idp) = peer("KEYFOB_TEST_SAML_IDP_URL") else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = saml_sandbox(
        backend,
        &idp,
        "alice",
        &fake.url(),
        "keyfob_refresh_window = 13h\n",
    );
    // Never logged in.
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", PROFILE]));
    assert!(line.contains("run: keyfob login --profile corp"), "{line}");

    assert_success(&login_with_password(&sb, "alicepw", &[]));
    assert!(has_password(&sb));
    let out = sb.run(&["login", "--profile", PROFILE, "--forget-password"]);
    assert_success(&out);
    assert!(stderr(&out).contains("Forgot"), "{}", stderr(&out));
    assert!(!has_password(&sb));
    assert!(!status_json(&sb).iter().any(|(k, ..)| k == "saml password"));
    let out = sb.run(&["login", "--profile", PROFILE, "--forget-password"]);
    assert_success(&out);
    assert!(stderr(&out).contains("No IdP password"), "{}", stderr(&out));

    // The cached credentials are inside the window and there is no password to refresh with.
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", PROFILE]));
    assert!(line.contains("run: keyfob login --profile corp"), "{line}");
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
}

on_each_backend!(saml_a_stored_password_the_idp_rejects_is_forgotten_not_retried);
fn saml_a_stored_password_the_idp_rejects_is_forgotten_not_retried(backend: Backend) {
    let Some(idp) = peer("KEYFOB_TEST_SAML_IDP_URL") else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = saml_sandbox(
        backend,
        &idp,
        "alice",
        &fake.url(),
        "keyfob_refresh_window = 13h\n",
    );
    assert_success(&login_with_password(&sb, "alicepw", &[]));
    // The password changes at the IdP: here, the profile now names bob, whose password it is not.
    let config = sb
        .read_config()
        .replace("keyfob_saml_username = alice", "keyfob_saml_username = bob");
    sb.write_config(&config);
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", PROFILE]));
    assert!(line.contains("rejected"), "{line}");
    assert!(line.contains("run: keyfob login --profile corp"), "{line}");
    assert!(
        !has_password(&sb),
        "a rejected password is not tried again (accounts get locked)"
    );
    // The next call does not go to the IdP with it again.
    let line = assert_one_line_error(&sb.run(&["credential-process", "--profile", PROFILE]));
    assert!(line.contains("no stored IdP password"), "{line}");
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);

    // `keyfob login` with a stored password that the IdP rejects forgets it too.
    let config = sb
        .read_config()
        .replace("keyfob_saml_username = bob", "keyfob_saml_username = alice");
    sb.write_config(&config);
    assert_success(&login_with_password(&sb, "alicepw", &[]));
    let config = sb
        .read_config()
        .replace("keyfob_saml_username = alice", "keyfob_saml_username = bob");
    sb.write_config(&config);
    let line = assert_one_line_error(&sb.run(&["login", "--profile", PROFILE]));
    assert!(line.contains("rejected"), "{line}");
    assert!(!has_password(&sb));
}

#[test]
fn saml_response_file_and_stdin_log_in_without_a_password() {
    let (Some(backend), Some(idp)) = (Backend::any(), peer("KEYFOB_TEST_SAML_IDP_URL")) else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = saml_sandbox(backend, &idp, "bob", &fake.url(), "");
    let file = sb.home().join("response.b64");
    // Wrapped at 76 columns as a user might paste it.
    let b64 = capture_response(&idp, "bob", "bobpw");
    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    std::fs::write(&file, wrapped.join("\n") + "\n").unwrap();
    let path = file.display().to_string();

    // Two roles and none named: the error lists them and says how to choose.
    let line = assert_one_line_error(&sb.run(&[
        "login",
        "--profile",
        PROFILE,
        "--saml-response-file",
        &path,
    ]));
    assert!(line.contains(DEVELOPER) && line.contains(ADMIN), "{line}");
    assert!(line.contains("--role-arn"), "{line}");
    assert!(sb.stored_keys().is_empty());

    assert_success(&sb.run(&[
        "login",
        "--profile",
        PROFILE,
        "--saml-response-file",
        &path,
        "--role-arn",
        ADMIN,
    ]));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    assert_eq!(
        fake.last(Op::AssumeRoleWithSaml)
            .unwrap()
            .form_field("RoleArn"),
        Some(ADMIN)
    );
    assert_eq!(sb.stored_keys(), ["creds/corp"], "no password stored");
    assert_eq!(
        sdk_probe_arn(&sb),
        "arn:aws:sts::111122223333:assumed-role/Admin/bob\n"
    );

    // `-` reads it from stdin.
    let out = sb.run_with_stdin(
        &[
            "login",
            "--profile",
            PROFILE,
            "--saml-response-file",
            "-",
            "--role-arn",
            DEVELOPER,
        ],
        &b64,
    );
    assert_success(&out);
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
    assert_eq!(
        fake.last(Op::AssumeRoleWithSaml)
            .unwrap()
            .form_field("RoleArn"),
        Some(DEVELOPER)
    );
    assert_eq!(
        sdk_probe_arn(&sb),
        "arn:aws:sts::111122223333:assumed-role/Developer/bob\n"
    );
}

#[test]
fn saml_response_file_against_moto_serves_botocore() {
    let (Some(backend), Some(idp), Some(moto)) = (
        Backend::any(),
        peer("KEYFOB_TEST_SAML_IDP_URL"),
        peer("KEYFOB_TEST_MOTO_URL"),
    ) else {
        return;
    };
    let sb = saml_sandbox(backend, &idp, "alice", &moto, "");
    let b64 = capture_response(&idp, "alice", "alicepw");
    let out = sb.run_with_stdin(
        &["login", "--profile", PROFILE, "--saml-response-file", "-"],
        &b64,
    );
    assert_success(&out);
    assert_eq!(sb.stored_keys(), ["creds/corp"]);
    assert_eq!(
        sdk_probe_arn(&sb),
        "arn:aws:sts::111122223333:assumed-role/Developer/alice\n"
    );
}

#[test]
fn saml_bad_response_files_are_one_line_and_store_nothing() {
    let (Some(backend), Some(idp)) = (Backend::any(), peer("KEYFOB_TEST_SAML_IDP_URL")) else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = saml_sandbox(backend, &idp, "alice", &fake.url(), "");
    let real = capture_response(&idp, "alice", "alicepw");
    let expired = edited(&real, |xml| {
        // Every NotOnOrAfter of the assertion, five minutes from now, becomes 2020.
        let mut out = String::new();
        let mut rest = xml.as_str();
        while let Some(i) = rest.find("NotOnOrAfter=\"") {
            let start = i + "NotOnOrAfter=\"".len();
            out.push_str(&rest[..start]);
            out.push_str("2020-01-01T00:00:00Z");
            let end = rest[start..].find('"').unwrap();
            rest = &rest[start + end..];
        }
        out.push_str(rest);
        out
    });
    let no_roles = edited(&real, |xml| {
        xml.replace(
            "https://aws.amazon.com/SAML/Attributes/Role\"",
            "https://example.com/NotTheRole\"",
        )
    });
    let garbage_role = edited(&real, |xml| xml.replace(DEVELOPER, "not-an-arn"));
    let not_saml = STANDARD.encode("<html><body>Sign in</body></html>");
    let billion_laughs = STANDARD.encode(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\
         <samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&lol2;</samlp:Response>",
    );
    let cases = [
        ("expired", expired, "expired"),
        ("no roles", no_roles, "no AWS roles"),
        ("garbage role", garbage_role, "Role value"),
        (
            "not base64",
            "this is %%% not base64!".to_owned(),
            "not base64",
        ),
        ("empty", String::new(), "empty"),
        ("not SAML", not_saml, "not a SAML 2.0 Response"),
        ("a DTD", billion_laughs, "not well-formed XML"),
    ];
    let file = sb.home().join("response.b64");
    for (what, text, words) in cases {
        std::fs::write(&file, &text).unwrap();
        let line = assert_one_line_error(&sb.run(&[
            "login",
            "--profile",
            PROFILE,
            "--saml-response-file",
            &file.display().to_string(),
        ]));
        assert!(line.contains(words), "{what}: {line}");
        assert!(line.len() < 400, "{what}: one short line: {line}");
        assert!(
            sb.stored_keys().is_empty(),
            "{what}: {:?}",
            sb.stored_keys()
        );
    }
    let line = assert_one_line_error(&sb.run(&[
        "login",
        "--profile",
        PROFILE,
        "--saml-response-file",
        &sb.home().join("missing.b64").display().to_string(),
    ]));
    assert!(line.contains("missing.b64"), "{line}");
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 0);
}

#[test]
fn saml_an_unreachable_or_failing_idp_is_one_line() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    for (url, words) in [
        (idp_url_on(closed_port()), "could not reach the IdP"),
        (
            idp_url_on(http_status_server("503 Service Unavailable")),
            "the IdP answered HTTP 503",
        ),
        (
            idp_url_on(http_status_server("500 Internal Server Error")),
            "the IdP answered HTTP 500",
        ),
    ] {
        let sb = saml_sandbox(backend, &url, "alice", &fake.url(), "");
        let line = assert_one_line_error(&login_with_password(&sb, "alicepw", &[]));
        assert!(line.contains(words), "{line}");
        assert!(!line.contains("spentityid"), "no query string: {line}");
        assert!(sb.stored_keys().is_empty(), "{:?}", sb.stored_keys());
    }
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 0);
}

#[test]
fn saml_secrets_never_reach_verbose_logs() {
    let (Some(backend), Some(idp)) = (Backend::any(), peer("KEYFOB_TEST_SAML_IDP_URL")) else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = saml_sandbox(
        backend,
        &idp,
        "alice",
        &fake.url(),
        "keyfob_refresh_window = 13h\n",
    );
    let password = "alicepw";
    let login = sb.run_with_stdin(
        &["-vvv", "login", "--profile", PROFILE, "--password-stdin"],
        &format!("{password}\n"),
    );
    assert_success(&login);
    let assertion = fake
        .last(Op::AssumeRoleWithSaml)
        .unwrap()
        .form_field("SAMLAssertion")
        .unwrap()
        .to_owned();
    let logged_in = credential_process(&sb);
    // A silent refresh logs too.
    let refresh = sb.run(&["-vvv", "credential-process", "--profile", PROFILE]);
    assert_success(&refresh);
    let refreshed: serde_json::Value = serde_json::from_slice(&refresh.stdout).unwrap();
    for (what, log) in [("login", stderr(&login)), ("refresh", stderr(&refresh))] {
        assert!(
            log.contains("IdP"),
            "{what}: -vvv logs the IdP steps:\n{log}"
        );
        let mut secrets = vec![
            password.to_owned(),
            format!("password={password}"),
            assertion[..60].to_owned(),
        ];
        for json in [&logged_in, &refreshed] {
            for field in ["SecretAccessKey", "SessionToken"] {
                secrets.push(json[field].as_str().unwrap().to_owned());
            }
        }
        for secret in &secrets {
            assert!(
                !log.contains(secret.as_str()),
                "{what}: {secret:?} in the -vvv log:\n{log}"
            );
        }
        assert!(!log.contains("SAMLResponse="), "{what}:\n{log}");
        assert!(!log.contains("AuthState="), "{what}: session state:\n{log}");
    }
}

// Issue 8.3: the IdP password goes only where the user pointed. A hostile TLS IdP
// (`saml/hostile.rs`) with a second TLS origin and a plain-http recorder that keep every
// request; keyfob trusts their throwaway CA through SSL_CERT_FILE.

mod hostile;

use hostile::Hostile;

/// A sandbox trusting `h`'s CA, with `[profile corp]` at `h`'s `/{route}/start`, STS at `fake`.
fn hostile_sandbox(
    backend: Backend,
    h: &Hostile,
    route: &str,
    fake: &FakeAws,
    more: &[&str],
) -> Sandbox {
    let mut sb = Sandbox::new(backend);
    let ca = sb.home().join("throwaway-ca.pem");
    std::fs::write(&ca, &h.ca_pem).unwrap();
    sb.set_env("SSL_CERT_FILE", &ca.display().to_string());
    sb.set_env("AWS_ENDPOINT_URL_STS", &fake.url());
    let url = format!("{}/{route}/start", h.idp);
    let mut args = vec!["--region", "us-east-1"];
    args.extend_from_slice(more);
    configure(&sb, &url, hostile::USER, &args);
    sb
}

/// Asserts that the password reached no listener but the ones in `allowed`.
#[track_caller]
fn password_reached_only(h: &Hostile, allowed: &[&str]) {
    let leaked: Vec<_> = h
        .password_seen_by()
        .into_iter()
        .filter(|s| !allowed.contains(&s.origin.as_str()))
        .collect();
    assert!(leaked.is_empty(), "the password reached {leaked:?}");
}

#[test]
fn saml_tls_idp_is_trusted_through_ssl_cert_file_only() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let h = Hostile::start();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = hostile_sandbox(backend, &h, "ok", &fake, &[]);
    assert_success(&login_with_password(&sb, hostile::PASSWORD, &[]));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    password_reached_only(&h, &[&h.idp]);

    // Without SSL_CERT_FILE the system roots apply, and the throwaway CA is not among them.
    let mut plain = Sandbox::new(backend);
    plain.set_env("AWS_ENDPOINT_URL_STS", &fake.url());
    configure(&plain, &format!("{}/ok/start", h.idp), hostile::USER, &[]);
    let line = assert_one_line_error(&login_with_password(&plain, hostile::PASSWORD, &[]));
    assert!(line.contains("could not reach the IdP"), "{line}");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
}

#[test]
fn saml_password_307_to_plain_http_is_refused_and_never_sent() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let h = Hostile::start();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    // Even with the recorder trusted: never from https to http.
    let trusting_it = ["--trusted-origin", h.r.as_str()];
    for more in [&[][..], &trusting_it[..]] {
        let sb = hostile_sandbox(backend, &h, "to-http", &fake, more);
        let out = login_with_password(&sb, hostile::PASSWORD, &[]);
        assert!(h.seen_by(&h.r).is_empty(), "{:?}", h.seen_by(&h.r));
        let line = assert_one_line_error(&out);
        assert!(
            line.contains(&format!(
                "the IdP answered the login with a 307 redirect that would send your password again, from https to plain http at {}",
                h.r
            )),
            "{line}"
        );
        assert!(!line.contains(hostile::PASSWORD), "{line}");
        assert!(sb.stored_keys().is_empty(), "{:?}", sb.stored_keys());
    }
    assert!(h.seen_by(&h.r).is_empty(), "{:?}", h.seen_by(&h.r));
    password_reached_only(&h, &[&h.idp]);
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 0);
}

#[test]
fn saml_password_307_or_308_to_another_https_origin_is_refused_and_never_sent() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let h = Hostile::start();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    for (route, status) in [("to-https", 307), ("to-https-308", 308)] {
        let sb = hostile_sandbox(backend, &h, route, &fake, &[]);
        let out = login_with_password(&sb, hostile::PASSWORD, &[]);
        assert!(h.seen_by(&h.b).is_empty(), "{:?}", h.seen_by(&h.b));
        let line = assert_one_line_error(&out);
        assert!(
            line.contains(&format!(
                "the IdP answered the login with a {status} redirect that would send your password again, to {}, which is not the origin of keyfob_saml_url; if you trust it, add it to keyfob_saml_trusted_origins of profile corp",
                h.b
            )),
            "{line}"
        );
        assert!(sb.stored_keys().is_empty(), "{:?}", sb.stored_keys());
    }
    assert!(h.seen_by(&h.b).is_empty(), "{:?}", h.seen_by(&h.b));
    password_reached_only(&h, &[&h.idp]);
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 0);
}

#[test]
fn saml_login_form_posting_to_another_origin_needs_keyfob_saml_trusted_origins() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let h = Hostile::start();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = hostile_sandbox(backend, &h, "offsite", &fake, &[]);
    let line = assert_one_line_error(&login_with_password(&sb, hostile::PASSWORD, &[]));
    assert!(
        line.contains(&format!(
            "the IdP's login form would send your password to {}, which is not the origin of keyfob_saml_url; if you trust it, add it to keyfob_saml_trusted_origins of profile corp",
            h.b
        )),
        "{line}"
    );
    assert!(sb.stored_keys().is_empty(), "{:?}", sb.stored_keys());
    assert!(h.seen_by(&h.b).is_empty(), "{:?}", h.seen_by(&h.b));
    password_reached_only(&h, &[]);

    // Trusted (as configure writes it), the login goes through and the password goes there.
    let b_slash = format!("{}/", h.b);
    let sb = hostile_sandbox(
        backend,
        &h,
        "offsite",
        &fake,
        &["--trusted-origin", &b_slash],
    );
    assert!(
        sb.read_config()
            .contains(&format!("keyfob_saml_trusted_origins = {}\n", h.b)),
        "{}",
        sb.read_config()
    );
    assert_success(&login_with_password(&sb, hostile::PASSWORD, &[]));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 1);
    let posts: Vec<_> = h
        .password_seen_by()
        .into_iter()
        .map(|s| (s.origin, s.method, s.uri))
        .collect();
    assert_eq!(posts, [(h.b.clone(), "POST".into(), "/ok/login".into())]);
}

#[test]
fn saml_get_login_form_is_refused() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let h = Hostile::start();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = hostile_sandbox(backend, &h, "getform", &fake, &[]);
    let line = assert_one_line_error(&login_with_password(&sb, hostile::PASSWORD, &[]));
    assert!(
        line.contains("would put your password into a URL"),
        "{line}"
    );
    let seen: Vec<_> = h.seen().into_iter().map(|s| (s.method, s.uri)).collect();
    assert_eq!(seen, [("GET".to_owned(), "/getform/start".to_owned())]);
    assert!(sb.stored_keys().is_empty(), "{:?}", sb.stored_keys());
}

#[test]
fn saml_password_free_redirects_cross_https_origins_and_reach_http_on_this_machine() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let h = Hostile::start();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    // https IdP -> 302 -> login page on another https origin, whose form posts to the IdP.
    let sb = hostile_sandbox(backend, &h, "cross", &fake, &[]);
    assert_success(&login_with_password(&sb, hostile::PASSWORD, &[]));
    let b: Vec<_> = h
        .seen_by(&h.b)
        .into_iter()
        .map(|s| (s.method, s.uri))
        .collect();
    assert_eq!(b, [("GET".to_owned(), "/form".to_owned())]);
    // https IdP -> 302 -> a page on plain http on this machine, whose form posts to the IdP.
    let sb = hostile_sandbox(backend, &h, "to-local", &fake, &[]);
    assert_success(&login_with_password(&sb, hostile::PASSWORD, &[]));
    let r: Vec<_> = h
        .seen_by(&h.r)
        .into_iter()
        .map(|s| (s.method, s.uri))
        .collect();
    assert_eq!(r, [("GET".to_owned(), "/form".to_owned())]);
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
    password_reached_only(&h, &[&h.idp]);
}

#[test]
fn saml_silent_relogin_refuses_the_hostile_307_like_login_does() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let h = Hostile::start();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = hostile_sandbox(backend, &h, "flip", &fake, &[]);
    // One-hour sessions are always inside a 13-hour window: every call signs in again.
    let config = sb.read_config();
    sb.write_config(&format!("{config}keyfob_refresh_window = 13h\n"));
    assert_success(&login_with_password(&sb, hostile::PASSWORD, &[]));
    assert!(has_password(&sb));
    assert_success(&sb.run(&["credential-process", "--profile", PROFILE]));
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2, "a silent re-login");

    h.turn();
    let refusal = format!(
        "the IdP answered the login with a 307 redirect that would send your password again, from https to plain http at {}",
        h.r
    );
    let out = sb.run(&["credential-process", "--profile", PROFILE]);
    assert!(h.seen_by(&h.r).is_empty(), "{:?}", h.seen_by(&h.r));
    let line = assert_one_line_error(&out);
    assert!(line.contains(&refusal), "{line}");
    assert!(!line.contains(hostile::PASSWORD), "{line}");
    // `keyfob login` with the stored password meets the same refusal.
    let line = assert_one_line_error(&sb.run(&["login", "--profile", PROFILE]));
    assert!(line.contains(&refusal), "{line}");
    assert!(h.seen_by(&h.r).is_empty(), "{:?}", h.seen_by(&h.r));
    password_reached_only(&h, &[&h.idp]);
    assert_eq!(fake.count(Op::AssumeRoleWithSaml), 2);
    // Not a wrong password: it stays stored.
    assert!(has_password(&sb));
}

#[test]
fn saml_a_bad_trusted_origin_is_one_line_before_any_request() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let h = Hostile::start();
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = hostile_sandbox(backend, &h, "ok", &fake, &[]);
    let before = sb.read_config();
    let line = assert_one_line_error(&sb.run(&[
        "configure",
        "saml",
        PROFILE,
        "--url",
        &format!("{}/ok/start", h.idp),
        "--username",
        hostile::USER,
        "--trusted-origin",
        "https://login.example.com/saml",
    ]));
    assert!(
        line.contains("--trusted-origin") && line.contains("nothing was written"),
        "{line}"
    );
    assert_eq!(sb.read_config(), before);

    sb.write_config(&format!(
        "{before}keyfob_saml_trusted_origins = {} login.example.com\n",
        h.b
    ));
    let line = assert_one_line_error(&login_with_password(&sb, hostile::PASSWORD, &[]));
    assert!(
        line.contains("keyfob_saml_trusted_origins of profile corp: \"login.example.com\""),
        "{line}"
    );
    assert!(h.seen().is_empty(), "{:?}", h.seen());
    assert!(sb.stored_keys().is_empty());
}
