//! `keyfob eks-token`: kubectl's exec credential for an EKS cluster, as `aws eks get-token`
//! prints it, served from the keychain while it lasts (see `keyfob_core::eks`). kubectl runs
//! this on every call: a cache hit reads the config files and one keychain entry, and builds
//! no SDK or HTTP client.

use crate::app::{App, require_profile};
use crate::cli::{EksApiVersion, EksTokenArgs};
use crate::sources::resolve;
use keyfob_core::Credentials;
use keyfob_core::eks::{self, ApiVersion, Target, TokenRequest};
use keyfob_core::profile::{Profile, Profiles, select_profile};
use keyfob_core::serve::Context;
use keyfob_core::source::SourceError;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &EksTokenArgs) -> crate::Result<ExitCode> {
    eks::validate_cluster(&args.cluster)?;
    if let Some(arn) = &args.role_arn {
        eks::validate_role_arn(arn)?;
    }
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    let profile = require_profile(&profiles, &name)?;
    let region = eks::region(args.region.as_deref(), &app.env, Some(&profile));
    if let Some(r) = &region {
        eks::validate_region(r)?;
    }
    let api = match args.api_version {
        Some(EksApiVersion::V1) => ApiVersion::V1,
        Some(EksApiVersion::V1beta1) => ApiVersion::V1Beta1,
        None => app
            .env
            .get_non_empty("KUBERNETES_EXEC_INFO")
            .and_then(|info| ApiVersion::from_exec_info(&info))
            .unwrap_or(ApiVersion::V1Beta1),
    };
    let store = app.store()?;
    let is_keyfob = |program: &str| app.is_self_command(program);
    let served = app.served(&is_keyfob, None);
    let served_as = |p: &Profile<'_>| served.as_which(p);
    let request = TokenRequest {
        profile: &name,
        target: Target {
            cluster: args.cluster.clone(),
            region,
            endpoint_url: eks::endpoint_override(&app.env, Some(&profile)),
        },
        role_arn: args.role_arn.as_deref(),
        configuration: eks::configuration(&profiles, &name, &app.env, store, &served_as)?,
    };
    let cache_dir = app.cache_dir();
    let ctx = Context {
        store,
        clock: &app.clock,
        cache_dir: &cache_dir,
    };
    let (token, _origin) = eks::token(&ctx, &request, || {
        profile_credentials(app, &profiles, &name)
    })?;
    crate::output::data(&token.exec_credential(api))?;
    Ok(ExitCode::SUCCESS)
}

/// The credentials of any profile, as `export` and `whoami` get them: the one place this
/// command turns a profile into credentials (called only when no cached token fits).
fn profile_credentials(
    app: &App,
    profiles: &Profiles,
    name: &str,
) -> Result<Credentials, SourceError> {
    // kubectl runs plugins without a terminal (interactiveMode Never): a prompt only when a
    // person runs this by hand.
    resolve::credentials(app, profiles, name, None)
        .map(|r| r.credentials)
        .map_err(|e| SourceError::other(e.to_string()))
}
