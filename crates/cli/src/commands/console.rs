//! `keyfob console`: an AWS console sign-in URL for a profile's credentials, through the
//! federation endpoint (getSigninToken, then Action=login), opened in the browser or printed.
//!
//! The URL signs anyone who has it in: it goes to the browser or to stdout, never to a log.
//! `KEYFOB_FEDERATION_ENDPOINT` replaces the partition's `https://signin…/federation` (for
//! tests against a local fake, or a proxy); since the secret key and the session token travel
//! in its query, it must be https, or http to this machine. The call has a connect timeout, an
//! overall timeout and a cap on the answer's size, and follows no redirect.

use crate::app::App;
use crate::cli::ConsoleArgs;
use crate::output::{hinted, say, warn};
use crate::sources::chain::{self, Base, ServedKind};
use crate::sources::resolve::Interaction;
use keyfob_core::Credentials;
use keyfob_core::profile::select_profile;
use keyfob_saml::Partition;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &ConsoleArgs) -> anyhow::Result<ExitCode> {
    // Before anything is resolved or sent: the override must be a place fit for the keys.
    let endpoint_override = app
        .env
        .get_non_empty("KEYFOB_FEDERATION_ENDPOINT")
        .map(|e| federation_endpoint(&e))
        .transpose()?;
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    let code = chain::mfa_code_from(args.mfa_code.clone());
    let resolved = chain::credentials(app, &profiles, &name, &Interaction { mfa_code: &code })?;
    let creds = &resolved.credentials;
    let session_token_only = resolved.plan.hops.is_empty()
        && matches!(&resolved.plan.base, Base::Keyfob { served_as, .. }
            if ServedKind::of(&profiles, served_as) == Some(ServedKind::MfaSession));
    if creds.session_token.is_none() || session_token_only {
        return Err(hinted(
            format!(
                "console sign-in needs role credentials, and profile {name} gives {}",
                if session_token_only {
                    "an MFA session (GetSessionToken), which the federation endpoint refuses"
                } else {
                    "long-term IAM user keys"
                }
            ),
            format!(
                "add a role profile (role_arn = …, source_profile = {name}) and run keyfob console --profile with it"
            ),
        ));
    }
    let duration = match args.duration_seconds {
        Some(d) if chain::session_duration_allowed(&profiles, &resolved.plan) => Some(d),
        Some(_) => {
            warn(&format!(
                "--duration-seconds ignored: profile {name} is a chained role ({}), whose console sessions AWS limits to the role session",
                resolved.plan.describe()
            ));
            None
        }
        None => None,
    };
    let region = chain::sts_region(app, &profiles, &name);
    let partition = Partition::of_region(&region);
    let endpoint = endpoint_override
        .unwrap_or_else(|| format!("https://{}/federation", signin_host(partition)));
    let destination = args
        .destination
        .clone()
        .unwrap_or_else(|| format!("https://{}/", console_host(partition)));
    let token = App::runtime()?.block_on(signin_token(&endpoint, creds, duration))?;
    let url = login_url(&endpoint, &destination, &token)?;
    if args.no_browser {
        crate::output::data(url.as_str())?;
        return Ok(ExitCode::SUCCESS);
    }
    match open_browser(app, url.as_str()) {
        Ok(()) => say(&format!(
            "Opened the AWS console for profile {name} in the browser."
        )),
        Err(e) => {
            warn(&format!(
                "could not open a browser ({e}); the sign-in URL follows on stdout"
            ));
            crate::output::data(url.as_str())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn signin_host(p: Partition) -> &'static str {
    match p {
        Partition::AwsUsGov => "signin.amazonaws-us-gov.com",
        Partition::AwsCn => "signin.amazonaws.cn",
        _ => "signin.aws.amazon.com",
    }
}

fn console_host(p: Partition) -> &'static str {
    match p {
        Partition::AwsUsGov => "console.amazonaws-us-gov.com",
        Partition::AwsCn => "console.amazonaws.cn",
        _ => "console.aws.amazon.com",
    }
}

/// How long connecting to the federation endpoint may take.
const FEDERATION_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the whole getSigninToken call may take: the real endpoint answers in well under a
/// second; 30 s allows a slow network and stays inside what a user waits for at a prompt.
const FEDERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Largest getSigninToken answer read: the real one is a JSON object with a token of about
/// 1-2 KiB.
const FEDERATION_MAX_BODY: usize = 64 * 1024;

/// `KEYFOB_FEDERATION_ENDPOINT`, accepted only where the session's keys may go: https, or
/// plain http to this machine (127.0.0.0/8, ::1, localhost), as for a local fake or proxy.
fn federation_endpoint(value: &str) -> anyhow::Result<String> {
    let hint = "unset KEYFOB_FEDERATION_ENDPOINT, or set it to an https URL (plain http only to 127.0.0.1, [::1] or localhost)";
    let url = url::Url::parse(value).map_err(|e| {
        hinted(
            format!("KEYFOB_FEDERATION_ENDPOINT {value:?} is not a URL: {e}"),
            hint,
        )
    })?;
    let allowed = match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case("localhost"),
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    };
    if !allowed {
        return Err(hinted(
            format!(
                "KEYFOB_FEDERATION_ENDPOINT {value:?} is refused: console sends the session's secret key and token there, so it must be https, or http to this machine"
            ),
            hint,
        ));
    }
    Ok(value.to_owned())
}

/// The `Session` parameter of getSigninToken.
fn session_json(creds: &Credentials) -> String {
    serde_json::json!({
        "sessionId": creds.access_key_id,
        "sessionKey": creds.secret_access_key.expose(),
        "sessionToken": creds.session_token.as_ref().map(keyfob_core::Secret::expose).unwrap_or_default(),
    })
    .to_string()
}

async fn signin_token(
    endpoint: &str,
    creds: &Credentials,
    duration: Option<u32>,
) -> anyhow::Result<String> {
    let mut query = vec![("Action", "getSigninToken".to_owned())];
    if let Some(d) = duration {
        query.push(("SessionDuration", d.to_string()));
    }
    query.push(("Session", session_json(creds)));
    // No redirects: the real endpoint answers directly, and the query holds the keys.
    let client = reqwest::Client::builder()
        .connect_timeout(FEDERATION_CONNECT_TIMEOUT)
        .timeout(FEDERATION_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = client
        .get(endpoint)
        .query(&query)
        .send()
        .await
        .map_err(|e| federation_error("could not reach", endpoint, e))?;
    let status = response.status();
    let body = read_capped(response, endpoint).await?;
    if !status.is_success() {
        let detail: String = body
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(200)
            .collect();
        return Err(hinted(
            format!("the federation endpoint refused the credentials (HTTP {status}): {detail}"),
            "check that the profile's role may sign in to the console; keyfob whoami shows whose credentials these are",
        ));
    }
    let doc: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
        anyhow::anyhow!("the federation endpoint answered something other than JSON")
    })?;
    doc.get("SigninToken")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the federation endpoint answered without a SigninToken"))
}

/// One line for a failed call; never reqwest's own message with the URL, which holds the keys.
fn federation_error(what: &str, endpoint: &str, e: reqwest::Error) -> anyhow::Error {
    let why = if e.is_timeout() {
        format!("no answer within {} s", FEDERATION_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        e.without_url().to_string()
    };
    hinted(
        format!("{what} the federation endpoint {endpoint}: {why}"),
        "check the network, then run keyfob console again",
    )
}

/// The answer's body, at most [`FEDERATION_MAX_BODY`] bytes of it (more is an error).
async fn read_capped(mut response: reqwest::Response, endpoint: &str) -> anyhow::Result<String> {
    let mut body = Vec::new();
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| federation_error("could not read the answer of", endpoint, e))?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > FEDERATION_MAX_BODY {
            anyhow::bail!(
                "the federation endpoint {endpoint} answered more than {} KiB; a sign-in token is far smaller",
                FEDERATION_MAX_BODY / 1024
            );
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn login_url(endpoint: &str, destination: &str, token: &str) -> anyhow::Result<url::Url> {
    let mut url = url::Url::parse(endpoint)
        .map_err(|e| anyhow::anyhow!("federation endpoint {endpoint:?} is not a URL: {e}"))?;
    url.query_pairs_mut()
        .clear()
        .append_pair("Action", "login")
        .append_pair("Issuer", "keyfob")
        .append_pair("Destination", destination)
        .append_pair("SigninToken", token);
    Ok(url)
}

/// `$BROWSER` (a command, maybe with arguments), else the desktop's opener.
fn open_browser(app: &App, url: &str) -> std::io::Result<()> {
    match app.env.get_non_empty("BROWSER") {
        Some(cmd) => {
            let mut words = cmd.split_whitespace();
            let prog = words.next().unwrap_or_default();
            std::process::Command::new(prog)
                .args(words)
                .arg(url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .spawn()
                .map(drop)
        }
        None => open::that_detached(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyfob_core::Secret;

    #[test]
    fn the_federation_endpoint_is_https_or_loopback() {
        for ok in [
            "https://signin.aws.amazon.com/federation",
            "https://proxy.corp.example:8443/federation",
            "http://127.0.0.1:9/federation",
            "http://127.3.2.1/federation",
            "http://localhost:8080/federation",
            "http://[::1]:8080/federation",
        ] {
            assert_eq!(federation_endpoint(ok).unwrap(), ok);
        }
        for refused in [
            "http://signin.aws.amazon.com/federation",
            "http://192.0.2.1:9/federation",
            "http://localhost.evil.example/federation",
            "http://[fe80::1]/federation",
            "ftp://127.0.0.1/federation",
            "file:///tmp/federation",
            "not a url",
        ] {
            let e = federation_endpoint(refused).unwrap_err();
            assert!(
                crate::output::error_line(&e).contains("KEYFOB_FEDERATION_ENDPOINT"),
                "{refused}: {e:#}"
            );
        }
    }

    #[test]
    fn urls_and_session_document() {
        let c = Credentials {
            access_key_id: "ASIAX".into(),
            secret_access_key: Secret::new("k"),
            session_token: Some(Secret::new("t")),
            expiration: None,
        };
        assert_eq!(
            session_json(&c),
            r#"{"sessionId":"ASIAX","sessionKey":"k","sessionToken":"t"}"#
        );
        let url = login_url(
            "https://signin.aws.amazon.com/federation",
            "https://console.aws.amazon.com/s3/home?region=eu-west-1",
            "TOK",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://signin.aws.amazon.com/federation?Action=login&Issuer=keyfob&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2Fs3%2Fhome%3Fregion%3Deu-west-1&SigninToken=TOK"
        );
        assert_eq!(
            signin_host(Partition::of_region("us-gov-west-1")),
            "signin.amazonaws-us-gov.com"
        );
        assert_eq!(
            console_host(Partition::of_region("cn-north-1")),
            "console.amazonaws.cn"
        );
        assert_eq!(
            signin_host(Partition::of_region("eu-west-1")),
            "signin.aws.amazon.com"
        );
    }
}
