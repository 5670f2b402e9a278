//! `keyfob whoami`: STS GetCallerIdentity with a profile's credentials (endpoint overridable
//! with `AWS_ENDPOINT_URL_STS` or the profile's `endpoint_url`, as for any SDK client).

use crate::app::App;
use crate::cli::WhoamiArgs;
use crate::sources::resolve;
use keyfob_core::engine::sts_region;
use keyfob_core::profile::select_profile;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &WhoamiArgs) -> crate::Result<ExitCode> {
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    let creds = resolve::credentials(app, &profiles, &name, args.mfa_code.clone())?.credentials;
    let region = sts_region(&app.env, &profiles, &name);
    let id = App::runtime()?.block_on(keyfob_core::sts::caller_identity(&name, &region, &creds))?;
    let (account, arn, user_id) = (id.account, id.arn, id.user_id);
    let text = if args.json {
        serde_json::to_string_pretty(&serde_json::json!({
            "UserId": user_id,
            "Account": account,
            "Arn": arn,
        }))?
    } else {
        format!("Account: {account}\nArn:     {arn}\nUserId:  {user_id}\n")
    };
    crate::output::data(&text)?;
    Ok(ExitCode::SUCCESS)
}
