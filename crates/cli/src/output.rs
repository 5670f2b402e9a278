//! The only module that writes to the terminal: data on stdout, messages on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// An error the user can act on: what went wrong and the command that fixes it.
#[derive(Debug)]
pub(crate) struct Hinted {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Builds an error with a hint.
pub(crate) fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.into(),
        hint: Some(hint.into()),
    })
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(verbose >= 2)
        .without_time()
        .try_init();
}

/// Prints the error on one line (with its hint) and picks the exit code.
pub(crate) fn report_error(err: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    let line = error_line(err);
    eprintln!("keyfob: error: {line}");
    // Input that can never work (a name the config cannot carry) is a usage error, like a bad
    // flag: 2. Everything else: 1.
    if err
        .chain()
        .any(<dyn std::error::Error>::is::<keyfob_core::profile::NameError>)
    {
        return ExitCode::from(2);
    }
    ExitCode::from(1)
}

/// An error on one line, with the command that fixes it (`…; run: CMD`).
pub(crate) fn error_line(err: &anyhow::Error) -> String {
    let line = format!("{err:#}").replace('\n', " ");
    match err.chain().find_map(hint_of) {
        Some(h) if !line.contains(&h) => format!("{line}; run: {h}"),
        _ => line,
    }
}

/// The command that fixes an error, wherever in the chain it was attached.
fn hint_of(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use keyfob_core::serve::ServeError;
    use keyfob_core::source::SourceError;
    if let Some(h) = e.downcast_ref::<Hinted>() {
        return h.hint.clone();
    }
    if let Some(s) = e.downcast_ref::<SourceError>() {
        return s.hint.clone();
    }
    // `ServeError::Source` is transparent: the SourceError is not a separate link of the chain.
    if let Some(ServeError::Source(s)) = e.downcast_ref::<ServeError>() {
        return s.hint.clone();
    }
    if let Some(e) = e.downcast_ref::<keyfob_core::engine::Error>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<keyfob_core::console::ConsoleError>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<keyfob_core::server::StartError>() {
        return e.hint();
    }
    if let Some(e) = e.downcast_ref::<keyfob_core::iam_user::KeysError>() {
        return e.hint();
    }
    None
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
