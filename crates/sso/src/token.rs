//! The session's OIDC client registration and tokens: kept in the keychain, and optionally
//! mirrored into the AWS CLI's token cache (`~/.aws/sso/cache/<sha1>.json`) so that botocore,
//! the AWS CLI and the Rust SDK can use the session natively.

use crate::error::SsoError;
use crate::session::{Flow, SsoSessionConfig};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use keyfob_core::store::{SessionStore, SessionStoreExt, StoreError, keys};
use keyfob_core::{Env, Secret};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The OAuth grant types a PKCE registration asks for.
pub const PKCE_GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];

/// How long before its expiry a registration is no longer reused for a new login (the AWS
/// CLI's window): a login must not start with a client that dies halfway through.
pub const REGISTRATION_REUSE_MARGIN: Duration = Duration::minutes(15);

/// The time format of the AWS CLI's cache files.
const CACHE_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// An OIDC client registration (`RegisterClient`'s answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRegistration {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// When the registration expires (`clientSecretExpiresAt`).
    pub expires_at: DateTime<Utc>,
    /// The scopes it was registered with.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The grant types it was registered with (empty: a device-flow registration).
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// The region it was registered in.
    #[serde(default)]
    pub region: String,
    /// The start URL it was registered for (the issuer URL of a PKCE registration).
    #[serde(default)]
    pub start_url: String,
}

impl ClientRegistration {
    /// Whether this registration can serve `flow`: PKCE needs the `authorization_code` grant;
    /// the device flow takes a registration without one (as the AWS CLI does).
    pub fn supports(&self, flow: Flow) -> bool {
        let auth_code = self.grant_types.iter().any(|g| g == "authorization_code");
        match flow {
            Flow::Pkce => auth_code,
            Flow::Device => !auth_code,
        }
    }

    /// Whether a new login may reuse this registration at `now`.
    pub fn reusable_for(&self, cfg: &SsoSessionConfig, flow: Flow, now: DateTime<Utc>) -> bool {
        self.expires_at - now > REGISTRATION_REUSE_MARGIN
            && self.supports(flow)
            && self.region == cfg.region
            && self.start_url == cfg.start_url
            && self.scopes == cfg.scopes_or_default()
    }
}

/// An SSO access token, with what is needed to refresh it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoToken {
    /// The bearer token for the portal API.
    pub access_token: Secret,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// The refresh token, if the server issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// The IAM Identity Center region.
    pub region: String,
    /// The start URL it was issued for.
    pub start_url: String,
    /// The scopes the session asked for when it was issued (empty: unknown, from an older
    /// keyfob, which no session accepts).
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl SsoToken {
    /// Time left at `now` (negative once expired).
    pub fn time_left(&self, now: DateTime<Utc>) -> Duration {
        self.expires_at - now
    }

    /// Whether it is usable for at least `window` more.
    pub fn fresh_for(&self, now: DateTime<Utc>, window: Duration) -> bool {
        self.time_left(now) >= window
    }
}

/// Reads a keychain entry; a corrupt one is treated as missing (the next write replaces it).
fn get_or_none<T: serde::de::DeserializeOwned>(
    store: &dyn SessionStore,
    key: &str,
) -> Result<Option<T>, SsoError> {
    match store.get_json::<T>(key) {
        Ok(v) => Ok(v),
        Err(StoreError::Corrupt { key, reason }) => {
            tracing::warn!(%key, %reason, "ignoring a corrupt keychain entry");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The session's token from the keychain.
pub fn load_token(
    store: &dyn SessionStore,
    cfg: &SsoSessionConfig,
) -> Result<Option<SsoToken>, SsoError> {
    let token: Option<SsoToken> = get_or_none(store, &keys::sso_token(&cfg.name))?;
    // A token issued for another start URL, region or scopes (the section was edited) is not
    // this session's token.
    Ok(token.filter(|t| {
        t.start_url == cfg.start_url
            && t.region == cfg.region
            && t.scopes == cfg.scopes_or_default()
    }))
}

/// The session's client registration from the keychain.
pub fn load_registration(
    store: &dyn SessionStore,
    cfg: &SsoSessionConfig,
) -> Result<Option<ClientRegistration>, SsoError> {
    get_or_none(store, &keys::sso_client(&cfg.name))
}

/// Stores a token and its registration in the keychain, and mirrors them if the session asks
/// for it (or `mirror` forces it).
pub(crate) fn save(
    store: &dyn SessionStore,
    env: &Env,
    cfg: &SsoSessionConfig,
    token: &SsoToken,
    registration: Option<&ClientRegistration>,
    mirror: bool,
) -> Result<(), SsoError> {
    if let Some(reg) = registration {
        store.put_json(&keys::sso_client(&cfg.name), reg)?;
    }
    store.put_json(&keys::sso_token(&cfg.name), token)?;
    if mirror || cfg.write_sso_cache {
        let path = write_cache_file(env, cfg, token, registration)?;
        tracing::debug!(path = %path.display(), "mirrored the SSO token for the AWS CLI");
    }
    Ok(())
}

/// The AWS CLI's cache file, field for field (botocore `SSOTokenLoader` / `SSOTokenProvider`).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CacheFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    access_token: String,
    expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration_expires_at: Option<String>,
}

/// `~/.aws/sso/cache/<sha1 of the session name (legacy: of the start URL)>.json`.
pub fn cache_file_path(env: &Env, cfg: &SsoSessionConfig) -> PathBuf {
    keyfob_core::paths::sso_cache_dir(env).join(format!("{}.json", cfg.cache_key()))
}

fn format_time(t: DateTime<Utc>) -> String {
    t.format(CACHE_TIME_FORMAT).to_string()
}

/// Parses the times other tools write: `2024-01-02T03:04:05Z`, RFC 3339 with an offset or
/// fraction, and the old AWS CLI's `2024-01-02T03:04:05UTC`.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = s
        .strip_suffix("UTC")
        .or_else(|| s.strip_suffix('Z'))
        .unwrap_or(s);
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// The cache file's JSON for this token and registration.
pub fn cache_file_json(token: &SsoToken, registration: Option<&ClientRegistration>) -> String {
    let doc = CacheFile {
        start_url: Some(token.start_url.clone()),
        region: Some(token.region.clone()),
        access_token: token.access_token.expose().to_owned(),
        expires_at: format_time(token.expires_at),
        refresh_token: token.refresh_token.as_ref().map(|r| r.expose().to_owned()),
        client_id: registration.map(|r| r.client_id.clone()),
        client_secret: registration.map(|r| r.client_secret.expose().to_owned()),
        registration_expires_at: registration.map(|r| format_time(r.expires_at)),
    };
    serde_json::to_string(&doc).expect("a struct of strings always serialises")
}

/// Writes the mirror file (0600, directory 0700), atomically.
pub fn write_cache_file(
    env: &Env,
    cfg: &SsoSessionConfig,
    token: &SsoToken,
    registration: Option<&ClientRegistration>,
) -> Result<PathBuf, SsoError> {
    let path = cache_file_path(env, cfg);
    let fail = |e: std::io::Error| SsoError::CacheFile {
        path: path.clone(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        keyfob_core::lock::create_private_dir(dir).map_err(fail)?;
    }
    let json = cache_file_json(token, registration);
    keyfob_core::editor::write_atomic(
        &path,
        json.as_bytes(),
        keyfob_core::editor::Mode::Exactly(0o600),
    )
    .map_err(|e| {
        use keyfob_core::editor::EditError;
        let reason = match e {
            EditError::Write { source, .. } | EditError::CreateDir { source, .. } => {
                source.to_string()
            }
            other => other.to_string(),
        };
        SsoError::CacheFile {
            path: path.clone(),
            reason,
        }
    })?;
    Ok(path)
}

/// Reads the AWS CLI's cache file for this session, if there is one that belongs to it (same
/// start URL). A file that is missing, unreadable or malformed is simply not there.
pub fn read_cache_file(
    env: &Env,
    cfg: &SsoSessionConfig,
) -> Option<(SsoToken, Option<ClientRegistration>)> {
    let path = cache_file_path(env, cfg);
    let text = std::fs::read_to_string(&path).ok()?;
    parse_cache_json(&text, cfg).unwrap_or_else(|e| {
        tracing::debug!(path = %path.display(), error = %e, "ignoring a malformed AWS CLI token cache file");
        None
    })
}

/// What [`read_cache_file`] makes of the file's text; public only for the fuzz target.
#[doc(hidden)]
pub fn parse_cache_json(
    text: &str,
    cfg: &SsoSessionConfig,
) -> Result<Option<(SsoToken, Option<ClientRegistration>)>, serde_json::Error> {
    Ok(parse_cache_file(serde_json::from_str(text)?, cfg))
}

fn parse_cache_file(
    doc: CacheFile,
    cfg: &SsoSessionConfig,
) -> Option<(SsoToken, Option<ClientRegistration>)> {
    if doc.start_url.as_deref().is_some_and(|u| u != cfg.start_url) {
        return None;
    }
    let token = SsoToken {
        access_token: Secret::new(doc.access_token),
        expires_at: parse_time(&doc.expires_at)?,
        refresh_token: doc.refresh_token.filter(|r| !r.is_empty()).map(Secret::new),
        region: doc.region.unwrap_or_else(|| cfg.region.clone()),
        start_url: cfg.start_url.clone(),
        // The AWS CLI's file does not say; it was found under this session's name.
        scopes: cfg.scopes_or_default(),
    };
    let registration = match (
        doc.client_id,
        doc.client_secret,
        doc.registration_expires_at,
    ) {
        (Some(id), Some(secret), Some(exp)) => Some(ClientRegistration {
            client_id: id,
            client_secret: Secret::new(secret),
            expires_at: parse_time(&exp)?,
            scopes: cfg.scopes_or_default(),
            // The file does not say how the client was registered; the refresh grant is all
            // that is asked of it here.
            grant_types: Vec::new(),
            region: token.region.clone(),
            start_url: cfg.start_url.clone(),
        }),
        _ => None,
    };
    Some((token, registration))
}

/// Removes the mirror file; true if there was one.
pub fn remove_cache_file(env: &Env, cfg: &SsoSessionConfig) -> Result<bool, SsoError> {
    let path = cache_file_path(env, cfg);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(SsoError::CacheFile {
            path,
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cfg(name: &str) -> SsoSessionConfig {
        SsoSessionConfig {
            name: name.into(),
            start_url: "https://d-abc123.awsapps.com/start".into(),
            region: "us-east-1".into(),
            scopes: vec!["sso:account:access".into()],
            login_flow: None,
            write_sso_cache: true,
            legacy_profile: None,
        }
    }

    fn token() -> SsoToken {
        SsoToken {
            access_token: Secret::new("secret-access-token"),
            expires_at: Utc.with_ymd_and_hms(2199, 11, 14, 4, 5, 45).unwrap(),
            refresh_token: Some(Secret::new("secret-refresh-token")),
            region: "us-east-1".into(),
            start_url: "https://d-abc123.awsapps.com/start".into(),
            scopes: vec!["sso:account:access".into()],
        }
    }

    fn registration() -> ClientRegistration {
        ClientRegistration {
            client_id: "ABCDEFG323242423121312312312312312".into(),
            client_secret: Secret::new("ABCDE123"),
            expires_at: Utc.with_ymd_and_hms(2199, 3, 6, 19, 53, 17).unwrap(),
            scopes: vec!["sso:account:access".into()],
            grant_types: PKCE_GRANT_TYPES.map(str::to_owned).to_vec(),
            region: "us-east-1".into(),
            start_url: "https://d-abc123.awsapps.com/start".into(),
        }
    }

    #[test]
    fn cache_file_name_is_sha1_of_the_session_name() {
        // Known values: aws-config's test data (`test-sso`, `dev`) and python's hashlib.
        let env = Env::from_pairs([("HOME", "/home/u")]);
        assert_eq!(
            cache_file_path(&env, &cfg("test-sso")),
            PathBuf::from("/home/u/.aws/sso/cache/d12208e38164f558a1d06c99432ab77dbb346c45.json")
        );
        assert_eq!(
            cfg("dev").cache_key(),
            "34c6fceca75e456f25e7e99531e2425c6c1de443"
        );
        assert_eq!(
            cfg("my-sso").cache_key(),
            "0ad374308c5a4e22f723adf10145eafad7c4031c"
        );
    }

    #[test]
    fn cache_file_has_the_aws_cli_fields_and_time_format() {
        let json = cache_file_json(&token(), Some(&registration()));
        assert_eq!(
            json,
            r#"{"startUrl":"https://d-abc123.awsapps.com/start","region":"us-east-1","accessToken":"secret-access-token","expiresAt":"2199-11-14T04:05:45Z","refreshToken":"secret-refresh-token","clientId":"ABCDEFG323242423121312312312312312","clientSecret":"ABCDE123","registrationExpiresAt":"2199-03-06T19:53:17Z"}"#
        );
        let without = cache_file_json(
            &SsoToken {
                refresh_token: None,
                ..token()
            },
            None,
        );
        assert_eq!(
            without,
            r#"{"startUrl":"https://d-abc123.awsapps.com/start","region":"us-east-1","accessToken":"secret-access-token","expiresAt":"2199-11-14T04:05:45Z"}"#
        );
    }

    #[test]
    fn reads_what_aws_config_test_data_holds() {
        // smithy-rs aws-config test-data/profile-provider/sso_credentials cache file.
        let text = r#"{
            "accessToken": "secret-access-token",
            "expiresAt": "2199-11-14T04:05:45Z",
            "refreshToken": "secret-refresh-token",
            "clientId": "ABCDEFG323242423121312312312312312",
            "clientSecret": "ABCDE123",
            "registrationExpiresAt": "2199-03-06T19:53:17Z",
            "region": "us-east-1",
            "startUrl": "https://d-abc123.awsapps.com/start"
        }"#;
        let (t, r) = parse_cache_file(serde_json::from_str(text).unwrap(), &cfg("dev")).unwrap();
        assert_eq!(t, token());
        let r = r.unwrap();
        assert_eq!(r.client_id, "ABCDEFG323242423121312312312312312");
        assert_eq!(r.expires_at, registration().expires_at);
        // Another start URL: not this session's file.
        let mut other = cfg("dev");
        other.start_url = "https://elsewhere.awsapps.com/start".into();
        assert!(parse_cache_file(serde_json::from_str(text).unwrap(), &other).is_none());
    }

    #[test]
    fn time_formats_other_tools_write() {
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(parse_time("2024-01-02T03:04:05Z"), Some(t));
        assert_eq!(parse_time("2024-01-02T03:04:05UTC"), Some(t));
        assert_eq!(parse_time("2024-01-02T04:04:05+01:00"), Some(t));
        assert_eq!(parse_time("2024-01-02T03:04:05.000Z"), Some(t));
        assert_eq!(parse_time("soon"), None);
    }

    #[test]
    fn write_read_remove_round_trip_with_private_modes() {
        let home = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([("HOME", home.path().to_str().unwrap())]);
        let c = cfg("dev");
        let path = write_cache_file(&env, &c, &token(), Some(&registration())).unwrap();
        assert!(path.ends_with("34c6fceca75e456f25e7e99531e2425c6c1de443.json"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        let (t, r) = read_cache_file(&env, &c).unwrap();
        assert_eq!(t, token());
        assert_eq!(r.unwrap().client_secret, Secret::new("ABCDE123"));
        assert!(remove_cache_file(&env, &c).unwrap());
        assert!(!remove_cache_file(&env, &c).unwrap());
        assert!(read_cache_file(&env, &c).is_none());
    }

    #[test]
    fn registration_reuse_rules() {
        let c = cfg("dev");
        let now = Utc.with_ymd_and_hms(2199, 3, 6, 0, 0, 0).unwrap();
        let r = registration();
        assert!(r.reusable_for(&c, Flow::Pkce, now));
        assert!(!r.reusable_for(&c, Flow::Device, now));
        assert!(!r.reusable_for(&c, Flow::Pkce, r.expires_at - Duration::minutes(10)));
        let device = ClientRegistration {
            grant_types: Vec::new(),
            ..registration()
        };
        assert!(device.reusable_for(&c, Flow::Device, now));
        let mut moved = c.clone();
        moved.region = "eu-west-1".into();
        assert!(!r.reusable_for(&moved, Flow::Pkce, now));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let text = format!("{:?} {:?}", token(), registration());
        for s in ["secret-access-token", "secret-refresh-token", "ABCDE123"] {
            assert!(!text.contains(s), "{text}");
        }
    }
}
