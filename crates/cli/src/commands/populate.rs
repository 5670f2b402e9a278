//! `keyfob populate`: one profile per account × role the SSO user can reach, written into
//! `~/.aws/config` without touching anything the user wrote.

use crate::app::App;
use crate::cli::{PopulateArgs, PopulateStyle};
use crate::output::say;
use keyfob_core::editor::{ConfigDocument, SectionId, edit_file};
use keyfob_sso::{ListOptions, PlanOptions, SsoSessionConfig, Style, apply_plan, plan};
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &PopulateArgs) -> crate::Result<ExitCode> {
    let profiles = app.profiles()?;
    let cfg = SsoSessionConfig::from_profiles(&profiles, &args.sso_session)?;
    if let Some(r) = &args.region
        && !keyfob_sso::session::looks_like_region(r)
    {
        crate::bail!("--region {r:?} is not an AWS region (like eu-west-1); nothing was written");
    }
    let style = match args.style {
        PopulateStyle::Process => Style::Process,
        PopulateStyle::Native => Style::Native,
    };
    let opts = PlanOptions {
        session: cfg.name.clone(),
        sso_region: cfg.region.clone(),
        region: args.region.clone(),
        template: args.name_template.clone(),
        lowercase: args.lower,
        style,
        keyfob_command: app.self_command()?,
    };
    // Check the template before any network call.
    plan(&[], &opts)?;

    let ctx = app.sso_ctx()?;
    let bar = crate::output::progress(0, "Listing accounts and roles");
    let mut on_progress = |p: keyfob_sso::Progress| {
        bar.set_length(p.accounts_total as u64);
        bar.set_position(p.accounts_done as u64);
    };
    let listed = App::runtime()?.block_on(keyfob_sso::list_accounts(
        &ctx,
        &cfg,
        &ListOptions::default(),
        &mut on_progress,
    ));
    bar.finish_and_clear();
    let accounts = listed?;
    let planned = plan(&accounts, &opts)?;
    let path = app.config_path();

    let apply = |doc: &mut ConfigDocument| {
        let summary = apply_plan(doc, &planned, args.prune);
        if style == Style::Native {
            // Native profiles read the AWS CLI's token cache: keep it written from now on.
            doc.set(
                &SectionId::SsoSession(cfg.name.clone()),
                "keyfob_write_sso_cache",
                "true",
            );
        }
        summary
    };

    let summary = if args.dry_run {
        let before = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(crate::report!("cannot read {}: {e}", path.display())),
        };
        let mut doc = ConfigDocument::parse(&before);
        let summary = apply(&mut doc);
        let after = doc.render();
        let shown = path.display().to_string();
        let diff = similar::TextDiff::from_lines(&before, &after)
            .unified_diff()
            .header(&shown, &shown)
            .to_string();
        if !diff.is_empty() {
            crate::output::data(&diff)?;
        }
        summary
    } else {
        edit_file(&path, |doc| Ok::<_, std::convert::Infallible>(apply(doc)))?.expect("infallible")
    };

    let verb = if args.dry_run { "would be" } else { "were" };
    say(&format!(
        "{} accounts, {} profiles: {} {verb} added, {} updated, {} unchanged, {} removed{}.",
        accounts.len(),
        planned.profiles.len(),
        summary.added.len(),
        summary.updated.len(),
        summary.unchanged.len(),
        summary.removed.len(),
        if summary.skipped.is_empty() {
            String::new()
        } else {
            format!(
                "; left alone because you wrote them yourself: {}",
                summary.skipped.join(", ")
            )
        }
    ));
    if style == Style::Native && !args.dry_run {
        say(&format!(
            "Native profiles read ~/.aws/sso/cache: run keyfob login --sso-session {} --write-sso-cache",
            cfg.name
        ));
    }
    Ok(ExitCode::SUCCESS)
}
