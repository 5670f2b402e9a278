//! What every command shares: the environment, the clock, the keychain (opened on first use),
//! the shared config files and a small async runtime.

use anyhow::Context as _;
use keyfob_core::profile::{Profile, Profiles};
use keyfob_core::store::Keychain;
use keyfob_core::{Env, SystemClock};
use std::cell::OnceCell;
use std::path::PathBuf;

pub(crate) struct App {
    pub(crate) env: Env,
    pub(crate) clock: SystemClock,
    store: OnceCell<Keychain>,
}

impl App {
    pub(crate) fn new() -> Self {
        Self {
            env: Env::real(),
            clock: SystemClock,
            store: OnceCell::new(),
        }
    }

    /// The keychain, opened once.
    pub(crate) fn store(&self) -> anyhow::Result<&Keychain> {
        if let Some(s) = self.store.get() {
            return Ok(s);
        }
        let store = Keychain::open(&self.env)?;
        Ok(self.store.get_or_init(|| store))
    }

    pub(crate) fn profiles(&self) -> anyhow::Result<Profiles> {
        Ok(Profiles::load(&self.env)?)
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        keyfob_core::paths::cache_dir(&self.env)
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        keyfob_core::paths::config_file(&self.env)
    }

    /// A single-threaded runtime: cheap to build, and enough for one request at a time.
    pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
    }

    /// The command line that `credential_process` should run for `profile`: `keyfob …` when
    /// `keyfob` on PATH is this binary, else this binary's absolute path.
    pub(crate) fn credential_process_line(&self, profile: &str) -> String {
        let exe = self.self_command();
        format!("{exe} credential-process --profile {}", quote(profile))
    }

    pub(crate) fn self_command(&self) -> String {
        if let Some(cmd) = self.env.get_non_empty("KEYFOB_COMMAND") {
            return cmd;
        }
        let Ok(me) = std::env::current_exe().and_then(std::fs::canonicalize) else {
            return "keyfob".to_owned();
        };
        let on_path = self.env.get("PATH").is_some_and(|path| {
            std::env::split_paths(&path)
                .any(|dir| std::fs::canonicalize(dir.join("keyfob")).is_ok_and(|p| p == me))
        });
        if on_path {
            "keyfob".to_owned()
        } else {
            quote(&me.to_string_lossy())
        }
    }
}

/// Quotes a word for a credential_process line (split like a shell line by the SDKs).
pub(crate) fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The profile or a clear error naming the file that was read.
pub(crate) fn require_profile<'a>(
    profiles: &'a Profiles,
    name: &str,
) -> anyhow::Result<Profile<'a>> {
    profiles.profile(name).ok_or_else(|| {
        crate::output::hinted(
            format!(
                "profile {name} not found in {} or {}",
                profiles.config_path.display(),
                profiles.credentials_path.display()
            ),
            "keyfob populate, keyfob configure or keyfob add to create it",
        )
    })
}

impl App {
    /// What the SSO crate needs for a network-facing call.
    pub(crate) fn sso_ctx(&self) -> anyhow::Result<keyfob_sso::SsoContext<'_>> {
        Ok(keyfob_sso::SsoContext {
            store: self.store()?,
            clock: &self.clock,
            env: &self.env,
        })
    }
}
