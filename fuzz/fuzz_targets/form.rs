//! The IdP page reader on arbitrary HTML at a fixed URL: `form::classify`, which decides what
//! to submit next (and reads every form on the page as `form::find_forms` does). It must never
//! panic, and what it returns must be submittable: the field it will fill is there, and every
//! field it sends has a name.
#![no_main]

use keyfob_saml::form::{self, Form, Page};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use url::Url;

static PAGE_URL: LazyLock<Url> = LazyLock::new(|| {
    Url::parse(
        "https://idp.example.com/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=urn:amazon:webservices",
    )
    .expect("a constant URL parses")
});

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    // One HTML parse per input: html5ever dominates the cost of an execution.
    let page = form::classify(&html, &PAGE_URL);
    let _ = (page.kind(), format!("{page:?}"));
    match &page {
        Page::LoginForm(f) => {
            assert!(f.password_field.is_some(), "{f:?}");
            named(f);
        }
        Page::MfaForm(f) => {
            assert!(f.code_field.is_some(), "{f:?}");
            named(f);
        }
        Page::AutoSubmit(f) => named(f),
        Page::Unknown {
            title: Some(title), ..
        } => assert!(title.chars().count() <= 81, "{title:?}"),
        _ => {}
    }
});

fn named(f: &Form) {
    assert!(f.fields.iter().all(|(name, _)| !name.is_empty()), "{f:?}");
    let _ = (f.is_hidden_only(), f.field("SAMLResponse"));
}
