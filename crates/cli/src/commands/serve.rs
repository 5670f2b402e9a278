//! `keyfob serve`: a profile's credentials on 127.0.0.1 for containers and tools that only know
//! the container endpoint (or, with `--imds`, only instance metadata). Prints the variables to
//! hand to them on stdout, serves until Ctrl-C or SIGTERM.

use crate::app::App;
use crate::cli::ServeArgs;
use crate::output::say;
use crate::server::{self, Mode, Running};
use crate::sources::chain;
use crate::sources::resolve::{self, Interaction, from_sts, sdk_error_line};
use keyfob_core::Credentials;
use keyfob_core::profile::{Profiles, select_profile};
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    // Resolve before listening: a profile that cannot be served fails here, in one line.
    let code = chain::mfa_code_from(args.mfa_code.clone());
    let first = temporary(app, &profiles, &name, &Interaction { mfa_code: &code })?;
    let mode = if args.imds { Mode::Imds } else { Mode::Ecs };
    let running = start(&profiles, &name, args.port, mode, first, true)?;
    let url = running.url();
    let exports = match mode {
        Mode::Ecs => format!(
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI={url}\nexport AWS_CONTAINER_AUTHORIZATION_TOKEN={}\n",
            running.token().expose()
        ),
        Mode::Imds => format!(
            "export AWS_EC2_METADATA_SERVICE_ENDPOINT={url}\nexport AWS_EC2_METADATA_DISABLED=false\n"
        ),
    };
    crate::output::data(&exports)?;
    say(&format!(
        "Serving profile {name} on {url} ({}); stop with Ctrl-C.",
        match mode {
            Mode::Ecs => "container credentials endpoint",
            Mode::Imds => "IMDSv2",
        }
    ));
    wait_for_stop()?;
    drop(running);
    Ok(ExitCode::SUCCESS)
}

/// Starts the server for `name`, handing out `first` and then whatever a new resolution gives
/// once those enter the profile's refresh window. `prompt`: whether a refresh may ask for an
/// MFA code at the terminal (not while a child owns it).
pub(crate) fn start(
    profiles: &Profiles,
    name: &str,
    port: u16,
    mode: Mode,
    first: Credentials,
    prompt: bool,
) -> anyhow::Result<Running> {
    let opts = server::Options {
        port,
        mode,
        role_name: server::role_name_for(name),
        region: chain::profile_region(profiles, name),
        policy: resolve::policy(profiles, name)?,
    };
    let name = name.to_owned();
    let running = server::start(opts, move || {
        let app = App::new();
        let mut first = Some(first);
        Box::new(move || {
            if let Some(c) = first.take() {
                return Ok(c);
            }
            let profiles = app.profiles()?;
            let code = move || {
                (prompt && crate::prompt::interactive())
                    .then(|| crate::prompt::line("MFA code: ").ok())
                    .flatten()
            };
            temporary(&app, &profiles, &name, &Interaction { mfa_code: &code })
        })
    })?;
    if mode == Mode::Ecs {
        // What we hand out must be a URI the SDKs accept.
        server::container_uri(None, Some(&running.url()))?;
    }
    Ok(running)
}

/// Credentials fit to leave the process over a socket: temporary ones as resolved, and for
/// long-term keys a GetSessionToken session bought with them (the container and IMDS formats
/// need a token and an expiry, and long-term keys should not travel).
pub(crate) fn temporary(
    app: &App,
    profiles: &Profiles,
    name: &str,
    ui: &Interaction<'_>,
) -> anyhow::Result<Credentials> {
    let creds = chain::credentials(app, profiles, name, ui)?.credentials;
    if creds.session_token.is_some() {
        return Ok(creds);
    }
    let region = chain::sts_region(app, profiles, name);
    App::runtime()?.block_on(async {
        let out = chain::sts_client(name, &region, &creds)
            .await
            .get_session_token()
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "STS GetSessionToken with the long-term keys of profile {name} failed: {}",
                    sdk_error_line(&e)
                )
            })?;
        let c = out
            .credentials()
            .ok_or_else(|| anyhow::anyhow!("STS GetSessionToken returned no credentials"))?;
        Ok(from_sts(c)?)
    })
}

/// Blocks until Ctrl-C or SIGTERM.
fn wait_for_stop() -> anyhow::Result<()> {
    App::runtime()?.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        Ok(())
    })
}
