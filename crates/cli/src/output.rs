//! The only module that writes to the terminal: data on stdout, messages on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use keyfob_core::Report;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// A failure with the command that fixes it.
pub(crate) fn hinted(message: impl std::fmt::Display, hint: impl Into<String>) -> Report {
    Report::hinted(message, hint)
}

pub(crate) fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    // Our crates get the level asked for; the SDK and HTTP stack stop at debug even with
    // -vvv, because their trace output includes request and response bodies.
    let filter = match (quiet, verbose) {
        (true, _) => "error".to_owned(),
        // aws-config warns about things that are normal here (a missing credentials file).
        (false, 0) => {
            "error,keyfob=warn,keyfob_core=warn,keyfob_sso=warn,keyfob_saml=warn".to_owned()
        }
        (false, 1) => {
            "warn,keyfob=info,keyfob_core=info,keyfob_sso=info,keyfob_saml=info".to_owned()
        }
        (false, 2) => {
            "info,keyfob=debug,keyfob_core=debug,keyfob_sso=debug,keyfob_saml=debug".to_owned()
        }
        (false, _) => {
            "debug,keyfob=trace,keyfob_core=trace,keyfob_sso=trace,keyfob_saml=trace".to_owned()
        }
    };
    // The DevTools crate's trace and debug output holds whole protocol messages: pages,
    // cookies, the SAML response of a browser login. It is never shown.
    let filter = format!(
        "{filter},chromiumoxide=off,chromiumoxide_cdp=off,tungstenite=off,async_tungstenite=off"
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(verbose >= 2)
        .without_time()
        .try_init();
}

/// Prints the error on one line (with its hint) and returns its exit code. A closed pipe
/// (`keyfob export | head`) prints nothing and exits 0.
pub(crate) fn report_error(err: &Report) -> ExitCode {
    if err.exit_code() == 0 {
        return ExitCode::SUCCESS;
    }
    eprintln!("keyfob: error: {err}");
    ExitCode::from(err.exit_code())
}

/// Writes data to stdout (a broken pipe surfaces as an error that exits 0).
pub(crate) fn data(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// A message for the person at the terminal (stderr), unless --quiet.
pub(crate) fn say(text: &str) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("{text}");
    }
}

/// A warning (stderr), unless --quiet.
pub(crate) fn warn(text: &str) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("keyfob: warning: {text}");
    }
}

pub(crate) static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether stderr is a terminal (progress and prompts only then).
pub(crate) fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// A spinner on a terminal; nothing when piped.
pub(crate) fn spinner(message: &str) -> indicatif::ProgressBar {
    if !stderr_is_tty() || QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(message.to_owned());
    pb.enable_steady_tick(std::time::Duration::from_millis(100));
    pb
}

/// A progress bar on a terminal; nothing when piped.
pub(crate) fn progress(len: u64, message: &str) -> indicatif::ProgressBar {
    if !stderr_is_tty() || QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_message(message.to_owned());
    pb
}
