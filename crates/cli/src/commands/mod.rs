//! One module per command.

mod add;
mod configure;
mod credential_process;
mod login;
mod logout;
mod populate;
mod remove;
mod status;

use crate::app::App;
use crate::cli::{Cli, Command};
use std::process::ExitCode;

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    crate::output::QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    let app = App::new();
    match cli.command {
        Command::CredentialProcess(args) => credential_process::run(&app, &args),
        Command::Add(args) => add::run(&app, &args),
        Command::Login(args) => login::run(&app, &args),
        Command::Status(args) => status::run(&app, &args),
        Command::Remove(args) => remove::run(&app, &args),
        Command::Configure(cmd) => configure::run(&app, cmd),
        Command::Populate(args) => populate::run(&app, &args),
        Command::Logout(args) => logout::run(&app, &args),
    }
}
