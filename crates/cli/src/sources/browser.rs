//! The CLI's side of a browser sign-in: opening the browser, showing the device code.

use crate::output::say;

/// Opens `url` with `$BROWSER` (a command, maybe with arguments: `firefox --new-window`) when
/// set, else with the desktop's opener.
pub(crate) fn open(env: &keyfob_core::Env, url: &str) -> std::io::Result<()> {
    match env.get_non_empty("BROWSER") {
        Some(cmd) => {
            let mut words = cmd.split_whitespace();
            let Some(prog) = words.next() else {
                return Ok(());
            };
            std::process::Command::new(prog)
                .args(words)
                .arg(url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .spawn()
                .map(drop)
        }
        None => open::that_detached(url),
    }
}

/// Opens URLs with `$BROWSER` when set, else the desktop's opener (the `open` crate), or only
/// prints them with `--no-browser`.
pub(crate) struct CliLoginUi<'a> {
    pub(crate) no_browser: bool,
    pub(crate) env: &'a keyfob_core::Env,
}

impl CliLoginUi<'_> {
    fn open(&self, url: &str) {
        if self.no_browser {
            say(&format!("Open this URL in a browser to sign in:\n  {url}"));
            return;
        }
        say(&format!(
            "Opening the browser to sign in. If it does not open, visit:\n  {url}"
        ));
        let result = open(self.env, url);
        if let Err(e) = result {
            crate::output::warn(&format!(
                "could not open a browser ({e}); open the URL above yourself"
            ));
        }
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
    }

    fn open_browser(&self, url: &str) {
        self.open(url);
    }
}
