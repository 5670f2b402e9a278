//! `keyfob remove`: forget a profile's keys, credentials, password and EKS tokens.

use crate::app::App;
use crate::cli::RemoveArgs;
use keyfob_core::store::{SessionStore, keys};
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &RemoveArgs) -> crate::Result<ExitCode> {
    let store = app.store()?;
    let name = &args.profile;
    let mut removed = Vec::new();
    for (key, what) in [
        (keys::credentials(name), "cached credentials"),
        (keys::iam_user(name), "IAM user keys"),
        (keys::saml_password(name), "SAML password"),
    ] {
        if store.delete(&key)? {
            removed.push(what);
        }
    }
    let mut tokens = 0;
    for key in store.list()? {
        if keys::is_eks_token_of(&key, name) && store.delete(&key)? {
            tokens += 1;
        }
    }
    if tokens > 0 {
        removed.push("EKS tokens");
    }
    if removed.is_empty() {
        return Err(crate::output::hinted(
            format!("keyfob holds nothing for profile {name}"),
            "keyfob status",
        ));
    }
    crate::output::say(&format!(
        "Removed for profile {name}: {}.",
        removed.join(", ")
    ));
    Ok(ExitCode::SUCCESS)
}
