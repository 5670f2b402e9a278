//! `keyfob whoami`: STS GetCallerIdentity with a profile's credentials (endpoint overridable
//! with `AWS_ENDPOINT_URL_STS` or the profile's `endpoint_url`, as for any SDK client).

use crate::app::App;
use crate::cli::WhoamiArgs;
use crate::sources::chain;
use crate::sources::resolve::{Interaction, sdk_error_line};
use keyfob_core::profile::select_profile;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &WhoamiArgs) -> anyhow::Result<ExitCode> {
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    let code = chain::mfa_code_from(args.mfa_code.clone());
    let creds =
        chain::credentials(app, &profiles, &name, &Interaction { mfa_code: &code })?.credentials;
    let region = chain::sts_region(app, &profiles, &name);
    let out = App::runtime()?.block_on(async {
        chain::sts_client(&name, &region, &creds)
            .await
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "STS GetCallerIdentity for profile {name} failed: {}",
                    sdk_error_line(&e)
                )
            })
    })?;
    let (account, arn, user_id) = (
        out.account().unwrap_or_default(),
        out.arn().unwrap_or_default(),
        out.user_id().unwrap_or_default(),
    );
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
