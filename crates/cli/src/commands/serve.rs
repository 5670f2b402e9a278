//! `keyfob serve`: a profile's credentials on 127.0.0.1 for containers and tools that only know
//! the container endpoint (or, with `--imds`, only instance metadata). Prints the variables to
//! hand to them on stdout, serves until Ctrl-C or SIGTERM. With `--token-file` the bearer token
//! goes into a 0600 file (removed on exit) instead of onto stdout.

use crate::app::App;
use crate::cli::ServeArgs;
use crate::output::{hinted, say};
use crate::sources::resolve;
use keyfob_core::engine::{profile_region, sts_region};
use keyfob_core::profile::{Profiles, select_profile};
use keyfob_core::server::{self, Mode, Running};
use keyfob_core::{Credentials, Secret};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &ServeArgs) -> crate::Result<ExitCode> {
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    let token_path = args
        .token_file
        .as_deref()
        .map(token_file_path)
        .transpose()?;
    // Resolve before listening: a profile that cannot be served fails here, in one line.
    let first = temporary(app, &profiles, &name, args.mfa_code.clone())?;
    let mode = if args.imds { Mode::Imds } else { Mode::Ecs };
    let running = start(&profiles, &name, args.port, mode, first, true)?;
    let url = running.url();
    // Dropped (and so removed) on every way out of this function.
    let token_file = token_path
        .map(|path| TokenFile::write(path, running.token()))
        .transpose()?;
    let exports = match (mode, &token_file) {
        (Mode::Ecs, None) => format!(
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI={url}\nexport AWS_CONTAINER_AUTHORIZATION_TOKEN={}\n",
            running.token().expose()
        ),
        (Mode::Ecs, Some(file)) => format!(
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI={url}\nexport AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}\n",
            crate::app::quote(&file.path.to_string_lossy())
        ),
        (Mode::Imds, _) => format!(
            "export AWS_EC2_METADATA_SERVICE_ENDPOINT={url}\nexport AWS_EC2_METADATA_DISABLED=false\n"
        ),
    };
    crate::output::data(&exports)?;
    say(&format!(
        "Serving profile {name} on {url} ({}); stop with Ctrl-C.",
        match mode {
            Mode::Ecs => "container credentials endpoint",
            Mode::Imds => "IMDSv2",
        }
    ));
    wait_for_stop()?;
    drop(token_file);
    drop(running);
    Ok(ExitCode::SUCCESS)
}

/// The absolute path `--token-file` names, refused before anything else happens when keyfob
/// would have to write through a symlink or over something that is not a regular file the user
/// may write.
fn token_file_path(path: &Path) -> crate::Result<PathBuf> {
    let path = std::path::absolute(path)
        .map_err(|e| crate::report!("--token-file {}: {e}", path.display()))?;
    let refuse = |why: &str| {
        hinted(
            format!("--token-file {}: {why}", path.display()),
            "give --token-file a new path, or the path of a regular file you may write",
        )
    };
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(refuse(
                "is a symlink; keyfob writes the token only into a regular file",
            ));
        }
        Ok(meta) if !meta.is_file() => return Err(refuse("exists and is not a regular file")),
        Ok(meta) if meta.permissions().readonly() => {
            return Err(refuse("is read-only; keyfob does not replace it"));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(refuse(&e.to_string())),
    }
    if path.file_name().is_none() {
        return Err(refuse("names no file"));
    }
    match path.parent().map(std::fs::metadata) {
        Some(Ok(meta)) if meta.is_dir() => Ok(path),
        _ => Err(refuse("its directory does not exist")),
    }
}

/// The bearer token in a file of its own (for `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`),
/// removed when dropped if it still holds this token.
struct TokenFile {
    path: PathBuf,
    token: Secret,
}

impl TokenFile {
    /// Writes `token` to a new 0600 file beside `path` and renames it over `path`: readers see
    /// the whole token or none, and a rename replaces a symlink put there meanwhile instead of
    /// writing through it.
    fn write(path: PathBuf, token: &Secret) -> crate::Result<TokenFile> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let suffix: u64 = rand::random();
        let temp = dir.join(format!(".{name}.{suffix:016x}.tmp"));
        let written = (|| -> std::io::Result<()> {
            let mut open = std::fs::OpenOptions::new();
            open.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                open.mode(0o600);
            }
            let mut file = open.open(&temp)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                // Explicitly, whatever the umask.
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            // No newline: the SDKs send the file's bytes as the header value.
            file.write_all(token.expose().as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(hinted(
                format!("cannot write the token file {}: {e}", path.display()),
                "give --token-file a path in a directory you may write",
            ));
        }
        Ok(TokenFile {
            path,
            token: token.clone(),
        })
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        // Only our own file: not one the user (or another keyfob) put there since.
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.is_file())
            && std::fs::read(&self.path)
                .is_ok_and(|bytes| server::same(&bytes, self.token.expose().as_bytes()));
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Starts the server for `name`, handing out `first` and then whatever a new resolution gives
/// once those enter the profile's refresh window. `prompt`: whether a refresh may ask for an
/// MFA code at the terminal (not while a child owns it).
pub(crate) fn start(
    profiles: &Profiles,
    name: &str,
    port: u16,
    mode: Mode,
    first: Credentials,
    prompt: bool,
) -> crate::Result<Running> {
    let opts = server::Options {
        port,
        mode,
        role_name: server::role_name_for(name),
        region: profile_region(profiles, name),
        policy: keyfob_core::engine::policy(profiles, name)?,
    };
    let name = name.to_owned();
    let running = server::start(opts, move || {
        let app = App::new();
        let mut first = Some(first);
        Box::new(move || {
            if let Some(c) = first.take() {
                return Ok(c);
            }
            let code = |question: &str| {
                (prompt && crate::prompt::interactive())
                    .then(|| crate::prompt::line(question).ok())
                    .flatten()
            };
            app.profiles()
                .and_then(|profiles| {
                    let creds = resolve::credentials_asking(&app, &profiles, &name, &code, false)?;
                    session_for(&app, &profiles, &name, creds.credentials)
                })
                .map_err(|e| e.to_string())
        })
    })?;
    if mode == Mode::Ecs {
        // What we hand out must be a URI the SDKs accept.
        server::container_uri(None, Some(&running.url()))?;
    }
    Ok(running)
}

/// Credentials fit to leave the process over a socket: temporary ones as resolved, and for
/// long-term keys a GetSessionToken session bought with them (the container and IMDS formats
/// need a token and an expiry, and long-term keys should not travel).
pub(crate) fn temporary(
    app: &App,
    profiles: &Profiles,
    name: &str,
    mfa_code: Option<String>,
) -> crate::Result<Credentials> {
    let creds = resolve::credentials(app, profiles, name, mfa_code)?.credentials;
    session_for(app, profiles, name, creds)
}

/// `creds` as they may travel: themselves when temporary, else a session bought with them.
fn session_for(
    app: &App,
    profiles: &Profiles,
    name: &str,
    creds: Credentials,
) -> crate::Result<Credentials> {
    if creds.session_token.is_some() {
        return Ok(creds);
    }
    let region = sts_region(&app.env, profiles, name);
    Ok(App::runtime()?.block_on(keyfob_core::sts::session_token(name, &region, &creds))?)
}

/// Blocks until Ctrl-C or SIGTERM.
fn wait_for_stop() -> crate::Result<()> {
    App::runtime()?.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        Ok(())
    })
}
