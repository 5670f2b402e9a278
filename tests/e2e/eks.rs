//! Issue 11, point 2: `keyfob eks-token` makes the token `aws eks get-token` makes (botocore
//! recomputes the URL; the fake STS answers it; the AWS CLI v2 prints the same shape), serves it
//! from the keychain across processes with one signing for any number of callers, and never
//! serves it for a re-pointed profile; `keyfob kubeconfig --write` adds one kubeconfig user and
//! keeps the rest of the file as a YAML 1.1 reader (kubectl's kind) sees it.

use crate::support::*;
use keyfob_tests::fake::{FakeAws, FakeConfig, Op};
use std::io::{Read as _, Write as _};
use std::process::{Output, Stdio};

const ACCOUNT: &str = "111122223333";

/// `admin`: a role assumed (at the fake STS) with the keys of `base`, which keyfob holds. keyfob
/// does not cache role hops across processes (yet), so every AssumeRole the fake counts is a
/// token that was not served from the keychain.
fn fake_sandbox(backend: Backend, fake: &FakeAws) -> Sandbox {
    let mut sb = Sandbox::new(backend);
    sb.write_config(&format!(
        "[profile admin]\nrole_arn = arn:aws:iam::{ACCOUNT}:role/Admin\nsource_profile = base\nregion = eu-west-1\n"
    ));
    let user = fake.static_user();
    sb.add_user("base", &user.access_key_id, &user.secret_access_key);
    for (k, v) in fake.endpoint_env() {
        sb.set_env(k, &v);
    }
    sb
}

/// The parsed output, its token and the URL inside it.
fn token_of(out: &Output) -> (serde_json::Value, String, String) {
    assert_success(out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)));
    let token = json["status"]["token"].as_str().unwrap().to_owned();
    let url = keyfob_core::eks::url_of_token(&token)
        .unwrap_or_else(|| panic!("not a k8s-aws-v1 token: {token}"));
    (json, token, url)
}

/// The query parameters of `url`, in order.
fn params(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param(url: &str, name: &str) -> String {
    params(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .1
}

/// `X-Amz-Date` as a time.
fn signed_at(url: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::NaiveDateTime::parse_from_str(&param(url, "X-Amz-Date"), "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc()
}

/// A plain HTTP GET of `url` (on 127.0.0.1) with the header the cluster's authenticator adds;
/// the status and the body.
fn replay(url: &str, cluster: &str) -> (u16, String) {
    let u = url::Url::parse(url).unwrap();
    let addr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    assert!(addr.starts_with("127.0.0.1:"), "{url}");
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let request = format!(
        "GET {}?{} HTTP/1.1\r\nHost: {addr}\r\nx-k8s-aws-id: {cluster}\r\nConnection: close\r\n\r\n",
        u.path(),
        u.query().unwrap_or_default()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].to_owned())
}

// ---------------------------------------------------------------------------------------------
// The token is the AWS CLI's

/// botocore's presigner, set up exactly as `aws eks get-token` sets it up (the two handlers of
/// awscli/customizations/eks/get_token.py), with its clock stopped at `EKS_DATE`.
const BOTOCORE_PRESIGN: &str = r#"
import datetime, os
import botocore.auth, botocore.session
at = datetime.datetime.strptime(os.environ["EKS_DATE"], "%Y%m%dT%H%M%SZ")
botocore.auth.get_current_datetime = lambda *a, **k: at
client = botocore.session.Session().create_client(
    "sts",
    region_name=os.environ.get("EKS_REGION") or None,
    aws_access_key_id=os.environ["EKS_AKID"],
    aws_secret_access_key=os.environ["EKS_SECRET"],
    aws_session_token=os.environ.get("EKS_SESSION_TOKEN") or None,
)
def retrieve(params, context, **kwargs):
    if "x-k8s-aws-id" in params:
        context["x-k8s-aws-id"] = params.pop("x-k8s-aws-id")
def inject(request, **kwargs):
    if "x-k8s-aws-id" in request.context:
        request.headers["x-k8s-aws-id"] = request.context["x-k8s-aws-id"]
client.meta.events.register("provide-client-params.sts.GetCallerIdentity", retrieve)
client.meta.events.register("before-sign.sts.GetCallerIdentity", inject)
print(client.generate_presigned_url(
    "get_caller_identity",
    Params={"x-k8s-aws-id": os.environ["EKS_CLUSTER"]},
    ExpiresIn=60,
    HttpMethod="GET",
))
"#;

/// Profile, extra arguments, the region botocore is given, the session token.
type Case<'a> = (&'a str, &'a [&'a str], Option<&'a str>, Option<&'a str>);

#[test]
fn eks_token_url_is_botocores_presigned_url_for_the_same_credentials_region_cluster_and_time() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    sb.write_config("[profile dev]\nregion = eu-west-1\n[profile global]\n");
    std::fs::write(
        sb.credentials_path(),
        format!(
            "[dev]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\naws_session_token = Fwo/session+token==\n\
             [global]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n"
        ),
    )
    .unwrap();
    let cases: [Case<'_>; 3] = [
        ("dev", &[], Some("eu-west-1"), Some("Fwo/session+token==")),
        (
            "dev",
            &["--region", "cn-north-1"],
            Some("cn-north-1"),
            Some("Fwo/session+token=="),
        ),
        ("global", &[], None, None),
    ];
    for (profile, extra, region, session_token) in cases {
        let mut args = vec![
            "eks-token",
            "--cluster",
            "my-cluster_1",
            "--profile",
            profile,
        ];
        args.extend_from_slice(extra);
        let (json, _, url) = token_of(&sb.run(&args));
        let date = param(&url, "X-Amz-Date");
        let Some(out) = python(
            &sb,
            BOTOCORE_PRESIGN,
            &[
                ("EKS_DATE", &date),
                ("EKS_REGION", region.unwrap_or("")),
                ("EKS_AKID", AKID),
                ("EKS_SECRET", SECRET),
                ("EKS_SESSION_TOKEN", session_token.unwrap_or("")),
                ("EKS_CLUSTER", "my-cluster_1"),
            ],
        ) else {
            return;
        };
        assert_success(&out);
        let botocore = stdout(&out).trim().to_owned();
        assert_eq!(
            url, botocore,
            "{profile} {extra:?}: keyfob's URL, then botocore's"
        );
        // Every parameter and the signature, named, for a reader of a failure above.
        assert_eq!(params(&url), params(&botocore));
        let expires = signed_at(&url) + chrono::Duration::minutes(14);
        assert_eq!(
            json["status"]["expirationTimestamp"],
            expires.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        );
    }
}

#[test]
fn the_fake_sts_answers_the_token_url_with_the_signers_arn() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake);
    // The profile's own chain: its AssumeRole credentials sign.
    let (_, _, url) = token_of(&sb.run(&["eks-token", "--cluster", "demo", "--profile", "admin"]));
    assert!(
        url.starts_with(&format!(
            "{}/?Action=GetCallerIdentity&Version=2011-06-15&",
            fake.url()
        )),
        "{url}"
    );
    let (status, body) = replay(&url, "demo");
    assert_eq!(status, 200, "{body}");
    let key = param(&url, "X-Amz-Credential");
    let key = key.split('/').next().unwrap();
    let issued = fake
        .issued_credentials()
        .into_iter()
        .find(|c| c.access_key_id == key)
        .expect("signed with keys the fake issued");
    assert!(
        issued.arn.contains(":assumed-role/Admin/"),
        "{}",
        issued.arn
    );
    assert_eq!(
        xml_text(&body, "Arn").as_deref(),
        Some(issued.arn.as_str()),
        "{body}"
    );
    assert_eq!(param(&url, "X-Amz-Security-Token"), issued.session_token);
    // --role-arn: assumed with the profile's keys, in the AWS CLI's session name.
    let (_, _, url) = token_of(&sb.run(&[
        "eks-token",
        "--cluster",
        "demo",
        "--profile",
        "base",
        "--region",
        "eu-west-1",
        "--role-arn",
        &format!("arn:aws:iam::{ACCOUNT}:role/EksAdmin"),
    ]));
    let (status, body) = replay(&url, "demo");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        xml_text(&body, "Arn").unwrap(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/EksAdmin/EKSGetTokenAuth")
    );
    let last = fake.last(Op::AssumeRole).unwrap();
    assert_eq!(
        last.form
            .as_ref()
            .and_then(|f| f.get("RoleSessionName"))
            .map(String::as_str),
        Some("EKSGetTokenAuth")
    );
}

/// The AWS CLI v2 on this machine: `KEYFOB_TEST_AWS_CLI`, else `/usr/bin/aws` (Debian's
/// `awscli`, which `.ci/run` installs), if its `--version` says 2.x.
fn aws_cli_v2() -> Option<std::path::PathBuf> {
    let candidate = std::env::var_os("KEYFOB_TEST_AWS_CLI")
        .map_or_else(|| std::path::PathBuf::from("/usr/bin/aws"), Into::into);
    let version = std::process::Command::new(&candidate)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if version
        .as_deref()
        .is_some_and(|v| v.starts_with("aws-cli/2."))
    {
        Some(candidate)
    } else {
        require("an AWS CLI v2 at /usr/bin/aws (Debian's awscli) or KEYFOB_TEST_AWS_CLI");
        None
    }
}

#[test]
fn aws_cli_v2_eks_get_token_prints_the_same_shape_field_for_field() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let Some(aws) = aws_cli_v2() else {
        return;
    };
    let sb = Sandbox::new(backend);
    sb.write_config("[profile dev]\nregion = eu-west-1\n");
    std::fs::write(
        sb.credentials_path(),
        format!("[dev]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\naws_session_token = Fwo/session+token==\n"),
    )
    .unwrap();
    for exec_info in [
        None,
        Some(
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
        ),
    ] {
        let mut ours = sb.keyfob(&["eks-token", "--cluster", "demo", "--profile", "dev"]);
        let mut theirs = sb.command(&aws);
        theirs.args([
            "eks",
            "get-token",
            "--cluster-name",
            "demo",
            "--profile",
            "dev",
        ]);
        if let Some(info) = exec_info {
            ours.env("KUBERNETES_EXEC_INFO", info);
            theirs.env("KUBERNETES_EXEC_INFO", info);
        }
        let ours = ours.output().unwrap();
        let theirs = theirs.output().unwrap();
        let (our_json, our_token, our_url) = token_of(&ours);
        let (their_json, their_token, their_url) = token_of(&theirs);
        // The same document once the two values that must differ (time, signature) are set
        // aside: keys, order, nesting, layout, apiVersion.
        let blank = |text: String, json: &serde_json::Value, token: &str| {
            text.replace(
                json["status"]["expirationTimestamp"].as_str().unwrap(),
                "TIME",
            )
            .replace(token, "TOKEN")
        };
        assert_eq!(
            blank(stdout(&ours), &our_json, &our_token),
            blank(stdout(&theirs), &their_json, &their_token),
            "keyfob's output, then the AWS CLI's"
        );
        // The same URL but for the time and the signature.
        let names = |u: &str| params(u).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(names(&our_url), names(&their_url));
        assert_eq!(our_url.split('?').next(), their_url.split('?').next());
        for name in [
            "Action",
            "Version",
            "X-Amz-Algorithm",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Security-Token",
        ] {
            assert_eq!(param(&our_url, name), param(&their_url, name), "{name}");
        }
        // Both say the token expires 14 minutes after it was signed.
        for (json, url) in [(&our_json, &our_url), (&their_json, &their_url)] {
            let exp = chrono::DateTime::parse_from_rfc3339(
                json["status"]["expirationTimestamp"].as_str().unwrap(),
            )
            .unwrap();
            let life = exp.with_timezone(&chrono::Utc) - signed_at(url);
            assert!(
                (chrono::Duration::seconds(14 * 60 - 2)..=chrono::Duration::seconds(14 * 60 + 2))
                    .contains(&life),
                "{life} for {json}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cached across processes, one signing for many callers, never for a re-pointed profile

#[test]
fn an_eks_token_is_served_from_the_keychain_for_its_life_with_one_assume_role() {
    for backend in Backend::available() {
        let fake = FakeAws::start(FakeConfig::default()).unwrap();
        let sb = fake_sandbox(backend, &fake);
        let args = ["eks-token", "--cluster", "demo", "--profile", "admin"];
        let (first, token, _) = token_of(&sb.run(&args));
        let (again, same, _) = token_of(&sb.run(&args));
        assert_eq!(
            token, same,
            "{backend:?}: the second call is served from the keychain"
        );
        assert_eq!(first, again);
        assert_eq!(fake.count(Op::AssumeRole), 1, "{backend:?}");
        // Another cluster is another token; --api-version only changes the wrapping.
        let (v1, other, _) = token_of(&sb.run(&[
            "eks-token",
            "--cluster",
            "other",
            "--profile",
            "admin",
            "--api-version",
            "v1",
        ]));
        assert_ne!(other, token);
        assert_eq!(v1["apiVersion"], "client.authentication.k8s.io/v1");
        // The role's credentials are cached as a hop of the chain: the other cluster's token
        // is signed with them, no second AssumeRole.
        assert_eq!(fake.count(Op::AssumeRole), 1, "{backend:?}");
        let status = stdout(&sb.run(&["status"]));
        assert!(
            status.lines().any(|l| l.starts_with("eks token")
                && l.split_whitespace().nth(2) == Some("admin#demo#eu-west-1")
                && l.split_whitespace().nth(3) == Some("valid")),
            "{status}"
        );
        assert!(!status.contains("k8s-aws-v1"), "{status}");
        // `remove` forgets them.
        let out = sb.run(&["remove", "admin"]);
        assert_success(&out);
        assert!(stderr(&out).contains("EKS tokens"), "{}", stderr(&out));
        assert!(!sb.stored_keys().iter().any(|k| k.starts_with("eks-token/")));
    }
}

#[test]
fn twenty_concurrent_cold_eks_token_calls_make_one_credential_fetch() {
    for backend in Backend::available() {
        let fake = FakeAws::start(FakeConfig {
            latency_ms: 300,
            ..FakeConfig::default()
        })
        .unwrap();
        let sb = fake_sandbox(backend, &fake);
        let children: Vec<_> = (0..20)
            .map(|_| {
                sb.keyfob(&["eks-token", "--cluster", "demo", "--profile", "admin"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut tokens = std::collections::BTreeSet::new();
        for child in children {
            let (_, token, _) = token_of(&child.wait_with_output().unwrap());
            tokens.insert(token);
        }
        assert_eq!(fake.count(Op::AssumeRole), 1, "{backend:?}");
        assert_eq!(tokens.len(), 1, "{backend:?}: all 20 got the one token");
    }
}

#[test]
fn a_repointed_profile_gets_a_new_eks_token_signed_by_the_new_role() {
    for backend in Backend::available() {
        let fake = FakeAws::start(FakeConfig::default()).unwrap();
        let sb = fake_sandbox(backend, &fake);
        let args = ["eks-token", "--cluster", "demo", "--profile", "admin"];
        let (_, before, _) = token_of(&sb.run(&args));
        sb.write_config(&sb.read_config().replace("role/Admin", "role/ReadOnly"));
        let (_, after, url) = token_of(&sb.run(&args));
        assert_ne!(
            before, after,
            "{backend:?}: the old role's token is not served"
        );
        assert_eq!(fake.count(Op::AssumeRole), 2, "{backend:?}");
        let (status, body) = replay(&url, "demo");
        assert_eq!(status, 200, "{body}");
        assert!(
            xml_text(&body, "Arn")
                .unwrap()
                .contains(":assumed-role/ReadOnly/"),
            "{body}"
        );
        // So is a source profile re-pointed at other keys, and another endpoint.
        sb.write_config(
            &sb.read_config()
                .replace("source_profile = base", "source_profile = base2"),
        );
        sb.add_user(
            "base2",
            &fake.static_user().access_key_id,
            &fake.static_user().secret_access_key,
        );
        let (_, third, _) = token_of(&sb.run(&args));
        assert_ne!(third, after);
        assert_eq!(fake.count(Op::AssumeRole), 3, "{backend:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input and failures: one line

#[test]
fn eks_token_refuses_bad_input_and_reports_sts_failures_in_one_line() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).unwrap();
    let sb = fake_sandbox(backend, &fake);
    for (args, says) in [
        (
            vec!["--cluster", "my cluster", "--profile", "admin"],
            "cluster name \"my cluster\" cannot be used",
        ),
        (
            vec![
                "--cluster",
                "demo",
                "--profile",
                "admin",
                "--region",
                "EU/west",
            ],
            "is not an AWS region name",
        ),
        (
            vec![
                "--cluster",
                "demo",
                "--profile",
                "base",
                "--role-arn",
                "Admin",
            ],
            "is not an IAM role ARN",
        ),
        (
            vec!["--cluster", "demo", "--profile", "nobody"],
            "profile nobody not found",
        ),
    ] {
        let mut all = vec!["eks-token"];
        all.extend(args);
        let out = sb.run(&all);
        // Arguments that can never work are usage errors (2); a missing profile is a failure.
        let code = if says.contains("not found") { 1 } else { 2 };
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(says), "{}", lines[0]);
    }
    assert_eq!(fake.count(Op::AssumeRole), 0);
    fake.fail_next(Op::AssumeRole, 403, 1);
    let line =
        assert_one_line_error(&sb.run(&["eks-token", "--cluster", "demo", "--profile", "admin"]));
    assert!(
        line.contains("AssumeRole") && line.contains("AccessDenied"),
        "{line}"
    );
    assert!(!sb.stored_keys().iter().any(|k| k.starts_with("eks-token/")));
}

// ---------------------------------------------------------------------------------------------
// kubeconfig

const KUBECONFIG: &str = r#"apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwK
    server: https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com
  name: arn:aws:eks:eu-west-1:111122223333:cluster/demo
contexts:
- context:
    cluster: arn:aws:eks:eu-west-1:111122223333:cluster/demo
    user: arn:aws:eks:eu-west-1:111122223333:cluster/demo
    namespace: "0123"
  name: demo
- context: &kind
    cluster: kind
    user: kind
  name: kind
- context: *kind
  name: kind-again
current-context: demo
kind: Config
preferences: {}
users:
- name: arn:aws:eks:eu-west-1:111122223333:cluster/demo
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args: [--region, eu-west-1, eks, get-token, --cluster-name, demo]
      command: aws
      env:
      - name: AWS_PROFILE
        value: "yes"
      interactiveMode: IfAvailable
      provideClusterInfo: false
- name: kind
  user:
    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=
    note: |
      two
      lines
    port: 8080
    ratio: 1.50
    on: off
"#;

/// PyYAML, a YAML 1.1 reader like kubectl's, compares the file before and after: everything
/// but the last user is the same; the last user is printed as JSON.
const PYYAML_COMPARE: &str = r#"
import json, os, sys, yaml
before = yaml.safe_load(open(os.environ["BEFORE"]))
after = yaml.safe_load(open(os.environ["AFTER"]))
new = after["users"].pop()
if before != after:
    sys.exit("the rest of the kubeconfig changed:\n%r\n%r" % (before, after))
print(json.dumps(new))
"#;

#[test]
fn kubeconfig_write_adds_one_user_and_a_yaml_1_1_reader_sees_the_rest_unchanged() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let sb = Sandbox::new(backend);
    sb.write_config(
        "[profile dev]\ncredential_process = keyfob credential-process --profile dev\n",
    );
    let kube = sb.home().join(".kube");
    std::fs::create_dir_all(&kube).unwrap();
    let path = kube.join("config");
    std::fs::write(&path, KUBECONFIG).unwrap();
    let before = sb.home().join("before.yaml");
    std::fs::write(&before, KUBECONFIG).unwrap();
    // Shown, not written.
    let out = sb.run(&["kubeconfig", "--cluster", "demo", "--profile", "dev"]);
    assert_success(&out);
    assert!(stdout(&out).starts_with("users:\n"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), KUBECONFIG);
    let expect_entry = |extra: &[&str]| {
        let mut args = vec![
            "eks-token",
            "--cluster",
            "demo",
            "--profile",
            "dev",
            "--region",
            "eu-west-1",
        ];
        args.extend_from_slice(extra);
        serde_json::json!({
            "name": "dev@demo",
            "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "keyfob",
                "args": args,
                "env": null,
                "interactiveMode": "Never",
                "provideClusterInfo": false,
            }}
        })
    };
    let role = format!("arn:aws:iam::{ACCOUNT}:role/Admin");
    for extra in [vec![], vec!["--role-arn", role.as_str()]] {
        let mut args = vec![
            "kubeconfig",
            "--cluster",
            "demo",
            "--profile",
            "dev",
            "--region",
            "eu-west-1",
            "--write",
        ];
        args.extend_from_slice(&extra);
        let out = sb.run(&args);
        assert_success(&out);
        assert!(stderr(&out).contains("user dev@demo"), "{}", stderr(&out));
        let Some(py) = python(
            &sb,
            PYYAML_COMPARE,
            &[
                ("BEFORE", &before.display().to_string()),
                ("AFTER", &path.display().to_string()),
            ],
        ) else {
            return;
        };
        assert_success(&py);
        let entry: serde_json::Value = serde_json::from_str(stdout(&py).trim()).unwrap();
        assert_eq!(
            entry,
            expect_entry(&extra),
            "a second run replaces the user"
        );
        assert!(
            !kube.join("config.lock").exists(),
            "kubectl's lock is released"
        );
    }
    // A file that is not YAML is refused in one line, left alone, and never quoted.
    std::fs::write(&path, "users: [a, b\nclient-key-data: hunter2\n").unwrap();
    let line = assert_one_line_error(&sb.run(&[
        "kubeconfig",
        "--cluster",
        "demo",
        "--profile",
        "dev",
        "--write",
    ]));
    assert!(
        line.contains("is not a YAML document keyfob can read"),
        "{line}"
    );
    assert!(!line.contains("hunter2"), "{line}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "users: [a, b\nclient-key-data: hunter2\n"
    );
}
