//! `keyfob login`: sign in to whatever a profile or sso-session needs — an SSO session (PKCE
//! or device code), a SAML IdP, an MFA device, or the MFA code of a role a chain assumes.

use crate::app::{App, require_profile};
use crate::cli::LoginArgs;
use crate::output::{hinted, say};
use crate::sources::browser::{CliLoginUi, no_local_browser};
use crate::sources::resolve::{self, sso_config};
use keyfob_core::ResultExt as _;
use keyfob_core::Secret;
use keyfob_core::engine::Interaction;
use keyfob_core::iam_user::{MfaSession, load_keys};
use keyfob_core::profile::{Plan, Profiles, select_profile};
use keyfob_core::serve::{self, Context};
use keyfob_core::source::{CredentialSource as _, Fingerprint};
use keyfob_core::store::{SessionStore, keys};
use keyfob_saml::browser::{BrowserError, Mode};
use keyfob_sso::{Flow, LoginOptions, SsoSessionConfig};
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &LoginArgs) -> crate::Result<ExitCode> {
    let profiles = app.profiles()?;
    if let Some(session) = &args.sso_session {
        let cfg = SsoSessionConfig::from_profiles(&profiles, session)?;
        return sso_login(app, args, cfg);
    }
    let name = select_profile(args.profile.as_deref(), &app.env);
    let profile = require_profile(&profiles, &name)?;
    let plan = profile.plan()?;
    if args.browser && !matches!(plan, Some(Plan::Saml { .. })) {
        crate::bail!("--browser signs in to a SAML IdP, and profile {name} is not a SAML profile");
    }
    let Some(plan) = plan else {
        return chain_login(app, args, &profiles, &name);
    };
    match plan {
        Plan::Sso {
            session, legacy, ..
        } => {
            let cfg = sso_config(&profiles, &name, session.as_deref(), legacy.as_ref())?;
            sso_login(app, args, cfg)
        }
        plan @ Plan::Saml { .. } => saml_login(app, args, &profiles, &name, &plan),
        Plan::IamUser {
            mfa_serial: Some(serial),
            duration_seconds,
        } => {
            let store = app.store()?;
            let code = crate::prompt::code_from(args.mfa_code.clone());
            let ui = Interaction { mfa_code: &code };
            let cache_dir = app.cache_dir();
            let ctx = Context {
                store,
                clock: &app.clock,
                cache_dir: &cache_dir,
            };
            let source = MfaSession {
                profile: &name,
                keys: load_keys(store, &name)?,
                serial,
                region: profile.get("region").unwrap_or("us-east-1").to_owned(),
                duration_seconds,
                ui: &ui,
            };
            let creds = App::runtime()?.block_on(serve::refresh_now(&ctx, &name, &source))?;
            let until = creds
                .expiration
                .map(keyfob_core::credentials::rfc3339)
                .unwrap_or_default();
            say(&format!(
                "MFA session for profile {name} valid until {until}."
            ));
            Ok(ExitCode::SUCCESS)
        }
        Plan::IamUser {
            mfa_serial: None, ..
        } => Err(hinted(
            format!("profile {name} uses long-term keys; there is nothing to sign in to"),
            format!("keyfob credential-process --profile {name}"),
        )),
    }
}

/// A profile keyfob serves through a chain: resolving it asks for what the chain needs (an
/// MFA code for a role with `mfa_serial`) and caches every hop.
fn chain_login(
    app: &App,
    args: &LoginArgs,
    profiles: &Profiles,
    name: &str,
) -> crate::Result<ExitCode> {
    let resolved = resolve::credentials(app, profiles, name, args.mfa_code.clone())?;
    let until = resolved.credentials.expiration.map_or_else(
        || "they are revoked".to_owned(),
        keyfob_core::credentials::rfc3339,
    );
    say(&format!(
        "Credentials for profile {name} ({}) valid until {until}.",
        resolved.plan.describe()
    ));
    Ok(ExitCode::SUCCESS)
}

fn sso_login(app: &App, args: &LoginArgs, mut cfg: SsoSessionConfig) -> crate::Result<ExitCode> {
    if args.write_sso_cache {
        cfg.write_sso_cache = true;
    }
    let mut flow = cfg.flow(args.use_device_code);
    if args.use_device_code {
        say("Using the device-code flow (--use-device-code).");
    } else if cfg.login_flow == Some(Flow::Device) {
        say("Using the device-code flow (keyfob_login_flow = device).");
    } else if flow == Flow::Pkce
        && let Some(why) = no_local_browser(&app.env)
    {
        flow = Flow::Device;
        say(&format!(
            "Using the device-code flow: {why}, so a browser here cannot take the sign-in redirect."
        ));
    }
    // The UI prints where to sign in, then starts the "waiting" spinner under it.
    let ui = CliLoginUi::new(&app.env, args.no_browser);
    let ctx = app.sso_ctx()?;
    let result = App::runtime()?.block_on(keyfob_sso::login(
        &ctx,
        &cfg,
        flow,
        &ui,
        &LoginOptions::default(),
    ));
    ui.finish();
    let token = result?;
    let until = keyfob_core::credentials::rfc3339(token.expires_at);
    let mirror = if cfg.write_sso_cache {
        " (also written to ~/.aws/sso/cache)"
    } else {
        ""
    };
    say(&format!(
        "Signed in to SSO session {}; the token is valid until {until}{mirror}.",
        cfg.name
    ));
    if !cfg.is_legacy() {
        say(&format!("Next: keyfob populate --sso-session {}", cfg.name));
    }
    Ok(ExitCode::SUCCESS)
}

fn saml_login(
    app: &App,
    args: &LoginArgs,
    profiles: &Profiles,
    name: &str,
    plan: &Plan,
) -> crate::Result<ExitCode> {
    let store = app.store()?;
    let pw_key = keys::saml_password(name);
    if args.forget_password {
        let existed = store.delete(&pw_key)?;
        say(&if existed {
            format!("Forgot the IdP password of profile {name}.")
        } else {
            format!("No IdP password was stored for profile {name}.")
        });
        return Ok(ExitCode::SUCCESS);
    }
    let profile = require_profile(profiles, name)?;
    let region = profile.get("region").map(str::to_owned);
    let rt = App::runtime()?;

    let code = crate::prompt::code_from(args.mfa_code.clone());
    let mfa = move |_host: &str| -> Option<Secret> {
        code("One-time code from your IdP: ").map(Secret::new)
    };
    let interactive = crate::prompt::interactive();
    let pick = |roles: &[keyfob_saml::RolePair]| -> Option<keyfob_saml::RolePair> {
        let labels: Vec<String> = roles
            .iter()
            .map(|r| format!("{}  {}", r.account_id().unwrap_or("?"), r.role_name()))
            .collect();
        let choice = inquire::Select::new("Which role?", labels.clone())
            .prompt()
            .ok()?;
        let i = labels.iter().position(|l| *l == choice)?;
        roles.get(i).cloned()
    };
    // Without a terminal there is no picker: several roles are an error that lists them.
    let picker: Option<&dyn keyfob_saml::RolePicker> = if interactive { Some(&pick) } else { None };
    let source = |password: Option<Secret>| {
        keyfob_saml::SamlSource::from_plan(name, plan, password)
            .map(|s| {
                s.with_region(region.clone())
                    .with_env(&app.env)
                    .with_role_arn(args.role_arn.clone())
            })
            .ok_or_else(|| crate::report!("profile {name} is not a SAML profile"))
    };

    if let Some(file) = &args.saml_response_file {
        let response = read_response_file(file)?;
        let source = source(None)?;
        let login = rt
            .block_on(source.assume(&response, picker))
            .map_err(|e| login_error(&e, name, None, true))?;
        store_credentials(app, name, &source.fingerprint(), &login.credentials)?;
        say(&format!(
            "Assumed {} for profile {name}.",
            login.role.role_arn
        ));
        return Ok(ExitCode::SUCCESS);
    }

    // Keeps the credentials, offers to save the role that was picked, says which it was.
    let finish = |source: &keyfob_saml::SamlSource,
                  login: &keyfob_saml::Login|
     -> crate::Result<ExitCode> {
        store_credentials(app, name, &source.fingerprint(), &login.credentials)?;
        if profile.get("keyfob_saml_role_arn").is_none() && args.role_arn.is_none() && interactive {
            offer_to_save_role(app, name, &login.role.role_arn)?;
        }
        say(&format!(
            "Assumed {} for profile {name}.",
            login.role.role_arn
        ));
        Ok(ExitCode::SUCCESS)
    };

    if args.browser || matches!(plan, Plan::Saml { browser: true, .. }) {
        let login = resolve::browser_login(&app.env, profiles, name, Mode::Visible)
            .map_err(keyfob_core::Report::msg)?;
        let source = source(None)?.with_browser(Some(login));
        let spinner =
            crate::output::spinner("Sign in to your IdP in the browser window keyfob opened…");
        let result = rt.block_on(source.login(None, picker));
        spinner.finish_and_clear();
        let login = result.map_err(|e| login_error(&e, name, None, false))?;
        return finish(&source, &login);
    }

    // A bad keyfob_saml_trusted_origins is reported before the password is asked for.
    keyfob_saml::SamlSource::check_plan(name, plan)?;
    let stored = store.get(&pw_key)?.map(Secret::new);
    let had_stored = stored.is_some();
    let password = match stored {
        Some(pw) if !args.password_stdin => pw,
        _ => read_password(args, name)?,
    };
    let source = source(Some(password.clone()))?;
    let spinner = crate::output::spinner("Signing in to the IdP…");
    let result = rt.block_on(source.login(Some(&mfa), picker));
    spinner.finish_and_clear();
    let used_stored = had_stored && !args.password_stdin;
    let login = result.map_err(|e| login_error(&e, name, used_stored.then_some(store), false))?;
    // Only a password that worked is kept.
    if !had_stored || args.password_stdin {
        store.put(&pw_key, password.expose())?;
    }
    finish(&source, &login)
}

/// A failed SAML login as one line with the command that fixes it. `stored` is the keychain
/// when the password sent was the stored one; `from_file` when the response was pasted.
fn login_error(
    e: &keyfob_saml::SamlError,
    name: &str,
    stored: Option<&keyfob_core::store::Keychain>,
    from_file: bool,
) -> keyfob_core::Report {
    use keyfob_saml::SamlError;
    // A rejected stored password is not kept to be sent again (IdPs lock accounts); the next
    // login asks for the new one.
    if let Some(store) = stored
        && keyfob_saml::forget_rejected_password(store, name, e)
    {
        return hinted(
            format!("the IdP rejected the stored password of profile {name}; keyfob forgot it"),
            format!("keyfob login --profile {name}"),
        );
    }
    match e {
        SamlError::RoleAmbiguous { .. } if from_file => hinted(
            e.to_string(),
            format!("keyfob login --profile {name} --role-arn ARN --saml-response-file FILE"),
        ),
        SamlError::RoleAmbiguous { .. } => hinted(
            e.to_string(),
            format!("keyfob login --profile {name} --role-arn ARN"),
        ),
        // These name what to do themselves (KEYFOB_BROWSER or the form login; another run).
        SamlError::Browser(BrowserError::NotFound { .. } | BrowserError::Interrupted) => {
            keyfob_core::Report::msg(e)
        }
        _ if e.needs_user() => hinted(e.to_string(), format!("keyfob login --profile {name}")),
        // The refusal names the origin and the key that would allow it: nothing to add.
        SamlError::Idp(idp) if idp.is_refusal() => keyfob_core::Report::msg(e),
        _ if from_file => keyfob_core::Report::msg(e),
        _ => hinted(
            e.to_string(),
            format!("keyfob login --profile {name} -vv for details"),
        ),
    }
}

/// After a pick from several roles, offers to make it the profile's role.
fn offer_to_save_role(app: &App, name: &str, role_arn: &str) -> crate::Result<()> {
    if !crate::prompt::confirm(&format!(
        "Save {role_arn} as this profile's role (keyfob_saml_role_arn)?"
    ))? {
        return Ok(());
    }
    let path = app.config_path();
    keyfob_core::editor::edit_file(&path, |doc| {
        doc.set(
            &keyfob_core::editor::SectionId::Profile(name.to_owned()),
            "keyfob_saml_role_arn",
            role_arn,
        );
        Ok::<(), std::convert::Infallible>(())
    })?
    .expect("infallible");
    Ok(())
}

fn read_password(args: &LoginArgs, name: &str) -> crate::Result<Secret> {
    if args.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_line(&mut s)
            .context("cannot read the password from stdin")?;
        let pw = s.trim_end_matches(['\r', '\n']);
        if pw.is_empty() {
            crate::bail!("no password on stdin; nothing was stored");
        }
        return Ok(Secret::new(pw));
    }
    if crate::prompt::interactive() {
        return Ok(Secret::new(crate::prompt::secret("IdP password: ")?));
    }
    Err(hinted(
        format!("profile {name} needs the IdP password and there is no terminal to ask"),
        format!("keyfob login --profile {name} --password-stdin"),
    ))
}

fn read_response_file(file: &str) -> crate::Result<Secret> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin())
            .context("cannot read the SAMLResponse from stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
    };
    // Browsers and terminals wrap long values; STS wants the base64 in one piece.
    let compact: String = text.split_ascii_whitespace().collect();
    Ok(Secret::new(compact))
}

fn store_credentials(
    app: &App,
    name: &str,
    fingerprint: &Fingerprint,
    creds: &keyfob_core::Credentials,
) -> crate::Result<()> {
    let cache_dir = app.cache_dir();
    let ctx = Context {
        store: app.store()?,
        clock: &app.clock,
        cache_dir: &cache_dir,
    };
    Ok(serve::store_login(&ctx, name, fingerprint, creds)?)
}
