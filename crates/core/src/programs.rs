//! keyfob is two programs in one directory: `keyfob`, the one people and SDKs run, which
//! answers a cached `credential-process` call itself ([`crate::hit`]) and hands every other
//! command to `keyfob-engine`, the whole of keyfob (SSO, SAML, the browser login, the server).
//! An SDK starts `credential_process` for every client it makes; the small program starts in
//! a fraction of the time the whole one takes, because its image is a tenth of the size.
//!
//! Both must recognise either program as keyfob (a `credential_process` line may name either),
//! and the one written into lines is `keyfob`.

use crate::env::Env;
use std::path::{Path, PathBuf};

/// The program people and SDKs run.
pub const FRONT: &str = "keyfob";
/// The whole of keyfob, which [`FRONT`] runs for everything but a cache hit.
pub const ENGINE: &str = "keyfob-engine";

/// `name` (with this platform's executable suffix) in the directory of the running program.
pub fn sibling(name: &str) -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    Some(
        me.parent()?
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX)),
    )
}

/// The program `credential_process` lines should name, resolved: [`FRONT`] next to this
/// program when this is the engine and the front is there, else this program.
pub fn public_exe() -> Option<PathBuf> {
    let me = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .ok()?;
    let is_engine = me
        .file_stem()
        .is_some_and(|stem| stem.eq_ignore_ascii_case(ENGINE));
    if is_engine
        && let Some(front) = sibling(FRONT).and_then(|f| std::fs::canonicalize(f).ok())
        && front.is_file()
    {
        return Some(front);
    }
    Some(me)
}

/// Whether `program` (the first word of a `credential_process` line) is keyfob: the program
/// `KEYFOB_COMMAND` names, or a path to this program, its front or its engine.
pub fn is_keyfob(env: &Env, program: &str) -> bool {
    if env
        .get_non_empty("KEYFOB_COMMAND")
        .is_some_and(|cmd| cmd == program)
    {
        return true;
    }
    let Ok(target) = std::fs::canonicalize(program) else {
        return false;
    };
    let me = std::env::current_exe().and_then(std::fs::canonicalize);
    me.is_ok_and(|me| me == target)
        || [FRONT, ENGINE]
            .iter()
            .filter_map(|name| sibling(name))
            .any(|p| same_file(&p, &target))
}

fn same_file(path: &Path, canonical: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|p| p == canonical)
}
