//! `keyfob console`: an AWS console sign-in URL for a profile's credentials (see
//! `keyfob_core::console`), opened in the browser or printed. The URL signs anyone who has it
//! in: it goes to the browser or to stdout, never to a log.

use crate::app::App;
use crate::cli::ConsoleArgs;
use crate::output::{hinted, say, warn};
use crate::sources::resolve;
use keyfob_core::chain::{self, Base, ServedKind};
use keyfob_core::console;
use keyfob_core::engine::sts_region;
use keyfob_core::partition::Partition;
use keyfob_core::profile::select_profile;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &ConsoleArgs) -> crate::Result<ExitCode> {
    // Before anything is resolved or sent: the override must be a place fit for the keys.
    let endpoint_override = app
        .env
        .get_non_empty("KEYFOB_FEDERATION_ENDPOINT")
        .map(|e| console::federation_endpoint(&e))
        .transpose()?;
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    let resolved = resolve::credentials(app, &profiles, &name, args.mfa_code.clone())?;
    let creds = &resolved.credentials;
    let session_token_only = resolved.plan.hops.is_empty()
        && matches!(&resolved.plan.base, Base::Keyfob { served_as, .. }
            if ServedKind::of(&profiles, served_as) == Some(ServedKind::MfaSession));
    if creds.session_token.is_none() || session_token_only {
        return Err(hinted(
            format!(
                "console sign-in needs role credentials, and profile {name} gives {}",
                if session_token_only {
                    "an MFA session (GetSessionToken), which the federation endpoint refuses"
                } else {
                    "long-term IAM user keys"
                }
            ),
            format!(
                "add a role profile (role_arn = …, source_profile = {name}) and run keyfob console --profile with it"
            ),
        ));
    }
    let duration = match args.duration_seconds {
        Some(d) if chain::session_duration_allowed(&profiles, &resolved.plan) => Some(d),
        Some(_) => {
            warn(&format!(
                "--duration-seconds ignored: profile {name} is a chained role ({}), whose console sessions AWS limits to the role session",
                resolved.plan.describe()
            ));
            None
        }
        None => None,
    };
    let region = sts_region(&app.env, &profiles, &name);
    let partition = Partition::of_region(&region);
    let endpoint = endpoint_override.unwrap_or_else(|| console::default_endpoint(partition));
    let destination = args
        .destination
        .clone()
        .unwrap_or_else(|| console::default_destination(partition));
    let url = App::runtime()?.block_on(console::signin_url(
        &endpoint,
        &destination,
        creds,
        duration,
    ))?;
    if args.no_browser {
        crate::output::data(url.as_str())?;
        return Ok(ExitCode::SUCCESS);
    }
    match crate::sources::browser::open(&app.env, url.as_str()) {
        Ok(()) => say(&format!(
            "Opened the AWS console for profile {name} in the browser."
        )),
        Err(e) => {
            warn(&format!(
                "could not open a browser ({e}); the sign-in URL follows on stdout"
            ));
            crate::output::data(url.as_str())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
