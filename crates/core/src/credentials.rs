//! AWS credentials, the `credential_process` Version 1 JSON, and when to refresh them.

use crate::secret::Secret;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// A set of AWS credentials; the secret parts never print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The access key id (not secret: it names the key).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Secret>,
    /// When temporary credentials expire; `None` for long-term keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<DateTime<Utc>>,
}

/// Why a `credential_process` document could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessJsonError {
    /// Not JSON of the expected shape.
    #[error("credential_process output is not valid JSON: {0}")]
    Malformed(String),
    /// A version other than 1.
    #[error("credential_process output has Version {0}; only Version 1 is supported")]
    UnsupportedVersion(i64),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessDoc {
    version: i64,
    access_key_id: String,
    secret_access_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
}

impl Credentials {
    /// Long-term credentials (no token, no expiry).
    pub fn long_term(access_key_id: impl Into<String>, secret: impl Into<Secret>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret.into(),
            session_token: None,
            expiration: None,
        }
    }

    /// The `credential_process` Version 1 JSON, on one line.
    pub fn to_process_json(&self) -> String {
        let doc = ProcessDoc {
            version: 1,
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.expose().to_owned(),
            session_token: self.session_token.as_ref().map(|s| s.expose().to_owned()),
            expiration: self.expiration.map(rfc3339),
        };
        serde_json::to_string(&doc).expect("a struct of strings always serialises")
    }

    /// Reads a `credential_process` document (as another tool's output).
    pub fn from_process_json(text: &str) -> Result<Self, ProcessJsonError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ProcessJsonError::Malformed(e.to_string()))?;
        match value.get("Version").and_then(serde_json::Value::as_i64) {
            Some(1) => {}
            Some(v) => return Err(ProcessJsonError::UnsupportedVersion(v)),
            None => {
                return Err(ProcessJsonError::Malformed(
                    "the Version field is missing".into(),
                ));
            }
        }
        let doc: ProcessDoc = serde_json::from_value(value)
            .map_err(|e| ProcessJsonError::Malformed(e.to_string()))?;
        let expiration = match doc.expiration {
            Some(s) => Some(
                DateTime::parse_from_rfc3339(&s)
                    .map_err(|e| ProcessJsonError::Malformed(format!("Expiration {s:?}: {e}")))?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
        Ok(Self {
            access_key_id: doc.access_key_id,
            secret_access_key: Secret::new(doc.secret_access_key),
            session_token: doc.session_token.map(Secret::new),
            expiration,
        })
    }

    /// Time left before expiry at `now` (`None` for long-term keys).
    pub fn time_left(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.expiration.map(|e| e - now)
    }
}

/// RFC 3339 in UTC with a `Z`, whole seconds: the form every SDK parses. RFC 3339 has
/// four-digit years only, so a time outside years 0–9999 (from a broken or hostile server) is
/// written as the nearest one inside: it is as far past or future either way.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    let first = DateTime::from_timestamp(-62_167_219_200, 0).expect("0000-01-01T00:00:00Z");
    let last = DateTime::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z");
    t.clamp(first, last)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// When cached credentials are too close to expiry to hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// Refresh when less than this remains.
    pub window: Duration,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            window: Duration::minutes(15),
        }
    }
}

/// A `keyfob_refresh_window` value that is not a duration.
#[derive(Debug, thiserror::Error)]
#[error(
    "keyfob_refresh_window = {0:?} is not a duration; write seconds (900) or a number with s, m or h (15m)"
)]
pub struct BadRefreshWindow(pub String);

impl ExpiryPolicy {
    /// Parses `keyfob_refresh_window`: seconds, or a number followed by `s`, `m` or `h`.
    pub fn parse_window(text: &str) -> Result<Self, BadRefreshWindow> {
        let t = text.trim();
        let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((i, _)) => t.split_at(i),
            None => (t, "s"),
        };
        let n: i64 = digits.parse().map_err(|_| BadRefreshWindow(text.into()))?;
        let window = match unit.trim() {
            "s" => Duration::seconds(n),
            "m" => Duration::minutes(n),
            "h" => Duration::hours(n),
            _ => return Err(BadRefreshWindow(text.into())),
        };
        Ok(Self { window })
    }

    /// True when `creds` must be refreshed before they are handed out at `now`.
    pub fn needs_refresh(&self, creds: &Credentials, now: DateTime<Utc>) -> bool {
        match creds.expiration {
            Some(exp) => exp - now < self.window,
            None => false,
        }
    }
}

impl crate::error::UserError for ProcessJsonError {}

impl crate::error::UserError for BadRefreshWindow {
    fn hint(&self) -> Option<String> {
        Some("edit keyfob_refresh_window in the shared config file".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("s3cr3t"),
            session_token: Some(Secret::new("t0k3n")),
            expiration: Some(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()),
        }
    }

    #[test]
    fn process_json_is_version_1_with_rfc3339_utc() {
        let json = sample().to_process_json();
        assert_eq!(
            json,
            r#"{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"s3cr3t","SessionToken":"t0k3n","Expiration":"2026-01-02T03:04:05Z"}"#
        );
        assert_eq!(Credentials::from_process_json(&json).unwrap(), sample());
    }

    #[test]
    fn long_term_keys_have_no_token_or_expiration() {
        let json = Credentials::long_term("AKIA", "x").to_process_json();
        assert_eq!(
            json,
            r#"{"Version":1,"AccessKeyId":"AKIA","SecretAccessKey":"x"}"#
        );
    }

    #[test]
    fn other_versions_are_refused() {
        let err = Credentials::from_process_json(
            r#"{"Version":2,"AccessKeyId":"a","SecretAccessKey":"b"}"#,
        )
        .unwrap_err();
        assert!(matches!(err, ProcessJsonError::UnsupportedVersion(2)));
    }

    #[test]
    fn fuzz_expiration_beyond_year_9999_is_written_as_rfc3339() {
        // Found by fuzz/fuzz_targets/process_json.rs: `9999-12-31T23:59:59-01:00` is in year
        // 10000 in UTC, which chrono writes `+10000-…`: neither keyfob nor any SDK reads that.
        for (read, written) in [
            ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59Z"),
            ("9999-12-31T23:59:59.9Z", "9999-12-31T23:59:59Z"),
            ("0000-01-01T00:00:00+01:00", "0000-01-01T00:00:00Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
        ] {
            let c = Credentials::from_process_json(&format!(
                r#"{{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b","Expiration":"{read}"}}"#
            ))
            .unwrap();
            let json = c.to_process_json();
            assert!(
                json.contains(&format!(r#""Expiration":"{written}""#)),
                "{json}"
            );
            assert_eq!(
                Credentials::from_process_json(&json).unwrap().expiration,
                Some(DateTime::parse_from_rfc3339(written).unwrap().to_utc())
            );
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let text = format!("{:?}", sample());
        assert!(
            !text.contains("s3cr3t") && !text.contains("t0k3n"),
            "{text}"
        );
    }

    #[test]
    fn refresh_window() {
        let p = ExpiryPolicy::default();
        let c = sample();
        let exp = c.expiration.unwrap();
        assert!(!p.needs_refresh(&c, exp - Duration::minutes(16)));
        assert!(p.needs_refresh(&c, exp - Duration::minutes(14)));
        assert!(!p.needs_refresh(&Credentials::long_term("a", "b"), exp));
        assert_eq!(
            ExpiryPolicy::parse_window("5m").unwrap().window,
            Duration::minutes(5)
        );
        assert_eq!(
            ExpiryPolicy::parse_window("120").unwrap().window,
            Duration::seconds(120)
        );
        assert!(ExpiryPolicy::parse_window("soon").is_err());
    }
}
