//! Reading IdP pages: which form to fill or submit next, and the SAML response at the end.
//!
//! A pure function over the page's HTML and URL ([`classify`]), so that it can be tested on
//! saved pages and fuzzed.

use crate::partition::signin_target;
use keyfob_core::Secret;
use scraper::{ElementRef, Html, Selector};
use std::fmt;
use std::sync::LazyLock;
use url::Url;

/// How a form is submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`: the fields go in the query string.
    Get,
    /// `POST`: the fields go in an `application/x-www-form-urlencoded` body.
    Post,
}

/// An HTML form as a browser would submit it.
///
/// `Debug` lists field names only: hidden values can be session state worth protecting.
#[derive(Clone, PartialEq, Eq)]
pub struct Form {
    /// Where it submits to: the `action` resolved against the page URL (the page URL when
    /// missing).
    pub action: Url,
    /// `GET` or `POST`.
    pub method: Method,
    /// What a browser would send if the user typed nothing: every named hidden input, text
    /// inputs with their (usually empty) values, checked boxes, selected options. What keyfob
    /// fills in replaces the value of the same name.
    pub fields: Vec<(String, String)>,
    /// The user-name input (text or email, whatever its name), when there is one.
    pub username_field: Option<String>,
    /// The password input, when there is one.
    pub password_field: Option<String>,
    /// The one-time-code input, when there is one.
    pub code_field: Option<String>,
    /// The named submit button a user would press, sent as a click would send it.
    pub submit: Option<(String, String)>,
    /// Names of the controls meant for the user to fill or choose.
    pub visible_fields: Vec<String>,
}

impl Form {
    /// The value of a field in [`Form::fields`].
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when nothing in the form is for the user: only hidden inputs (and buttons).
    pub fn is_hidden_only(&self) -> bool {
        self.visible_fields.is_empty()
            && self.password_field.is_none()
            && self.username_field.is_none()
            && self.code_field.is_none()
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Form")
            .field("action", &crate::redact_url(&self.action))
            .field("method", &self.method)
            .field("fields", &names)
            .field("username_field", &self.username_field)
            .field("password_field", &self.password_field)
            .field("code_field", &self.code_field)
            .field("submit", &self.submit.as_ref().map(|(n, _)| n))
            .field("visible_fields", &self.visible_fields)
            .finish()
    }
}

/// What an IdP page asks for next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Page {
    /// A form with a password field: fill in the user name and password.
    LoginForm(Form),
    /// A form asking for a one-time code, with no password field.
    MfaForm(Form),
    /// A form with nothing for the user (hidden inputs only) that a browser's script would
    /// submit at once, or a SAML response addressed to another IdP in a chain.
    AutoSubmit(Form),
    /// A SAML response on its way to AWS sign-in: the end of the login.
    SamlResponse {
        /// The base64 `SAMLResponse` value.
        response: Secret,
        /// `RelayState`, if present.
        relay_state: Option<String>,
        /// The AWS sign-in URL it would be posted to.
        action: Url,
    },
    /// None of the above.
    Unknown {
        /// Why, in a few words: "no form", "a form with no password field".
        reason: &'static str,
        /// The page's `<title>`, shortened, to help tell what page it was.
        title: Option<String>,
    },
}

impl Page {
    /// The kind of page, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Page::LoginForm(_) => "login form",
            Page::MfaForm(_) => "one-time-code form",
            Page::AutoSubmit(_) => "auto-submit form",
            Page::SamlResponse { .. } => "SAML response",
            Page::Unknown { .. } => "unknown page",
        }
    }
}

fn selector(s: &str) -> Selector {
    Selector::parse(s).expect("a constant selector parses")
}

static FORM: LazyLock<Selector> = LazyLock::new(|| selector("form"));
static CONTROL: LazyLock<Selector> = LazyLock::new(|| selector("input, button, select, textarea"));
static OPTION: LazyLock<Selector> = LazyLock::new(|| selector("option"));
static TITLE: LazyLock<Selector> = LazyLock::new(|| selector("title"));

/// Words in an input's name, id or label that mark a one-time code.
const CODE_WORDS: &[&str] = &[
    "otp",
    "totp",
    "mfa",
    "2fa",
    "passcode",
    "token",
    "code",
    "one-time",
    "onetime",
    "verification",
];

/// Words that mark the user-name input among several text inputs.
const USER_WORDS: &[&str] = &[
    "user",
    "login",
    "email",
    "mail",
    "name",
    "account",
    "uid",
    "principal",
];

fn looks_like_code(el: &ElementRef<'_>) -> bool {
    if el
        .attr("autocomplete")
        .is_some_and(|a| a.eq_ignore_ascii_case("one-time-code"))
    {
        return true;
    }
    let words = [el.attr("name"), el.attr("id")];
    words.iter().flatten().any(|w| {
        let w = w.to_ascii_lowercase();
        CODE_WORDS.iter().any(|c| w.contains(c))
    })
}

fn looks_like_user(el: &ElementRef<'_>) -> bool {
    if el
        .attr("autocomplete")
        .is_some_and(|a| a.eq_ignore_ascii_case("username") || a.eq_ignore_ascii_case("email"))
    {
        return true;
    }
    [el.attr("name"), el.attr("id")].iter().flatten().any(|w| {
        let w = w.to_ascii_lowercase();
        USER_WORDS.iter().any(|u| w.contains(u))
    })
}

/// Every form on the page, as a browser would submit it.
pub fn find_forms(html: &str, page_url: &Url) -> Vec<Form> {
    let doc = Html::parse_document(html);
    doc.select(&FORM)
        .filter_map(|f| read_form(f, page_url))
        .collect()
}

fn read_form(form: ElementRef<'_>, page_url: &Url) -> Option<Form> {
    let action = match form.attr("action").map(str::trim) {
        None | Some("") => page_url.clone(),
        Some(a) => page_url.join(a).ok()?,
    };
    let method = match form.attr("method") {
        Some(m) if m.trim().eq_ignore_ascii_case("post") => Method::Post,
        _ => Method::Get,
    };
    let mut out = Form {
        action,
        method,
        fields: Vec::new(),
        username_field: None,
        password_field: None,
        code_field: None,
        submit: None,
        visible_fields: Vec::new(),
    };
    let mut text_inputs: Vec<ElementRef<'_>> = Vec::new();
    for el in form.select(&CONTROL) {
        if el.attr("disabled").is_none() {
            add_control(&mut out, el, &mut text_inputs);
        }
    }

    let (codes, others): (Vec<_>, Vec<_>) = text_inputs.into_iter().partition(looks_like_code);
    if out.code_field.is_none() {
        out.code_field = codes
            .first()
            .and_then(|e| e.attr("name"))
            .map(|n| n.trim().to_owned());
    }
    let user = others
        .iter()
        .find(|e| looks_like_user(e))
        .or(others.first());
    out.username_field = user
        .and_then(|e| e.attr("name"))
        .map(|n| n.trim().to_owned());
    // Text inputs go out as a browser would send them untouched; what keyfob fills in
    // replaces them when the form is submitted.
    for e in codes.iter().chain(&others) {
        let name = e.attr("name").unwrap_or_default().trim();
        out.fields.push((
            name.to_owned(),
            e.attr("value").unwrap_or_default().to_owned(),
        ));
    }
    Some(out)
}

/// Adds one control to the form as a browser would treat it; text inputs are set aside in
/// `text_inputs` to tell the user-name field from a code field afterwards.
fn add_control<'a>(out: &mut Form, el: ElementRef<'a>, text_inputs: &mut Vec<ElementRef<'a>>) {
    let name = el.attr("name").map(str::trim).unwrap_or_default();
    if name.is_empty() {
        // A control without a name is never sent.
        return;
    }
    let kind = el
        .attr("type")
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let value = el.attr("value").unwrap_or_default();
    match (el.value().name(), kind.as_str()) {
        ("button", "" | "submit") | ("input", "submit" | "image") => {
            out.submit
                .get_or_insert_with(|| (name.to_owned(), value.to_owned()));
        }
        ("button", _) | ("input", "button" | "reset" | "file") => {}
        ("input", "hidden") => out.fields.push((name.to_owned(), value.to_owned())),
        ("input", "password") if looks_like_code(&el) => {
            out.code_field.get_or_insert_with(|| name.to_owned());
        }
        ("input", "password") => {
            out.password_field.get_or_insert_with(|| name.to_owned());
        }
        ("input", "checkbox" | "radio") => {
            out.visible_fields.push(name.to_owned());
            if el.attr("checked").is_some() {
                let v = if value.is_empty() { "on" } else { value };
                out.fields.push((name.to_owned(), v.to_owned()));
            }
        }
        ("select", _) => {
            out.visible_fields.push(name.to_owned());
            let options: Vec<ElementRef<'_>> = el.select(&OPTION).collect();
            let chosen = options
                .iter()
                .find(|o| o.attr("selected").is_some())
                .or(options.first());
            if let Some(o) = chosen {
                let v = o
                    .attr("value")
                    .map_or_else(|| o.text().collect::<String>(), str::to_owned);
                out.fields.push((name.to_owned(), v.trim().to_owned()));
            }
        }
        ("textarea", _) => {
            out.visible_fields.push(name.to_owned());
            out.fields.push((name.to_owned(), el.text().collect()));
        }
        _ => {
            // text, email, tel, number, a missing or unknown type: something to type into.
            out.visible_fields.push(name.to_owned());
            text_inputs.push(el);
        }
    }
}

/// The page's title, shortened, for error messages.
pub fn page_title(html: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    title_of(&doc)
}

fn title_of(doc: &Html) -> Option<String> {
    let t = doc.select(&TITLE).next()?.text().collect::<String>();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then(|| crate::assertion::shorten(&t, 80))
}

/// Decides what an IdP page at `page_url` asks for.
///
/// In order: a form carrying a `SAMLResponse` to AWS sign-in (any partition) ends the login,
/// one carrying it elsewhere is a hop in an IdP chain; then the first form with a password
/// field; then a form asking for a one-time code; then, when no form on the page has anything
/// for the user, the first form is submitted as a browser's script would.
pub fn classify(html: &str, page_url: &Url) -> Page {
    let doc = Html::parse_document(html);
    let forms: Vec<Form> = doc
        .select(&FORM)
        .filter_map(|f| read_form(f, page_url))
        .collect();
    let unknown = |reason| Page::Unknown {
        reason,
        title: title_of(&doc),
    };

    if let Some(form) = forms.iter().find(|f| f.field("SAMLResponse").is_some()) {
        if signin_target(&form.action).is_some() {
            return Page::SamlResponse {
                response: Secret::new(form.field("SAMLResponse").unwrap_or_default().trim()),
                relay_state: form
                    .field("RelayState")
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
                action: form.action.clone(),
            };
        }
        return Page::AutoSubmit(form.clone());
    }
    if let Some(form) = forms.iter().find(|f| f.password_field.is_some()) {
        return Page::LoginForm(form.clone());
    }
    if let Some(form) = forms.iter().find(|f| f.code_field.is_some()) {
        return Page::MfaForm(form.clone());
    }
    match forms.first() {
        None => unknown("no form"),
        Some(first) if forms.iter().all(Form::is_hidden_only) => Page::AutoSubmit(first.clone()),
        Some(_) => unknown("a form with no password field"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    const PAGE: &str = "https://idp.example.com/sso/start?x=1";

    #[test]
    fn login_form_fields_are_found_whatever_their_names() {
        let html = r#"<form method="POST" action="/login?step=2">
            <input type="hidden" name="csrf" value="a&amp;b">
            <input type="hidden" value="no name is not sent">
            <input type="text" name="j_username">
            <input type="password" name="j_password">
            <input type="checkbox" name="remember" checked>
            <input type="checkbox" name="public">
            <button type="submit" name="_eventId_proceed">Login</button>
        </form>"#;
        let Page::LoginForm(f) = classify(html, &url(PAGE)) else {
            panic!("not a login form")
        };
        assert_eq!(f.action.as_str(), "https://idp.example.com/login?step=2");
        assert_eq!(f.method, Method::Post);
        assert_eq!(f.username_field.as_deref(), Some("j_username"));
        assert_eq!(f.password_field.as_deref(), Some("j_password"));
        assert_eq!(
            f.fields,
            vec![
                ("csrf".to_owned(), "a&b".to_owned()),
                ("remember".to_owned(), "on".to_owned()),
                ("j_username".to_owned(), String::new()),
            ]
        );
        assert_eq!(
            f.submit,
            Some(("_eventId_proceed".to_owned(), String::new()))
        );
    }

    #[test]
    fn the_user_field_is_chosen_by_name_among_text_inputs() {
        let html = r#"<form><input name="tenant" value="acme"><input type="email" name="login">
            <input type="password" name="pw"></form>"#;
        let Page::LoginForm(f) = classify(html, &url(PAGE)) else {
            panic!()
        };
        assert_eq!(f.username_field.as_deref(), Some("login"));
        assert_eq!(f.field("tenant"), Some("acme"));
        // No action: the page URL, query and all; no method: GET.
        assert_eq!(f.action.as_str(), PAGE);
        assert_eq!(f.method, Method::Get);
    }

    #[test]
    fn mfa_pages_are_told_apart_from_login_pages() {
        for html in [
            r#"<form method=post><input type=hidden name=state value=s><input name="otp"></form>"#,
            r#"<form method=post><input type=text name="answer" autocomplete="one-time-code"></form>"#,
            r#"<form method=post><input type=tel name="verificationCode"></form>"#,
            r#"<form method=post><input type=password name="totp_code"></form>"#,
        ] {
            let page = classify(html, &url(PAGE));
            assert!(
                matches!(page, Page::MfaForm(ref f) if f.code_field.is_some()),
                "{html}: {page:?}"
            );
        }
        // A password field makes it a login form even next to a code field.
        let both = r"<form><input name=u><input type=password name=p><input name=otp></form>";
        let Page::LoginForm(f) = classify(both, &url(PAGE)) else {
            panic!()
        };
        assert_eq!(f.code_field.as_deref(), Some("otp"));
        assert_eq!(f.username_field.as_deref(), Some("u"));
    }

    #[test]
    fn hidden_only_forms_are_auto_submitted() {
        let html = r#"<body onload="document.forms[0].submit()"><form method="post" action="https://idp2.example.com/acs">
            <input type="hidden" name="SAMLRequest" value="PHNhbWxwOkF1dGhuUmVxdWVzdD4=">
            <input type="hidden" name="RelayState" value="rs">
            <noscript><input type="submit" value="Continue"></noscript></form></body>"#;
        let Page::AutoSubmit(f) = classify(html, &url(PAGE)) else {
            panic!()
        };
        assert_eq!(f.field("RelayState"), Some("rs"));
        assert_eq!(f.submit, None);
    }

    #[test]
    fn saml_response_values_are_unescaped_and_aws_targets_accepted() {
        for action in [
            "https://signin.aws.amazon.com/saml",
            "https://us-east-2.signin.aws.amazon.com/saml",
            "https://signin.amazonaws-us-gov.com/saml",
            "https://signin.amazonaws.cn/saml",
        ] {
            let html = format!(
                r#"<form method="post" action="{action}"><input type="hidden" name="SAMLResponse" value="PHN&#43;YQ&#x3D;&#61;&#13;&#10;"><input type="hidden" name="RelayState" value=""></form>"#
            );
            match classify(&html, &url(PAGE)) {
                Page::SamlResponse {
                    response,
                    relay_state,
                    action: a,
                } => {
                    assert_eq!(response.expose(), "PHN+YQ==");
                    assert_eq!(relay_state, None);
                    assert_eq!(a.as_str(), action);
                }
                other => panic!("{action}: {other:?}"),
            }
        }
        // Addressed to another IdP: one more hop, not the end.
        let hop = r#"<form method="post" action="https://adfs.example.com/adfs/ls/"><input type="hidden" name="SAMLResponse" value="x"></form>"#;
        assert!(matches!(classify(hop, &url(PAGE)), Page::AutoSubmit(_)));
    }

    #[test]
    fn pages_without_a_usable_form_say_why() {
        assert_eq!(
            classify("<title> Oops \n error </title><p>hi</p>", &url(PAGE)),
            Page::Unknown {
                reason: "no form",
                title: Some("Oops error".into())
            }
        );
        assert!(matches!(
            classify(r#"<form><input name="q"></form>"#, &url(PAGE)),
            Page::Unknown {
                reason: "a form with no password field",
                ..
            }
        ));
    }

    #[test]
    fn debug_shows_no_field_values() {
        let html = r#"<form><input type=hidden name=AuthState value="state-secret"><input type=password name=p></form>"#;
        let text = format!("{:?}", classify(html, &url(PAGE)));
        assert!(
            text.contains("AuthState") && !text.contains("state-secret"),
            "{text}"
        );
        let saml = r#"<form action="https://signin.aws.amazon.com/saml"><input type=hidden name=SAMLResponse value="assertion-secret"></form>"#;
        let text = format!("{:?}", classify(saml, &url(PAGE)));
        assert!(!text.contains("assertion-secret"), "{text}");
    }
}
