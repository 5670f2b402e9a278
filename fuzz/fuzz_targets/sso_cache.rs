//! The reader of the AWS CLI's SSO token cache file (`~/.aws/sso/cache/*.json`, written by
//! `aws sso login`, botocore and keyfob's own mirror) on arbitrary text, for one session:
//! `keyfob_sso::token::parse_cache_json`, the text half of `read_cache_file`. Beyond "never
//! panics": a token it accepts belongs to the session's start URL; what keyfob writes for it
//! (`cache_file_json`) reads back the same, to the second; `Debug` shows no secret.
#![no_main]

use chrono::{DateTime, Timelike, Utc};
use keyfob_core::Secret;
use keyfob_sso::SsoSessionConfig;
use keyfob_sso::token::{self, ClientRegistration, SsoToken};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static CFG: LazyLock<SsoSessionConfig> = LazyLock::new(|| SsoSessionConfig {
    name: "dev".into(),
    start_url: "https://d-abc123.awsapps.com/start".into(),
    region: "us-east-1".into(),
    scopes: vec!["sso:account:access".into()],
    login_flow: None,
    write_sso_cache: true,
    legacy_profile: None,
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(Some((tok, reg))) = token::parse_cache_json(text, &CFG) else {
        return;
    };
    assert_eq!(tok.start_url, CFG.start_url);
    if let Some(r) = &reg {
        assert_eq!(r.start_url, CFG.start_url);
        assert_eq!(r.scopes, CFG.scopes);
    }

    let json = token::cache_file_json(&tok, reg.as_ref());
    let (tok_back, reg_back) = token::parse_cache_json(&json, &CFG)
        .unwrap_or_else(|e| panic!("keyfob cannot read what it wrote: {json}: {e}"))
        .unwrap_or_else(|| panic!("keyfob does not take what it wrote: {json}"));
    assert_eq!(
        tok_back,
        SsoToken {
            expires_at: whole_seconds(tok.expires_at),
            ..tok.clone()
        },
        "{json}"
    );
    assert_eq!(
        reg_back,
        reg.clone().map(|r| ClientRegistration {
            expires_at: whole_seconds(r.expires_at),
            ..r
        }),
        "{json}"
    );

    // Debug is the same whatever the secrets are.
    let blank = SsoToken {
        access_token: Secret::new(""),
        refresh_token: tok.refresh_token.as_ref().map(|_| Secret::new("")),
        ..tok.clone()
    };
    assert_eq!(format!("{tok:?}"), format!("{blank:?}"));
    if let Some(r) = &reg {
        let blank = ClientRegistration {
            client_secret: Secret::new(""),
            ..r.clone()
        };
        assert_eq!(format!("{r:?}"), format!("{blank:?}"));
    }
});

/// `t` without its fraction of a second (a leap second stays one).
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.nanosecond() / 1_000_000_000 * 1_000_000_000)
        .expect("a whole second is valid")
}
