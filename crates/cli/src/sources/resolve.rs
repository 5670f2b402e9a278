//! The composition root: a plan in, a source out. How a profile becomes credentials is
//! `keyfob_core::engine`; this is where the CLI hands it the SSO, SAML and IAM-user sources
//! for the profiles keyfob serves itself, in one `match`.

use crate::app::App;
use keyfob_core::engine::{self, Engine, Interaction, Resolved, ServeBase};
use keyfob_core::iam_user::{MfaSession, load_keys};
use keyfob_core::profile::{Plan, Profiles};
use keyfob_core::serve::{self, Context, Origin};
use keyfob_core::source::{CredentialSource, Fingerprint, SourceError};
use keyfob_core::store::{SessionStore, keys};
use keyfob_core::{Credentials, Secret};
use keyfob_saml::browser::{self, BrowserError, BrowserLogin, Discovery, Mode};
use keyfob_sso::{RoleCredentialsSource, SsoSessionConfig};
use std::path::PathBuf;

/// Credentials for any profile the SDKs could resolve: its chain planned and run through
/// keyfob's caches. `mfa_code` is the `--mfa-code` flag; without it a person at the terminal
/// is asked, and nobody else. Blocking: it builds its own runtime.
pub(crate) fn credentials(
    app: &App,
    profiles: &Profiles,
    name: &str,
    mfa_code: Option<String>,
) -> crate::Result<Resolved> {
    credentials_asking(
        app,
        profiles,
        name,
        &crate::prompt::code_from(mfa_code),
        false,
    )
}

/// [`credentials`] with `mfa_code` as the one place an MFA code may come from. `as_process`:
/// this process runs as `name`'s `credential_process`, so that line is keyfob itself.
pub(crate) fn credentials_asking(
    app: &App,
    profiles: &Profiles,
    name: &str,
    mfa_code: &(dyn Fn(&str) -> Option<String> + Sync),
    as_process: bool,
) -> crate::Result<Resolved> {
    credentials_noting(app, profiles, name, mfa_code, as_process).0
}

/// The base of a chain whose source needs a person (a sign-in), or whose refresh, queued behind
/// another process's, failed: what `credential-process` may sign in to by itself.
#[derive(Debug, Clone)]
pub(crate) struct FailedBase {
    /// The base profile.
    pub(crate) profile: String,
    /// Its plan.
    pub(crate) plan: Plan,
}

/// [`credentials_asking`], and on failure the base whose source needed a person, if that is
/// where it failed.
pub(crate) fn credentials_noting(
    app: &App,
    profiles: &Profiles,
    name: &str,
    mfa_code: &(dyn Fn(&str) -> Option<String> + Sync),
    as_process: bool,
) -> (crate::Result<Resolved>, Option<FailedBase>) {
    let failed = std::sync::Mutex::new(None);
    let result = resolve_noting(app, profiles, name, mfa_code, as_process, &failed);
    let failed = failed
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let failed = if result.is_err() { failed } else { None };
    (result, failed)
}

fn resolve_noting(
    app: &App,
    profiles: &Profiles,
    name: &str,
    mfa_code: &(dyn Fn(&str) -> Option<String> + Sync),
    as_process: bool,
    failed: &std::sync::Mutex<Option<FailedBase>>,
) -> crate::Result<Resolved> {
    let ui = Interaction { mfa_code };
    let is_keyfob = |program: &str| app.is_self_command(program);
    let served = app.served(&is_keyfob, as_process.then_some(name));
    let cache_dir = app.cache_dir();
    let store = app.store()?;
    let engine = Engine {
        ctx: Context {
            store,
            clock: &app.clock,
            cache_dir: &cache_dir,
        },
        profiles,
        env: &app.env,
        served: &served,
        ui: &ui,
    };
    if let Some(hit) = engine.presumed_hit(name) {
        return Ok(hit);
    }
    let root = Root {
        app,
        engine: &engine,
        failed,
    };
    Ok(App::runtime()?.block_on(engine.credentials(name, &root))?)
}

/// The SSO session a plan names (sso-session section, or a legacy profile's own keys).
pub(crate) fn sso_config(
    profiles: &Profiles,
    profile: &str,
    session: Option<&str>,
    legacy: Option<&(String, String)>,
) -> crate::Result<SsoSessionConfig> {
    Ok(match (session, legacy) {
        (Some(s), _) => SsoSessionConfig::from_profiles(profiles, s)?,
        (None, Some((url, region))) => SsoSessionConfig::legacy(profile, url, region)?,
        (None, None) => crate::bail!("profile {profile} names no SSO session"),
    })
}

/// The browser login for SAML profile `name` in `mode`: the browser `KEYFOB_BROWSER` or the
/// profile's `keyfob_browser` names, else one found at the standard places; the arguments of
/// `KEYFOB_BROWSER_ARGS` appended.
pub(crate) fn browser_login(
    env: &keyfob_core::Env,
    profiles: &Profiles,
    name: &str,
    mode: Mode,
) -> Result<BrowserLogin, BrowserError> {
    let configured = env.get_non_empty("KEYFOB_BROWSER").or_else(|| {
        profiles
            .profile(name)
            .and_then(|p| p.get("keyfob_browser").map(str::to_owned))
            .filter(|v| !v.trim().is_empty())
    });
    let discovery = Discovery {
        configured,
        path: env.get("PATH").map(Into::into),
        home: env.home(),
        program_dirs: ["ProgramFiles", "ProgramFiles(x86)", "LOCALAPPDATA"]
            .iter()
            .filter_map(|k| env.get_non_empty(k).map(PathBuf::from))
            .collect(),
    };
    let program = browser::find(&discovery, name)?;
    Ok(
        BrowserLogin::new(program, keyfob_core::paths::cache_dir(env), mode)
            .with_extra_args(env.get_non_empty("KEYFOB_BROWSER_ARGS").as_deref()),
    )
}

struct Root<'a> {
    app: &'a App,
    engine: &'a Engine<'a>,
    /// Set when a base's source needed a person (see [`FailedBase`]).
    failed: &'a std::sync::Mutex<Option<FailedBase>>,
}

/// Every source the CLI can hand the engine.
enum Source<'a> {
    Sso(RoleCredentialsSource<'a>),
    Saml(SilentSaml<'a>),
    Mfa(MfaSession<'a>),
}

impl CredentialSource for Source<'_> {
    fn fingerprint(&self) -> Fingerprint {
        match self {
            Source::Sso(s) => s.fingerprint(),
            Source::Saml(s) => s.fingerprint(),
            Source::Mfa(s) => s.fingerprint(),
        }
    }

    async fn fetch(&self) -> Result<Credentials, SourceError> {
        match self {
            Source::Sso(s) => s.fetch().await,
            Source::Saml(s) => s.fetch().await,
            Source::Mfa(s) => s.fetch().await,
        }
    }
}

impl ServeBase for Root<'_> {
    async fn credentials(
        &self,
        name: &str,
        plan: &Plan,
    ) -> Result<(Credentials, Origin), engine::Error> {
        let result = self.base_credentials(name, plan).await;
        if let Err(e) = &result
            && needs_person(e)
        {
            let mut failed = self
                .failed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *failed = Some(FailedBase {
                profile: name.to_owned(),
                plan: plan.clone(),
            });
        }
        result
    }
}

/// A failure that a sign-in may fix: the source said it needs the user, or the refresh this
/// call queued behind failed (whether a sign-in helps is then checked under the sign-in lock).
fn needs_person(e: &engine::Error) -> bool {
    use keyfob_core::serve::ServeError;
    match e {
        engine::Error::Source(s) | engine::Error::Serve(ServeError::Source(s)) => s.needs_user,
        engine::Error::Serve(ServeError::SharedFailure { .. }) => true,
        _ => false,
    }
}

impl Root<'_> {
    async fn base_credentials(
        &self,
        name: &str,
        plan: &Plan,
    ) -> Result<(Credentials, Origin), engine::Error> {
        let engine = self.engine;
        let store = engine.ctx.store;
        let policy = engine.policy(name)?;
        let region = engine::profile_region(engine.profiles, name);
        let other =
            |e: keyfob_core::Report| engine::Error::Source(SourceError::other(format!("{e:#}")));
        let source = match plan {
            Plan::IamUser {
                mfa_serial: None, ..
            } => return Ok((engine::long_term(store, name)?, Origin::Cache)),
            Plan::IamUser {
                mfa_serial: Some(serial),
                duration_seconds,
            } => Source::Mfa(MfaSession {
                profile: name,
                keys: load_keys(store, name)?,
                serial: serial.clone(),
                region: region.unwrap_or_else(|| "us-east-1".to_owned()),
                duration_seconds: *duration_seconds,
                ui: engine.ui,
            }),
            Plan::Sso {
                session,
                legacy,
                account_id,
                role_name,
            } => {
                let cfg = sso_config(engine.profiles, name, session.as_deref(), legacy.as_ref())
                    .map_err(other)?;
                let ctx = self.app.sso_ctx().map_err(other)?;
                Source::Sso(RoleCredentialsSource::new(
                    ctx,
                    cfg,
                    account_id.clone(),
                    role_name.clone(),
                ))
            }
            Plan::Saml { browser: true, .. } => {
                // The silent refresh runs the same browser profile headless: only a still-valid
                // IdP session can finish it; one that wants a person is one line naming login.
                let login = browser_login(&self.app.env, engine.profiles, name, Mode::Headless)
                    .map_err(|e| engine::Error::Source(SourceError::other(e.to_string())))?;
                let source = keyfob_saml::SamlSource::from_plan(name, plan, None)
                    .map(|s| {
                        s.with_region(region)
                            .with_env(&self.app.env)
                            .with_browser(Some(login))
                    })
                    .ok_or_else(|| other(crate::report!("profile {name} is not SAML")))?;
                Source::Saml(SilentSaml {
                    source,
                    store,
                    profile: name,
                })
            }
            Plan::Saml { .. } => {
                // The refresh re-authenticates with the stored password and never prompts.
                let password: Option<Secret> =
                    store.get(&keys::saml_password(name))?.map(Secret::new);
                let Some(password) = password else {
                    // Without a password only still-fresh cached credentials can be served.
                    let fingerprint =
                        keyfob_core::fingerprint::of_plan(engine.profiles, name, plan);
                    return match serve::cached(&engine.ctx, name, &fingerprint, policy)? {
                        Some(c) => Ok((c, Origin::Cache)),
                        None => Err(SourceError::needs_login(
                            format!(
                                "SAML profile {name} has no stored IdP password and no fresh credentials"
                            ),
                            format!("keyfob login --profile {name}"),
                        )
                        .into()),
                    };
                };
                let source = keyfob_saml::SamlSource::from_plan(name, plan, Some(password))
                    .map(|s| s.with_region(region).with_env(&self.app.env))
                    .ok_or_else(|| other(crate::report!("profile {name} is not SAML")))?;
                Source::Saml(SilentSaml {
                    source,
                    store,
                    profile: name,
                })
            }
        };
        Ok(serve::credentials(&engine.ctx, name, policy, &source).await?)
    }
}

/// The SAML source of a silent refresh. A stored password that the IdP rejects is forgotten,
/// so that the SDK's next call does not send it again.
struct SilentSaml<'a> {
    source: keyfob_saml::SamlSource,
    store: &'a dyn SessionStore,
    profile: &'a str,
}

impl CredentialSource for SilentSaml<'_> {
    fn fingerprint(&self) -> Fingerprint {
        self.source.fingerprint()
    }

    async fn fetch(&self) -> Result<Credentials, SourceError> {
        let e = match self.source.login(None, None).await {
            Ok(login) => return Ok(login.credentials),
            Err(e) => e,
        };
        let mut err = e.to_source_error(self.profile);
        if keyfob_saml::forget_rejected_password(self.store, self.profile, &e) {
            err.message = format!(
                "the IdP rejected the stored password of profile {}; keyfob forgot it so that it is not sent again (IdPs lock accounts)",
                self.profile
            );
        }
        Err(err)
    }
}
