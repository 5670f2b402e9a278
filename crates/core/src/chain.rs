//! How a profile becomes credentials, decided from the shared files alone: the chain of
//! profiles from the selected one down to its base, by the same rules as aws-config's
//! `repr.rs` (and checked against its spec vectors), with the profiles keyfob serves itself —
//! a profile whose `credential_process` runs keyfob, an SSO or SAML profile of keyfob's, an IAM
//! user whose keys keyfob holds — as bases. [`crate::engine`] runs the plan.
//!
//! Besides the SDKs' keys, a role profile may use keyfob's own `keyfob_role_arn`,
//! `keyfob_source_profile` and `keyfob_credential_source`, so that the same profile can carry a
//! `credential_process` line for the SDKs (which would otherwise assume the role themselves,
//! uncached) and the role for keyfob.

use crate::profile::{Plan, Profile, Profiles};
use crate::secret::Secret;

/// How a chain gets its first credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// Keys written in the shared files.
    AccessKey {
        /// The profile that holds them.
        profile: String,
        /// `aws_access_key_id`.
        access_key_id: String,
        /// `aws_secret_access_key`.
        secret_access_key: Secret,
        /// `aws_session_token`, for temporary keys.
        session_token: Option<Secret>,
        /// `aws_account_id`, if written.
        account_id: Option<String>,
    },
    /// `credential_source`: `Environment`, `Ec2InstanceMetadata` or `EcsContainer`.
    NamedSource {
        /// The profile that names it.
        profile: String,
        /// The source's name as written.
        source: String,
    },
    /// `role_arn` with `web_identity_token_file`.
    WebIdentity {
        /// The profile.
        profile: String,
        /// The role to assume with the token.
        role_arn: String,
        /// Where the token is.
        token_file: String,
        /// `role_session_name`.
        session_name: Option<String>,
    },
    /// Native SSO keys (`sso_session` or legacy `sso_start_url`) that keyfob holds no token for.
    Sso {
        /// The profile.
        profile: String,
        /// `sso_session`, if the profile names one.
        session: Option<String>,
        /// The start URL (the session's or the profile's own).
        start_url: Option<String>,
        /// The IAM Identity Center region.
        region: Option<String>,
        /// `sso_account_id`.
        account_id: Option<String>,
        /// `sso_role_name`.
        role_name: Option<String>,
    },
    /// Another tool's `credential_process`.
    Process {
        /// The profile.
        profile: String,
        /// The command line.
        command: String,
    },
    /// A profile keyfob serves in-process, as `served_as` (the profile its credential_process
    /// names, usually the same one).
    Keyfob {
        /// The profile found in the chain.
        profile: String,
        /// The profile keyfob serves for it.
        served_as: String,
    },
}

impl Base {
    /// The profile this base was found in.
    pub fn profile(&self) -> &str {
        match self {
            Base::AccessKey { profile, .. }
            | Base::NamedSource { profile, .. }
            | Base::WebIdentity { profile, .. }
            | Base::Sso { profile, .. }
            | Base::Process { profile, .. }
            | Base::Keyfob { profile, .. } => profile,
        }
    }
}

/// One `AssumeRole` above the base, with every key of its profile that shapes the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleHop {
    /// The profile that names the role.
    pub profile: String,
    /// `role_arn` (or keyfob's `keyfob_role_arn`).
    pub role_arn: String,
    /// `role_session_name`.
    pub session_name: Option<String>,
    /// `external_id`.
    pub external_id: Option<String>,
    /// `duration_seconds`.
    pub duration_seconds: Option<i32>,
    /// `mfa_serial`: the call needs a one-time code.
    pub mfa_serial: Option<String>,
    /// `source_identity`.
    pub source_identity: Option<String>,
    /// `keyfob_session_tags`: `Key=Value` pairs, comma-separated.
    pub session_tags: Vec<(String, String)>,
    /// `keyfob_transitive_tag_keys`: tag keys, comma-separated.
    pub transitive_tag_keys: Vec<String>,
}

impl RoleHop {
    /// The inputs that shape the credentials of this hop, for its cache fingerprint.
    pub fn fingerprint_inputs(&self) -> Vec<(&'static str, Option<String>)> {
        let tags = self
            .session_tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        vec![
            ("role_arn", Some(self.role_arn.clone())),
            ("role_session_name", self.session_name.clone()),
            ("external_id", self.external_id.clone()),
            (
                "duration_seconds",
                self.duration_seconds.map(|d| d.to_string()),
            ),
            ("mfa_serial", self.mfa_serial.clone()),
            ("source_identity", self.source_identity.clone()),
            ("session_tags", Some(tags)),
            (
                "transitive_tag_keys",
                Some(self.transitive_tag_keys.join(",")),
            ),
        ]
    }
}

/// A profile's chain: the base, then the roles assumed from it in order (the last one is the
/// selected profile's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPlan {
    /// Where the first credentials come from.
    pub base: Base,
    /// The roles assumed from them, in order.
    pub hops: Vec<RoleHop>,
}

impl ChainPlan {
    /// Where the chain's credentials come from, for messages: the links when there are
    /// several, and what the base is.
    pub fn source_label(&self) -> String {
        let base = match &self.base {
            Base::AccessKey { .. } => "keys in the shared files".to_owned(),
            Base::NamedSource { source, .. } => format!("credential_source {source}"),
            Base::WebIdentity { token_file, .. } => {
                format!("web identity token file {token_file}")
            }
            Base::Sso { .. } => "SSO token from ~/.aws/sso/cache".to_owned(),
            Base::Process { .. } => "credential_process".to_owned(),
            Base::Keyfob { served_as, .. } => format!("keyfob profile {served_as}"),
        };
        if self.hops.is_empty() {
            base
        } else {
            format!("{}, {base}", self.describe())
        }
    }

    /// `selected → … → base`, as a person reads the config.
    pub fn describe(&self) -> String {
        let mut names: Vec<&str> = self.hops.iter().rev().map(|h| h.profile.as_str()).collect();
        if names.last() != Some(&self.base.profile()) {
            names.push(self.base.profile());
        }
        names.join(" → ")
    }
}

/// A profile's keys do not make a chain the SDKs could run. The messages follow aws-config's
/// (`ProfileFileError`), with the profile names a person needs to fix the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The files define no profile at all.
    #[error("no profiles are defined in {config} or {credentials}")]
    NoProfiles {
        /// The config file read.
        config: String,
        /// The credentials file read.
        credentials: String,
    },
    /// The selected profile does not exist.
    #[error("profile {profile} not found in {config} or {credentials}")]
    UnknownProfile {
        /// The profile asked for.
        profile: String,
        /// The config file read.
        config: String,
        /// The credentials file read.
        credentials: String,
    },
    /// A `source_profile` names a profile that does not exist.
    #[error("could not find source profile {missing} referenced from {from}")]
    MissingSource {
        /// The profile named.
        missing: String,
        /// The profile that names it.
        from: String,
    },
    /// The chain comes back to a profile it passed.
    #[error("profile formed an infinite loop: {}", path.join(" → "))]
    Loop {
        /// The profiles in order, the repeated one last.
        path: Vec<String>,
    },
    /// `role_arn` with nothing to assume it with.
    #[error(
        "profile {profile} has role_arn but neither source_profile nor credential_source; add one of them"
    )]
    NoRoleSource {
        /// The profile.
        profile: String,
    },
    /// Both `source_profile` and `credential_source`.
    #[error("profile {profile} contained both source_profile and credential_source; keep only one")]
    BothSources {
        /// The profile.
        profile: String,
    },
    /// One half of a key pair.
    #[error("profile {profile} has {present} but is missing {missing}")]
    PartialKeys {
        /// The profile.
        profile: String,
        /// The key that is there.
        present: &'static str,
        /// The key that is not.
        missing: &'static str,
    },
    /// Nothing that gives credentials.
    #[error(
        "profile {profile} did not contain credential information (keys, role_arn, sso_*, credential_process or credential_source)"
    )]
    NoCredentials {
        /// The profile.
        profile: String,
    },
    /// `web_identity_token_file` without a role.
    #[error("profile {profile} has web_identity_token_file but role_arn was missing")]
    WebIdentityWithoutRole {
        /// The profile.
        profile: String,
    },
    /// Half of the SSO keys.
    #[error("profile {profile}: if {present} is set, then {missing} must also be set")]
    SsoIncomplete {
        /// The profile.
        profile: String,
        /// The key that is there.
        present: &'static str,
        /// The key that is not.
        missing: &'static str,
    },
    /// A session key written in a profile that names an sso-session.
    #[error(
        "profile {profile}: {key} can only be specified in the [sso-session] section when sso_session is given"
    )]
    SsoKeyOutsideSession {
        /// The profile.
        profile: String,
        /// The key.
        key: &'static str,
    },
    /// `sso_session` names a section that does not exist.
    #[error("sso-session named {session} (referenced by profile {profile}) was not found")]
    MissingSsoSession {
        /// The profile.
        profile: String,
        /// The session named.
        session: String,
    },
    /// A role key whose value keyfob cannot use.
    #[error("profile {profile}: {key} = {value:?} {problem}")]
    BadRoleKey {
        /// The profile.
        profile: String,
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl ChainError {
    /// The command or edit that fixes it.
    pub fn hint(&self) -> String {
        match self {
            ChainError::NoProfiles { .. } | ChainError::UnknownProfile { .. } => {
                "keyfob populate, keyfob configure or keyfob add to create it".to_owned()
            }
            ChainError::Loop { path } => format!(
                "point source_profile of {} at a profile with credentials",
                path.first().map_or("the profile", String::as_str)
            ),
            ChainError::NoCredentials { profile } => format!("keyfob add {profile}"),
            ChainError::MissingSource { missing, from } => {
                format!("add [profile {missing}], or fix source_profile of profile {from}")
            }
            ChainError::MissingSsoSession { session, .. } => {
                format!("keyfob configure sso-session {session} --start-url URL --region REGION")
            }
            _ => "edit the profile in the shared config file".to_owned(),
        }
    }
}

/// Decides whether keyfob serves a profile in-process, and as which profile.
pub type ServedBy<'a> = dyn Fn(&Profile<'_>) -> Option<String> + 'a;

/// The chain for `selected`, by aws-config's rules, with `served` deciding which profiles are
/// keyfob's own bases.
pub fn plan(
    profiles: &Profiles,
    selected: &str,
    served: &ServedBy<'_>,
) -> Result<ChainPlan, ChainError> {
    if profiles.profile_names().is_empty() {
        return Err(ChainError::NoProfiles {
            config: profiles.config_path.display().to_string(),
            credentials: profiles.credentials_path.display().to_string(),
        });
    }
    let mut name = selected.to_owned();
    let mut visited: Vec<String> = Vec::new();
    let mut hops: Vec<RoleHop> = Vec::new();
    let base = loop {
        let Some(profile) = profiles.profile(&name) else {
            return Err(match visited.last() {
                None => ChainError::UnknownProfile {
                    profile: name,
                    config: profiles.config_path.display().to_string(),
                    credentials: profiles.credentials_path.display().to_string(),
                },
                Some(from) => ChainError::MissingSource {
                    missing: name,
                    from: from.clone(),
                },
            });
        };
        if visited.contains(&name) {
            let mut path = visited;
            path.push(name);
            return Err(ChainError::Loop { path });
        }
        visited.push(name.clone());
        // A source profile with credentials of its own ends the chain, whatever else it says.
        if visited.len() > 1
            && let Ok(keys) = static_keys(&profile)
        {
            break keys;
        }
        let hop = role_of(&profile)?;
        if let Some(served_as) = served(&profile) {
            // `credential_process = keyfob credential-process --profile OTHER` is OTHER.
            if served_as != name {
                name = served_as;
                continue;
            }
            // A profile keyfob serves by itself (SSO, SAML, IAM user) is a base; one whose
            // keyfob_role_arn keyfob assumes is a hop like any other.
            if hop.is_none() {
                break Base::Keyfob {
                    profile: name.clone(),
                    served_as,
                };
            }
        }
        let Some(hop) = hop else {
            break base_of(profiles, &profile)?;
        };
        hops.push(hop);
        match (
            key(&profile, "source_profile"),
            key(&profile, "credential_source"),
        ) {
            (Some(_), Some(_)) => return Err(ChainError::BothSources { profile: name }),
            (None, None) => return Err(ChainError::NoRoleSource { profile: name }),
            // Self-reference (or a credential_source): this profile's own keys are the base.
            (Some(source), None) if source == name => break base_of(profiles, &profile)?,
            (None, Some(_)) => break base_of(profiles, &profile)?,
            (Some(source), None) => source.clone_into(&mut name),
        }
    };
    hops.reverse();
    Ok(ChainPlan { base, hops })
}

/// A role key as the SDKs name it, or keyfob's own `keyfob_`-prefixed form, which keyfob reads
/// and the SDKs do not (so a profile can carry both a role for keyfob and a
/// `credential_process` for the SDKs, which would otherwise assume the role themselves).
fn key<'a>(profile: &Profile<'a>, name: &str) -> Option<&'a str> {
    profile
        .get(name)
        .or_else(|| profile.get(&format!("keyfob_{name}")))
}

/// The role a profile assumes, unless `web_identity_token_file` makes it a base.
fn role_of(profile: &Profile<'_>) -> Result<Option<RoleHop>, ChainError> {
    if profile.get("web_identity_token_file").is_some() {
        return Ok(None);
    }
    let Some(role_arn) = key(profile, "role_arn") else {
        return Ok(None);
    };
    let name = profile.name();
    let bad = |key: &'static str, value: &str, problem: &'static str| ChainError::BadRoleKey {
        profile: name.to_owned(),
        key,
        value: value.to_owned(),
        problem,
    };
    let duration_seconds = profile
        .get("duration_seconds")
        .map(|v| {
            v.parse::<i32>()
                .ok()
                .filter(|d| (900..=43_200).contains(d))
                .ok_or_else(|| {
                    bad(
                        "duration_seconds",
                        v,
                        "is not a number of seconds from 900 to 43200",
                    )
                })
        })
        .transpose()?;
    let session_tags = match profile.get("keyfob_session_tags") {
        None => Vec::new(),
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| match t.split_once('=') {
                Some((k, val)) if !k.trim().is_empty() => {
                    Ok((k.trim().to_owned(), val.trim().to_owned()))
                }
                _ => Err(bad(
                    "keyfob_session_tags",
                    v,
                    "is not a comma-separated list of Key=Value",
                )),
            })
            .collect::<Result<_, _>>()?,
    };
    let transitive_tag_keys: Vec<String> = profile
        .get("keyfob_transitive_tag_keys")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(k) = transitive_tag_keys
        .iter()
        .find(|k| !session_tags.iter().any(|(t, _)| t == *k))
    {
        return Err(bad(
            "keyfob_transitive_tag_keys",
            k,
            "is not one of the keys in keyfob_session_tags",
        ));
    }
    Ok(Some(RoleHop {
        profile: name.to_owned(),
        role_arn: role_arn.to_owned(),
        session_name: profile.get("role_session_name").map(str::to_owned),
        external_id: profile.get("external_id").map(str::to_owned),
        duration_seconds,
        mfa_serial: profile.get("mfa_serial").map(str::to_owned),
        source_identity: profile.get("source_identity").map(str::to_owned),
        session_tags,
        transitive_tag_keys,
    }))
}

fn base_of(profiles: &Profiles, profile: &Profile<'_>) -> Result<Base, ChainError> {
    let name = profile.name().to_owned();
    if let Some(source) = key(profile, "credential_source") {
        return Ok(Base::NamedSource {
            profile: name,
            source: source.to_owned(),
        });
    }
    match (
        profile.get("role_arn"),
        profile.get("web_identity_token_file"),
    ) {
        (Some(role_arn), Some(token_file)) => {
            return Ok(Base::WebIdentity {
                profile: name,
                role_arn: role_arn.to_owned(),
                token_file: token_file.to_owned(),
                session_name: profile.get("role_session_name").map(str::to_owned),
            });
        }
        (None, Some(_)) => return Err(ChainError::WebIdentityWithoutRole { profile: name }),
        _ => {}
    }
    if let Some(sso) = sso_of(profiles, profile)? {
        return Ok(sso);
    }
    if let Some(command) = profile.get("credential_process") {
        return Ok(Base::Process {
            profile: name,
            command: command.to_owned(),
        });
    }
    static_keys(profile)
}

fn sso_of(profiles: &Profiles, profile: &Profile<'_>) -> Result<Option<Base>, ChainError> {
    let get = |k: &str| profile.get(k).map(str::to_owned);
    let name = profile.name().to_owned();
    let account_id = get("sso_account_id");
    let role_name = get("sso_role_name");
    let session = get("sso_session");
    let mut region = get("sso_region");
    let mut start_url = get("sso_start_url");
    if [&account_id, &role_name, &session, &region, &start_url]
        .iter()
        .all(|v| v.is_none())
    {
        return Ok(None);
    }
    if let Some(session) = &session {
        for (key, value) in [("sso_start_url", &start_url), ("sso_region", &region)] {
            if value.is_some() {
                return Err(ChainError::SsoKeyOutsideSession { profile: name, key });
            }
        }
        let Some(section) = profiles.sso_session(session) else {
            return Err(ChainError::MissingSsoSession {
                profile: name,
                session: session.clone(),
            });
        };
        start_url = section.get("sso_start_url").map(str::to_owned);
        region = section.get("sso_region").map(str::to_owned);
    }
    match (&account_id, &role_name) {
        (Some(_), None) => {
            return Err(ChainError::SsoIncomplete {
                profile: name,
                present: "sso_account_id",
                missing: "sso_role_name",
            });
        }
        (None, Some(_)) => {
            return Err(ChainError::SsoIncomplete {
                profile: name,
                present: "sso_role_name",
                missing: "sso_account_id",
            });
        }
        _ => {}
    }
    Ok(Some(Base::Sso {
        profile: name,
        session,
        start_url,
        region,
        account_id,
        role_name,
    }))
}

fn static_keys(profile: &Profile<'_>) -> Result<Base, ChainError> {
    let name = profile.name().to_owned();
    let akid = profile.get("aws_access_key_id");
    let secret = profile.get("aws_secret_access_key");
    let token = profile.get("aws_session_token");
    match (akid, secret) {
        (None, None) if token.is_none() => Err(ChainError::NoCredentials { profile: name }),
        (Some(akid), Some(secret)) => Ok(Base::AccessKey {
            profile: name,
            access_key_id: akid.to_owned(),
            secret_access_key: Secret::new(secret),
            session_token: token.map(Secret::new),
            account_id: profile.get("aws_account_id").map(str::to_owned),
        }),
        (None, _) => Err(ChainError::PartialKeys {
            profile: name,
            present: "aws_secret_access_key",
            missing: "aws_access_key_id",
        }),
        (Some(_), None) => Err(ChainError::PartialKeys {
            profile: name,
            present: "aws_access_key_id",
            missing: "aws_secret_access_key",
        }),
    }
}
// ---------------------------------------------------------------------------------------------
// Facts about the credentials a plan yields

/// What kind of credentials a keyfob-served profile gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedKind {
    /// Role credentials through an SSO session.
    Sso,
    /// A SAML role.
    Saml,
    /// GetSessionToken with MFA.
    MfaSession,
    /// Long-term IAM user keys.
    Keys,
    /// A role keyfob assumes (and caches) from another profile's credentials.
    Role,
}

impl ServedKind {
    /// What `served_as` gives, from its keys.
    pub fn of(profiles: &Profiles, served_as: &str) -> Option<Self> {
        let profile = profiles.profile(served_as)?;
        match profile.plan().ok()? {
            Some(Plan::Sso { .. }) => Some(ServedKind::Sso),
            Some(Plan::Saml { .. }) => Some(ServedKind::Saml),
            Some(Plan::IamUser {
                mfa_serial: Some(_),
                ..
            }) => Some(ServedKind::MfaSession),
            Some(Plan::IamUser { .. }) => Some(ServedKind::Keys),
            None => key(&profile, "role_arn").map(|_| ServedKind::Role),
        }
    }

    /// The kind column of `keyfob status`.
    pub fn status_kind(self) -> &'static str {
        match self {
            ServedKind::Sso => "profile/sso",
            ServedKind::Saml => "profile/saml",
            ServedKind::MfaSession => "profile/mfa",
            ServedKind::Keys => "profile/keys",
            ServedKind::Role => "profile/role",
        }
    }
}

/// Whether the base yields long-term keys (no session token).
fn base_is_long_term(profiles: &Profiles, base: &Base) -> bool {
    match base {
        Base::AccessKey { session_token, .. } => session_token.is_none(),
        Base::Keyfob { served_as, .. } => {
            ServedKind::of(profiles, served_as) == Some(ServedKind::Keys)
        }
        _ => false,
    }
}

/// Whether the console's `SessionDuration` may be sent for credentials of this plan: role
/// credentials straight from their source (SSO, SAML, web identity, a role assumed with an IAM
/// user's long-term keys), not roles assumed with other temporary credentials (role chaining,
/// whose sessions AWS caps at one hour).
pub fn session_duration_allowed(profiles: &Profiles, plan: &ChainPlan) -> bool {
    match plan.hops.len() {
        0 => !base_is_long_term(profiles, &plan.base),
        1 => base_is_long_term(profiles, &plan.base),
        _ => false,
    }
}

impl crate::error::UserError for ChainError {
    fn hint(&self) -> Option<String> {
        Some(ChainError::hint(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential_process_line::{Style, Target, keyfob_invocation};

    fn never(_: &Profile<'_>) -> Option<String> {
        None
    }

    #[test]
    fn a_keyfob_source_profile_is_a_base_and_the_chain_is_described() {
        let p = Profiles::parse(
            "[profile role]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = base\n\
             [profile base]\ncredential_process = keyfob credential-process --profile base\n\
             [profile self]\ncredential_process = keyfob credential-process --profile self\n",
            "",
        )
        .unwrap();
        let served = |prof: &Profile<'_>| match keyfob_invocation(
            prof.get("credential_process")?,
            Style::Posix,
            &|_| false,
        )? {
            Target::Named(n) => Some(n),
            Target::Selected => None,
        };
        let plan = plan(&p, "role", &served).unwrap();
        assert_eq!(
            plan.base,
            Base::Keyfob {
                profile: "base".into(),
                served_as: "base".into()
            }
        );
        assert_eq!(plan.hops.len(), 1);
        assert_eq!(plan.describe(), "role → base");
        let plan = super::plan(&p, "self", &served).unwrap();
        assert!(plan.hops.is_empty());
        assert_eq!(plan.describe(), "self");
        // Without keyfob, the same base is another tool's process.
        let plan = super::plan(&p, "role", &never).unwrap();
        assert!(matches!(plan.base, Base::Process { .. }));
    }

    #[test]
    fn loops_name_every_link() {
        let p = Profiles::parse(
            "[profile a]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\n\
             [profile b]\nrole_arn = arn:aws:iam::1:role/B\nsource_profile = a\n",
            "",
        )
        .unwrap();
        let err = plan(&p, "a", &never).unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile formed an infinite loop: a → b → a"
        );
    }

    #[test]
    fn session_duration_only_without_role_chaining() {
        let p = Profiles::parse(
            "[profile keys]\naws_access_key_id = AKIA\naws_secret_access_key = s\n\
             [profile one]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = keys\n\
             [profile two]\nrole_arn = arn:aws:iam::1:role/B\nsource_profile = one\n\
             [profile sso]\nsso_start_url = https://x/start\nsso_region = us-east-1\nsso_account_id = 1\nsso_role_name = R\n\
             [profile sso-role]\nrole_arn = arn:aws:iam::1:role/C\nsource_profile = sso\n",
            "",
        )
        .unwrap();
        let allowed = |name: &str| session_duration_allowed(&p, &plan(&p, name, &never).unwrap());
        assert!(!allowed("keys"), "long-term keys cannot sign in at all");
        assert!(allowed("one"), "a role assumed with an IAM user's keys");
        assert!(
            !allowed("two"),
            "a role assumed with role credentials is chained"
        );
        assert!(allowed("sso"));
        assert!(
            !allowed("sso-role"),
            "a role assumed with SSO role credentials is chained"
        );
    }

    // -----------------------------------------------------------------------------------------
    // The assume-role spec vectors of aws-config (tests/data/spec-aws-config, from smithy-rs).

    /// Cases in `assume-role-tests.json`.
    const ASSUME_ROLE_CASES: usize = 28;

    #[derive(serde::Deserialize)]
    struct Case {
        docs: String,
        input: Input,
        output: serde_json::Value,
    }

    #[derive(serde::Deserialize)]
    struct Input {
        profiles: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
        #[serde(default)]
        sso_sessions:
            std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
        selected_profile: String,
    }

    fn config_text(input: &Input) -> String {
        use std::fmt::Write as _;
        let mut text = String::new();
        for (name, keys) in &input.profiles {
            let _ = writeln!(text, "[profile {name}]");
            for (k, v) in keys {
                let _ = writeln!(text, "{k} = {v}");
            }
        }
        for (name, keys) in &input.sso_sessions {
            let _ = writeln!(text, "[sso-session {name}]");
            for (k, v) in keys {
                let _ = writeln!(text, "{k} = {v}");
            }
        }
        text
    }

    /// The plan as the vectors write it.
    fn to_vector(plan: &ChainPlan) -> serde_json::Value {
        use serde_json::{Map, Value, json};
        let opt = |m: &mut Map<String, Value>, k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.to_owned(), json!(v));
            }
        };
        let mut links = Vec::new();
        links.push(match &plan.base {
            Base::AccessKey {
                access_key_id,
                secret_access_key,
                session_token,
                account_id,
                ..
            } => {
                let mut m = Map::new();
                m.insert("access_key_id".into(), json!(access_key_id));
                m.insert(
                    "secret_access_key".into(),
                    json!(secret_access_key.expose()),
                );
                opt(
                    &mut m,
                    "session_token",
                    &session_token.as_ref().map(|t| t.expose().to_owned()),
                );
                opt(&mut m, "account_id", account_id);
                json!({ "AccessKey": m })
            }
            Base::NamedSource { source, .. } => json!({ "NamedSource": source }),
            Base::WebIdentity {
                role_arn,
                token_file,
                session_name,
                ..
            } => {
                let mut m = Map::new();
                m.insert("role_arn".into(), json!(role_arn));
                m.insert("web_identity_token_file".into(), json!(token_file));
                opt(&mut m, "role_session_name", session_name);
                json!({ "WebIdentityToken": m })
            }
            Base::Sso {
                session,
                start_url,
                region,
                account_id,
                role_name,
                ..
            } => {
                let mut m = Map::new();
                opt(&mut m, "sso_session", session);
                opt(&mut m, "sso_start_url", start_url);
                opt(&mut m, "sso_region", region);
                opt(&mut m, "sso_account_id", account_id);
                opt(&mut m, "sso_role_name", role_name);
                json!({ "Sso": m })
            }
            Base::Process { command, .. } => json!({ "CredentialProcess": command }),
            Base::Keyfob { served_as, .. } => json!({ "Keyfob": served_as }),
        });
        for hop in &plan.hops {
            let mut m = Map::new();
            m.insert("role_arn".into(), json!(hop.role_arn));
            opt(&mut m, "role_session_name", &hop.session_name);
            opt(&mut m, "external_id", &hop.external_id);
            links.push(json!({ "AssumeRole": m }));
        }
        Value::Array(links)
    }

    type Check = fn(&ChainError) -> bool;

    /// The error each vector's message stands for (aws-config's wording → keyfob's variant).
    fn expected_error(message: &str) -> Option<Check> {
        let table: &[(&str, Check)] = &[
            (
                "profile must contain `source_profile`",
                |e| matches!(e, ChainError::NoRoleSource { profile } if profile == "A"),
            ),
            (
                "profile contained both source_profile and credential_source",
                |e| matches!(e, ChainError::BothSources { profile } if profile == "A"),
            ),
            (
                "profile missing aws_secret_access_key",
                |e| matches!(e, ChainError::PartialKeys { profile, missing: "aws_secret_access_key", .. } if profile == "B"),
            ),
            (
                "profile missing aws_access_key_id",
                |e| matches!(e, ChainError::PartialKeys { profile, missing: "aws_access_key_id", .. } if profile == "B"),
            ),
            (
                "profile `B` did not contain credential information",
                |e| matches!(e, ChainError::NoCredentials { profile } if profile == "B"),
            ),
            (
                "profile `A` did not contain credential information",
                |e| matches!(e, ChainError::NoCredentials { profile } if profile == "A"),
            ),
            (
                "could not find source profile B referenced from A",
                |e| matches!(e, ChainError::MissingSource { missing, from } if missing == "B" && from == "A"),
            ),
            ("No profiles were defined", |e| {
                matches!(e, ChainError::NoProfiles { .. })
            }),
            (
                "profile formed an infinite loop",
                |e| matches!(e, ChainError::Loop { path } if path == &["A", "B", "A"]),
            ),
            (
                "`role_arn` was missing",
                |e| matches!(e, ChainError::WebIdentityWithoutRole { profile } if profile == "A"),
            ),
            (
                "if `sso_role_name` is set, then `sso_account_id` must also be set",
                |e| {
                    matches!(
                        e,
                        ChainError::SsoIncomplete {
                            present: "sso_role_name",
                            missing: "sso_account_id",
                            ..
                        }
                    )
                },
            ),
            (
                "if `sso_account_id` is set, then `sso_role_name` must also be set",
                |e| {
                    matches!(
                        e,
                        ChainError::SsoIncomplete {
                            present: "sso_account_id",
                            missing: "sso_role_name",
                            ..
                        }
                    )
                },
            ),
            (
                "`sso_region` can only be specified in the [sso-session] config",
                |e| {
                    matches!(
                        e,
                        ChainError::SsoKeyOutsideSession {
                            key: "sso_region",
                            ..
                        }
                    )
                },
            ),
            (
                "sso-session named `oops` (referenced by profile `A`) was not found",
                |e| matches!(e, ChainError::MissingSsoSession { profile, session } if profile == "A" && session == "oops"),
            ),
        ];
        table
            .iter()
            .find(|(text, _)| message.contains(text))
            .map(|(_, check)| *check)
    }

    #[test]
    fn assume_role_spec_vectors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/spec-aws-config/assume-role-tests.json");
        let cases: Vec<Case> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut failures = Vec::new();
        let mut passed = 0;
        for case in &cases {
            let profiles = Profiles::parse(&config_text(&case.input), "").unwrap();
            let got = plan(&profiles, &case.input.selected_profile, &never);
            let ok = match (
                &got,
                case.output.get("ProfileChain"),
                case.output.get("Error"),
            ) {
                (Ok(plan), Some(chain), None) => &to_vector(plan) == chain,
                (Err(e), None, Some(message)) => {
                    let check = expected_error(message.as_str().unwrap())
                        .unwrap_or_else(|| panic!("no mapping for error {message}"));
                    check(e)
                }
                _ => false,
            };
            if ok {
                passed += 1;
            } else {
                failures.push(format!(
                    "{}: expected {}, got {:?}",
                    case.docs,
                    case.output,
                    got.map(|p| to_vector(&p))
                ));
            }
        }
        assert_eq!(cases.len(), ASSUME_ROLE_CASES, "cases in the file");
        assert!(
            failures.is_empty(),
            "{} of {} failed:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
        assert_eq!(passed, ASSUME_ROLE_CASES);
    }
}
