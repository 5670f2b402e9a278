//! An SSO session's settings, read from an `[sso-session NAME]` section (or from a legacy
//! profile that carries `sso_start_url` itself) and checked before anything goes on the wire.

use crate::error::SsoError;
use keyfob_core::profile::{Profiles, SsoSession};
use sha1::{Digest, Sha1};
use std::fmt;
use std::str::FromStr;

/// The scope the AWS CLI registers with when `sso_registration_scopes` is not set.
pub const DEFAULT_SCOPE: &str = "sso:account:access";

/// How the browser sign-in happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// OAuth device authorization: a code to confirm in any browser.
    Device,
    /// OAuth authorization code with PKCE: a browser on this machine, redirected back to a
    /// loopback listener.
    Pkce,
}

impl FromStr for Flow {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "device" | "device-code" | "device_code" => Ok(Flow::Device),
            "pkce" | "auth-code" | "authorization_code" => Ok(Flow::Pkce),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flow::Device => "device",
            Flow::Pkce => "pkce",
        })
    }
}

/// A validated SSO session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSessionConfig {
    /// The sso-session name; for a legacy profile, its start URL.
    pub name: String,
    /// The AWS access portal URL (`sso_start_url`).
    pub start_url: String,
    /// The IAM Identity Center region (`sso_region`).
    pub region: String,
    /// OAuth scopes to register with (`sso_registration_scopes`, comma separated).
    pub scopes: Vec<String>,
    /// The flow `keyfob login` uses unless told otherwise (`keyfob_login_flow`).
    pub login_flow: Option<Flow>,
    /// Whether to mirror the token into `~/.aws/sso/cache` (`keyfob_write_sso_cache`).
    pub write_sso_cache: bool,
    /// For a legacy profile (start URL in the profile, no sso-session): that profile's name.
    pub legacy_profile: Option<String>,
}

impl SsoSessionConfig {
    /// The `[sso-session NAME]` section of the loaded config files.
    pub fn from_profiles(profiles: &Profiles, name: &str) -> Result<Self, SsoError> {
        let section = profiles
            .sso_session(name)
            .ok_or_else(|| SsoError::UnknownSession {
                name: name.to_owned(),
                config: profiles.config_path.clone(),
            })?;
        Self::from_section(&section)
    }

    /// Reads and checks one `[sso-session NAME]` section.
    pub fn from_section(section: &SsoSession<'_>) -> Result<Self, SsoError> {
        let label = format!("[sso-session {}]", section.name());
        let get = |k: &str| section.get(k);
        let start_url = get("sso_start_url").ok_or_else(|| SsoError::MissingKey {
            section: label.clone(),
            key: "sso_start_url",
        })?;
        let region = get("sso_region").ok_or_else(|| SsoError::MissingKey {
            section: label.clone(),
            key: "sso_region",
        })?;
        check_start_url(&label, "sso_start_url", start_url)?;
        check_region(&label, "sso_region", region)?;
        let scopes = match get("sso_registration_scopes") {
            Some(raw) => parse_scopes(raw),
            None => vec![DEFAULT_SCOPE.to_owned()],
        };
        let login_flow = get("keyfob_login_flow")
            .map(|v| {
                v.parse::<Flow>().map_err(|()| SsoError::BadValue {
                    section: label.clone(),
                    key: "keyfob_login_flow",
                    value: v.to_owned(),
                    expected: "device or pkce",
                })
            })
            .transpose()?;
        let write_sso_cache = match get("keyfob_write_sso_cache") {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| SsoError::BadValue {
                section: label.clone(),
                key: "keyfob_write_sso_cache",
                value: v.to_owned(),
                expected: "true or false",
            })?,
        };
        Ok(Self {
            name: section.name().to_owned(),
            start_url: start_url.to_owned(),
            region: region.to_owned(),
            scopes: if scopes.is_empty() {
                vec![DEFAULT_SCOPE.to_owned()]
            } else {
                scopes
            },
            login_flow,
            write_sso_cache,
            legacy_profile: None,
        })
    }

    /// A legacy profile's session: `sso_start_url` and `sso_region` in `[profile NAME]`. Its
    /// token is filed under the start URL, as the AWS CLI does; login uses the device flow and
    /// the mirror is written, since the SDKs read such profiles from `~/.aws/sso/cache`.
    pub fn legacy(profile: &str, start_url: &str, region: &str) -> Result<Self, SsoError> {
        let label = format!("[profile {profile}]");
        check_start_url(&label, "sso_start_url", start_url)?;
        check_region(&label, "sso_region", region)?;
        Ok(Self {
            name: start_url.to_owned(),
            start_url: start_url.to_owned(),
            region: region.to_owned(),
            scopes: Vec::new(),
            login_flow: Some(Flow::Device),
            write_sso_cache: true,
            legacy_profile: Some(profile.to_owned()),
        })
    }

    /// True for a legacy profile's session.
    pub fn is_legacy(&self) -> bool {
        self.legacy_profile.is_some()
    }

    /// The flow to use: the device flow when asked for (or for legacy profiles, which the
    /// PKCE flow does not serve), else `keyfob_login_flow`, else PKCE.
    pub fn flow(&self, use_device_code: bool) -> Flow {
        if use_device_code || self.is_legacy() {
            Flow::Device
        } else {
            self.login_flow.unwrap_or(Flow::Pkce)
        }
    }

    /// The command that signs this session in again.
    pub fn login_command(&self) -> String {
        match &self.legacy_profile {
            Some(p) => format!("keyfob login --profile {p}"),
            None => format!("keyfob login --sso-session {}", self.name),
        }
    }

    /// The error for "this session's token is gone".
    pub fn expired(&self) -> SsoError {
        SsoError::SessionExpired {
            what: self.what(),
            login: self.login_command(),
        }
    }

    /// The error for "this session was never signed in".
    pub fn not_signed_in(&self) -> SsoError {
        SsoError::NotSignedIn {
            what: self.what(),
            login: self.login_command(),
        }
    }

    fn what(&self) -> String {
        if self.is_legacy() {
            format!("login for {}", self.start_url)
        } else {
            format!("session {}", self.name)
        }
    }

    /// The AWS CLI's cache key: sha1 hex of the session name (legacy: of the start URL).
    pub fn cache_key(&self) -> String {
        hex::encode(Sha1::digest(self.name.as_bytes()))
    }

    /// The scopes to send, never empty (legacy profiles register without scopes).
    pub(crate) fn scopes_or_default(&self) -> Vec<String> {
        if self.scopes.is_empty() {
            vec![DEFAULT_SCOPE.to_owned()]
        } else {
            self.scopes.clone()
        }
    }
}

/// Splits `sso_registration_scopes` the way the AWS CLI does: commas, blanks dropped.
pub fn parse_scopes(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// An https URL, or http on the loopback interface (the local sandbox and the tests).
fn check_start_url(section: &str, key: &'static str, raw: &str) -> Result<(), SsoError> {
    let bad = || SsoError::NotHttps {
        section: section.to_owned(),
        key,
        url: raw.to_owned(),
    };
    let url = url::Url::parse(raw).map_err(|_| bad())?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad()),
    }
}

fn check_region(section: &str, key: &'static str, region: &str) -> Result<(), SsoError> {
    if looks_like_region(region) {
        Ok(())
    } else {
        Err(SsoError::BadRegion {
            section: section.to_owned(),
            key,
            region: region.to_owned(),
        })
    }
}

/// `^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$`: us-east-1, us-gov-west-1, us-isob-east-1.
pub fn looks_like_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let (country, partition, word, number) = match parts.as_slice() {
        [c, w, n] => (*c, None, *w, *n),
        [c, p, w, n] => (*c, Some(*p), *w, *n),
        _ => return false,
    };
    let partition_ok = match partition {
        None => true,
        Some(p) => p == "gov" || (p.len() <= 4 && p.starts_with("iso") && lower(p)),
    };
    country.len() == 2
        && lower(country)
        && partition_ok
        && lower(word)
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(section: &str) -> Result<SsoSessionConfig, SsoError> {
        let p = Profiles::parse(section, "").unwrap();
        SsoSessionConfig::from_profiles(&p, "acme")
    }

    #[test]
    fn defaults_and_keyfob_keys() {
        let c = parse(
            "[sso-session acme]\nsso_start_url = https://acme.awsapps.com/start\nsso_region = eu-west-1\n",
        )
        .unwrap();
        assert_eq!(c.scopes, vec!["sso:account:access"]);
        assert_eq!(c.login_flow, None);
        assert!(!c.write_sso_cache);
        assert_eq!(c.flow(false), Flow::Pkce);
        assert_eq!(c.flow(true), Flow::Device);
        let c = parse(
            "[sso-session acme]\nsso_start_url = https://acme.awsapps.com/start\nsso_region = us-gov-west-1\n\
             sso_registration_scopes = sso:account:access, codewhisperer:completions ,\n\
             keyfob_login_flow = device\nkeyfob_write_sso_cache = true\n",
        )
        .unwrap();
        assert_eq!(
            c.scopes,
            vec!["sso:account:access", "codewhisperer:completions"]
        );
        assert_eq!(c.flow(false), Flow::Device);
        assert!(c.write_sso_cache);
        assert_eq!(c.login_command(), "keyfob login --sso-session acme");
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let e = parse("[sso-session acme]\nsso_region = eu-west-1\n").unwrap_err();
        assert!(
            matches!(
                e,
                SsoError::MissingKey {
                    key: "sso_start_url",
                    ..
                }
            ),
            "{e}"
        );
        let e = parse(
            "[sso-session acme]\nsso_start_url = http://acme.awsapps.com/start\nsso_region = eu-west-1\n",
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("sso_start_url") && msg.contains("https://"),
            "{msg}"
        );
        let e = parse("[sso-session acme]\nsso_start_url = https://a/start\nsso_region = Europe\n")
            .unwrap_err();
        assert!(e.to_string().contains("sso_region = \"Europe\""), "{e}");
        let e = parse(
            "[sso-session acme]\nsso_start_url = https://a/start\nsso_region = eu-west-1\nkeyfob_login_flow = magic\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("device or pkce"), "{e}");
        let e = parse("[sso-session other]\nsso_region = eu-west-1\n").unwrap_err();
        assert!(matches!(e, SsoError::UnknownSession { .. }));
        assert_eq!(
            e.hint().as_deref(),
            Some("keyfob configure sso-session acme --start-url URL --region REGION")
        );
    }

    #[test]
    fn http_only_on_loopback() {
        for ok in [
            "https://acme.awsapps.com/start",
            "http://127.0.0.1:8080/start",
            "http://localhost/start",
        ] {
            assert!(check_start_url("s", "sso_start_url", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://acme.awsapps.com/start",
            "ftp://x",
            "acme.awsapps.com",
            "",
        ] {
            assert!(check_start_url("s", "sso_start_url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-4",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "cn-northwest-1",
        ] {
            assert!(looks_like_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-1a",
            "usa-east-1",
            "us--1",
        ] {
            assert!(!looks_like_region(bad), "{bad}");
        }
    }

    #[test]
    fn legacy_profiles_file_under_the_start_url() {
        let c = SsoSessionConfig::legacy("old", "https://d-abc123.awsapps.com/start", "us-east-1")
            .unwrap();
        assert!(c.is_legacy());
        assert_eq!(c.flow(false), Flow::Device);
        assert_eq!(c.cache_key(), "40a89917e3175433e361b710a9d43528d7f1890a");
        assert_eq!(
            c.expired().to_string(),
            "SSO login for https://d-abc123.awsapps.com/start has expired; run: keyfob login --profile old"
        );
    }
}
