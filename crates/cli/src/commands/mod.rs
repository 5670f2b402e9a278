//! One module per command.

mod add;
mod completions;
mod configure;
mod console;
mod credential_process;
mod eks_token;
mod exec;
mod export;
mod kubeconfig;
mod login;
mod logout;
mod populate;
mod remove;
mod serve;
mod status;
mod whoami;

use crate::app::App;
use crate::cli::{Cli, Command};
use std::process::ExitCode;

pub(crate) fn run(cli: Cli) -> crate::Result<ExitCode> {
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
        Command::Export(args) => export::run(&app, &args),
        Command::Exec(args) => exec::run(&app, &args),
        Command::Serve(args) => serve::run(&app, &args),
        Command::Console(args) => console::run(&app, &args),
        Command::Whoami(args) => whoami::run(&app, &args),
        Command::EksToken(args) => eks_token::run(&app, &args),
        Command::Kubeconfig(args) => kubeconfig::run(&app, &args),
        Command::Completions(args) => completions::run(&args),
        Command::Man => completions::man(),
        Command::CompleteProfiles => completions::profiles(&app),
    }
}
