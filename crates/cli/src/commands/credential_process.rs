//! `keyfob credential-process`: the Version 1 JSON an SDK reads, for any profile the SDKs could
//! resolve (role chains included, each hop cached). Asks for an MFA code only when a person is
//! at the terminal. When the session behind the profile needs a sign-in and a person can be
//! reached, it signs in itself, once for all concurrent callers (`sources::auto_login`).

use crate::app::App;
use crate::cli::CredentialProcessArgs;
use crate::sources::{auto_login, resolve};
use keyfob_core::Clock as _;
use keyfob_core::profile::select_profile;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &CredentialProcessArgs) -> crate::Result<ExitCode> {
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    auto_login::check(&app.env, &profiles, &name)?;
    let started = app.clock.now();
    let code = crate::prompt::code_from(args.mfa_code.clone());
    let attempt = || resolve::credentials_noting(app, &profiles, &name, &code, true);
    let resolved =
        auto_login::sign_in_and_retry(app, &profiles, &name, started, attempt(), &attempt)?;
    tracing::debug!(profile = %name, origin = ?resolved.origin, "serving credentials");
    crate::output::data(&resolved.credentials.to_process_json())?;
    Ok(ExitCode::SUCCESS)
}
