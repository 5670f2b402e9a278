//! Signing in from inside `credential_process`, once for all callers.
//!
//! When a profile's base needs a person (the SSO session expired and cannot be refreshed; a
//! SAML profile has no stored password, or the IdP rejected it) and a person can be reached,
//! `credential-process` signs in itself instead of failing: SSO through the PKCE browser login
//! where a display is, else the device flow with its code on the terminal; SAML through the
//! password prompt on the terminal; browser SAML profiles through the IdP's page in a browser
//! window where a display is. Nobody reachable (CI, cron): the one-line error naming
//! `keyfob login`, at once.
//!
//! One sign-in for all callers: it runs under a lock per SSO session (per start URL for legacy
//! profiles) or per SAML IdP and user (per IdP for browser profiles). The first caller to take
//! it looks again (another may have signed in meanwhile), signs in, and lets go; the callers
//! queued behind it find the session usable and are served. A sign-in that fails leaves a note in the lock file, and the
//! callers that were already waiting report it at once instead of asking again in turn.
//!
//! Bounds: a sign-in gets [`SIGNIN_BUDGET`]; a caller waits for the lock at most
//! [`SIGNIN_WAIT`], which covers the holder's second look and its whole sign-in.

use crate::app::App;
use crate::person::{Answer, Person};
use crate::sources::resolve::{FailedBase, sso_config};
use keyfob_core::engine::{Resolved, profile_region};
use keyfob_core::lock::{FileLock, lock_path};
use keyfob_core::profile::{Plan, Profiles};
use keyfob_core::serve::{self, Context, LOCK_WAIT, REFRESH_BUDGET};
use keyfob_core::source::CredentialSource as _;
use keyfob_core::store::{SessionStore as _, keys};
use keyfob_core::{Clock as _, Report, Secret};
use keyfob_sso::{Flow, LoginOptions, SsoSessionConfig};
use std::time::{Duration, Instant};

/// The longest one sign-in may take: the person has five minutes to approve in the browser or
/// type the password. IAM Identity Center's device codes live ten minutes, the AWS CLI waits
/// ten for the browser; an SDK call is waiting on this one, so it is half that.
pub(crate) const SIGNIN_BUDGET: Duration = Duration::from_secs(5 * 60);

/// The longest a caller waits for the sign-in lock: the holder's second look at the session
/// (a profile lock wait and a refresh) and then its whole sign-in.
pub(crate) const SIGNIN_WAIT: Duration =
    Duration::from_secs(SIGNIN_BUDGET.as_secs() + LOCK_WAIT.as_secs() + REFRESH_BUDGET.as_secs());

pub(crate) use keyfob_core::auto_login::{KEY, check};
use keyfob_core::auto_login::{env_setting, parse_flag, profile_setting};

/// What a sign-in is for.
enum Target {
    /// An SSO session.
    Sso(SsoSessionConfig),
    /// A SAML profile that signs in with a password form.
    Saml { profile: String, plan: Plan },
    /// A SAML profile that signs in through the user's browser (`keyfob_saml_login = browser`).
    SamlBrowser { profile: String, plan: Plan },
}

impl Target {
    fn of(profiles: &Profiles, failed: &FailedBase) -> crate::Result<Option<Self>> {
        Ok(match &failed.plan {
            Plan::Sso {
                session, legacy, ..
            } => Some(Target::Sso(sso_config(
                profiles,
                &failed.profile,
                session.as_deref(),
                legacy.as_ref(),
            )?)),
            Plan::Saml { browser: true, .. } => Some(Target::SamlBrowser {
                profile: failed.profile.clone(),
                plan: failed.plan.clone(),
            }),
            Plan::Saml { .. } => Some(Target::Saml {
                profile: failed.profile.clone(),
                plan: failed.plan.clone(),
            }),
            Plan::IamUser { .. } => None,
        })
    }

    /// The name of the sign-in lock: one per session the person signs in to.
    fn lock_name(&self) -> Option<String> {
        match self {
            Target::Sso(cfg) if cfg.is_legacy() => Some(format!("sso-start-url {}", cfg.start_url)),
            Target::Sso(cfg) => Some(format!("sso-session {}", cfg.name)),
            Target::Saml {
                plan: Plan::Saml { url, username, .. },
                ..
            } => Some(format!("saml {url}\n{username}")),
            // One browser profile per IdP origin: one window at a time for it.
            Target::SamlBrowser {
                plan: Plan::Saml { url, .. },
                ..
            } => Some(format!("saml-browser {url}")),
            Target::Saml { .. } | Target::SamlBrowser { .. } => None,
        }
    }

    /// How this sign-in reaches `person`, if it can.
    fn way(&self, env: &keyfob_core::Env, person: &Person) -> Option<Way> {
        match self {
            Target::Sso(cfg) => {
                let browser_here = crate::sources::browser::no_local_browser(env).is_none();
                if person.display && browser_here && cfg.flow(false) == Flow::Pkce {
                    Some(Way::Pkce)
                } else if person.reachable() {
                    Some(Way::Device)
                } else {
                    None
                }
            }
            Target::Saml { .. } => person.tty.is_some().then_some(Way::Password),
            // The IdP's page opens in a browser window here: a display, and not over SSH.
            Target::SamlBrowser { .. } => (person.display
                && crate::sources::browser::no_local_browser(env).is_none())
            .then_some(Way::Browser),
        }
    }
}

/// How the person signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// The PKCE browser login.
    Pkce,
    /// The device flow: a code shown on the terminal (and a browser opened where one is).
    Device,
    /// The IdP password, typed at the terminal.
    Password,
    /// The IdP's own page, in a browser window keyfob opens (browser SAML profiles).
    Browser,
}

/// Whether a sign-in may start: `KEYFOB_AUTO_LOGIN`, else `keyfob_auto_login` of the profile
/// asked for, of the chain's base profile, of its sso-session; else yes.
fn enabled(
    env: &keyfob_core::Env,
    profiles: &Profiles,
    requested: &str,
    failed: &FailedBase,
) -> crate::Result<bool> {
    if let Some(v) = env_setting(env)? {
        return Ok(v);
    }
    for name in [requested, failed.profile.as_str()] {
        if let Some(v) = profile_setting(profiles, name)? {
            return Ok(v);
        }
    }
    if let Plan::Sso {
        session: Some(session),
        ..
    } = &failed.plan
        && let Some(v) = profiles.sso_session(session).and_then(|s| s.get(KEY))
    {
        return parse_flag(v).ok_or_else(|| {
            Report::usage(format!(
                "{KEY} = {v} in sso-session {session} is neither true nor false; fix it in {}",
                profiles.config_path.display()
            ))
        });
    }
    Ok(true)
}

/// One attempt at the credentials: the result, and the base that needed a person if that is
/// why it failed.
pub(crate) type Attempt = (crate::Result<Resolved>, Option<FailedBase>);

/// After `first` failed: signs in and tries again when a sign-in can fix it and a person can
/// be reached, else returns `first`'s error at once. `started` is when this request began
/// (a sign-in that failed after it is reported, not asked again); `attempt` resolves again.
pub(crate) fn sign_in_and_retry(
    app: &App,
    profiles: &Profiles,
    requested: &str,
    started: chrono::DateTime<chrono::Utc>,
    first: Attempt,
    attempt: &dyn Fn() -> Attempt,
) -> crate::Result<Resolved> {
    let (err, failed) = match first {
        (Ok(resolved), _) => return Ok(resolved),
        (Err(e), None) => return Err(e),
        (Err(e), Some(failed)) => (e, failed),
    };
    let Some(target) = Target::of(profiles, &failed)? else {
        return Err(err);
    };
    if !enabled(&app.env, profiles, requested, &failed)? {
        tracing::debug!("automatic sign-in is off");
        return Err(err);
    }
    let person = Person::find(&app.env);
    let (Some(way), Some(lock_name)) = (target.way(&app.env, &person), target.lock_name()) else {
        tracing::debug!(
            tty = person.tty.is_some(),
            display = person.display,
            "no way to reach a person"
        );
        return Err(err);
    };
    let path = lock_path(&app.cache_dir(), "sign-in", &lock_name);
    let mut guard = FileLock::acquire(&path, SIGNIN_WAIT)?;
    if let Some(note) = guard.previous_failure().filter(|n| n.at >= started) {
        // The sign-in this request waited for failed: say so, do not ask again.
        guard.record_failure(note.at, &note.message);
        return Err(Report::msg(note.message));
    }
    // Another process may have signed in while this one waited.
    match attempt() {
        (Ok(resolved), _) => return Ok(resolved),
        (Err(e), None) => return Err(e),
        (Err(_), Some(_)) => {}
    }
    if let Err(e) = sign_in(app, profiles, &target, way, &person) {
        guard.record_failure(app.clock.now(), &e.to_string());
        return Err(e);
    }
    drop(guard);
    attempt().0
}

fn sign_in(
    app: &App,
    profiles: &Profiles,
    target: &Target,
    way: Way,
    person: &Person,
) -> crate::Result<()> {
    match target {
        Target::Sso(cfg) => sso_sign_in(app, cfg, way, person),
        Target::Saml { profile, plan } => saml_sign_in(app, profiles, profile, plan, person),
        Target::SamlBrowser { profile, plan } => {
            saml_browser_sign_in(app, profiles, profile, plan, person)
        }
    }
}

/// The SSO session's login, with the person told where to look.
fn sso_sign_in(app: &App, cfg: &SsoSessionConfig, way: Way, person: &Person) -> crate::Result<()> {
    let (flow, line) = if way == Way::Pkce {
        (
            Flow::Pkce,
            format!(
                "keyfob: signing in to SSO session {} in your browser…",
                cfg.name
            ),
        )
    } else {
        (
            Flow::Device,
            format!(
                "keyfob: SSO session {} has expired; signing in with a code…",
                cfg.name
            ),
        )
    };
    person.tell(&line);
    person.notify(&line);
    let ui = PersonUi {
        env: &app.env,
        person,
    };
    let ctx = app.sso_ctx()?;
    let opts = LoginOptions {
        callback_timeout: SIGNIN_BUDGET,
        ..LoginOptions::default()
    };
    let rt = App::runtime()?;
    let signed_in = rt.block_on(async {
        tokio::time::timeout(
            SIGNIN_BUDGET,
            keyfob_sso::login(&ctx, cfg, flow, &ui, &opts),
        )
        .await
    });
    match signed_in {
        Ok(Ok(_token)) => {
            person.tell(&format!("keyfob: signed in to SSO session {}.", cfg.name));
            Ok(())
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(Report::hinted(
            format!(
                "the sign-in to SSO session {} was not completed within {} minutes",
                cfg.name,
                SIGNIN_BUDGET.as_secs() / 60
            ),
            cfg.login_command(),
        )),
    }
}

/// Where the SSO login's instructions go: the person's terminal (or stderr) and browser.
struct PersonUi<'a> {
    env: &'a keyfob_core::Env,
    person: &'a Person,
}

impl PersonUi<'_> {
    fn open(&self, url: &str) {
        if !self.person.display {
            return;
        }
        if let Err(e) = crate::sources::browser::open(self.env, url) {
            tracing::debug!(error = %e, "no browser");
            self.person.tell(&format!(
                "keyfob: no browser could be opened here; open this URL yourself:\n  {url}"
            ));
        }
    }
}

impl keyfob_sso::LoginUi for PersonUi<'_> {
    fn show_device_code(&self, prompt: &keyfob_sso::DevicePrompt) {
        self.person.tell(&format!(
            "keyfob: sign in at {} and enter the code {} (it expires in {} minutes).",
            prompt.verification_uri,
            prompt.user_code,
            prompt.expires_in.as_secs().div_ceil(60)
        ));
        let url = prompt
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&prompt.verification_uri);
        self.open(url);
    }

    fn open_browser(&self, url: &str) {
        if self.person.tty.is_some() {
            self.person
                .tell(&format!("keyfob: if no browser opens, visit:\n  {url}"));
        }
        self.open(url);
    }
}

/// The SAML profile's password login, the password typed at the terminal. A password that
/// works is stored for the silent refreshes; one that does not is never stored.
fn saml_sign_in(
    app: &App,
    profiles: &Profiles,
    profile: &str,
    plan: &Plan,
    person: &Person,
) -> crate::Result<()> {
    let Some(tty) = &person.tty else {
        return Err(Report::msg("no terminal to ask for the IdP password"));
    };
    let Plan::Saml { url, username, .. } = plan else {
        return Err(Report::msg(format!(
            "profile {profile} is not a SAML profile"
        )));
    };
    // A bad IdP setting is reported before the password is asked for.
    keyfob_saml::SamlSource::check_plan(profile, plan)?;
    let deadline = Instant::now() + SIGNIN_BUDGET;
    let host = idp_host(url);
    let line = format!(
        "keyfob: profile {profile} needs the IdP password of {username} at {host} to sign in."
    );
    tty.say(&line);
    person.notify(&format!(
        "keyfob: profile {profile} needs your IdP password in the terminal"
    ));
    let timed_out = || {
        Report::hinted(
            format!(
                "no IdP password was typed for profile {profile} within {} minutes",
                SIGNIN_BUDGET.as_secs() / 60
            ),
            format!("keyfob login --profile {profile}"),
        )
    };
    let left = || deadline.saturating_duration_since(Instant::now());
    let password = match tty.secret("IdP password: ", left())? {
        Answer::Typed(p) if !p.is_empty() => Secret::new(p),
        Answer::Typed(_) => {
            return Err(Report::hinted(
                format!("no IdP password was typed for profile {profile}"),
                format!("keyfob login --profile {profile}"),
            ));
        }
        Answer::TimedOut => return Err(timed_out()),
    };
    let mfa = |_host: &str| -> Option<Secret> {
        match tty.line("One-time code from your IdP: ", left()) {
            Ok(Answer::Typed(code)) if !code.is_empty() => Some(Secret::new(code)),
            _ => None,
        }
    };
    let source = keyfob_saml::SamlSource::from_plan(profile, plan, Some(password.clone()))
        .map(|s| {
            s.with_region(profile_region(profiles, profile))
                .with_env(&app.env)
        })
        .ok_or_else(|| Report::msg(format!("profile {profile} is not a SAML profile")))?;
    let rt = App::runtime()?;
    let login = rt
        .block_on(async { tokio::time::timeout(left(), source.login(Some(&mfa), None)).await })
        .map_err(|_| timed_out())?
        .map_err(|e| {
            let err = e.to_source_error(profile);
            Report::from(err)
        })?;
    // Only a password that worked is kept.
    app.store()?
        .put(&keys::saml_password(profile), password.expose())?;
    tty.say(&keep_login(app, profile, &source, &login)?);
    Ok(())
}

/// The browser SAML login in a window the person sees: the IdP's own page, with whatever
/// factors it asks for; bounded like every other sign-in.
fn saml_browser_sign_in(
    app: &App,
    profiles: &Profiles,
    profile: &str,
    plan: &Plan,
    person: &Person,
) -> crate::Result<()> {
    let Plan::Saml { url, .. } = plan else {
        return Err(Report::msg(format!(
            "profile {profile} is not a SAML profile"
        )));
    };
    let mut login = crate::sources::resolve::browser_login(
        &app.env,
        profiles,
        profile,
        keyfob_saml::browser::Mode::Visible,
    )
    .map_err(Report::msg)?;
    login.timeout = login.timeout.min(SIGNIN_BUDGET);
    let source = keyfob_saml::SamlSource::from_plan(profile, plan, None)
        .map(|s| {
            s.with_region(profile_region(profiles, profile))
                .with_env(&app.env)
                .with_browser(Some(login))
        })
        .ok_or_else(|| Report::msg(format!("profile {profile} is not a SAML profile")))?;
    let host = idp_host(url);
    let line = format!(
        "keyfob: profile {profile} needs you to sign in at {host} in the browser window keyfob opened."
    );
    person.tell(&line);
    person.notify(&line);
    let rt = App::runtime()?;
    let login = rt
        .block_on(source.login(None, None))
        .map_err(|e| Report::from(e.to_source_error(profile)))?;
    person.tell(&keep_login(app, profile, &source, &login)?);
    Ok(())
}

/// Keeps a SAML sign-in's credentials for `profile` under its fingerprint; the line that
/// tells the person.
fn keep_login(
    app: &App,
    profile: &str,
    source: &keyfob_saml::SamlSource,
    login: &keyfob_saml::Login,
) -> crate::Result<String> {
    let cache_dir = app.cache_dir();
    let ctx = Context {
        store: app.store()?,
        clock: &app.clock,
        cache_dir: &cache_dir,
    };
    serve::store_login(&ctx, profile, &source.fingerprint(), &login.credentials)?;
    Ok(format!(
        "keyfob: signed in; assumed {} for profile {profile}.",
        login.role.role_arn
    ))
}

/// The host of an IdP URL, for the line that tells the person where to sign in.
fn idp_host(url: &str) -> String {
    url::Url::parse(url.trim())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyfob_core::auto_login::ENV_VAR;

    #[test]
    fn the_way_in_follows_what_can_reach_the_person() {
        let cfg = SsoSessionConfig {
            name: "acme".into(),
            start_url: "https://acme.awsapps.com/start".into(),
            region: "eu-west-1".into(),
            scopes: vec!["sso:account:access".into()],
            login_flow: None,
            write_sso_cache: false,
            legacy_profile: None,
        };
        let sso = Target::Sso(cfg.clone());
        let env = |pairs: &[(&str, &str)]| keyfob_core::Env::from_pairs(pairs.to_vec());
        let desk = Person {
            tty: None,
            display: true,
        };
        let nobody = Person {
            tty: None,
            display: false,
        };
        let here = env(&[("DISPLAY", ":0")]);
        assert_eq!(sso.way(&here, &desk), Some(Way::Pkce));
        // Over SSH the redirect cannot reach a browser here: the device flow.
        let ssh = env(&[
            ("DISPLAY", ":0"),
            ("SSH_CONNECTION", "10.0.0.1 1 10.0.0.2 22"),
        ]);
        assert_eq!(sso.way(&ssh, &desk), Some(Way::Device));
        // keyfob_login_flow = device is honoured.
        let device = Target::Sso(SsoSessionConfig {
            login_flow: Some(Flow::Device),
            ..cfg
        });
        assert_eq!(device.way(&here, &desk), Some(Way::Device));
        assert_eq!(sso.way(&here, &nobody), None);
        // A password needs a terminal; a browser SAML profile is not signed in here.
        let saml_plan = |browser| Plan::Saml {
            url: "https://idp.example/sso".into(),
            username: "alice".into(),
            role_arn: None,
            principal_arn: None,
            duration_seconds: None,
            trusted_origins: Vec::new(),
            browser,
        };
        let saml = Target::Saml {
            profile: "corp".into(),
            plan: saml_plan(false),
        };
        assert_eq!(saml.way(&here, &desk), None);
        // A browser SAML profile opens a window where there is a display, not over SSH.
        let in_browser = Target::SamlBrowser {
            profile: "corp".into(),
            plan: saml_plan(true),
        };
        assert_eq!(in_browser.way(&here, &desk), Some(Way::Browser));
        assert_eq!(in_browser.way(&ssh, &desk), None);
        assert_eq!(in_browser.way(&here, &nobody), None);
        assert_ne!(in_browser.lock_name(), saml.lock_name());
        assert_ne!(saml.lock_name(), sso.lock_name());
    }

    #[test]
    fn settings_go_env_then_profile_then_base_then_session() {
        let profiles = Profiles::parse(
            "[profile top]\nsource_profile = base\nrole_arn = arn:aws:iam::1:role/r\n\
             [profile base]\nkeyfob_sso_session = s\nkeyfob_sso_account_id = 1\nkeyfob_sso_role_name = R\n\
             [sso-session s]\nsso_start_url = https://x.awsapps.com/start\nsso_region = eu-west-1\nkeyfob_auto_login = false\n\
             [profile bad]\nkeyfob_auto_login = perhaps\n",
            "",
        )
        .unwrap();
        let failed = FailedBase {
            profile: "base".into(),
            plan: profiles.profile("base").unwrap().plan().unwrap().unwrap(),
        };
        let none = keyfob_core::Env::from_pairs(Vec::<(String, String)>::new());
        let on = keyfob_core::Env::from_pairs([(ENV_VAR, "1")]);
        let bad = keyfob_core::Env::from_pairs([(ENV_VAR, "sometimes")]);
        // The sso-session says no; the environment overrides it.
        assert!(!enabled(&none, &profiles, "top", &failed).unwrap());
        assert!(enabled(&on, &profiles, "top", &failed).unwrap());
        let line = enabled(&bad, &profiles, "top", &failed)
            .unwrap_err()
            .to_string();
        assert!(line.contains("KEYFOB_AUTO_LOGIN=sometimes"), "{line}");
        let err = check(&none, &profiles, "bad").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("keyfob_auto_login = perhaps"),
            "{err}"
        );
        check(&none, &profiles, "top").unwrap();
    }
}
