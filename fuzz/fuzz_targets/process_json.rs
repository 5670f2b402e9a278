//! The reader of `credential_process` output, `Credentials::from_process_json`, on arbitrary
//! text. Beyond "never panics": what it accepts, keyfob writes back (`to_process_json`, whose
//! fields and time format the ECS and IMDS answers of `keyfob serve` share) so that it reads
//! back the same, to the second; and neither `Debug` nor an error shows a secret.
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
                expiration: c.expiration.map(whole_seconds),
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
            let message = e.to_string();
            let Ok(serde_json::Value::Object(doc)) = serde_json::from_str(text) else {
                return;
            };
            let shown_anyway = |s: &str| {
                // The Expiration text is quoted in its error; a secret equal to part of it is
                // not a leak.
                doc.get("Expiration")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|exp| exp.contains(s))
                    || "credential_process output is not valid JSON Version".contains(s)
            };
            for key in ["SecretAccessKey", "SessionToken"] {
                if let Some(secret) = doc.get(key).and_then(serde_json::Value::as_str)
                    && !secret.is_empty()
                    && !shown_anyway(secret)
                {
                    assert!(!message.contains(secret), "{key} in {message:?}");
                }
            }
        }
    }
});

/// `t` without its fraction of a second (a leap second stays one).
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.nanosecond() / 1_000_000_000 * 1_000_000_000)
        .expect("a whole second is valid")
}
