//! Questions to the person at the terminal. Every prompt checks for a TTY first: keyfob run
//! by an SDK (credential_process) or a script never waits on stdin.

use std::io::{BufRead, IsTerminal, Write};

/// True when we may ask: both stdin and stderr are terminals.
pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Reads a line with echo (prompt on stderr).
pub(crate) fn line(question: &str) -> std::io::Result<String> {
    let mut err = std::io::stderr();
    write!(err, "{question}")?;
    err.flush()?;
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s)?;
    Ok(s.trim().to_owned())
}

/// Reads a secret without echo.
pub(crate) fn secret(question: &str) -> std::io::Result<String> {
    rpassword::prompt_password(question).map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
}

/// A one-time code: the one given on the command line, else asked for (with the question the
/// caller passes) when a person is at the terminal, else none (the caller then says which
/// command to run). The one place keyfob asks for an MFA or IdP code.
pub(crate) fn code_from(flag: Option<String>) -> impl Fn(&str) -> Option<String> + Sync {
    move |question| {
        flag.clone()
            .or_else(|| interactive().then(|| line(question).ok()).flatten())
    }
}

/// Asks a yes/no question; the default is no.
pub(crate) fn confirm(question: &str) -> std::io::Result<bool> {
    let answer = line(&format!("{question} [y/N] "))?;
    Ok(matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes"))
}
