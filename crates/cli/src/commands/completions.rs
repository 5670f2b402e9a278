//! `keyfob completions SHELL`, `keyfob man`, and the hidden `keyfob __complete-profiles` that
//! the bash, zsh and fish scripts call to complete `--profile` with the config's profile names.
//!
//! clap_complete's dynamic completion is still behind an unstable feature, so the generated
//! static scripts are amended instead: each shell's `--profile` value completion calls
//! `keyfob __complete-profiles` (PowerShell and elvish get clap's scripts unchanged).

use crate::app::App;
use crate::cli::{Cli, CompletionsArgs};
use clap::CommandFactory as _;
use clap_complete::Shell;
use std::fmt::Write as _;
use std::process::ExitCode;

pub(crate) fn run(args: &CompletionsArgs) -> crate::Result<ExitCode> {
    crate::output::data(&script(args.shell))?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn man() -> crate::Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    crate::output::data(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}

/// The profile names, one a line; nothing (and success) when the config cannot be read, so a
/// broken file never spoils a shell prompt.
pub(crate) fn profiles(app: &App) -> crate::Result<ExitCode> {
    if let Ok(profiles) = app.profiles() {
        let names = profiles.profile_names();
        if !names.is_empty() {
            crate::output::data(&names.join("\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

const LIST: &str = "keyfob __complete-profiles 2>/dev/null";

fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "keyfob", &mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Bash => bash(&text),
        Shell::Zsh => zsh(&text),
        Shell::Fish => fish(&text),
        _ => text,
    }
}

/// Wraps clap's `_keyfob` so that the word after `--profile`/`-p` completes from the config.
fn bash(generated: &str) -> String {
    // clap's own registration (an `if` on the bash version around `complete -F _keyfob`) is
    // replaced by the wrapper's below.
    let mut text = match generated.rfind("\nif [[ \"${BASH_VERSINFO[0]}\"") {
        Some(at) if generated[at..].contains("complete -F _keyfob ") => generated[..=at].to_owned(),
        _ => generated
            .lines()
            .filter(|l| !l.trim_start().starts_with("complete -F _keyfob "))
            .fold(String::new(), |mut acc, l| {
                acc.push_str(l);
                acc.push('\n');
                acc
            }),
    };
    let _ = write!(
        text,
        r#"
_keyfob_profiles() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    if [[ "$prev" == "--profile" || "$prev" == "-p" ]]; then
        local IFS=$'\n'
        COMPREPLY=($(compgen -W "$({LIST})" -- "$cur"))
        return 0
    fi
    _keyfob "$@"
}}

if [[ "${{BASH_VERSINFO[0]}}" -eq 4 && "${{BASH_VERSINFO[1]}}" -ge 4 || "${{BASH_VERSINFO[0]}}" -gt 4 ]]; then
    complete -F _keyfob_profiles -o nosort -o bashdefault -o default keyfob
else
    complete -F _keyfob_profiles -o bashdefault -o default keyfob
fi
"#
    );
    text
}

/// Points every `--profile` value at `_keyfob_profiles`.
fn zsh(generated: &str) -> String {
    let text = generated.replace(":PROFILE:_default", ":PROFILE:_keyfob_profiles");
    let helper = format!(
        "\n_keyfob_profiles() {{\n    local -a profiles\n    profiles=(${{(f)\"$({LIST})\"}})\n    compadd -a profiles\n}}\n"
    );
    // After the `#compdef` line, before anything that runs.
    match text.split_once('\n') {
        Some((first, rest)) => format!("{first}\n{helper}{rest}"),
        None => text,
    }
}

/// Adds the profile names to every `-l profile` completion.
fn fish(generated: &str) -> String {
    let mut text = String::new();
    for line in generated.lines() {
        text.push_str(line);
        if line.contains(" -l profile ") {
            let _ = write!(text, " -f -a '({LIST})'");
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_complete_profiles_from_the_config() {
        let bash = script(Shell::Bash);
        assert!(bash.contains("_keyfob_profiles"), "{bash}");
        assert!(bash.contains("complete -F _keyfob_profiles"));
        assert!(!bash.contains("complete -F _keyfob -o"));
        assert_eq!(
            bash.matches("complete -F").count(),
            2,
            "one registration: {bash}"
        );
        let zsh = script(Shell::Zsh);
        assert!(zsh.starts_with("#compdef keyfob\n"));
        assert!(zsh.contains(":PROFILE:_keyfob_profiles"), "{zsh}");
        assert!(!zsh.contains(":PROFILE:_default"));
        let fish = script(Shell::Fish);
        assert!(fish.contains("__complete-profiles"), "{fish}");
        for shell in [Shell::PowerShell, Shell::Elvish] {
            assert!(script(shell).contains("keyfob"));
        }
    }
}
