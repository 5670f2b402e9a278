//! keyfob: fresh, refreshable AWS credentials from IAM Identity Center or a SAML IdP, kept in
//! the OS keychain and served through `credential_process`.

mod app;
mod cli;
mod commands;
mod output;
mod prompt;
mod sources;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    output::init_logging(args.verbose, args.quiet);
    match commands::run(args) {
        Ok(code) => code,
        Err(err) => output::report_error(&err),
    }
}
