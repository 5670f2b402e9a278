//! keyfob: fresh, refreshable AWS credentials from IAM Identity Center or a SAML IdP, kept in
//! the OS keychain and served through `credential_process`.
//!
//! This is `keyfob-engine`, the whole of keyfob. People and SDKs run `keyfob` (`front.rs`),
//! which answers a cached `credential-process` itself and runs this program, with the same
//! arguments, for everything else (see `keyfob_core::programs`).

/// The CLI's errors: every library error converts into a [`keyfob_core::Report`] with `?`.
type Result<T> = std::result::Result<T, keyfob_core::Report>;

/// A failure described by a format string.
#[macro_export]
macro_rules! report {
    ($($arg:tt)*) => {
        keyfob_core::Report::msg(format!($($arg)*))
    };
}

/// Returns early with a failure described by a format string.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::report!($($arg)*))
    };
}

/// Returns early with a failure unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::bail!($($arg)*);
        }
    };
}

mod app;
mod cli;
mod commands;
#[cfg(test)]
mod help_snapshots;
mod output;
mod person;
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
