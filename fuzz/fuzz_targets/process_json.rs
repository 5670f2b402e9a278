//! The reader of `credential_process` output, `Credentials::from_process_json`, on arbitrary
//! text. Beyond "never panics": what it accepts, keyfob writes back (`to_process_json`, whose
//! fields and time format the ECS and IMDS answers of `keyfob serve` share) so that it reads
//! back the same, to the second (and inside years 0–9999, all RFC 3339 can write); and neither
//! `Debug` nor an error shows a secret.
//!
//! keyfob has no reader of the ECS container-credentials answer: it only serves one, and the
//! SDKs (aws-config's `json_credentials`) read it. The time format is the part that answer
//! shares with this one, so the round trip here covers it.
#![no_main]

use chrono::{DateTime, Timelike, Utc};
use keyfob_core::{Credentials, Secret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Credentials::from_process_json(text) {
        Ok(c) => {
            let json = c.to_process_json();
            let back = Credentials::from_process_json(&json)
                .unwrap_or_else(|e| panic!("keyfob cannot read what it wrote: {json}: {e}"));
            let want = Credentials {
                expiration: c.expiration.map(as_written),
                ..c.clone()
            };
            assert_eq!(back, want, "{json}");
            // Debug is the same whatever the secrets are.
            let blank = Credentials {
                secret_access_key: Secret::new(""),
                session_token: c.session_token.as_ref().map(|_| Secret::new("")),
                ..c.clone()
            };
            assert_eq!(format!("{c:?}"), format!("{blank:?}"));
        }
        Err(e) => {
            // The message is the same whatever the secrets were: none is quoted in it.
            let Ok(serde_json::Value::Object(mut doc)) = serde_json::from_str(text) else {
                return;
            };
            if doc.values().any(has_float) {
                // serde_json does not write every float back as it read it, so the document
                // below would not be the same one.
                return;
            }
            for key in ["SecretAccessKey", "SessionToken"] {
                if let Some(v @ serde_json::Value::String(_)) = doc.get_mut(key) {
                    *v = serde_json::Value::String(format!("other {key}"));
                }
            }
            let other = serde_json::Value::Object(doc).to_string();
            let other_err = Credentials::from_process_json(&other)
                .err()
                .unwrap_or_else(|| panic!("a secret decided whether {text:?} was read"));
            assert_eq!(e.to_string(), other_err.to_string());
        }
    }
});

fn has_float(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(a) => a.iter().any(has_float),
        serde_json::Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

/// `t` as `rfc3339` writes it: moved into years 0–9999, without its fraction of a second.
fn as_written(t: DateTime<Utc>) -> DateTime<Utc> {
    let first = DateTime::from_timestamp(-62_167_219_200, 0).expect("0000-01-01T00:00:00Z");
    let last = DateTime::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z");
    whole_seconds(t.clamp(first, last))
}

/// `t` without its fraction of a second (a leap second stays one).
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.nanosecond() / 1_000_000_000 * 1_000_000_000)
        .expect("a whole second is valid")
}
