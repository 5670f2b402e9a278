//! The profile model: the shared config and credentials files as the SDKs read them, through
//! `aws-config`'s own parser, plus keyfob's reading of what a profile asks for.

use crate::env::Env;
use aws_runtime::env_config::file::{
    EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
};
use aws_runtime::env_config::section::EnvConfigSections as ProfileSet;
use std::borrow::Cow;
use std::path::PathBuf;

/// The shared files could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A syntax error: the message names the file and line.
    #[error("{0}; fix that line and run the command again")]
    Parse(String),
    /// A file exists but cannot be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// All profiles and sso-sessions of the shared files.
#[derive(Debug, Clone)]
pub struct Profiles {
    set: ProfileSet,
    /// The config file that was read (it may not exist).
    pub config_path: PathBuf,
    /// The credentials file that was read (it may not exist).
    pub credentials_path: PathBuf,
}

/// The profile to use: `--profile`, else `AWS_PROFILE`, else `AWS_DEFAULT_PROFILE`, else
/// `default`; empty values count as unset.
pub fn select_profile(explicit: Option<&str>, env: &Env) -> String {
    explicit
        .filter(|p| !p.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| env.get_non_empty("AWS_PROFILE"))
        .or_else(|| env.get_non_empty("AWS_DEFAULT_PROFILE"))
        .unwrap_or_else(|| "default".to_owned())
}

impl Profiles {
    /// Reads the shared files the environment points at (`AWS_CONFIG_FILE`,
    /// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/`).
    pub fn load(env: &Env) -> Result<Self, ConfigError> {
        let config_path = crate::paths::config_file(env);
        let credentials_path = crate::paths::credentials_file(env);
        // The default files, located by aws-config from the same environment: an explicitly
        // named file would have to exist, while a missing ~/.aws/credentials is normal.
        let files = ProfileFiles::default();
        let set = load_set(
            &aws_types::os_shim_internal::Fs::real(),
            &env.to_aws_env(),
            &files,
        )?;
        Ok(Self {
            set,
            config_path,
            credentials_path,
        })
    }

    /// Parses the given file contents (for tests and dry runs).
    pub fn parse(config: &str, credentials: &str) -> Result<Self, ConfigError> {
        let files = ProfileFiles::builder()
            .with_contents(ProfileFileKind::Config, config)
            .with_contents(ProfileFileKind::Credentials, credentials)
            .build();
        let env = aws_types::os_shim_internal::Env::from_slice(&[("HOME", "/nonexistent")]);
        let set = load_set(
            &aws_types::os_shim_internal::Fs::from_slice(&[]),
            &env,
            &files,
        )?;
        Ok(Self {
            set,
            config_path: PathBuf::from("<config>"),
            credentials_path: PathBuf::from("<credentials>"),
        })
    }

    /// A profile by name.
    pub fn profile(&self, name: &str) -> Option<Profile<'_>> {
        self.set.get_profile(name).map(|p| Profile {
            name: p.name(),
            inner: p,
        })
    }

    /// An `[sso-session NAME]` section by name.
    pub fn sso_session<'a>(&'a self, name: &'a str) -> Option<SsoSession<'a>> {
        self.set
            .sso_session(name)
            .map(|s| SsoSession { name, inner: s })
    }

    /// Names of all profiles, sorted.
    pub fn profile_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.set.profiles().map(str::to_owned).collect();
        v.sort();
        v
    }

    /// Names of all sso-sessions, sorted.
    pub fn sso_session_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.set.sso_sessions().map(str::to_owned).collect();
        v.sort();
        v
    }

    /// The parsed set as aws-config sees it.
    pub fn raw(&self) -> &ProfileSet {
        &self.set
    }
}

fn load_set(
    fs: &aws_types::os_shim_internal::Fs,
    env: &aws_types::os_shim_internal::Env,
    files: &ProfileFiles,
) -> Result<ProfileSet, ConfigError> {
    // aws-config's loader is async only in name: its file reads are synchronous, so a
    // trivial executor is enough and the hot path builds no runtime.
    let fut = aws_config::profile::load(fs, env, files, Some(Cow::Borrowed("default")));
    futures::executor::block_on(fut).map_err(|e| {
        // The variants are private: tell them apart by the message, and take the detail
        // (file, line, OS error) from the source chain.
        let top = e.to_string();
        let mut detail = String::new();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            detail = c.to_string();
            cause = c.source();
        }
        if let Some(path) = top
            .strip_prefix("could not read file `")
            .and_then(|r| r.strip_suffix('`'))
        {
            ConfigError::Read {
                path: PathBuf::from(path),
                reason: detail,
            }
        } else if detail.is_empty() {
            ConfigError::Parse(crate::error::one_line_text(&top))
        } else {
            ConfigError::Parse(crate::error::one_line_text(&detail))
        }
    })
}

/// One profile.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    name: &'a str,
    inner: &'a aws_runtime::env_config::section::Profile,
}

impl<'a> Profile<'a> {
    /// Its name.
    pub fn name(&self) -> &'a str {
        self.name
    }
    /// A key's value, trimmed; empty values are `None`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.inner.get(key).map(str::trim).filter(|v| !v.is_empty())
    }
}

/// One `[sso-session NAME]` section.
#[derive(Debug, Clone, Copy)]
pub struct SsoSession<'a> {
    name: &'a str,
    inner: &'a aws_runtime::env_config::section::SsoSession,
}

impl<'a> SsoSession<'a> {
    /// Its name.
    pub fn name(&self) -> &'a str {
        self.name
    }
    /// A key's value, trimmed; empty values are `None`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.inner.get(key).map(str::trim).filter(|v| !v.is_empty())
    }
}

/// What a name names, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A `[profile NAME]` (or a bare `[NAME]` in the credentials file).
    Profile,
    /// An `[sso-session NAME]`.
    SsoSession,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::Profile => "profile",
            NameKind::SsoSession => "sso-session",
        })
    }
}

/// A name that the shared config files cannot carry, or that the SDKs would not read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{kind} name {name:?} cannot be used: {reason}; use letters, digits and _ - / . % @ : + (not starting with -)"
)]
pub struct NameError {
    /// What the name was for.
    pub kind: NameKind,
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks a profile or sso-session name before anything is stored or written: the SDKs
/// (aws-config's `validate_identifier`, botocore) skip a section whose name holds anything but
/// ASCII letters, digits and `_ - / . % @ : +`, so keyfob would write a profile nobody can use.
/// A leading `-` would read as an option on keyfob's own command line.
pub fn validate_name(kind: NameKind, name: &str) -> Result<(), NameError> {
    let err = |reason: String| NameError {
        kind,
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(err("it is empty".to_owned()));
    }
    if name.starts_with('-') {
        return Err(err("it starts with -".to_owned()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_-/.%@:+".contains(*c)))
    {
        return Err(err(format!(
            "the SDKs do not read names with {}",
            match c {
                ' ' => "a space".to_owned(),
                '\t' => "a tab".to_owned(),
                '\n' | '\r' => "a line break".to_owned(),
                c if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
                c => format!("{c:?}"),
            }
        )));
    }
    Ok(())
}

/// What a profile asks keyfob to do, decided from its keys alone (no keychain, no network).
#[derive(Debug, Clone, PartialEq, Eq)]
// Not non_exhaustive: the composition root matches every source, and a new one must fail
// to compile there until it is wired.
pub enum Plan {
    /// Role credentials through an SSO session (`keyfob_sso_*` or native `sso_*` keys).
    Sso {
        /// The sso-session name, or `None` for a legacy profile with `sso_start_url`.
        session: Option<String>,
        /// Legacy profiles: the start URL and region from the profile itself.
        legacy: Option<(String, String)>,
        /// The account.
        account_id: String,
        /// The permission set (role) name.
        role_name: String,
    },
    /// A SAML role through an IdP form login, or the user's browser.
    Saml {
        /// The IdP-initiated sign-in URL.
        url: String,
        /// The IdP user name (empty for a browser login that names none: the browser's user).
        username: String,
        /// The role to assume, if fixed.
        role_arn: Option<String>,
        /// The SAML provider, if fixed.
        principal_arn: Option<String>,
        /// Requested session length.
        duration_seconds: Option<i32>,
        /// Origins besides the IdP URL's that may receive the password
        /// (`keyfob_saml_trusted_origins`, space-separated; checked by the SAML crate).
        trusted_origins: Vec<String>,
        /// Sign in through the user's browser (`keyfob_saml_login = browser`), not the form.
        browser: bool,
    },
    /// An IAM user's keys kept in the keychain by `keyfob add`, with optional MFA.
    IamUser {
        /// The MFA device; with it, GetSessionToken credentials are served.
        mfa_serial: Option<String>,
        /// Requested session length for GetSessionToken.
        duration_seconds: Option<i32>,
    },
}

/// A profile's keys do not make a usable plan.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanError {
    /// Some keys of a kind are present, others missing.
    #[error("profile {profile} has {present} but no {missing}; add it to the profile")]
    Incomplete {
        /// The profile.
        profile: String,
        /// What is there.
        present: &'static str,
        /// What is missing.
        missing: &'static str,
    },
    /// A key whose value is not one of those allowed.
    #[error("profile {profile}: {key} = {value:?} is not one of: {allowed}")]
    BadChoice {
        /// The profile.
        profile: String,
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
        /// The values allowed.
        allowed: &'static str,
    },
    /// A number that is not one.
    #[error("profile {profile}: {key} = {value:?} is not a whole number of seconds")]
    BadNumber {
        /// The profile.
        profile: String,
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
    },
}

/// Keys that make a profile something other than one of keyfob's own single sources: a role
/// to assume, another credential source, or keys written in the files.
const NOT_A_KEYFOB_SOURCE: &[&str] = &[
    "role_arn",
    "keyfob_role_arn",
    "credential_source",
    "keyfob_credential_source",
    "web_identity_token_file",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
];

impl Profile<'_> {
    /// Decides which of keyfob's own sources serves this profile: `Ok(None)` when it is not
    /// one of them (a role chain, keys in the files, another credential source: see
    /// [`crate::chain`]), an error when it is keyfob's but misconfigured. A profile with none
    /// of these keys is an IAM user whose keys keyfob keeps (`keyfob add`).
    pub fn plan(&self) -> Result<Option<Plan>, PlanError> {
        let need = |key: &'static str, present: &'static str| {
            self.get(key)
                .map(str::to_owned)
                .ok_or(PlanError::Incomplete {
                    profile: self.name.to_owned(),
                    present,
                    missing: key,
                })
        };
        let duration = || -> Result<Option<i32>, PlanError> {
            self.get("duration_seconds")
                .map(|v| {
                    v.parse::<i32>().map_err(|_| PlanError::BadNumber {
                        profile: self.name.to_owned(),
                        key: "duration_seconds",
                        value: v.to_owned(),
                    })
                })
                .transpose()
        };
        if let Some(session) = self.get("keyfob_sso_session") {
            return Ok(Some(Plan::Sso {
                session: Some(session.to_owned()),
                legacy: None,
                account_id: need("keyfob_sso_account_id", "keyfob_sso_session")?,
                role_name: need("keyfob_sso_role_name", "keyfob_sso_session")?,
            }));
        }
        if let Some(session) = self.get("sso_session") {
            return Ok(Some(Plan::Sso {
                session: Some(session.to_owned()),
                legacy: None,
                account_id: need("sso_account_id", "sso_session")?,
                role_name: need("sso_role_name", "sso_session")?,
            }));
        }
        if let Some(url) = self.get("sso_start_url") {
            return Ok(Some(Plan::Sso {
                session: None,
                legacy: Some((url.to_owned(), need("sso_region", "sso_start_url")?)),
                account_id: need("sso_account_id", "sso_start_url")?,
                role_name: need("sso_role_name", "sso_start_url")?,
            }));
        }
        if let Some(url) = self.get("keyfob_saml_url") {
            let browser = match self.get("keyfob_saml_login").map(str::trim) {
                None | Some("form") => false,
                Some("browser") => true,
                Some(other) => {
                    return Err(PlanError::BadChoice {
                        profile: self.name.to_owned(),
                        key: "keyfob_saml_login",
                        value: other.to_owned(),
                        allowed: "form, browser",
                    });
                }
            };
            return Ok(Some(Plan::Saml {
                url: url.to_owned(),
                // In the browser the user types the name on the IdP's page; keyfob may not know it.
                username: if browser {
                    self.get("keyfob_saml_username")
                        .unwrap_or_default()
                        .to_owned()
                } else {
                    need("keyfob_saml_username", "keyfob_saml_url")?
                },
                browser,
                role_arn: self.get("keyfob_saml_role_arn").map(str::to_owned),
                principal_arn: self.get("keyfob_saml_principal_arn").map(str::to_owned),
                duration_seconds: duration()?,
                trusted_origins: self
                    .get("keyfob_saml_trusted_origins")
                    .map(|v| v.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default(),
            }));
        }
        if NOT_A_KEYFOB_SOURCE.iter().any(|k| self.get(k).is_some()) {
            return Ok(None);
        }
        Ok(Some(Plan::IamUser {
            mfa_serial: self.get("mfa_serial").map(str::to_owned),
            duration_seconds: duration()?,
        }))
    }
}

impl crate::error::UserError for ConfigError {}

impl crate::error::UserError for PlanError {
    fn hint(&self) -> Option<String> {
        Some("edit the profile in the shared config file".to_owned())
    }
}

impl crate::error::UserError for NameError {
    fn exit_code(&self) -> u8 {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_order_and_empty_values() {
        let env = Env::from_pairs([("AWS_PROFILE", ""), ("AWS_DEFAULT_PROFILE", "d")]);
        assert_eq!(select_profile(None, &env), "d");
        assert_eq!(select_profile(Some("x"), &env), "x");
        let env = Env::from_pairs([("AWS_PROFILE", "p"), ("AWS_DEFAULT_PROFILE", "d")]);
        assert_eq!(select_profile(None, &env), "p");
        assert_eq!(
            select_profile(None, &Env::from_pairs::<&str, &str>([])),
            "default"
        );
    }

    #[test]
    fn plans_from_keys() {
        let p = Profiles::parse(
            "[sso-session acme]\nsso_start_url = https://x/start\nsso_region = eu-west-1\n\
             [profile a]\nkeyfob_sso_session = acme\nkeyfob_sso_account_id = 111122223333\nkeyfob_sso_role_name = Admin\n\
             [profile b]\nsso_session = acme\nsso_account_id = 1\n\
             [profile c]\nkeyfob_saml_url = https://idp/x\nkeyfob_saml_username = alice\nduration_seconds = 3600\n\
             keyfob_saml_trusted_origins = https://a.example  https://b.example:8443\n\
             [profile d]\nmfa_serial = arn:aws:iam::1:mfa/u\n",
            "[e]\naws_access_key_id = A\n",
        )
        .unwrap();
        assert_eq!(
            p.profile("a").unwrap().plan().unwrap(),
            Some(Plan::Sso {
                session: Some("acme".into()),
                legacy: None,
                account_id: "111122223333".into(),
                role_name: "Admin".into()
            })
        );
        assert_eq!(
            p.profile("b").unwrap().plan().unwrap_err(),
            PlanError::Incomplete {
                profile: "b".into(),
                present: "sso_session",
                missing: "sso_role_name"
            }
        );
        assert!(matches!(
            p.profile("c").unwrap().plan().unwrap(),
            Some(Plan::Saml {
                duration_seconds: Some(3600),
                ref trusted_origins,
                ..
            }) if trusted_origins == &["https://a.example", "https://b.example:8443"]
        ));
        assert!(matches!(
            p.profile("d").unwrap().plan().unwrap(),
            Some(Plan::IamUser {
                mfa_serial: Some(_),
                ..
            })
        ));
        // Keys in the files and roles are not keyfob's own sources: the chain decides.
        assert_eq!(p.profile("e").unwrap().plan(), Ok(None));
        assert_eq!(
            p.sso_session("acme").unwrap().get("sso_region"),
            Some("eu-west-1")
        );
    }

    #[test]
    fn names_the_sdks_read_back() {
        for ok in ["a", "acme-prod.Admin", "x/y", "a%b@c:d+e_f", "default", "1"] {
            assert_eq!(validate_name(NameKind::Profile, ok), Ok(()), "{ok}");
            let p = Profiles::parse(&format!("[profile {ok}]\nregion = r\n"), "").unwrap();
            assert_eq!(p.profile(ok).unwrap().get("region"), Some("r"), "{ok}");
        }
        for bad in [
            "", "a#b", "a b", "a=b", "[x]", "-x", "ü", "a\nb", "a;b", "a\"b",
        ] {
            let e = validate_name(NameKind::SsoSession, bad).unwrap_err();
            assert!(!e.to_string().contains('\n'), "{e}");
            assert!(e.to_string().starts_with("sso-session name "), "{e}");
        }
    }

    #[test]
    fn parse_errors_name_file_and_line() {
        let err = Profiles::parse("[profile a]\nthis is not a property\n", "").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}
