//! The SAML response parser on arbitrary bytes: raw XML (`Assertion::from_xml`) and text
//! (`Assertion::from_base64`). Beyond "never panics", it checks that base64 is only a wrapper:
//! the same bytes read the same way either way, and what is accepted is usable.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{TimeZone, Utc};
use keyfob_saml::{Assertion, RolePair};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let from_xml = Assertion::from_xml(data);
    if let Ok(text) = std::str::from_utf8(data) {
        // As pasted text: usually not base64, sometimes a response.
        if let Ok(a) = Assertion::from_base64(text) {
            check(&a);
        }
        let _ = RolePair::parse(text);
    }
    // The same bytes behind base64 read exactly as the raw XML does (non-empty: empty base64
    // is its own error; small: the cap on the encoded size is tested elsewhere).
    if !data.is_empty() && data.len() < 64 * 1024 {
        assert_eq!(Assertion::from_base64(&STANDARD.encode(data)), from_xml);
    }
    if let Ok(a) = from_xml {
        check(&a);
    }
});

fn check(a: &Assertion) {
    assert!(!a.roles.is_empty(), "an accepted response offers a role");
    for r in &a.roles {
        assert!(r.role_arn.contains(":role/"), "{r:?}");
        assert!(r.principal_arn.contains(":saml-provider/"), "{r:?}");
        let _ = (r.account_id(), r.role_name(), r.to_string());
        assert_eq!(
            RolePair::parse(&format!("{},{}", r.role_arn, r.principal_arn)).as_ref(),
            Ok(r)
        );
    }
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let _ = a.check_not_expired(now);
    let _ = keyfob_saml::sts::effective_duration(Some(3600), a.session_duration);
    let _ = keyfob_saml::partition::sts_region(a.partition, a.signin_region.as_deref(), None);
    let _ = format!("{a:?}");
}
