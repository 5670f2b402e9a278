//! The IdP client: walks an IdP-initiated sign-in like a browser without JavaScript would —
//! follow redirects, fill the login form once, answer a one-time-code form when someone can be
//! asked, submit intermediate forms — until the page posting a SAML response to AWS appears.
//!
//! Each login gets its own cookie jar, so a failed login leaves nothing behind and one login's
//! session never leaks into another. Logs (debug) carry URLs without their query strings and
//! never a form value.

use crate::form::{self, Form, Method, Page};
use crate::redact_url;
use keyfob_core::Secret;
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How patient and how far an IdP login may go.
#[derive(Debug, Clone)]
pub struct IdpOptions {
    /// Per request, redirects and body included.
    pub timeout: Duration,
    /// Pages fetched before giving up (redirects inside one fetch do not count).
    pub max_steps: usize,
    /// Redirects followed within one fetch.
    pub max_redirects: usize,
    /// The largest page read.
    pub max_page_bytes: usize,
}

impl Default for IdpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            max_steps: 10,
            max_redirects: 10,
            max_page_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Where a one-time code comes from: a terminal prompt or a `--mfa-code` flag. Returns `None`
/// when nobody can be asked.
pub trait MfaProvider: Sync {
    /// A one-time code for the IdP at `idp_host`.
    fn one_time_code(&self, idp_host: &str) -> Option<Secret>;
}

impl<F> MfaProvider for F
where
    F: Fn(&str) -> Option<Secret> + Sync,
{
    fn one_time_code(&self, idp_host: &str) -> Option<Secret> {
        self(idp_host)
    }
}

/// The IdP's SAML response, as it would be posted to AWS sign-in.
#[derive(Debug, Clone)]
pub struct SamlResponse {
    /// The base64 `SAMLResponse`: a bearer credential until it expires.
    pub base64: Secret,
    /// The AWS sign-in URL it was addressed to.
    pub acs_url: Url,
    /// `RelayState`, if the IdP sent one.
    pub relay_state: Option<String>,
}

/// An IdP login failed. URLs in messages have no query string; no message holds a form value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdpError {
    /// The configured URL is not an http(s) URL.
    #[error("keyfob_saml_url {0:?} is not an http or https URL")]
    BadUrl(String),
    /// The HTTP client could not be built.
    #[error("could not set up the HTTP client: {0}")]
    Client(String),
    /// The IdP answered with an HTTP error.
    #[error("the IdP answered HTTP {status} for {url}")]
    Http {
        /// The status code.
        status: u16,
        /// The URL, without its query string.
        url: String,
    },
    /// No answer within the timeout.
    #[error("the IdP did not answer within {seconds} s at {url}")]
    Timeout {
        /// The URL, without its query string.
        url: String,
        /// The timeout.
        seconds: u64,
    },
    /// The IdP could not be reached.
    #[error("could not reach the IdP at {url}: {reason}")]
    Unreachable {
        /// The URL, without its query string.
        url: String,
        /// What the network said.
        reason: String,
    },
    /// More redirects than allowed within one request: usually a redirect loop.
    #[error(
        "the IdP redirected more than {max} times from {url} (a redirect loop?); check keyfob_saml_url"
    )]
    TooManyRedirects {
        /// Where the redirects started, without the query string.
        url: String,
        /// The limit.
        max: usize,
    },
    /// The login went through more pages than allowed without reaching a SAML response.
    #[error(
        "the IdP login did not reach a SAML response for AWS within {0} pages; it may need a browser"
    )]
    TooManySteps(usize),
    /// A page keyfob does not know how to go on from.
    #[error("the IdP page{} at {url} has {reason}; keyfob cannot go on from it", title.as_deref().map(|t| format!(" \"{t}\"")).unwrap_or_default())]
    NoForm {
        /// The page URL, without the query string.
        url: String,
        /// Its title, if any.
        title: Option<String>,
        /// What is missing ("no form", "a form with no password field", …).
        reason: String,
    },
    /// A page bigger than allowed.
    #[error("the IdP page at {url} is larger than {max} bytes")]
    TooLarge {
        /// The URL, without the query string.
        url: String,
        /// The limit.
        max: usize,
    },
    /// The login form would send the password over plain http to another machine.
    #[error(
        "the IdP's login form would send your password unencrypted to {url}; keyfob only sends passwords over https (or to this machine)"
    )]
    InsecureForm {
        /// The form's action, without the query string.
        url: String,
    },
    /// The login form came back after the password was sent.
    #[error("the IdP rejected the user name or password; nothing was stored")]
    BadCredentials,
    /// The one-time-code form came back after a code was sent.
    #[error("the IdP rejected the one-time code; nothing was stored")]
    BadMfaCode,
    /// The IdP asks for a one-time code and nobody can be asked.
    #[error(
        "the IdP asks for a one-time code; run `keyfob login` in a terminal, or pass the code with --mfa-code"
    )]
    NeedsInteraction,
}

impl IdpError {
    /// True when the user must act (a password, a code), not just retry.
    pub fn needs_user(&self) -> bool {
        matches!(
            self,
            IdpError::BadCredentials | IdpError::BadMfaCode | IdpError::NeedsInteraction
        )
    }
}

/// Signs in to an IdP and returns its SAML response for AWS.
#[derive(Debug, Clone, Default)]
pub struct IdpClient {
    options: IdpOptions,
}

struct Fetched {
    url: Url,
    body: String,
}

impl IdpClient {
    /// A client with these limits.
    pub fn new(options: IdpOptions) -> Self {
        Self { options }
    }

    fn http(&self) -> Result<reqwest::Client, IdpError> {
        reqwest::Client::builder()
            .cookie_provider(Arc::new(Jar::default()))
            .redirect(reqwest::redirect::Policy::limited(
                self.options.max_redirects,
            ))
            .timeout(self.options.timeout)
            .connect_timeout(self.options.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("keyfob/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IdpError::Client(error_chain(&e.without_url())))
    }

    /// Signs `username` in at the IdP-initiated URL `url`. The password is sent once: if the
    /// login form comes back, that is [`IdpError::BadCredentials`] and nothing is retried.
    /// A one-time-code form asks `mfa`, or fails with [`IdpError::NeedsInteraction`].
    pub async fn login(
        &self,
        url: &str,
        username: &str,
        password: &Secret,
        mfa: Option<&dyn MfaProvider>,
    ) -> Result<SamlResponse, IdpError> {
        let start = Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| IdpError::BadUrl(url.to_owned()))?;
        let http = self.http()?;
        let mut sent_password = false;
        let mut sent_code = false;

        tracing::debug!(url = %redact_url(&start), "IdP login: start");
        let mut page = self.fetch(http.get(start.clone()), &start, false).await?;
        for step in 1..=self.options.max_steps {
            let classified = form::classify(&page.body, &page.url);
            tracing::debug!(step, url = %redact_url(&page.url), page = classified.kind(), "IdP page");
            let (form, fill) = match classified {
                Page::SamlResponse {
                    response,
                    relay_state,
                    action,
                } => {
                    tracing::debug!(acs = %redact_url(&action), "IdP login: SAML response for AWS");
                    return Ok(SamlResponse {
                        base64: response,
                        acs_url: action,
                        relay_state,
                    });
                }
                Page::LoginForm(form) => {
                    if sent_password {
                        return Err(IdpError::BadCredentials);
                    }
                    sent_password = true;
                    check_secure(&form)?;
                    let mut fill = Vec::new();
                    if let Some(name) = &form.username_field {
                        fill.push((name.clone(), username.to_owned()));
                    }
                    if let Some(name) = &form.password_field {
                        fill.push((name.clone(), password.expose().to_owned()));
                    }
                    if let Some(name) = &form.code_field {
                        sent_code = true;
                        fill.push((name.clone(), ask_code(mfa, &page.url)?));
                    }
                    (form, fill)
                }
                Page::MfaForm(form) => {
                    if sent_code {
                        return Err(IdpError::BadMfaCode);
                    }
                    sent_code = true;
                    check_secure(&form)?;
                    let name = form.code_field.clone().unwrap_or_default();
                    let fill = vec![(name, ask_code(mfa, &page.url)?)];
                    (form, fill)
                }
                Page::AutoSubmit(form) => (form, Vec::new()),
                Page::Unknown { reason, title } => {
                    return Err(IdpError::NoForm {
                        url: redact_url(&page.url),
                        title,
                        reason: reason.to_owned(),
                    });
                }
            };
            if step == self.options.max_steps {
                break;
            }
            let names: Vec<&str> = form
                .fields
                .iter()
                .chain(&fill)
                .map(|(n, _)| n.as_str())
                .collect();
            tracing::debug!(method = ?form.method, action = %redact_url(&form.action), fields = ?names, "IdP login: submitting a form");
            let request = submit(&http, &form, fill, &page.url)?;
            page = self.fetch(request, &form.action, sent_password).await?;
        }
        Err(IdpError::TooManySteps(self.options.max_steps))
    }

    /// Sends one request (redirects followed) and reads the page.
    async fn fetch(
        &self,
        request: reqwest::RequestBuilder,
        target: &Url,
        after_password: bool,
    ) -> Result<Fetched, IdpError> {
        let mut resp = request
            .header(
                reqwest::header::ACCEPT,
                "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
            )
            .send()
            .await
            .map_err(|e| self.transport_error(e, target))?;
        let status = resp.status();
        let url = resp.url().clone();
        tracing::debug!(status = status.as_u16(), url = %redact_url(&url), "IdP response");
        if status == StatusCode::UNAUTHORIZED && after_password {
            return Err(IdpError::BadCredentials);
        }
        if status.is_client_error() || status.is_server_error() {
            return Err(IdpError::Http {
                status: status.as_u16(),
                url: redact_url(&url),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(e, &url))?
        {
            if body.len() + chunk.len() > self.options.max_page_bytes {
                return Err(IdpError::TooLarge {
                    url: redact_url(&url),
                    max: self.options.max_page_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    fn transport_error(&self, e: reqwest::Error, target: &Url) -> IdpError {
        let url = redact_url(e.url().unwrap_or(target));
        // reqwest's message quotes the full URL, query string included.
        let e = e.without_url();
        if e.is_timeout() {
            IdpError::Timeout {
                url,
                seconds: self.options.timeout.as_secs().max(1),
            }
        } else if e.is_redirect() {
            IdpError::TooManyRedirects {
                url: redact_url(target),
                max: self.options.max_redirects,
            }
        } else {
            IdpError::Unreachable {
                url,
                reason: error_chain(&e),
            }
        }
    }
}

fn ask_code(mfa: Option<&dyn MfaProvider>, page: &Url) -> Result<String, IdpError> {
    let host = page.host_str().unwrap_or_default();
    let code = mfa
        .and_then(|m| m.one_time_code(host))
        .ok_or(IdpError::NeedsInteraction)?;
    Ok(code.expose().trim().to_owned())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn check_secure(form: &Form) -> Result<(), IdpError> {
    if form.action.scheme() == "https"
        || (form.action.scheme() == "http" && is_loopback(&form.action))
    {
        Ok(())
    } else {
        Err(IdpError::InsecureForm {
            url: redact_url(&form.action),
        })
    }
}

/// The request a browser would send for `form`, with `fill` added to its fields.
fn submit(
    http: &reqwest::Client,
    form: &Form,
    fill: Vec<(String, String)>,
    page: &Url,
) -> Result<reqwest::RequestBuilder, IdpError> {
    if !matches!(form.action.scheme(), "http" | "https") {
        return Err(IdpError::NoForm {
            url: redact_url(page),
            title: None,
            reason: format!("a form that submits to a {}: address", form.action.scheme()),
        });
    }
    let mut pairs: Vec<(String, String)> = form
        .fields
        .iter()
        .filter(|(n, _)| !fill.iter().any(|(f, _)| f == n))
        .cloned()
        .collect();
    pairs.extend(fill);
    // A script's form.submit() sends no button; a user's click on a named button does.
    if let Some(button) = &form.submit
        && (form.password_field.is_some() || form.code_field.is_some())
    {
        pairs.push(button.clone());
    }
    let request = match form.method {
        Method::Get => {
            let mut url = form.action.clone();
            url.set_query(None);
            url.query_pairs_mut().extend_pairs(&pairs);
            http.get(url)
        }
        Method::Post => http.post(form.action.clone()).form(&pairs),
    };
    Ok(request.header(reqwest::header::REFERER, referer(page, &form.action)))
}

/// The Referer a browser sends (strict-origin-when-cross-origin): the page URL within one
/// origin, only the origin across origins.
fn referer(page: &Url, target: &Url) -> String {
    let mut r = page.clone();
    r.set_fragment(None);
    if page.origin() != target.origin() {
        r.set_path("/");
        r.set_query(None);
    }
    let _ = r.set_username("");
    let _ = r.set_password(None);
    r.to_string()
}

/// An error and its causes on one line (reqwest's top-level message alone says little).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referer_is_trimmed_across_origins() {
        let page = Url::parse("https://idp.example.com/login?state=s#frag").unwrap();
        let same = Url::parse("https://idp.example.com/post").unwrap();
        let other = Url::parse("https://mfa.example.com/post").unwrap();
        assert_eq!(
            referer(&page, &same),
            "https://idp.example.com/login?state=s"
        );
        assert_eq!(referer(&page, &other), "https://idp.example.com/");
    }

    #[test]
    fn passwords_go_only_over_https_or_to_this_machine() {
        let form = |action: &str| Form {
            action: Url::parse(action).unwrap(),
            method: Method::Post,
            fields: Vec::new(),
            username_field: None,
            password_field: Some("p".into()),
            code_field: None,
            submit: None,
            visible_fields: Vec::new(),
        };
        assert!(check_secure(&form("https://idp.example.com/")).is_ok());
        assert!(check_secure(&form("http://127.0.0.1:8080/")).is_ok());
        assert!(check_secure(&form("http://[::1]:8080/")).is_ok());
        assert!(check_secure(&form("http://localhost/")).is_ok());
        let err = check_secure(&form("http://idp.example.com/login?x=secret")).unwrap_err();
        assert!(
            matches!(err, IdpError::InsecureForm { ref url } if url == "http://idp.example.com/login")
        );
    }
}
