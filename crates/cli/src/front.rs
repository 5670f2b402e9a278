//! `keyfob`, the program people and SDKs run. A cached `keyfob credential-process` is
//! answered here, by the same engine code as always ([`keyfob_core::hit`]), in a program a
//! tenth of the size of the whole; every other command, and every request that is not a hit,
//! is handed to `keyfob-engine` next to it, with the same arguments, standard streams and
//! (on Unix) the same process. See [`keyfob_core::programs`].
#![allow(clippy::print_stderr)]

use keyfob_core::programs::{ENGINE, sibling};
use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(Request { profile }) = cached_request(&args)
        && let Some(json) =
            keyfob_core::hit::cached_process_json(&keyfob_core::Env::real(), profile)
    {
        let mut out = std::io::stdout().lock();
        return match out
            .write_all(json.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("keyfob: error: cannot write the credentials: {e}");
                ExitCode::FAILURE
            }
        };
    }
    run_engine(&args)
}

/// A request a cache hit may answer.
struct Request<'a> {
    /// The profile named, else the one the environment selects.
    profile: Option<&'a str>,
}

/// `keyfob credential-process [--profile P | --profile=P | -p P]` and nothing more. Any other
/// argument (a flag, `--mfa-code`, `--help`) is the engine's to read.
fn cached_request(args: &[OsString]) -> Option<Request<'_>> {
    let words: Vec<&str> = args
        .get(1..)?
        .iter()
        .map(|a| a.to_str())
        .collect::<Option<_>>()?;
    let profile = match words.as_slice() {
        ["credential-process"] => None,
        ["credential-process", "--profile" | "-p", p] => Some(named(p)?),
        ["credential-process", flag] => Some(flag.strip_prefix("--profile=").and_then(named)?),
        _ => return None,
    };
    Some(Request { profile })
}

/// A profile name, not a flag.
fn named(p: &str) -> Option<&str> {
    (!p.is_empty() && !p.starts_with('-')).then_some(p)
}

/// Runs `keyfob-engine` from this program's directory with these arguments: on Unix in this
/// very process (its pid, signals and terminal stay), elsewhere as a child whose exit code
/// becomes this program's.
fn run_engine(args: &[OsString]) -> ExitCode {
    let Some(engine) = sibling(ENGINE) else {
        return missing("cannot tell where this program is");
    };
    let mut cmd = std::process::Command::new(&engine);
    cmd.args(args.iter().skip(1));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        if let Some(arg0) = args.first() {
            cmd.arg0(arg0);
        }
        let e = cmd.exec();
        missing(&format!("{}: {e}", engine.display()))
    }
    #[cfg(not(unix))]
    {
        match cmd.status() {
            Ok(status) => std::process::exit(status.code().unwrap_or(1)),
            Err(e) => missing(&format!("{}: {e}", engine.display())),
        }
    }
}

fn missing(why: &str) -> ExitCode {
    eprintln!(
        "keyfob: error: cannot run {ENGINE}, which does everything but serve cached credentials ({why}); \
         reinstall keyfob so that {ENGINE} is next to keyfob"
    );
    ExitCode::FAILURE
}
