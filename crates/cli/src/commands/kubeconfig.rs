//! `keyfob kubeconfig`: the kubeconfig user that runs `keyfob eks-token`, shown or written
//! (see `keyfob_core::kubeconfig` for what an edit keeps and how it locks).

use crate::app::App;
use crate::cli::KubeconfigArgs;
use crate::output::say;
use keyfob_core::eks;
use keyfob_core::kubeconfig::{self, ExecUser, Written};
use keyfob_core::profile::{NameKind, validate_name};
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &KubeconfigArgs) -> crate::Result<ExitCode> {
    validate_name(NameKind::Profile, &args.profile)?;
    eks::validate_cluster(&args.cluster)?;
    if let Some(r) = &args.region {
        eks::validate_region(r)?;
    }
    if let Some(arn) = &args.role_arn {
        eks::validate_role_arn(arn)?;
    }
    let mut cmd_args: Vec<String> = [
        "eks-token",
        "--cluster",
        &args.cluster,
        "--profile",
        &args.profile,
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(r) = &args.region {
        cmd_args.extend(["--region".to_owned(), r.clone()]);
    }
    if let Some(arn) = &args.role_arn {
        cmd_args.extend(["--role-arn".to_owned(), arn.clone()]);
    }
    let user = ExecUser {
        name: format!("{}@{}", args.profile, args.cluster),
        command: program(app)?,
        args: cmd_args,
    };
    if app
        .profiles()
        .is_ok_and(|p| p.profile(&args.profile).is_none())
    {
        crate::output::warn(&format!(
            "profile {} is not in {} yet: keyfob eks-token fails until it is (keyfob populate, configure or add makes it)",
            args.profile,
            app.config_path().display()
        ));
    }
    if !args.write {
        crate::output::data(&user.to_yaml())?;
        say("Add this under users: in your kubeconfig, or run the command again with --write.");
        return Ok(ExitCode::SUCCESS);
    }
    let path = match &args.kubeconfig {
        Some(p) => p.clone(),
        None => kubeconfig::default_path(&app.env).ok_or_else(|| {
            crate::output::hinted(
                "no kubeconfig to write: neither KUBECONFIG nor HOME is set",
                "the same command with --kubeconfig PATH",
            )
        })?,
    };
    let written = kubeconfig::write_user(&path, &user, keyfob_core::lock::EDIT_WAIT)?;
    let what = match written {
        Written::Added => "Added user",
        Written::Replaced => "Replaced user",
        Written::Created => "Created the kubeconfig with user",
    };
    say(&format!(
        "{what} {} to {}. Point a context at it: kubectl config set-context NAME --cluster CLUSTER --user {}",
        user.name,
        path.display(),
        user.name
    ));
    Ok(ExitCode::SUCCESS)
}

/// The program kubectl runs: the one `credential_process` lines start with (`KEYFOB_COMMAND`,
/// `keyfob` when that is this binary on PATH, else this binary's absolute path), unquoted:
/// exec.command is one argument, not a shell line.
fn program(app: &App) -> crate::Result<String> {
    app.self_program()
}
