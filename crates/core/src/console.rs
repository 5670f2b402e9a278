//! The AWS console's federation endpoint: a sign-in URL for a session's credentials
//! (getSigninToken, then Action=login).
//!
//! The URL signs anyone who has it in. `KEYFOB_FEDERATION_ENDPOINT` replaces the partition's
//! `https://signin…/federation` (for tests against a local fake, or a proxy); since the secret
//! key and the session token travel in its query, it must be https, or http to this machine.
//! The call has a connect timeout, an overall timeout and a cap on the answer's size, and
//! follows no redirect.

use crate::credentials::Credentials;
use crate::partition::Partition;

/// A console sign-in that failed. No message holds a key or the URL's query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// `KEYFOB_FEDERATION_ENDPOINT` is not a URL.
    #[error("KEYFOB_FEDERATION_ENDPOINT {value:?} is not a URL: {reason}")]
    NotAUrl {
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
    /// `KEYFOB_FEDERATION_ENDPOINT` is not a place for the keys.
    #[error(
        "KEYFOB_FEDERATION_ENDPOINT {value:?} is refused: console sends the session's secret key and token there, so it must be https, or http to this machine"
    )]
    Refused {
        /// The value.
        value: String,
    },
    /// The endpoint cannot be reached or read.
    #[error("{what} the federation endpoint {endpoint}: {why}")]
    Transport {
        /// What was being done.
        what: &'static str,
        /// The endpoint.
        endpoint: String,
        /// Why, without the URL (it holds the keys).
        why: String,
    },
    /// The answer is larger than a sign-in token can be.
    #[error(
        "the federation endpoint {endpoint} answered more than {} KiB; a sign-in token is far smaller",
        FEDERATION_MAX_BODY / 1024
    )]
    TooLarge {
        /// The endpoint.
        endpoint: String,
    },
    /// The endpoint refused the credentials.
    #[error("the federation endpoint refused the credentials (HTTP {status}): {detail}")]
    Refusal {
        /// The HTTP status.
        status: u16,
        /// The start of its answer, on one line.
        detail: String,
    },
    /// The answer is not what the endpoint sends.
    #[error("the federation endpoint answered {0}")]
    BadAnswer(&'static str),
}

impl ConsoleError {
    /// The command or change that fixes it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConsoleError::NotAUrl { .. } | ConsoleError::Refused { .. } => Some(
                "unset KEYFOB_FEDERATION_ENDPOINT, or set it to an https URL (plain http only to 127.0.0.1, [::1] or localhost)"
                    .to_owned(),
            ),
            ConsoleError::Transport { .. } => {
                Some("check the network, then run keyfob console again".to_owned())
            }
            ConsoleError::Refusal { .. } => Some(
                "check that the profile's role may sign in to the console; keyfob whoami shows whose credentials these are"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// The partition's federation endpoint.
pub fn default_endpoint(partition: Partition) -> String {
    format!("https://{}/federation", partition.signin_domain())
}

/// The partition's console home page.
pub fn default_destination(partition: Partition) -> String {
    format!("https://{}/", partition.console_domain())
}

/// A sign-in URL for `creds` at `destination`, through the federation `endpoint`; `duration`
/// is the console session's length, where AWS allows one.
pub async fn signin_url(
    endpoint: &str,
    destination: &str,
    creds: &Credentials,
    duration: Option<u32>,
) -> Result<url::Url, ConsoleError> {
    let token = signin_token(endpoint, creds, duration).await?;
    login_url(endpoint, destination, &token)
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
pub fn federation_endpoint(value: &str) -> Result<String, ConsoleError> {
    let url = url::Url::parse(value).map_err(|e| ConsoleError::NotAUrl {
        value: value.to_owned(),
        reason: e.to_string(),
    })?;
    let allowed = match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case("localhost"),
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    };
    if !allowed {
        return Err(ConsoleError::Refused {
            value: value.to_owned(),
        });
    }
    Ok(value.to_owned())
}

/// The `Session` parameter of getSigninToken.
fn session_json(creds: &Credentials) -> String {
    serde_json::json!({
        "sessionId": creds.access_key_id,
        "sessionKey": creds.secret_access_key.expose(),
        "sessionToken": creds.session_token.as_ref().map(crate::Secret::expose).unwrap_or_default(),
    })
    .to_string()
}

async fn signin_token(
    endpoint: &str,
    creds: &Credentials,
    duration: Option<u32>,
) -> Result<String, ConsoleError> {
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
        .build()
        .map_err(|e| federation_error("could not set up a client for", endpoint, e))?;
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
        return Err(ConsoleError::Refusal {
            status: status.as_u16(),
            detail,
        });
    }
    let doc: serde_json::Value = serde_json::from_str(&body)
        .map_err(|_| ConsoleError::BadAnswer("something other than JSON"))?;
    doc.get("SigninToken")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or(ConsoleError::BadAnswer("without a SigninToken"))
}

/// One line for a failed call; never reqwest's own message with the URL, which holds the keys.
fn federation_error(what: &'static str, endpoint: &str, e: reqwest::Error) -> ConsoleError {
    let why = if e.is_timeout() {
        format!("no answer within {} s", FEDERATION_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        e.without_url().to_string()
    };
    ConsoleError::Transport {
        what,
        endpoint: endpoint.to_owned(),
        why,
    }
}

/// The answer's body, at most [`FEDERATION_MAX_BODY`] bytes of it (more is an error).
async fn read_capped(
    mut response: reqwest::Response,
    endpoint: &str,
) -> Result<String, ConsoleError> {
    let mut body = Vec::new();
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| federation_error("could not read the answer of", endpoint, e))?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > FEDERATION_MAX_BODY {
            return Err(ConsoleError::TooLarge {
                endpoint: endpoint.to_owned(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn login_url(endpoint: &str, destination: &str, token: &str) -> Result<url::Url, ConsoleError> {
    let mut url = url::Url::parse(endpoint).map_err(|e| ConsoleError::NotAUrl {
        value: endpoint.to_owned(),
        reason: e.to_string(),
    })?;
    url.query_pairs_mut()
        .clear()
        .append_pair("Action", "login")
        .append_pair("Issuer", "keyfob")
        .append_pair("Destination", destination)
        .append_pair("SigninToken", token);
    Ok(url)
}

impl crate::error::UserError for ConsoleError {
    fn hint(&self) -> Option<String> {
        ConsoleError::hint(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

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
                e.to_string().contains("KEYFOB_FEDERATION_ENDPOINT") && e.hint().is_some(),
                "{refused}: {e}"
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
            default_endpoint(Partition::of_region("us-gov-west-1")),
            "https://signin.amazonaws-us-gov.com/federation"
        );
        assert_eq!(
            default_destination(Partition::of_region("cn-north-1")),
            "https://console.amazonaws.cn/"
        );
        assert_eq!(
            default_endpoint(Partition::of_region("eu-west-1")),
            "https://signin.aws.amazon.com/federation"
        );
    }
}
