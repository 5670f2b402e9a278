//! The one error type of keyfob-sso: every message is written for the user who reads it and,
//! where one exists, names the command that fixes it. No message ever carries a token, a client
//! secret or a credential.

use aws_sdk_sso::config::http::HttpResponse;
use aws_sdk_sso::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use keyfob_core::source::SourceError;
use keyfob_core::store::StoreError;
use std::path::PathBuf;

/// Which IAM Identity Center API answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Service {
    /// The OIDC API (`oidc.REGION.amazonaws.com`): registration, sign-in, tokens.
    Oidc,
    /// The portal API (`portal.sso.REGION.amazonaws.com`): accounts, roles, role credentials.
    Portal,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::Oidc => "IAM Identity Center OIDC",
            Service::Portal => "IAM Identity Center portal",
        })
    }
}

/// Everything that can go wrong in keyfob-sso.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsoError {
    /// The config file has no `[sso-session NAME]` section.
    #[error(
        "there is no [sso-session {name}] in {config}; run: keyfob configure sso-session {name} --start-url URL --region REGION"
    )]
    UnknownSession {
        /// The session asked for.
        name: String,
        /// The config file that was read.
        config: PathBuf,
    },
    /// A required key is missing from the session's section.
    #[error(
        "{section} has no {key}; add it, or run: keyfob configure sso-session NAME --start-url URL --region REGION"
    )]
    MissingKey {
        /// `[sso-session NAME]` or `[profile NAME]`.
        section: String,
        /// The missing key.
        key: &'static str,
    },
    /// The start URL is not an https URL.
    #[error(
        "{key} = {url} in {section} is not an https:// URL; use the AWS access portal URL from the IAM Identity Center console (https://…/start)"
    )]
    NotHttps {
        /// `[sso-session NAME]` or `[profile NAME]`.
        section: String,
        /// The key holding the URL.
        key: &'static str,
        /// The URL as written.
        url: String,
    },
    /// The region does not look like an AWS region.
    #[error(
        "{key} = {region:?} in {section} is not an AWS region; write the region of your IAM Identity Center instance, e.g. us-east-1"
    )]
    BadRegion {
        /// `[sso-session NAME]` or `[profile NAME]`.
        section: String,
        /// The key holding the region.
        key: &'static str,
        /// The value as written.
        region: String,
    },
    /// Some other key has a value keyfob cannot use.
    #[error("{key} = {value:?} in {section} is not valid; write {expected}")]
    BadValue {
        /// `[sso-session NAME]` or `[profile NAME]`.
        section: String,
        /// The key.
        key: &'static str,
        /// The value as written.
        value: String,
        /// What would be valid.
        expected: &'static str,
    },
    /// The service answered with an error.
    #[error("{service} {operation} failed: {code}: {message}")]
    Service {
        /// Which API.
        service: Service,
        /// The operation, e.g. `CreateToken`.
        operation: &'static str,
        /// The error code, e.g. `InvalidGrantException`.
        code: String,
        /// The service's message (never a token).
        message: String,
        /// The HTTP status, when there was a response.
        status: Option<u16>,
    },
    /// The endpoint could not be reached, or did not answer in time.
    #[error("could not reach the IAM Identity Center endpoint {endpoint}: {reason}")]
    Unreachable {
        /// The endpoint URL.
        endpoint: String,
        /// What went wrong (connection refused, timeout, TLS).
        reason: String,
    },
    /// The sign-in was refused in the browser.
    #[error("the sign-in was denied in the browser{}; run keyfob login again", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Denied {
        /// The error description the server sent, if any.
        detail: Option<String>,
    },
    /// The device code was not approved in time.
    #[error("the device code expired before it was approved; run keyfob login again")]
    DeviceCodeExpired,
    /// No browser callback arrived in time.
    #[error(
        "no sign-in came back from the browser within {minutes} min; run keyfob login again (or keyfob login --use-device-code)"
    )]
    CallbackTimeout {
        /// How long keyfob waited.
        minutes: u64,
    },
    /// The loopback listener for the PKCE callback failed.
    #[error(
        "cannot receive the sign-in callback on 127.0.0.1: {reason}; run keyfob login --use-device-code instead"
    )]
    Callback {
        /// What went wrong.
        reason: String,
    },
    /// The session's token is gone and cannot be refreshed.
    #[error("SSO {what} has expired; run: {login}")]
    SessionExpired {
        /// `session NAME` (or `login for START_URL` for legacy profiles).
        what: String,
        /// The command that signs in again.
        login: String,
    },
    /// The signed-in user may not use this role.
    #[error(
        "no access to role {role} in account {account}; run keyfob populate --sso-session {session} to see what you can reach"
    )]
    NoRoleAccess {
        /// The role (permission set) name.
        role: String,
        /// The account id.
        account: String,
        /// The SSO session.
        session: String,
    },
    /// The keychain failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A lock file could not be taken.
    #[error("cannot lock {path}: {reason}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The AWS CLI token cache file could not be written or removed.
    #[error(
        "cannot write the AWS CLI token cache {path}: {reason}; fix its permissions or set keyfob_write_sso_cache = false"
    )]
    CacheFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Listing accounts and roles for `populate` ran out of time, the portal throttling it
    /// (or answering slowly) throughout.
    #[error(
        "listing accounts and roles did not finish within {limit}{}: found {accounts} accounts{} and the roles of {roles_listed}; nothing was written; run keyfob populate --sso-session {session} again later",
        if *throttled > 0 { format!(" (the portal throttled {throttled} calls)") } else { String::new() },
        if *all_found { "" } else { " so far" }
    )]
    ListingDeadline {
        /// The SSO session.
        session: String,
        /// The deadline, as the user reads it (`10 min`).
        limit: String,
        /// Accounts found.
        accounts: usize,
        /// Whether every page of accounts was in.
        all_found: bool,
        /// Accounts whose roles were listed.
        roles_listed: usize,
        /// Calls answered 429.
        throttled: u64,
    },
    /// A `--name-template` keyfob cannot use.
    #[error(
        "name template {template:?}: {reason}; fields are {{account_name}}, {{account_id}}, {{role_name}}, {{sso_session}}, {{region}}"
    )]
    Template {
        /// The template as given.
        template: String,
        /// What is wrong.
        reason: String,
    },
}

impl SsoError {
    /// The command that fixes this, for the CLI's `hint:` line.
    pub fn hint(&self) -> Option<String> {
        match self {
            SsoError::UnknownSession { name, .. } => Some(format!(
                "keyfob configure sso-session {name} --start-url URL --region REGION"
            )),
            SsoError::SessionExpired { login, .. } => Some(login.clone()),
            SsoError::NoRoleAccess { session, .. } | SsoError::ListingDeadline { session, .. } => {
                Some(format!("keyfob populate --sso-session {session}"))
            }
            SsoError::Denied { .. }
            | SsoError::DeviceCodeExpired
            | SsoError::CallbackTimeout { .. } => Some("keyfob login".to_owned()),
            SsoError::Callback { .. } => Some("keyfob login --use-device-code".to_owned()),
            _ => None,
        }
    }

    /// Whether a new login is what fixes this.
    pub fn needs_login(&self) -> bool {
        matches!(self, SsoError::SessionExpired { .. })
    }

    /// Whether trying the same call again later may succeed (throttling, 5xx, network).
    pub fn is_retryable(&self) -> bool {
        match self {
            SsoError::Unreachable { .. } => true,
            SsoError::Service { code, status, .. } => {
                code == "TooManyRequestsException"
                    || code == "ThrottlingException"
                    || code == "InternalServerException"
                    || status.is_some_and(|s| s == 429 || s >= 500)
            }
            _ => false,
        }
    }

    /// Whether the OIDC service no longer knows the client registration (forgotten,
    /// expired or revoked at the IdP): a new registration is what fixes it.
    pub fn is_invalid_client(&self) -> bool {
        matches!(self, SsoError::Service { service: Service::Oidc, code, .. } if code == "InvalidClientException")
    }

    /// Whether the service said to slow down (throttling, HTTP 429).
    pub fn is_throttling(&self) -> bool {
        matches!(self, SsoError::Service { code, status, .. }
            if code == "TooManyRequestsException"
                || code == "ThrottlingException"
                || *status == Some(429))
    }

    /// The service error code, if the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SsoError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Maps an SDK error of any IAM Identity Center operation.
    pub(crate) fn from_sdk<E>(
        service: Service,
        operation: &'static str,
        endpoint: &str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        // The whole cause chain (connection refused, TLS, parse error) for the non-service
        // cases; it names the endpoint's host, never a request body.
        let detail = match &err {
            SdkError::ServiceError(_) => String::new(),
            _ => keyfob_core::error::one_line_text(&DisplayErrorContext(&err).to_string()),
        };
        match err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                let code = e
                    .code()
                    .map_or_else(|| format!("HTTP {}", status.unwrap_or(0)), str::to_owned);
                // OIDC errors carry their text as `error_description`, which the SDK's
                // generic metadata does not read.
                let message = e
                    .message()
                    .map(keyfob_core::error::one_line_text)
                    .or_else(|| ctx.raw().body().bytes().and_then(description_from_body))
                    .unwrap_or_else(|| "no message".to_owned());
                SsoError::Service {
                    service,
                    operation,
                    code,
                    message,
                    status,
                }
            }
            SdkError::TimeoutError(_) => SsoError::Unreachable {
                endpoint: endpoint.to_owned(),
                reason: format!("{operation} timed out"),
            },
            SdkError::DispatchFailure(d) if d.is_timeout() => SsoError::Unreachable {
                endpoint: endpoint.to_owned(),
                reason: format!("{operation} timed out"),
            },
            SdkError::ResponseError(_) => {
                // A response that is not the API's JSON: a proxy page, a 5xx from a load
                // balancer. The status says more than the parse error.
                SsoError::Service {
                    service,
                    operation,
                    code: format!("HTTP {}", status.unwrap_or(0)),
                    message: detail,
                    status,
                }
            }
            _ => SsoError::Unreachable {
                endpoint: endpoint.to_owned(),
                reason: detail,
            },
        }
    }
}

/// The longest server-written text an error line repeats.
const MAX_SERVER_TEXT: usize = 300;

/// `error_description` (OIDC) or `message` from an error's JSON body, on one line and
/// shortened: the server's words, never a request field.
fn description_from_body(body: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = ["error_description", "message", "Message"]
        .iter()
        .find_map(|k| json.get(k)?.as_str().filter(|t| !t.trim().is_empty()))?;
    let mut line = keyfob_core::error::one_line_text(text);
    if line.len() > MAX_SERVER_TEXT {
        let cut = (0..=MAX_SERVER_TEXT)
            .rev()
            .find(|i| line.is_char_boundary(*i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    Some(line)
}

impl From<SsoError> for SourceError {
    fn from(e: SsoError) -> Self {
        let needs_user = e.needs_login();
        let hint = e.hint();
        SourceError {
            message: e.to_string(),
            hint,
            needs_user,
        }
    }
}

impl keyfob_core::error::UserError for SsoError {
    fn hint(&self) -> Option<String> {
        SsoError::hint(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_expired_reads_exactly() {
        let e = SsoError::SessionExpired {
            what: "session acme".into(),
            login: "keyfob login --sso-session acme".into(),
        };
        assert_eq!(
            e.to_string(),
            "SSO session acme has expired; run: keyfob login --sso-session acme"
        );
        let s: SourceError = e.into();
        assert!(s.needs_user);
        assert_eq!(s.hint.as_deref(), Some("keyfob login --sso-session acme"));
    }

    #[test]
    fn forbidden_role_names_populate() {
        let e = SsoError::NoRoleAccess {
            role: "Admin".into(),
            account: "111122223333".into(),
            session: "acme".into(),
        };
        assert_eq!(
            e.to_string(),
            "no access to role Admin in account 111122223333; run keyfob populate --sso-session acme to see what you can reach"
        );
        let s: SourceError = e.into();
        assert!(!s.needs_user);
        assert_eq!(
            s.hint.as_deref(),
            Some("keyfob populate --sso-session acme")
        );
    }

    #[test]
    fn denied_with_and_without_detail() {
        assert_eq!(
            SsoError::Denied { detail: None }.to_string(),
            "the sign-in was denied in the browser; run keyfob login again"
        );
        assert_eq!(
            SsoError::Denied {
                detail: Some("user said no".into())
            }
            .to_string(),
            "the sign-in was denied in the browser: user said no; run keyfob login again"
        );
    }

    #[test]
    fn oidc_error_descriptions_are_read_from_the_body() {
        assert_eq!(
            description_from_body(
                br#"{"error":"invalid_client","error_description":"Client\nnot found"}"#
            )
            .as_deref(),
            Some("Client not found")
        );
        assert_eq!(
            description_from_body(br#"{"message":"Rate exceeded"}"#).as_deref(),
            Some("Rate exceeded")
        );
        assert_eq!(description_from_body(br#"{"error":"x"}"#), None);
        assert_eq!(description_from_body(b"<html>"), None);
        let long = format!(r#"{{"error_description":"{}"}}"#, "é".repeat(400));
        let line = description_from_body(long.as_bytes()).unwrap();
        assert!(
            line.len() <= MAX_SERVER_TEXT + '…'.len_utf8(),
            "{}",
            line.len()
        );
    }

    #[test]
    fn retryable_classification() {
        let svc = |code: &str, status| SsoError::Service {
            service: Service::Portal,
            operation: "ListAccounts",
            code: code.into(),
            message: String::new(),
            status,
        };
        assert!(svc("TooManyRequestsException", Some(429)).is_retryable());
        assert!(svc("HTTP 503", Some(503)).is_retryable());
        assert!(!svc("UnauthorizedException", Some(401)).is_retryable());
        assert!(
            SsoError::Unreachable {
                endpoint: "x".into(),
                reason: "y".into()
            }
            .is_retryable()
        );
    }
}
