//! Where an IdP login may go (DESIGN.md, "The password stays home").
//!
//! Two rules, pure functions over URLs so that they can be tested without a network:
//! - The password goes only to the origin (scheme, host, port) of `keyfob_saml_url` or to an
//!   origin the profile lists in `keyfob_saml_trusted_origins`; never in a URL; never over
//!   plain http except to this machine, and never from https to http. [`PasswordOrigins`]
//!   checks the login form and every 307/308 redirect that would resend the form.
//! - Requests without the password (reaching the login page, intermediate forms, the page with
//!   the SAML response) may cross https origins, as Okta and Entra ID redirect chains do; from
//!   https they may go to plain http only on this machine ([`check_hop`]).

use crate::form::{Form, Method};
use crate::idp::IdpError;
use crate::redact_url;
use url::{Origin, Url};

/// The profile key that lists the extra origins the password may go to.
pub const TRUSTED_ORIGINS_KEY: &str = "keyfob_saml_trusted_origins";

/// True for `127.0.0.0/8`, `::1` and `localhost`: this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Reads one `keyfob_saml_trusted_origins` entry: `https://host[:port]`, or `http://` for this
/// machine only. The error says, in a few words, what is wrong with it.
pub fn parse_origin(entry: &str) -> Result<Origin, &'static str> {
    let url = Url::parse(entry.trim()).map_err(|_| "is not an origin like https://host[:port]")?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err("is not an http(s) origin like https://host[:port]");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("has a user name or password in it; an origin is https://host[:port]");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("has a path, query or fragment; an origin is https://host[:port]");
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(
            "is plain http to another machine; keyfob sends passwords over http only to this machine",
        );
    }
    Ok(url.origin())
}

/// The origins the IdP password may be sent to, for one login.
#[derive(Debug, Clone)]
pub struct PasswordOrigins {
    allowed: Vec<Origin>,
    profile: Option<String>,
}

impl PasswordOrigins {
    /// The origin of `start` (the configured `keyfob_saml_url`) plus the `trusted` entries.
    /// `profile` names the profile in messages. A bad entry is an error before any request.
    pub fn new(start: &Url, trusted: &[String], profile: Option<&str>) -> Result<Self, IdpError> {
        let mut allowed = vec![start.origin()];
        for entry in trusted {
            let origin = parse_origin(entry).map_err(|reason| IdpError::BadTrustedOrigin {
                profile: profile.map(str::to_owned),
                entry: entry.clone(),
                reason,
            })?;
            allowed.push(origin);
        }
        Ok(Self {
            allowed,
            profile: profile.map(str::to_owned),
        })
    }

    /// True when `url`'s origin may receive the password (the scheme rules aside).
    pub fn allows(&self, url: &Url) -> bool {
        let origin = url.origin();
        self.allowed.contains(&origin)
    }

    /// Checks a login form on page `page` before the password is put into it.
    pub fn check_form(&self, page: &Url, form: &Form) -> Result<(), IdpError> {
        if form.method == Method::Get {
            return Err(IdpError::PasswordInUrl {
                url: redact_url(&form.action),
            });
        }
        self.check_target(page, &form.action, None)
    }

    /// Checks a 307/308 redirect (`status`) from `from` to `to` of a request that carries the
    /// password: following it would send the password again, to `to`.
    pub fn check_redirect(&self, from: &Url, to: &Url, status: u16) -> Result<(), IdpError> {
        self.check_target(from, to, Some(status))
    }

    fn check_target(&self, from: &Url, to: &Url, redirect: Option<u16>) -> Result<(), IdpError> {
        let origin = to.origin().ascii_serialization();
        if !matches!(to.scheme(), "http" | "https") {
            return Err(IdpError::NotHttp {
                url: redact_url(to),
            });
        }
        if from.scheme() == "https" && to.scheme() == "http" {
            return Err(IdpError::PasswordDowngrade { origin, redirect });
        }
        if to.scheme() == "http" && !is_loopback(to) {
            return Err(IdpError::InsecureForm {
                url: redact_url(to),
            });
        }
        if !self.allows(to) {
            return Err(IdpError::PasswordNotTrusted {
                origin,
                profile: self.profile.clone(),
                redirect,
            });
        }
        Ok(())
    }
}

/// Checks a request without the password from `from` (a page or the previous hop of a
/// redirect) to `to`: any https origin, plain http only from http or to this machine.
pub fn check_hop(from: &Url, to: &Url) -> Result<(), IdpError> {
    match to.scheme() {
        "https" => Ok(()),
        "http" if from.scheme() != "https" || is_loopback(to) => Ok(()),
        "http" => Err(IdpError::InsecureRedirect {
            url: redact_url(to),
        }),
        _ => Err(IdpError::NotHttp {
            url: redact_url(to),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn login_form(action: &str, method: Method) -> Form {
        Form {
            action: url(action),
            method,
            fields: Vec::new(),
            username_field: Some("u".into()),
            password_field: Some("p".into()),
            code_field: None,
            submit: None,
            visible_fields: Vec::new(),
        }
    }

    const IDP: &str = "https://idp.example.com/sso?spentityid=urn:amazon:webservices";

    fn origins(trusted: &[&str]) -> PasswordOrigins {
        let trusted: Vec<String> = trusted.iter().map(|&s| s.to_owned()).collect();
        PasswordOrigins::new(&url(IDP), &trusted, Some("corp")).unwrap()
    }

    #[test]
    fn trusted_origin_entries_are_origins_and_nothing_else() {
        for good in [
            "https://login.example.com",
            "https://login.example.com/",
            "https://LOGIN.example.com:8443",
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:9",
        ] {
            assert!(parse_origin(good).is_ok(), "{good}");
        }
        for (bad, words) in [
            ("login.example.com", "not an origin"),
            ("ftp://login.example.com", "not an http(s) origin"),
            ("https://login.example.com/path", "has a path"),
            ("https://login.example.com/?q=1", "has a path, query"),
            ("https://user:pw@login.example.com", "user name or password"),
            ("http://login.example.com", "plain http to another machine"),
            ("", "not an origin"),
        ] {
            let reason = parse_origin(bad).unwrap_err();
            assert!(reason.contains(words), "{bad}: {reason}");
        }
        assert_eq!(
            parse_origin("https://LOGIN.example.com:443/")
                .unwrap()
                .ascii_serialization(),
            "https://login.example.com"
        );
    }

    #[test]
    fn a_bad_entry_is_one_line_naming_the_key_and_the_profile() {
        let err = PasswordOrigins::new(
            &url(IDP),
            &["https://ok.example.com".into(), "evil.example.com".into()],
            Some("corp"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("keyfob_saml_trusted_origins of profile corp")
                && text.contains("\"evil.example.com\""),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn the_password_goes_to_the_idp_origin_only() {
        let o = origins(&[]);
        let page = url(IDP);
        assert!(
            o.check_form(
                &page,
                &login_form("https://idp.example.com/login", Method::Post)
            )
            .is_ok()
        );
        // Another port, another scheme, another host: another origin.
        for action in [
            "https://idp.example.com:8443/login",
            "https://evil.example/login",
            "https://sub.idp.example.com/login",
        ] {
            let err = o
                .check_form(&page, &login_form(action, Method::Post))
                .unwrap_err();
            assert!(
                matches!(err, IdpError::PasswordNotTrusted { redirect: None, .. }),
                "{action}: {err}"
            );
        }
        let err = o
            .check_form(
                &page,
                &login_form("https://evil.example:8443/x?q=secret", Method::Post),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the IdP's login form would send your password to https://evil.example:8443, which is not the origin of keyfob_saml_url; if you trust it, add it to keyfob_saml_trusted_origins of profile corp"
        );
    }

    #[test]
    fn trusted_origins_may_receive_the_password() {
        let o = origins(&["https://login.example.net:8443", "https://sso.example.org"]);
        let page = url(IDP);
        for action in [
            "https://login.example.net:8443/post",
            "https://sso.example.org/post",
            "https://sso.example.org:443/post",
        ] {
            assert!(
                o.check_form(&page, &login_form(action, Method::Post))
                    .is_ok(),
                "{action}"
            );
        }
        assert!(
            o.check_form(
                &page,
                &login_form("https://login.example.net/post", Method::Post)
            )
            .is_err(),
            "the port is part of the origin"
        );
    }

    #[test]
    fn a_get_login_form_is_refused_even_to_the_idp() {
        let err = origins(&[])
            .check_form(
                &url(IDP),
                &login_form("https://idp.example.com/login?x=1", Method::Get),
            )
            .unwrap_err();
        assert!(matches!(err, IdpError::PasswordInUrl { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("into a URL") && !text.contains("x=1"),
            "{text}"
        );
    }

    #[test]
    fn never_from_https_to_http_whatever_is_trusted() {
        let o = origins(&["http://127.0.0.1:8080"]);
        let https_page = url(IDP);
        let err = o
            .check_form(
                &https_page,
                &login_form("http://127.0.0.1:8080/login", Method::Post),
            )
            .unwrap_err();
        assert!(matches!(err, IdpError::PasswordDowngrade { .. }), "{err}");
        let err = o
            .check_redirect(
                &url("https://idp.example.com/login"),
                &url("http://127.0.0.1:8080/x"),
                307,
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                IdpError::PasswordDowngrade {
                    redirect: Some(307),
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("http://127.0.0.1:8080"), "{err}");
        // The IdP itself on http: only on this machine.
        let local =
            PasswordOrigins::new(&url("http://127.0.0.1:9000/sso"), &[], Some("corp")).unwrap();
        let page = url("http://127.0.0.1:9000/sso");
        assert!(
            local
                .check_form(
                    &page,
                    &login_form("http://127.0.0.1:9000/login", Method::Post)
                )
                .is_ok()
        );
        let remote =
            PasswordOrigins::new(&url("http://idp.example.com/sso"), &[], Some("corp")).unwrap();
        let err = remote
            .check_form(
                &url("http://idp.example.com/sso"),
                &login_form("http://idp.example.com/login", Method::Post),
            )
            .unwrap_err();
        assert!(matches!(err, IdpError::InsecureForm { .. }), "{err}");
    }

    #[test]
    fn redirects_that_resend_the_password_stay_in_trusted_origins() {
        let o = origins(&["https://mfa.example.com"]);
        let from = url("https://idp.example.com/login");
        assert!(
            o.check_redirect(&from, &url("https://idp.example.com/login2"), 307)
                .is_ok()
        );
        assert!(
            o.check_redirect(&from, &url("https://mfa.example.com/x"), 308)
                .is_ok()
        );
        let err = o
            .check_redirect(&from, &url("https://evil.example/collect"), 308)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the IdP answered the login with a 308 redirect that would send your password again, to https://evil.example, which is not the origin of keyfob_saml_url; if you trust it, add it to keyfob_saml_trusted_origins of profile corp"
        );
    }

    #[test]
    fn password_free_hops_cross_https_origins_and_reach_http_only_locally() {
        let https = url("https://idp.example.com/start");
        let http_local = url("http://127.0.0.1:8080/start");
        let http_remote = url("http://idp.example.com/start");
        assert!(check_hop(&https, &url("https://login.microsoftonline.com/x")).is_ok());
        assert!(check_hop(&https, &url("http://127.0.0.1:9/x")).is_ok());
        assert!(check_hop(&https, &url("http://localhost/x")).is_ok());
        assert!(check_hop(&https, &url("http://[::1]:9/x")).is_ok());
        let err = check_hop(&https, &url("http://evil.example/x?SAMLResponse=abc")).unwrap_err();
        assert!(matches!(err, IdpError::InsecureRedirect { .. }), "{err}");
        assert!(!err.to_string().contains("abc"), "{err}");
        // Already on http (an IdP on this machine, or a URL the user chose): no downgrade.
        assert!(check_hop(&http_local, &url("http://127.0.0.1:9/x")).is_ok());
        assert!(check_hop(&http_remote, &url("http://idp.example.com/y")).is_ok());
        assert!(check_hop(&https, &url("javascript:alert(1)")).is_err());
        assert!(check_hop(&https, &url("file:///etc/passwd")).is_err());
    }
}
