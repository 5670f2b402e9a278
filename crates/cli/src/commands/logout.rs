//! `keyfob logout`: sign out of SSO sessions and forget their tokens and mirror files.

use crate::app::App;
use crate::cli::LogoutArgs;
use crate::output::{say, warn};
use keyfob_core::profile::{Plan, Profiles};
use keyfob_core::store::{SessionStore, keys};
use keyfob_sso::SsoSessionConfig;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &LogoutArgs) -> crate::Result<ExitCode> {
    let profiles = app.profiles()?;
    let names: Vec<String> = if args.all {
        // Every session keyfob holds a token or registration for, and that is still configured.
        let mut v: Vec<String> = app
            .store()?
            .list()?
            .iter()
            .filter_map(|k| match keys::split(k) {
                ("sso-token" | "sso-client", name) => Some(name.to_owned()),
                _ => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    } else if let Some(s) = &args.sso_session {
        vec![s.clone()]
    } else {
        crate::bail!("name the session with --sso-session NAME, or use --all");
    };
    let ctx = app.sso_ctx()?;
    let rt = App::runtime()?;
    for name in &names {
        let cfg = match SsoSessionConfig::from_profiles(&profiles, name) {
            Ok(cfg) => cfg,
            Err(e) if args.all => {
                // No longer configured: forget what is stored locally anyway.
                let store = app.store()?;
                store.delete(&keys::sso_token(name))?;
                store.delete(&keys::sso_client(name))?;
                warn(&format!("{e}; forgot its stored token"));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let summary = rt.block_on(keyfob_sso::logout(&ctx, &cfg))?;
        // Role credentials fetched with the session go too, as `aws sso logout` removes them:
        // signed out means no profile of the session keeps working from the cache.
        let creds_deleted = forget_role_credentials(app, &profiles, &cfg)?;
        if let Some(e) = &summary.remote_error {
            warn(&format!(
                "could not sign out at the server ({e}); the local token is gone"
            ));
        }
        say(&format!(
            "Signed out of SSO session {name}: {} keychain entries deleted{}{}.",
            summary.keychain_entries_deleted + creds_deleted,
            if summary.signed_out_remotely {
                ", session ended at the server"
            } else {
                ""
            },
            if summary.cache_file_removed {
                ", ~/.aws/sso/cache file removed"
            } else {
                ""
            },
        ));
    }
    if names.is_empty() {
        say("No SSO sessions to sign out of.");
    }
    Ok(ExitCode::SUCCESS)
}

/// Deletes the cached role credentials of every profile served through `cfg`; how many there
/// were.
fn forget_role_credentials(
    app: &App,
    profiles: &Profiles,
    cfg: &SsoSessionConfig,
) -> crate::Result<usize> {
    let store = app.store()?;
    let stored = store.list()?;
    let mut deleted = 0;
    for name in profiles.profile_names() {
        let Some(Ok(Some(Plan::Sso {
            session, legacy, ..
        }))) = profiles.profile(&name).map(|p| p.plan())
        else {
            continue;
        };
        let ours = match (&session, &legacy) {
            (Some(s), _) => !cfg.is_legacy() && *s == cfg.name,
            (None, Some((url, _))) => cfg.is_legacy() && *url == cfg.start_url,
            (None, None) => false,
        };
        if !ours {
            continue;
        }
        if store.delete(&keys::credentials(&name))? {
            deleted += 1;
        }
        // EKS tokens signed with them too: they would work for up to 15 minutes more.
        for key in &stored {
            if keys::is_eks_token_of(key, &name) && store.delete(key)? {
                deleted += 1;
            }
        }
    }
    Ok(deleted)
}
