//! `keyfob exec`: run one command with a profile's credentials and region in its environment.
//!
//! Without `--serve`, on Unix keyfob *replaces itself* with the command (`execvp`): the command
//! gets the terminal, every signal and its own exit status exactly as if started directly, and
//! no keyfob process stays behind holding credentials. With `--serve` (and on Windows) keyfob
//! must stay: it starts the credential server, spawns the command in keyfob's own process group
//! (so a Ctrl-C at the terminal reaches the command directly), waits, and exits with the
//! command's code (128+N when it died of signal N). SIGTERM, SIGHUP and SIGQUIT sent to
//! keyfob are forwarded to the command; SIGINT is forwarded only when stdin is not a terminal,
//! because at a terminal the command has already received it from the keyboard and a second
//! one makes tools like terraform abort without cleaning up.

use crate::app::App;
use crate::cli::ExecArgs;
use crate::output::hinted;
use crate::sources::resolve;
use keyfob_core::engine::profile_region;
use keyfob_core::profile::select_profile;
use keyfob_core::server::Mode;
use std::ffi::OsStr;
use std::process::{Command, ExitCode};

/// Variables that would compete with the ones exec sets.
const CLEARED: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
];

pub(crate) fn run(app: &App, args: &ExecArgs) -> crate::Result<ExitCode> {
    let name = select_profile(args.profile.as_deref(), &app.env);
    if let Some(outer) = app.env.get_non_empty("KEYFOB_PROFILE")
        && outer != name
        && !args.allow_nested
    {
        return Err(hinted(
            format!(
                "already inside keyfob exec for profile {outer}; refusing to run profile {name} inside it"
            ),
            format!(
                "exit the outer shell first, or keyfob exec --allow-nested --profile {name} -- …"
            ),
        ));
    }
    let profiles = app.profiles()?;
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| crate::report!("no command given after --"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest);
    for var in CLEARED {
        cmd.env_remove(var);
    }
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_CONTAINER_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("KEYFOB_PROFILE", &name);
    if let Some(region) = profile_region(&profiles, &name) {
        cmd.env("AWS_REGION", &region)
            .env("AWS_DEFAULT_REGION", &region);
    }

    if args.serve {
        let first = super::serve::temporary(app, &profiles, &name, args.mfa_code.clone())?;
        let server = super::serve::start(&profiles, &name, 0, Mode::Ecs, first, false)?;
        cmd.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url())
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", server.token().expose());
        let status = wait_for(cmd, program);
        drop(server);
        return status;
    }

    let creds = resolve::credentials(app, &profiles, &name, args.mfa_code.clone())?.credentials;
    cmd.env("AWS_ACCESS_KEY_ID", &creds.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key.expose());
    if let Some(token) = &creds.session_token {
        cmd.env("AWS_SESSION_TOKEN", token.expose());
    }
    if let Some(exp) = creds.expiration {
        cmd.env(
            "AWS_CREDENTIAL_EXPIRATION",
            keyfob_core::credentials::rfc3339(exp),
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // Only returns on failure.
        let err = cmd.exec();
        Ok(cannot_run(program, &err))
    }
    #[cfg(not(unix))]
    wait_for(cmd, program)
}

/// Reports a command that could not start, with the shell's exit codes (127 not found, 126
/// not executable).
fn cannot_run(program: &OsStr, err: &std::io::Error) -> ExitCode {
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    let e = hinted(
        format!("cannot run {}: {err}", program.to_string_lossy()),
        "check the command name and PATH",
    );
    let _ = crate::output::report_error(&e);
    ExitCode::from(code)
}

/// Spawns the command, forwards signals, and returns its exit code.
fn wait_for(cmd: Command, program: &OsStr) -> crate::Result<ExitCode> {
    App::runtime()?.block_on(async move {
        let mut child = match tokio::process::Command::from(cmd).spawn() {
            Ok(c) => c,
            Err(e) => return Ok(cannot_run(program, &e)),
        };
        #[cfg(unix)]
        {
            use std::io::IsTerminal as _;
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate())?;
            let mut hup = signal(SignalKind::hangup())?;
            let mut quit = signal(SignalKind::quit())?;
            let mut int = signal(SignalKind::interrupt())?;
            let forward_int = !std::io::stdin().is_terminal();
            let forward = |child: &tokio::process::Child, sig: rustix::process::Signal| {
                if let Some(pid) = child
                    .id()
                    .and_then(|id| i32::try_from(id).ok())
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process(pid, sig);
                }
            };
            loop {
                tokio::select! {
                    status = child.wait() => return Ok(exit_code(status?)),
                    _ = term.recv() => forward(&child, rustix::process::Signal::TERM),
                    _ = hup.recv() => forward(&child, rustix::process::Signal::HUP),
                    _ = quit.recv() => forward(&child, rustix::process::Signal::QUIT),
                    _ = int.recv() => if forward_int {
                        forward(&child, rustix::process::Signal::INT);
                    },
                }
            }
        }
        #[cfg(not(unix))]
        {
            let status = child.wait().await?;
            Ok(exit_code(status))
        }
    })
}

/// The child's exit code; 128+N for death by signal N, as shells report it.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(sig) = status.signal() {
            return ExitCode::from(u8::try_from(128 + sig).unwrap_or(255));
        }
    }
    ExitCode::from(1)
}
