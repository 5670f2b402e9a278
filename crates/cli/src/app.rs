//! What every command shares: the environment, the clock, the keychain (opened on first use),
//! the shared config files and a small async runtime.

use keyfob_core::ResultExt as _;
use keyfob_core::credential_process_line::{self, Style};
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
    pub(crate) fn store(&self) -> crate::Result<&Keychain> {
        if let Some(s) = self.store.get() {
            return Ok(s);
        }
        let store = Keychain::open(&self.env)?;
        Ok(self.store.get_or_init(|| store))
    }

    pub(crate) fn profiles(&self) -> crate::Result<Profiles> {
        Ok(Profiles::load(&self.env)?)
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        keyfob_core::paths::cache_dir(&self.env)
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        keyfob_core::paths::config_file(&self.env)
    }

    /// A single-threaded runtime: cheap to build, and enough for one request at a time.
    pub(crate) fn runtime() -> crate::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
    }

    /// The `credential_process` line for `profile`, quoted the way this platform's SDKs split
    /// it (see [`keyfob_core::credential_process_line`]).
    pub(crate) fn credential_process_line(&self, profile: &str) -> crate::Result<String> {
        Ok(credential_process_line::write(
            &self.self_program()?,
            profile,
            Style::native(),
        ))
    }

    /// How a `credential_process` line names keyfob, quoted for this platform's SDKs.
    pub(crate) fn self_command(&self) -> crate::Result<String> {
        Ok(credential_process_line::quote(
            &self.self_program()?,
            Style::native(),
        ))
    }

    /// The program `credential_process` lines run: `KEYFOB_COMMAND` when it is set (a wrapper,
    /// a Nix store path…); `keyfob` when that name on PATH is this keyfob; else the absolute
    /// path of this keyfob's `keyfob` program (not its engine's: [`keyfob_core::programs`]),
    /// in the form Windows tools read (no `\\?\` prefix).
    pub(crate) fn self_program(&self) -> crate::Result<String> {
        if let Some(cmd) = self.env.get_non_empty("KEYFOB_COMMAND") {
            return self.check_command(cmd);
        }
        let Some(me) = keyfob_core::programs::public_exe() else {
            return Ok("keyfob".to_owned());
        };
        let name = format!("keyfob{}", std::env::consts::EXE_SUFFIX);
        let on_path = self.env.get("PATH").is_some_and(|path| {
            std::env::split_paths(&path)
                .any(|dir| std::fs::canonicalize(dir.join(&name)).is_ok_and(|p| p == me))
        });
        if on_path {
            return Ok("keyfob".to_owned());
        }
        let me = me.to_string_lossy();
        Ok(credential_process_line::without_verbatim_prefix(&me).into_owned())
    }

    /// `KEYFOB_COMMAND` must name one program the SDKs can start from any directory: an
    /// absolute path to a file, or a name found on PATH. Arguments do not belong in it (the
    /// whole value is quoted as one word); a wrapper script can add them.
    fn check_command(&self, cmd: String) -> crate::Result<String> {
        let path = std::path::Path::new(&cmd);
        let found = if path.is_absolute() {
            path.is_file()
        } else if path.components().count() == 1 {
            self.env.get("PATH").is_some_and(|dirs| {
                std::env::split_paths(&dirs).any(|dir| {
                    let candidate = dir.join(&cmd);
                    candidate.is_file()
                        || (cfg!(windows)
                            && candidate.extension().is_none()
                            && ["exe", "cmd", "bat", "com"]
                                .iter()
                                .any(|ext| candidate.with_extension(ext).is_file()))
                })
            })
        } else {
            false
        };
        if found {
            Ok(cmd)
        } else {
            Err(crate::report!(
                "KEYFOB_COMMAND={cmd:?} is neither an absolute path to a program nor a program on PATH; \
                 set it to the one program credential_process should run (keyfob, or a wrapper script that runs it), or unset it; nothing was written"
            ))
        }
    }

    /// What decides which profiles keyfob serves, with `is_keyfob` (usually
    /// [`App::is_self_command`]) telling keyfob's own `credential_process` lines apart.
    pub(crate) fn served<'a>(
        &'a self,
        is_keyfob: &'a dyn Fn(&str) -> bool,
        running_as: Option<&'a str>,
    ) -> keyfob_core::served::Served<'a> {
        keyfob_core::served::Served {
            env: &self.env,
            store: self
                .store()
                .map_err(
                    |e| tracing::debug!(error = %e, "no keychain; profiles left to aws-config"),
                )
                .ok()
                .map(|s| s as &dyn keyfob_core::SessionStore),
            is_keyfob,
            running_as,
        }
    }

    /// Whether `program` (the first word of a `credential_process` line) is keyfob: the
    /// program `KEYFOB_COMMAND` names, or a path to keyfob or its engine.
    pub(crate) fn is_self_command(&self, program: &str) -> bool {
        keyfob_core::programs::is_keyfob(&self.env, program)
    }
}

/// `word` as one word of a POSIX shell line, such as the `export …` lines `serve` prints for
/// `eval`.
pub(crate) fn quote(word: &str) -> String {
    credential_process_line::quote(word, Style::Posix)
}

/// The profile or a clear error naming the file that was read.
pub(crate) fn require_profile<'a>(
    profiles: &'a Profiles,
    name: &str,
) -> crate::Result<Profile<'a>> {
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
    pub(crate) fn sso_ctx(&self) -> crate::Result<keyfob_sso::SsoContext<'_>> {
        Ok(keyfob_sso::SsoContext {
            store: self.store()?,
            clock: &self.clock,
            env: &self.env,
        })
    }
}
