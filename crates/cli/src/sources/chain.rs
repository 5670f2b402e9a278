//! Any profile to credentials, the way the SDKs resolve it: static keys, `source_profile`
//! chains, `credential_source`, `web_identity_token_file`, `credential_process` and SSO.
//!
//! First a plan: the chain of profiles from the selected one down to its base, computed from
//! the files alone by the same rules as aws-config's `repr.rs` (and checked against its spec
//! vectors). A base that keyfob serves itself — a profile whose `credential_process` runs
//! keyfob, an SSO or SAML profile of keyfob's, an IAM user whose keys keyfob holds — is
//! resolved in-process through [`resolve::credentials`], never by spawning keyfob again (so a
//! profile that points at keyfob cannot recurse), and the role hops above it are STS
//! `AssumeRole` calls made here. Any other chain is handed to aws-config's
//! `ProfileFileCredentialsProvider`, which runs it exactly as an SDK would.

use crate::app::App;
use crate::output::hinted;
use crate::sources::resolve::{self, Interaction, from_sts, sdk_error_line};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use keyfob_core::credential_process_line::{Style, Target, keyfob_invocation};
use keyfob_core::profile::{Plan, Profile, Profiles, select_profile};
use keyfob_core::store::{SessionStore, keys};
use keyfob_core::{Credentials, Secret};

/// How a chain gets its first credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Base {
    /// Keys written in the shared files.
    AccessKey {
        profile: String,
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
        account_id: Option<String>,
    },
    /// `credential_source`: `Environment`, `Ec2InstanceMetadata` or `EcsContainer`.
    NamedSource { profile: String, source: String },
    /// `role_arn` with `web_identity_token_file`.
    WebIdentity {
        profile: String,
        role_arn: String,
        token_file: String,
        session_name: Option<String>,
    },
    /// Native SSO keys (`sso_session` or legacy `sso_start_url`) that keyfob holds no token for.
    Sso {
        profile: String,
        session: Option<String>,
        start_url: Option<String>,
        region: Option<String>,
        account_id: Option<String>,
        role_name: Option<String>,
    },
    /// Another tool's `credential_process`.
    Process { profile: String, command: String },
    /// A profile keyfob serves in-process, as `served_as` (the profile its credential_process
    /// names, usually the same one).
    Keyfob { profile: String, served_as: String },
}

impl Base {
    /// The profile this base was found in.
    pub(crate) fn profile(&self) -> &str {
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

/// One `AssumeRole` above the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleHop {
    pub(crate) profile: String,
    pub(crate) role_arn: String,
    pub(crate) session_name: Option<String>,
    pub(crate) external_id: Option<String>,
}

/// A profile's chain: the base, then the roles assumed from it in order (the last one is the
/// selected profile's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainPlan {
    pub(crate) base: Base,
    pub(crate) hops: Vec<RoleHop>,
}

impl ChainPlan {
    /// Where the chain's credentials come from, for messages: the links when there are
    /// several, and what the base is.
    pub(crate) fn source_label(&self) -> String {
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
    pub(crate) fn describe(&self) -> String {
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
pub(crate) enum ChainError {
    #[error("no profiles are defined in {config} or {credentials}")]
    NoProfiles { config: String, credentials: String },
    #[error("profile {profile} not found in {config} or {credentials}")]
    UnknownProfile {
        profile: String,
        config: String,
        credentials: String,
    },
    #[error("could not find source profile {missing} referenced from {from}")]
    MissingSource { missing: String, from: String },
    #[error("profile formed an infinite loop: {}", path.join(" → "))]
    Loop { path: Vec<String> },
    #[error(
        "profile {profile} has role_arn but neither source_profile nor credential_source; add one of them"
    )]
    NoRoleSource { profile: String },
    #[error("profile {profile} contained both source_profile and credential_source; keep only one")]
    BothSources { profile: String },
    #[error("profile {profile} has {present} but is missing {missing}")]
    PartialKeys {
        profile: String,
        present: &'static str,
        missing: &'static str,
    },
    #[error(
        "profile {profile} did not contain credential information (keys, role_arn, sso_*, credential_process or credential_source)"
    )]
    NoCredentials { profile: String },
    #[error("profile {profile} has web_identity_token_file but role_arn was missing")]
    WebIdentityWithoutRole { profile: String },
    #[error("profile {profile}: if {present} is set, then {missing} must also be set")]
    SsoIncomplete {
        profile: String,
        present: &'static str,
        missing: &'static str,
    },
    #[error(
        "profile {profile}: {key} can only be specified in the [sso-session] section when sso_session is given"
    )]
    SsoKeyOutsideSession { profile: String, key: &'static str },
    #[error("sso-session named {session} (referenced by profile {profile}) was not found")]
    MissingSsoSession { profile: String, session: String },
}

impl ChainError {
    /// The command or edit that fixes it.
    fn hint(&self) -> String {
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

    fn into_anyhow(self) -> anyhow::Error {
        let hint = self.hint();
        hinted(self.to_string(), hint)
    }
}

/// Decides whether keyfob serves a profile in-process, and as which profile.
pub(crate) type Served<'a> = dyn Fn(&Profile<'_>) -> Option<String> + 'a;

/// The chain for `selected`, by aws-config's rules, with `served` deciding which profiles are
/// keyfob's own bases.
pub(crate) fn plan(
    profiles: &Profiles,
    selected: &str,
    served: &Served<'_>,
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
        if visited.len() > 1 {
            if let Ok(keys) = static_keys(&profile) {
                break keys;
            }
            if let Some(served_as) = served(&profile) {
                break Base::Keyfob {
                    profile: name,
                    served_as,
                };
            }
        }
        let Some(hop) = role_of(&profile) else {
            break base_of(profiles, &profile, served)?;
        };
        hops.push(hop);
        match (
            profile.get("source_profile"),
            profile.get("credential_source"),
        ) {
            (Some(_), Some(_)) => return Err(ChainError::BothSources { profile: name }),
            (None, None) => return Err(ChainError::NoRoleSource { profile: name }),
            // Self-reference (or a credential_source): this profile's own keys are the base.
            (Some(source), None) if source == name => break base_of(profiles, &profile, served)?,
            (None, Some(_)) => break base_of(profiles, &profile, served)?,
            (Some(source), None) => source.clone_into(&mut name),
        }
    };
    hops.reverse();
    Ok(ChainPlan { base, hops })
}

/// The role a profile assumes, unless `web_identity_token_file` makes it a base.
fn role_of(profile: &Profile<'_>) -> Option<RoleHop> {
    if profile.get("web_identity_token_file").is_some() {
        return None;
    }
    Some(RoleHop {
        profile: profile.name().to_owned(),
        role_arn: profile.get("role_arn")?.to_owned(),
        session_name: profile.get("role_session_name").map(str::to_owned),
        external_id: profile.get("external_id").map(str::to_owned),
    })
}

fn base_of(
    profiles: &Profiles,
    profile: &Profile<'_>,
    served: &Served<'_>,
) -> Result<Base, ChainError> {
    let name = profile.name().to_owned();
    if let Some(source) = profile.get("credential_source") {
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
    let sso = sso_of(profiles, profile)?;
    if let Some(served_as) = served(profile) {
        return Ok(Base::Keyfob {
            profile: name,
            served_as,
        });
    }
    if let Some(sso) = sso {
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
// Which profiles keyfob serves

/// Whether keyfob serves `profile` itself, and as which profile: its credential_process runs
/// keyfob; it has keyfob's SSO or SAML keys; it is a native SSO profile whose session keyfob
/// holds a token for; or keyfob holds its IAM user keys.
pub(crate) fn served_by_keyfob(app: &App, profile: &Profile<'_>) -> Option<String> {
    let name = profile.name();
    if let Some(command) = profile.get("credential_process") {
        let is_keyfob = |program: &str| app.is_self_command(program);
        return keyfob_invocation(command, Style::native(), &is_keyfob).map(
            |target| match target {
                Target::Named(n) => n,
                Target::Selected => select_profile(None, &app.env),
            },
        );
    }
    if profile.get("keyfob_sso_session").is_some() || profile.get("keyfob_saml_url").is_some() {
        return Some(name.to_owned());
    }
    let key = match profile.plan() {
        Ok(Plan::Sso {
            session, legacy, ..
        }) => keys::sso_token(&session.or(legacy.map(|(url, _)| url))?),
        Ok(Plan::IamUser { .. })
            if profile.get("aws_access_key_id").is_none() && profile.get("role_arn").is_none() =>
        {
            keys::iam_user(name)
        }
        _ => return None,
    };
    let store = match app.store() {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(profile = name, error = %e, "no keychain; profile left to aws-config");
            return None;
        }
    };
    match store.get(&key) {
        Ok(Some(_)) => Some(name.to_owned()),
        _ => None,
    }
}

/// The plan for `name` with keyfob's own profiles as bases.
pub(crate) fn plan_for(app: &App, profiles: &Profiles, name: &str) -> anyhow::Result<ChainPlan> {
    plan(profiles, name, &|p| served_by_keyfob(app, p)).map_err(ChainError::into_anyhow)
}

// ---------------------------------------------------------------------------------------------
// Running the plan

/// Credentials with the chain they came through.
pub(crate) struct Resolved {
    pub(crate) credentials: Credentials,
    pub(crate) plan: ChainPlan,
}

/// Credentials for any profile. Blocking: it builds its own runtime when it needs the network,
/// so call it outside of one.
pub(crate) fn credentials(
    app: &App,
    profiles: &Profiles,
    name: &str,
    ui: &Interaction<'_>,
) -> anyhow::Result<Resolved> {
    let plan = plan_for(app, profiles, name)?;
    tracing::debug!(profile = name, chain = %plan.describe(), "resolving");
    let credentials = if let Base::Keyfob { profile, served_as } = &plan.base {
        {
            let base = resolve::credentials(app, profiles, served_as, ui).map(|(c, _)| c);
            if plan.hops.is_empty() {
                base?
            } else {
                let base = base.with_context(|| {
                    format!(
                        "profile {name} gets its credentials through {}",
                        plan.describe()
                    )
                })?;
                let region = sts_region(app, profiles, name);
                App::runtime()?.block_on(assume_hops(
                    profiles, profile, &plan.hops, base, &region, ui,
                ))?
            }
        }
    } else {
        let region = sts_region(app, profiles, name);
        App::runtime()?.block_on(via_aws_config(name, &plan, &region))?
    };
    Ok(Resolved { credentials, plan })
}

/// Where an MFA code comes from: the `--mfa-code` flag, else a prompt when a person is at the
/// terminal, else nowhere.
pub(crate) fn mfa_code_from(flag: Option<String>) -> impl Fn() -> Option<String> + Sync {
    move || {
        flag.clone().or_else(|| {
            crate::prompt::interactive()
                .then(|| crate::prompt::line("MFA code: ").ok())
                .flatten()
        })
    }
}

/// The `region` of the profile itself (what `export` and `exec` hand on).
pub(crate) fn profile_region(profiles: &Profiles, name: &str) -> Option<String> {
    profiles
        .profile(name)
        .and_then(|p| p.get("region"))
        .map(str::to_owned)
}

/// The region STS calls use: AWS_REGION, AWS_DEFAULT_REGION, the profile's, else us-east-1.
pub(crate) fn sts_region(app: &App, profiles: &Profiles, name: &str) -> String {
    app.env
        .get_non_empty("AWS_REGION")
        .or_else(|| app.env.get_non_empty("AWS_DEFAULT_REGION"))
        .or_else(|| profile_region(profiles, name))
        .unwrap_or_else(|| "us-east-1".to_owned())
}

/// An STS client for calls made with `creds`: the region given, endpoints from the
/// environment and the profile (`AWS_ENDPOINT_URL_STS`, `endpoint_url`), keyfob's bounds.
pub(crate) async fn sts_client(
    profile: &str,
    region: &str,
    creds: &Credentials,
) -> aws_sdk_sts::Client {
    keyfob_core::sts::client(
        keyfob_core::sts::Target {
            profile: Some(profile),
            region,
            endpoint_url: None,
        },
        Some(creds),
    )
    .await
}

async fn assume_hops(
    profiles: &Profiles,
    base_profile: &str,
    hops: &[RoleHop],
    mut creds: Credentials,
    region: &str,
    ui: &Interaction<'_>,
) -> anyhow::Result<Credentials> {
    let mut from = base_profile.to_owned();
    for hop in hops {
        let sts = sts_client(&hop.profile, region, &creds).await;
        let profile = profiles.profile(&hop.profile);
        let duration = profile
            .and_then(|p| p.get("duration_seconds"))
            .and_then(|v| v.parse::<i32>().ok());
        let mut request = sts
            .assume_role()
            .role_arn(&hop.role_arn)
            .role_session_name(
                hop.session_name
                    .clone()
                    .unwrap_or_else(default_session_name),
            )
            .set_external_id(hop.external_id.clone())
            .set_duration_seconds(duration);
        if let Some(serial) = profile.and_then(|p| p.get("mfa_serial")) {
            let code = (ui.mfa_code)().ok_or_else(|| {
                hinted(
                    format!(
                        "profile {} needs an MFA code to assume {}",
                        hop.profile, hop.role_arn
                    ),
                    "run the command again in a terminal, or pass --mfa-code",
                )
            })?;
            request = request.serial_number(serial).token_code(code.trim());
        }
        let out = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "AssumeRole {} for profile {} (with the credentials of {from}) failed: {}",
                hop.role_arn,
                hop.profile,
                sdk_error_line(&e)
            )
        })?;
        let c = out
            .credentials()
            .ok_or_else(|| anyhow::anyhow!("STS AssumeRole returned no credentials"))?;
        creds = from_sts(c)?;
        from.clone_from(&hop.profile);
    }
    Ok(creds)
}

fn default_session_name() -> String {
    let secs = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("keyfob-{secs}")
}

async fn via_aws_config(name: &str, plan: &ChainPlan, region: &str) -> anyhow::Result<Credentials> {
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_config::provider_config::ProviderConfig;
    use aws_credential_types::provider::ProvideCredentials as _;
    let conf = ProviderConfig::without_region()
        .with_region(Some(aws_types::region::Region::new(region.to_owned())));
    let provider = ProfileFileCredentialsProvider::builder()
        .configure(&conf)
        .profile_name(name)
        .build();
    let c = provider
        .provide_credentials()
        .await
        .map_err(|e| anyhow::anyhow!("profile {name} ({}): {}", plan.source_label(), causes(&e)))?;
    Ok(Credentials {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: Secret::new(c.secret_access_key()),
        session_token: c.session_token().map(Secret::new),
        expiration: c.expiry().map(DateTime::<Utc>::from),
    })
}

/// An error and its causes on one line, each message once (aws-config nests the same words).
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.retain(|p| !text.contains(p.as_str()));
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

// ---------------------------------------------------------------------------------------------
// Facts about the credentials a plan yields

/// What kind of credentials a keyfob-served profile gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServedKind {
    Sso,
    Saml,
    /// GetSessionToken with MFA.
    MfaSession,
    /// Long-term IAM user keys.
    Keys,
}

impl ServedKind {
    pub(crate) fn of(profiles: &Profiles, served_as: &str) -> Option<Self> {
        match profiles.profile(served_as)?.plan().ok()? {
            Plan::Sso { .. } => Some(ServedKind::Sso),
            Plan::Saml { .. } => Some(ServedKind::Saml),
            Plan::IamUser {
                mfa_serial: Some(_),
                ..
            } => Some(ServedKind::MfaSession),
            Plan::IamUser { .. } => Some(ServedKind::Keys),
            _ => None,
        }
    }

    /// The kind column of `keyfob status`.
    pub(crate) fn status_kind(self) -> &'static str {
        match self {
            ServedKind::Sso => "profile/sso",
            ServedKind::Saml => "profile/saml",
            ServedKind::MfaSession => "profile/mfa",
            ServedKind::Keys => "profile/keys",
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
pub(crate) fn session_duration_allowed(profiles: &Profiles, plan: &ChainPlan) -> bool {
    match plan.hops.len() {
        0 => !base_is_long_term(profiles, &plan.base),
        1 => base_is_long_term(profiles, &plan.base),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// For `status`

/// A profile keyfob serves and what its cached credentials have left.
#[derive(Debug)]
pub(crate) struct ServedProfile {
    pub(crate) profile: String,
    /// `profile/sso`, `profile/saml`, `profile/mfa`, `profile/keys`.
    pub(crate) kind: &'static str,
    /// `valid`, `expired`, `none` (nothing cached yet) or `stored` (long-term keys).
    pub(crate) state: &'static str,
    pub(crate) expires: Option<DateTime<Utc>>,
}

/// Every profile of the config that keyfob serves, with the expiry of its cached credentials
/// at `now`.
pub(crate) fn served_profiles(
    app: &App,
    profiles: &Profiles,
    now: DateTime<Utc>,
) -> Vec<ServedProfile> {
    let store = app.store().ok();
    profiles
        .profile_names()
        .into_iter()
        .filter_map(|name| {
            let profile = profiles.profile(&name)?;
            let served_as = served_by_keyfob(app, &profile)?;
            let kind = ServedKind::of(profiles, &served_as);
            let expires = store.and_then(|s| keyfob_core::serve::cached_expiry(s, &served_as));
            let state = match expires {
                Some(e) if e <= now => "expired",
                Some(_) => "valid",
                None if kind == Some(ServedKind::Keys) => "stored",
                None => "none",
            };
            Some(ServedProfile {
                profile: name,
                kind: kind.map_or("profile", ServedKind::status_kind),
                state,
                expires,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
