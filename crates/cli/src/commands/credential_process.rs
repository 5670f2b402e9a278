//! `keyfob credential-process`: the Version 1 JSON an SDK reads. Never opens a browser; asks
//! for an MFA code only when a person is at the terminal.

use crate::app::App;
use crate::cli::CredentialProcessArgs;
use crate::sources::resolve::{self, Interaction};
use keyfob_core::profile::select_profile;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &CredentialProcessArgs) -> anyhow::Result<ExitCode> {
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    let code = crate::prompt::code_from(args.mfa_code.clone(), "MFA code: ");
    let ui = Interaction { mfa_code: &code };
    let (creds, origin) = resolve::credentials(app, &profiles, &name, &ui)?;
    tracing::debug!(profile = %name, ?origin, "serving credentials");
    crate::output::data(&creds.to_process_json())?;
    Ok(ExitCode::SUCCESS)
}
