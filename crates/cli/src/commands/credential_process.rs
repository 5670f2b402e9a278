//! `keyfob credential-process`: the Version 1 JSON an SDK reads, for any profile the SDKs could
//! resolve (role chains included, each hop cached). Never opens a browser; asks for an MFA code
//! only when a person is at the terminal.

use crate::app::App;
use crate::cli::CredentialProcessArgs;
use crate::sources::resolve;
use keyfob_core::profile::select_profile;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &CredentialProcessArgs) -> crate::Result<ExitCode> {
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    let code = crate::prompt::code_from(args.mfa_code.clone());
    let resolved = resolve::credentials_asking(app, &profiles, &name, &code, true)?;
    tracing::debug!(profile = %name, origin = ?resolved.origin, "serving credentials");
    crate::output::data(&resolved.credentials.to_process_json())?;
    Ok(ExitCode::SUCCESS)
}
