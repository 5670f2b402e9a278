//! The IdP client: walks an IdP-initiated sign-in like a browser without JavaScript would —
//! follow redirects, fill the login form once, answer a one-time-code form when someone can be
//! asked, submit intermediate forms — until the page posting a SAML response to AWS appears.
//!
//! Each login gets its own cookie jar, so a failed login leaves nothing behind and one login's
//! session never leaks into another. Logs (debug) carry URLs without their query strings and
//! never a form value.

use crate::form::{self, Form, Method, Page};
use crate::origins::{PasswordOrigins, check_hop, is_loopback};
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
    /// The password would go to an origin that is neither keyfob_saml_url's nor trusted.
    #[error("{}", not_trusted(origin, profile.as_deref(), *redirect))]
    PasswordNotTrusted {
        /// The origin it would go to.
        origin: String,
        /// The profile, to name where the origin could be trusted.
        profile: Option<String>,
        /// The 307/308 status that would resend it, or `None` for the login form itself.
        redirect: Option<u16>,
    },
    /// The password would go from an https page or request to plain http.
    #[error(
        "{} from https to plain http at {origin}; keyfob never does that, whatever keyfob_saml_trusted_origins says",
        password_goes(*redirect)
    )]
    PasswordDowngrade {
        /// The origin it would go to.
        origin: String,
        /// The 307/308 status that would resend it, or `None` for the login form itself.
        redirect: Option<u16>,
    },
    /// A login form submitted with GET would put the password into a URL.
    #[error(
        "the IdP's login form would put your password into a URL (it submits with GET to {url}); keyfob does not send passwords in URLs"
    )]
    PasswordInUrl {
        /// The form's action, without the query string.
        url: String,
    },
    /// A request without the password would go from https to plain http on another machine.
    #[error(
        "the IdP sent the login from https to plain http at {url}; keyfob follows plain http only on this machine"
    )]
    InsecureRedirect {
        /// Where it would go, without the query string.
        url: String,
    },
    /// A redirect or form to something that is not an http(s) URL.
    #[error(
        "the IdP sent the login to {url}, which is not an http(s) address; keyfob cannot go on from it"
    )]
    NotHttp {
        /// Where it would go, without the query string.
        url: String,
    },
    /// An entry of keyfob_saml_trusted_origins is not an origin.
    #[error(
        "keyfob_saml_trusted_origins of {}: {entry:?} {reason}; list origins separated by spaces",
        profile_words(profile.as_deref())
    )]
    BadTrustedOrigin {
        /// The profile.
        profile: Option<String>,
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
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

fn profile_words(profile: Option<&str>) -> String {
    profile.map_or_else(|| "the profile".to_owned(), |p| format!("profile {p}"))
}

fn password_goes(redirect: Option<u16>) -> String {
    match redirect {
        None => "the IdP's login form would send your password".to_owned(),
        Some(status) => format!(
            "the IdP answered the login with a {status} redirect that would send your password again,"
        ),
    }
}

fn not_trusted(origin: &str, profile: Option<&str>, redirect: Option<u16>) -> String {
    format!(
        "{} to {origin}, which is not the origin of keyfob_saml_url; if you trust it, add it to keyfob_saml_trusted_origins of {}",
        password_goes(redirect),
        profile_words(profile)
    )
}

impl IdpError {
    /// True for keyfob's own refusals to send the password or follow the login somewhere
    /// (the trust rules); the message says what, if anything, would allow it.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            IdpError::PasswordNotTrusted { .. }
                | IdpError::PasswordDowngrade { .. }
                | IdpError::PasswordInUrl { .. }
                | IdpError::InsecureForm { .. }
                | IdpError::InsecureRedirect { .. }
                | IdpError::NotHttp { .. }
                | IdpError::BadTrustedOrigin { .. }
        )
    }

    /// True when the user must act (a password, a code), not just retry.
    pub fn needs_user(&self) -> bool {
        matches!(
            self,
            IdpError::BadCredentials | IdpError::BadMfaCode | IdpError::NeedsInteraction
        )
    }
}

/// Signs in to an IdP and returns its SAML response for AWS.
///
/// The password goes only where [`PasswordOrigins`] allows: the IdP URL's origin and the
/// trusted ones ([`IdpClient::with_trusted_origins`]). Redirects are followed here, not by the
/// HTTP library, so that each hop is checked before it is sent (see [`crate::origins`]).
#[derive(Debug, Clone, Default)]
pub struct IdpClient {
    options: IdpOptions,
    trusted_origins: Vec<String>,
    profile: Option<String>,
}

struct Fetched {
    url: Url,
    body: String,
}

/// One request of the walk, as a browser would make it.
struct Outgoing {
    method: Method,
    url: Url,
    /// The url-encoded body of a POST.
    form: Option<Vec<(String, String)>>,
    /// The body holds the password: redirects that resend it are checked against the
    /// password origins.
    carries_password: bool,
    /// The page whose form or link made the request (for the Referer header).
    referrer: Option<Url>,
}

impl Outgoing {
    fn get(url: Url) -> Self {
        Self {
            method: Method::Get,
            url,
            form: None,
            carries_password: false,
            referrer: None,
        }
    }
}

impl IdpClient {
    /// A client with these limits.
    pub fn new(options: IdpOptions) -> Self {
        Self {
            options,
            trusted_origins: Vec::new(),
            profile: None,
        }
    }

    /// Origins besides the IdP URL's that may receive the password
    /// (`keyfob_saml_trusted_origins`); checked when [`IdpClient::login`] starts.
    #[must_use]
    pub fn with_trusted_origins(mut self, origins: &[String]) -> Self {
        self.trusted_origins = origins.to_vec();
        self
    }

    /// The profile this login is for, named in refusals that a profile key could lift.
    #[must_use]
    pub fn for_profile(mut self, profile: &str) -> Self {
        self.profile = Some(profile.to_owned());
        self
    }

    fn http(&self) -> Result<reqwest::Client, IdpError> {
        reqwest::Client::builder()
            .cookie_provider(Arc::new(Jar::default()))
            // Each hop is checked by `fetch` before it is sent.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.options.timeout)
            .connect_timeout(self.options.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("keyfob/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IdpError::Client(keyfob_core::error::one_line(&e.without_url())))
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
        let origins = PasswordOrigins::new(&start, &self.trusted_origins, self.profile.as_deref())?;
        let http = self.http()?;
        let mut sent_password = false;
        let mut sent_code = false;

        tracing::debug!(url = %redact_url(&start), "IdP login: start");
        let mut page = self
            .fetch(&http, &origins, Outgoing::get(start.clone()), false)
            .await?;
        for step in 1..=self.options.max_steps {
            let classified = form::classify(&page.body, &page.url);
            tracing::debug!(step, url = %redact_url(&page.url), page = classified.kind(), "IdP page");
            let (form, fill, carries_password) = match classified {
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
                    origins.check_form(&page.url, &form)?;
                    sent_password = true;
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
                    (form, fill, true)
                }
                Page::MfaForm(form) => {
                    if sent_code {
                        return Err(IdpError::BadMfaCode);
                    }
                    sent_code = true;
                    check_secure(&form)?;
                    check_hop(&page.url, &form.action)?;
                    let name = form.code_field.clone().unwrap_or_default();
                    let fill = vec![(name, ask_code(mfa, &page.url)?)];
                    (form, fill, false)
                }
                Page::AutoSubmit(form) => {
                    check_hop(&page.url, &form.action)?;
                    (form, Vec::new(), false)
                }
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
            let request = submit(&form, fill, &page.url, carries_password)?;
            page = self.fetch(&http, &origins, request, sent_password).await?;
        }
        Err(IdpError::TooManySteps(self.options.max_steps))
    }

    /// Sends one request, follows its redirects (each hop checked before it is sent) and reads
    /// the page, all within the timeout.
    async fn fetch(
        &self,
        http: &reqwest::Client,
        origins: &PasswordOrigins,
        request: Outgoing,
        after_password: bool,
    ) -> Result<Fetched, IdpError> {
        let target = redact_url(&request.url);
        tokio::time::timeout(
            self.options.timeout,
            self.fetch_within(http, origins, request, after_password),
        )
        .await
        .map_err(|_| IdpError::Timeout {
            url: target,
            seconds: self.options.timeout.as_secs().max(1),
        })?
    }

    async fn fetch_within(
        &self,
        http: &reqwest::Client,
        origins: &PasswordOrigins,
        mut request: Outgoing,
        after_password: bool,
    ) -> Result<Fetched, IdpError> {
        let first = request.url.clone();
        let mut redirects = 0;
        let mut resp = loop {
            let resp = send(http, &request)
                .await
                .map_err(|e| self.transport_error(e, &request.url))?;
            let status = resp.status();
            tracing::debug!(status = status.as_u16(), url = %redact_url(&request.url), "IdP response");
            let Some(next) = redirect_target(&resp, &request.url) else {
                break resp;
            };
            redirects += 1;
            if redirects > self.options.max_redirects {
                return Err(IdpError::TooManyRedirects {
                    url: redact_url(&first),
                    max: self.options.max_redirects,
                });
            }
            if matches!(status.as_u16(), 307 | 308) {
                // The same method and body again: the password too, if the body holds it.
                if request.carries_password {
                    origins.check_redirect(&request.url, &next, status.as_u16())?;
                } else {
                    check_hop(&request.url, &next)?;
                }
            } else {
                // 301/302/303: a GET without the body, as browsers do.
                check_hop(&request.url, &next)?;
                request.method = Method::Get;
                request.form = None;
                request.carries_password = false;
            }
            tracing::debug!(status = status.as_u16(), to = %redact_url(&next), resends_body = request.form.is_some(), "IdP redirect");
            request.url = next;
        };
        let status = resp.status();
        let url = request.url;
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
        } else {
            IdpError::Unreachable {
                url,
                reason: keyfob_core::error::one_line(&e),
            }
        }
    }
}

/// Sends `request` once, without following redirects.
async fn send(
    http: &reqwest::Client,
    request: &Outgoing,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut builder = match (&request.method, &request.form) {
        (Method::Post, Some(pairs)) => http.post(request.url.clone()).form(pairs),
        (Method::Post, None) => http.post(request.url.clone()),
        (Method::Get, _) => http.get(request.url.clone()),
    };
    builder = builder.header(
        reqwest::header::ACCEPT,
        "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
    );
    if let Some(page) = &request.referrer {
        builder = builder.header(reqwest::header::REFERER, referer(page, &request.url));
    }
    builder.send().await
}

/// Where a 301/302/303/307/308 answer points, resolved against the request URL; `None` for
/// any other answer (a redirect without a usable Location is read as a page, as browsers do).
fn redirect_target(resp: &reqwest::Response, url: &Url) -> Option<Url> {
    if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()?;
    url.join(location.trim()).ok()
}

fn ask_code(mfa: Option<&dyn MfaProvider>, page: &Url) -> Result<String, IdpError> {
    let host = page.host_str().unwrap_or_default();
    let code = mfa
        .and_then(|m| m.one_time_code(host))
        .ok_or(IdpError::NeedsInteraction)?;
    Ok(code.expose().trim().to_owned())
}

/// A one-time code goes over https, or plain http to this machine.
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
    form: &Form,
    fill: Vec<(String, String)>,
    page: &Url,
    carries_password: bool,
) -> Result<Outgoing, IdpError> {
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
    let (url, body) = match form.method {
        Method::Get => {
            // `PasswordOrigins::check_form` refuses these first; this keeps it so.
            if carries_password {
                return Err(IdpError::PasswordInUrl {
                    url: redact_url(&form.action),
                });
            }
            let mut url = form.action.clone();
            url.set_query(None);
            url.query_pairs_mut().extend_pairs(&pairs);
            (url, None)
        }
        Method::Post => (form.action.clone(), Some(pairs)),
    };
    Ok(Outgoing {
        method: form.method,
        url,
        form: body,
        carries_password,
        referrer: Some(page.clone()),
    })
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

impl keyfob_core::error::UserError for IdpError {}

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
    fn one_time_codes_go_only_over_https_or_to_this_machine() {
        let form = |action: &str| Form {
            action: Url::parse(action).unwrap(),
            method: Method::Post,
            fields: Vec::new(),
            username_field: None,
            password_field: None,
            code_field: Some("otp".into()),
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
