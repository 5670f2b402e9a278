//! One entry point from a profile name to credentials, shared by every command.

use crate::app::{App, require_profile};
use crate::sources::iam_user::{MfaSession, load_keys};
use keyfob_core::profile::{Plan, Profiles};
use keyfob_core::serve::{self, Context, Origin};
use keyfob_core::source::SourceError;
use keyfob_core::store::{SessionStore, keys};
use keyfob_core::{Credentials, ExpiryPolicy, Secret};
use keyfob_sso::{RoleCredentialsSource, SsoSessionConfig};

/// How a request may reach the user.
pub(crate) struct Interaction<'a> {
    /// An MFA code given on the command line, or a prompt.
    pub(crate) mfa_code: &'a (dyn Fn() -> Option<String> + Sync),
}

/// The refresh window of a profile (`keyfob_refresh_window`, default 15 minutes).
pub(crate) fn policy(profiles: &Profiles, name: &str) -> anyhow::Result<ExpiryPolicy> {
    match profiles
        .profile(name)
        .and_then(|p| p.get("keyfob_refresh_window"))
    {
        Some(w) => Ok(ExpiryPolicy::parse_window(w)?),
        None => Ok(ExpiryPolicy::default()),
    }
}

/// The SSO session a plan names (sso-session section, or a legacy profile's own keys).
pub(crate) fn sso_config(
    profiles: &Profiles,
    profile: &str,
    session: Option<&str>,
    legacy: Option<&(String, String)>,
) -> anyhow::Result<SsoSessionConfig> {
    Ok(match (session, legacy) {
        (Some(s), _) => SsoSessionConfig::from_profiles(profiles, s)?,
        (None, Some((url, region))) => SsoSessionConfig::legacy(profile, url, region)?,
        (None, None) => anyhow::bail!("profile {profile} names no SSO session"),
    })
}

/// Credentials for a keyfob-served profile.
pub(crate) fn credentials(
    app: &App,
    profiles: &Profiles,
    name: &str,
    ui: &Interaction<'_>,
) -> anyhow::Result<(Credentials, Origin)> {
    let profile = require_profile(profiles, name)?;
    let plan = profile.plan()?;
    let policy = policy(profiles, name)?;
    let region = profile.get("region").map(str::to_owned);
    if let Plan::IamUser {
        mfa_serial: None, ..
    } = plan
    {
        let keys = load_keys(app.store()?, name)?;
        return Ok((
            Credentials::long_term(keys.access_key_id, keys.secret_access_key),
            Origin::Cache,
        ));
    }
    let store = app.store()?;
    let cache_dir = app.cache_dir();
    let ctx = Context {
        store,
        clock: &app.clock,
        cache_dir: &cache_dir,
    };
    let rt = App::runtime()?;
    match plan {
        Plan::IamUser {
            mfa_serial: Some(serial),
            duration_seconds,
        } => {
            let source = MfaSession {
                profile: name,
                keys: load_keys(store, name)?,
                serial,
                region: region.unwrap_or_else(|| "us-east-1".to_owned()),
                duration_seconds,
                code: ui.mfa_code,
            };
            Ok(rt.block_on(serve::credentials(&ctx, name, policy, &source))?)
        }
        Plan::Sso {
            session,
            legacy,
            account_id,
            role_name,
        } => {
            let cfg = sso_config(profiles, name, session.as_deref(), legacy.as_ref())?;
            let source = RoleCredentialsSource::new(app.sso_ctx()?, cfg, account_id, role_name);
            Ok(rt.block_on(serve::credentials(&ctx, name, policy, &source))?)
        }
        ref saml @ Plan::Saml {
            ref url,
            ref username,
            ref role_arn,
            ref principal_arn,
            duration_seconds,
            ..
        } => {
            // The refresh re-authenticates with the stored password and never prompts.
            let login = format!("keyfob login --profile {name}");
            let password: Option<Secret> = store.get(&keys::saml_password(name))?.map(Secret::new);
            let source = password.and_then(|pw| {
                keyfob_saml::SamlSource::from_plan(name, saml, pw)
                    .map(|s| s.with_region(region.clone()).with_env(&app.env))
            });
            if let Some(source) = source {
                let source = SilentSaml {
                    source,
                    store,
                    profile: name,
                };
                return Ok(rt.block_on(serve::credentials(&ctx, name, policy, &source))?);
            }
            // Without a password only still-fresh cached credentials can be served.
            let fingerprint = keyfob_saml::fingerprint(
                url,
                username,
                role_arn.as_deref(),
                principal_arn.as_deref(),
                duration_seconds,
            );
            match serve::cached(&ctx, name, &fingerprint, policy)? {
                Some(c) => Ok((c, Origin::Cache)),
                _ => Err(SourceError::needs_login(
                    format!(
                        "SAML profile {name} has no stored IdP password and no fresh credentials"
                    ),
                    login,
                )
                .into()),
            }
        }
        other => Err(anyhow::anyhow!(
            "profile {name}: unsupported plan {other:?}"
        )),
    }
}

/// The SAML source of a silent refresh. A stored password that the IdP rejects is deleted, so
/// that the SDK's next call does not send it again: IdPs lock accounts after a few failures.
struct SilentSaml<'a> {
    source: keyfob_saml::SamlSource,
    store: &'a keyfob_core::store::Keychain,
    profile: &'a str,
}

impl keyfob_core::source::CredentialSource for SilentSaml<'_> {
    fn fingerprint(&self) -> keyfob_core::source::Fingerprint {
        self.source.fingerprint()
    }

    async fn fetch(&self) -> Result<Credentials, SourceError> {
        let e = match self.source.login(None, None).await {
            Ok(login) => return Ok(login.credentials),
            Err(e) => e,
        };
        let mut err = e.to_source_error(self.profile);
        if matches!(
            e,
            keyfob_saml::SamlError::Idp(keyfob_saml::IdpError::BadCredentials)
        ) {
            let forgot = self
                .store
                .delete(&keys::saml_password(self.profile))
                .is_ok();
            err.message = if forgot {
                format!(
                    "the IdP rejected the stored password of profile {}; keyfob forgot it so that it is not sent again (IdPs lock accounts)",
                    self.profile
                )
            } else {
                format!(
                    "the IdP rejected the stored password of profile {}",
                    self.profile
                )
            };
        }
        Err(err)
    }
}

pub(crate) use keyfob_core::sts::{from_sts, sdk_error_line};
