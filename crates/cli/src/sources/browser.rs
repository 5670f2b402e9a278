//! The CLI's side of a browser sign-in: opening the browser, showing the device code, and the
//! "waiting" spinner that follows them.

use crate::output::{say, warn};
use std::sync::{Arc, Mutex, PoisonError};

/// What the user reads when no browser could be opened. The launcher's own error (`Launcher
/// "xdg-open" … failed with ExitStatus(…)`) says nothing they can act on: it goes to the debug
/// log only.
pub(crate) const NO_BROWSER: &str =
    "no browser could be opened here, so open the URL above yourself";

/// The waiting message of a sign-in in the browser.
const WAITING: &str = "Waiting for the sign-in to be approved in the browser…";

/// Opens `url` with `$BROWSER` (a command, maybe with arguments: `firefox --new-window`) when
/// set, else with the desktop's opener, and returns without waiting for the browser (`keyfob
/// console`, which exits next). Only a launcher that cannot start, or that fails within the
/// desktop opener's short check, is an error.
pub(crate) fn open(env: &keyfob_core::Env, url: &str) -> std::io::Result<()> {
    match browser_command(env, url) {
        Some(mut cmd) => cmd.spawn().map(drop),
        None => open::that_detached(url),
    }
}

/// Why the browser redirect cannot reach this machine, if it cannot.
pub(crate) fn no_local_browser(env: &keyfob_core::Env) -> Option<&'static str> {
    if env.get_non_empty("BROWSER").is_some() {
        return None;
    }
    if env.get_non_empty("SSH_CONNECTION").is_some() || env.get_non_empty("SSH_TTY").is_some() {
        return Some("this is an SSH session");
    }
    if cfg!(target_os = "linux")
        && env.get_non_empty("DISPLAY").is_none()
        && env.get_non_empty("WAYLAND_DISPLAY").is_none()
    {
        return Some("there is no graphical display (DISPLAY/WAYLAND_DISPLAY unset)");
    }
    None
}

/// Opens `url` like [`open()`], but waits for the launcher to finish and fails if it did not
/// succeed: run on a thread of its own while a sign-in waits, so a launcher that fails late (or
/// never returns) is still told apart.
fn open_and_wait(env: &keyfob_core::Env, url: &str) -> std::io::Result<()> {
    match browser_command(env, url) {
        Some(mut cmd) => {
            let status = cmd.status()?;
            if status.success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "$BROWSER ({}) exited with {status}",
                    cmd.get_program().to_string_lossy()
                )))
            }
        }
        // The crate's own policy: each desktop launcher in turn, waiting for its exit.
        None => open::that(url),
    }
}

/// `$BROWSER URL` with no terminal I/O, or `None` when `$BROWSER` is not set.
fn browser_command(env: &keyfob_core::Env, url: &str) -> Option<std::process::Command> {
    let cmd = env.get_non_empty("BROWSER")?;
    let mut words = cmd.split_whitespace();
    let mut command = std::process::Command::new(words.next()?);
    command
        .args(words)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        // Not ours to show (and a browser that outlives keyfob must not lose its stderr).
        .stderr(std::process::Stdio::null());
    Some(command)
}

/// The "waiting" spinner, once it runs; shared with the thread that watches the browser, so
/// that its message is printed above the spinner, not through it.
#[derive(Clone, Default)]
struct Waiting(Arc<Mutex<Option<indicatif::ProgressBar>>>);

impl Waiting {
    /// Starts the spinner (once). The instructions it follows are already printed.
    fn start(&self) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(crate::output::spinner(WAITING));
        }
    }

    /// Prints a warning, above the spinner when one runs.
    fn warn(&self, text: &str) {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_ref() {
            Some(pb) => pb.suspend(|| warn(text)),
            None => warn(text),
        }
    }

    fn finish(&self) {
        if let Some(pb) = self.0.lock().unwrap_or_else(PoisonError::into_inner).take() {
            pb.finish_and_clear();
        }
    }
}

/// Opens URLs with `$BROWSER` when set, else the desktop's opener (the `open` crate), or only
/// prints them with `--no-browser`; then shows a spinner until [`CliLoginUi::finish`].
///
/// Order on the terminal: where to sign in (and the code), then the spinner; a browser that
/// cannot be opened adds one plain line above the spinner.
pub(crate) struct CliLoginUi<'a> {
    no_browser: bool,
    env: &'a keyfob_core::Env,
    waiting: Waiting,
}

impl<'a> CliLoginUi<'a> {
    pub(crate) fn new(env: &'a keyfob_core::Env, no_browser: bool) -> Self {
        Self {
            no_browser,
            env,
            waiting: Waiting::default(),
        }
    }

    /// Stops the spinner (the sign-in ended, either way).
    pub(crate) fn finish(&self) {
        self.waiting.finish();
    }

    fn open(&self, url: &str) {
        if self.no_browser {
            say(&format!("Open this URL in a browser to sign in:\n  {url}"));
            return;
        }
        say(&format!(
            "Opening the browser to sign in. If it does not open, visit:\n  {url}"
        ));
        // The launcher may block (a browser started in the foreground), and its failure may
        // come late: watch it on a thread while the sign-in goes on.
        let env = self.env.clone();
        let url = url.to_owned();
        let waiting = self.waiting.clone();
        std::thread::spawn(move || {
            if let Err(e) = open_and_wait(&env, &url) {
                tracing::debug!(error = %e, "opening a browser failed");
                waiting.warn(NO_BROWSER);
            }
        });
    }
}

impl Drop for CliLoginUi<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl keyfob_sso::LoginUi for CliLoginUi<'_> {
    fn show_device_code(&self, prompt: &keyfob_sso::DevicePrompt) {
        say(&format!(
            "Sign in at {} and enter the code {} (it expires in {} minutes).",
            prompt.verification_uri,
            prompt.user_code,
            prompt.expires_in.as_secs() / 60
        ));
        let url = prompt
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&prompt.verification_uri);
        self.open(url);
        self.waiting.start();
    }

    fn open_browser(&self, url: &str) {
        self.open(url);
        self.waiting.start();
    }
}
