//! Snapshots of every command's `--help` (issue 9). The tree is walked from `Cli::command()`, so
//! a new command or subcommand gets its snapshot (and fails until someone accepts it) without an
//! edit here, and a removed one leaves a stale file that fails too. One file per command path in
//! `snapshots/help/`; `scripts/snapshots` regenerates them (CONTRIBUTING.md, "Snapshots").

use clap::CommandFactory;
use std::path::PathBuf;

/// The width help is rendered at. The binary wraps at the terminal's width, at most the same
/// 100 (`max_term_width`), so these are what a terminal of 100 columns or more shows.
const WIDTH: usize = 100;

/// Every visible command path, `keyfob` first: `[keyfob]`, `[keyfob, login]`,
/// `[keyfob, configure, saml]`…
fn paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    path.push(cmd.get_name().to_owned());
    out.push(path.clone());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        paths(sub, &path, out);
    }
}

/// What `keyfob PATH… --help` prints, the way the binary gets there (clap's help "error").
fn help(path: &[String]) -> String {
    let argv = path.iter().map(String::as_str).chain(["--help"]);
    let err = crate::cli::Cli::command()
        .term_width(WIDTH)
        .try_get_matches_from(argv)
        .expect_err("--help stops parsing");
    assert_eq!(
        err.kind(),
        clap::error::ErrorKind::DisplayHelp,
        "{path:?} --help: {err}"
    );
    err.render().to_string()
}

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/snapshots/help")
}

#[test]
fn snapshot_every_commands_help() {
    let mut all = Vec::new();
    paths(&crate::cli::Cli::command(), &[], &mut all);
    assert!(
        all.iter().any(|p| p.join(" ") == "keyfob configure saml"),
        "the walk reaches nested subcommands: {all:?}"
    );
    let names: Vec<String> = all.iter().map(|p| p.join("-")).collect();
    // Every mismatch is reported (and written as .snap.new) in one run, not only the first.
    let mut changed = Vec::new();
    for (path, name) in all.iter().zip(&names) {
        let text = help(path);
        let checked = std::panic::catch_unwind(|| {
            insta::with_settings!({
                snapshot_path => "snapshots/help",
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => format!("{} --help", path.join(" ")),
            }, {
                insta::assert_snapshot!(name.as_str(), text);
            });
        });
        if checked.is_err() {
            changed.push(name.as_str());
        }
    }
    let stale: Vec<PathBuf> = std::fs::read_dir(snapshot_dir())
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "snap")
                        && !p
                            .file_stem()
                            .and_then(|s| s.to_str())
                            .is_some_and(|s| names.iter().any(|n| n == s))
                })
                .collect()
        })
        .unwrap_or_default();
    let updating = std::env::var("INSTA_UPDATE").as_deref() == Ok("always");
    if updating {
        for p in &stale {
            std::fs::remove_file(p).unwrap_or_else(|e| panic!("remove {}: {e}", p.display()));
        }
    }
    assert!(
        changed.is_empty(),
        "--help differs from its snapshot for: {changed:?}; outside CI review the .snap.new \
         files (`cargo insta review`), or accept every change with scripts/snapshots"
    );
    assert!(
        updating || stale.is_empty(),
        "snapshots of commands that no longer exist: {stale:?}; delete them (scripts/snapshots does)"
    );
}
