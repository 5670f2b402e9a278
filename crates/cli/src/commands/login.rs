//! `keyfob login`: sign in to whatever a profile or sso-session needs.

use crate::app::{App, require_profile};
use crate::cli::LoginArgs;
use crate::sources::iam_user::{MfaSession, load_keys};
use keyfob_core::profile::{Plan, select_profile};
use keyfob_core::serve::{self, Context};
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    let profile = require_profile(&profiles, &name)?;
    match profile.plan()? {
        Plan::IamUser {
            mfa_serial: Some(serial),
            duration_seconds,
        } => {
            let store = app.store()?;
            let flag = args.mfa_code.clone();
            let code = move || {
                flag.clone().or_else(|| {
                    crate::prompt::interactive()
                        .then(|| {
                            crate::prompt::line(&format!(
                                "MFA code for {serial_hint}: ",
                                serial_hint = "your device"
                            ))
                            .ok()
                        })
                        .flatten()
                })
            };
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
                code: &code,
            };
            let rt = App::runtime()?;
            let creds = rt.block_on(serve::refresh_now(&ctx, &name, &source))?;
            let until = creds
                .expiration
                .map(keyfob_core::credentials::rfc3339)
                .unwrap_or_default();
            crate::output::say(&format!(
                "MFA session for profile {name} valid until {until}."
            ));
            Ok(ExitCode::SUCCESS)
        }
        Plan::IamUser {
            mfa_serial: None, ..
        } => Err(crate::output::hinted(
            format!("profile {name} uses long-term keys; there is nothing to sign in to"),
            format!("keyfob credential-process --profile {name}"),
        )),
        other => Err(anyhow::anyhow!(
            "profile {name}: login for {other:?} is not wired yet"
        )),
    }
}
