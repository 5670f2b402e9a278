//! `credential_process` lines: how keyfob writes one, and how it reads one back, the way the
//! SDKs that will run it split it.
//!
//! The SDKs do not agree on one syntax, but each platform has one:
//! - **Unix**: botocore splits the line with `shlex.split`; aws-config, the Go and the JS SDKs
//!   run it with `sh -c`. Both read POSIX quoting: single quotes, backslash escapes.
//! - **Windows**: botocore splits it with `_windows_shell_split` (the C runtime's rules: only
//!   double quotes quote, backslashes are literal unless they lead up to a `"`); aws-config and
//!   the Go SDK run `cmd.exe /C "LINE"`, and cmd hands the program the rest of the line, which
//!   it splits with the same C runtime rules. Single quotes are ordinary characters there, and
//!   cmd's special characters (`&|<>^()` …) are inert only inside double quotes.
//!
//! So a word is quoted for the platform whose SDKs will read the line ([`Style::native`]), and
//! only when it needs it: `keyfob credential-process --profile dev` stays as readable as a
//! hand-written line.
//!
//! One thing no quoting can do on Windows: cmd expands `%NAME%` even inside double quotes, so
//! a path holding two `%` around the name of a defined environment variable reaches the
//! program expanded when an SDK runs the line through cmd (botocore does not use cmd).

use std::borrow::Cow;

/// Which command-line syntax a line is written in and read back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// POSIX shell words (`sh -c`, Python's `shlex.split`).
    Posix,
    /// The Windows C runtime's argument rules (`cmd.exe /C`, botocore's
    /// `_windows_shell_split`).
    Windows,
}

impl Style {
    /// The syntax of the platform keyfob was built for.
    #[must_use]
    pub const fn native() -> Self {
        if cfg!(windows) {
            Style::Windows
        } else {
            Style::Posix
        }
    }
}

/// The line that runs `program` (a path or a name on PATH, not yet quoted) as keyfob's
/// `credential-process` for `profile`.
#[must_use]
pub fn write(program: &str, profile: &str, style: Style) -> String {
    format!(
        "{} credential-process --profile {}",
        quote(program, style),
        quote(profile, style)
    )
}

/// `word` as one word of a command line in `style`, quoted only if it needs to be.
#[must_use]
pub fn quote(word: &str, style: Style) -> String {
    match style {
        Style::Posix => quote_posix(word),
        Style::Windows => quote_windows(word),
    }
}

fn quote_posix(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,".contains(c))
    {
        word.to_owned()
    } else {
        // Inside single quotes nothing is special; a single quote itself closes, is escaped,
        // and reopens.
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn quote_windows(word: &str) -> String {
    // Plain words: letters (any script), digits and path characters. Anything else is quoted:
    // white space splits, and cmd gives `&|<>^()` and friends a meaning outside quotes.
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || r"-_./:\@".contains(c))
    {
        return word.to_owned();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    let mut backslashes = 0usize;
    for c in word.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                // Backslashes before a quote escape each other, and one more escapes the quote.
                out.extend(std::iter::repeat_n('\\', 2 * backslashes + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    // Trailing backslashes lead up to the closing quote: double them.
    out.extend(std::iter::repeat_n('\\', 2 * backslashes));
    out.push('"');
    out
}

/// Splits `line` into words as the SDKs of `style`'s platform do; `None` when a quote is left
/// open (or, POSIX, the line ends in a lone backslash): the SDK would fail on it too.
#[must_use]
pub fn split(line: &str, style: Style) -> Option<Vec<String>> {
    match style {
        Style::Posix => split_posix(line),
        Style::Windows => split_windows(line),
    }
}

fn split_posix(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        // Inside double quotes a backslash escapes only these; before anything
                        // else it is itself.
                        '\\' => match chars.next()? {
                            '\n' => {}
                            c @ ('\\' | '"' | '$' | '`') => word.push(c),
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => match chars.next()? {
                // A line continuation.
                '\n' => {}
                c => {
                    in_word = true;
                    word.push(c);
                }
            },
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// botocore's `_windows_shell_split`, rule for rule (the C runtime's argument parsing).
fn split_windows(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut backslashes = 0usize;
    for c in line.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                in_word = true;
                word.extend(std::iter::repeat_n('\\', backslashes / 2));
                let escaped = backslashes % 2 == 1;
                backslashes = 0;
                if escaped {
                    word.push('"');
                } else {
                    quoted = !quoted;
                }
            }
            ' ' | '\t' if !quoted => {
                word.extend(std::iter::repeat_n('\\', backslashes));
                if backslashes > 0 {
                    in_word = true;
                }
                backslashes = 0;
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.extend(std::iter::repeat_n('\\', backslashes));
                backslashes = 0;
                in_word = true;
                word.push(c);
            }
        }
    }
    if quoted {
        return None;
    }
    word.extend(std::iter::repeat_n('\\', backslashes));
    if in_word || backslashes > 0 {
        words.push(word);
    }
    Some(words)
}

/// `path` without the `\\?\` verbatim prefix that `canonicalize` gives on Windows, when the
/// ordinary form names the same file: `\\?\C:\Tools\keyfob.exe` → `C:\Tools\keyfob.exe`,
/// `\\?\UNC\srv\share\keyfob.exe` → `\\srv\share\keyfob.exe`. Programs started through
/// `cmd.exe` and most Windows tools do not read the verbatim form. A path that needs it (longer
/// than `MAX_PATH`, a reserved name such as `NUL`, a trailing dot or space, `.` or `..`
/// components) is returned as it is.
#[must_use]
pub fn without_verbatim_prefix(path: &str) -> Cow<'_, str> {
    let (plain, rest) = if let Some(rest) = path.strip_prefix(r"\\?\UNC\") {
        // server\share\… : at least a server and a share.
        if rest.split('\\').take(2).filter(|c| !c.is_empty()).count() < 2 {
            return Cow::Borrowed(path);
        }
        (format!(r"\\{rest}"), rest)
    } else if let Some(rest) = path.strip_prefix(r"\\?\") {
        let bytes = rest.as_bytes();
        let drive = bytes.len() >= 3
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && bytes[2] == b'\\';
        if !drive {
            return Cow::Borrowed(path);
        }
        (rest.to_owned(), &rest[3..])
    } else {
        return Cow::Borrowed(path);
    };
    // MAX_PATH is 260 UTF-16 units with the terminating NUL.
    if plain.encode_utf16().count() >= 260 {
        return Cow::Borrowed(path);
    }
    if rest.is_empty() {
        return Cow::Owned(plain);
    }
    if rest.split('\\').all(ordinary_component) {
        Cow::Owned(plain)
    } else {
        Cow::Borrowed(path)
    }
}

/// Whether Win32 path normalisation leaves this file-name component alone.
fn ordinary_component(c: &str) -> bool {
    if c.is_empty() || c == "." || c == ".." || c.ends_with(['.', ' ']) {
        return false;
    }
    if c.chars()
        .any(|ch| u32::from(ch) < 32 || r#"<>:"/|?*"#.contains(ch))
    {
        return false;
    }
    // Device names are reserved with any extension: `nul.txt` is NUL.
    let stem = c.split('.').next().unwrap_or(c).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    let reserved = matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.len() == 4
        && upper.as_bytes()[3].is_ascii_digit());
    !reserved
}

/// The profile a `keyfob credential-process` line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `--profile NAME`.
    Named(String),
    /// No `--profile`: keyfob picks AWS_PROFILE, AWS_DEFAULT_PROFILE or default, as on any run.
    Selected,
}

/// If `line` (a `credential_process` value, read in `style`) runs keyfob's credential-process,
/// the profile it asks for. The program is keyfob when its file name is `keyfob` (`keyfob.exe`
/// on Windows) or when `is_keyfob` says so (this very binary, or `KEYFOB_COMMAND`).
pub fn keyfob_invocation(
    line: &str,
    style: Style,
    is_keyfob: &dyn Fn(&str) -> bool,
) -> Option<Target> {
    let words = split(line, style)?;
    let (program, args) = words.split_first()?;
    let name = program_name(program, style);
    let named_keyfob = match style {
        Style::Posix => name == "keyfob",
        // Windows file names are case-insensitive.
        Style::Windows => name.eq_ignore_ascii_case("keyfob"),
    };
    if !named_keyfob && !is_keyfob(program) {
        return None;
    }
    let sub = args.iter().position(|a| a == "credential-process")?;
    let mut rest = args[sub + 1..].iter();
    while let Some(arg) = rest.next() {
        if arg == "--profile" || arg == "-p" {
            return Some(
                rest.next()
                    .map_or(Target::Selected, |v| Target::Named(v.clone())),
            );
        }
        if let Some(v) = arg.strip_prefix("--profile=") {
            return Some(Target::Named(v.to_owned()));
        }
        if let Some(v) = arg
            .strip_prefix("-p")
            .filter(|v| !v.is_empty() && !arg.starts_with("--"))
        {
            return Some(Target::Named(v.to_owned()));
        }
    }
    Some(Target::Selected)
}

/// A program's file name without directories (and, on Windows, without `.exe`).
fn program_name(program: &str, style: Style) -> &str {
    match style {
        Style::Posix => program.rsplit('/').next().unwrap_or(program),
        Style::Windows => {
            let name = program.rsplit(['/', '\\']).next().unwrap_or(program);
            match name.len().checked_sub(4) {
                Some(i) if name.is_char_boundary(i) && name[i..].eq_ignore_ascii_case(".exe") => {
                    &name[..i]
                }
                _ => name,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words that need care on one platform or the other, and how each is written.
    const WORDS: &[(&str, &str, &str)] = &[
        // (word, POSIX, Windows)
        ("keyfob", "keyfob", "keyfob"),
        ("acme-prod.Admin", "acme-prod.Admin", "acme-prod.Admin"),
        (
            "/usr/local/bin/keyfob",
            "/usr/local/bin/keyfob",
            "/usr/local/bin/keyfob",
        ),
        (
            "/opt/my tools/keyfob",
            "'/opt/my tools/keyfob'",
            "\"/opt/my tools/keyfob\"",
        ),
        (
            r"C:\Program Files\keyfob\keyfob.exe",
            r"'C:\Program Files\keyfob\keyfob.exe'",
            r#""C:\Program Files\keyfob\keyfob.exe""#,
        ),
        (
            r"C:\tools\keyfob.exe",
            r"'C:\tools\keyfob.exe'",
            r"C:\tools\keyfob.exe",
        ),
        ("it's", r"'it'\''s'", "\"it's\""),
        (r#"say "hi""#, r#"'say "hi"'"#, r#""say \"hi\"""#),
        (r"ends\", r"'ends\'", r"ends\"),
        (r"two words\", r"'two words\'", r#""two words\\""#),
        (r#"a\"b"#, r#"'a\"b'"#, r#""a\\\"b""#),
        ("Jörg", "'Jörg'", "Jörg"),
        (
            "/home/jörg/bin/keyfob",
            "'/home/jörg/bin/keyfob'",
            "/home/jörg/bin/keyfob",
        ),
        ("a&b|c", "'a&b|c'", "\"a&b|c\""),
        ("tab\there", "'tab\there'", "\"tab\there\""),
        ("$HOME", "'$HOME'", "\"$HOME\""),
        ("", "''", "\"\""),
    ];

    #[test]
    fn words_are_quoted_only_when_needed_and_split_back_whole() {
        for &(word, posix, windows) in WORDS {
            assert_eq!(quote(word, Style::Posix), posix, "POSIX quote of {word:?}");
            assert_eq!(
                quote(word, Style::Windows),
                windows,
                "Windows quote of {word:?}"
            );
            for style in [Style::Posix, Style::Windows] {
                let line = format!("{} x {}", quote(word, style), quote(word, style));
                assert_eq!(
                    split(&line, style),
                    Some(vec![word.to_owned(), "x".to_owned(), word.to_owned()]),
                    "{style:?}: {line}"
                );
            }
        }
    }

    #[test]
    fn the_windows_split_is_botocores() {
        // Cases from the C runtime's documentation, as botocore's own tests state them.
        let cases: &[(&str, &[&str])] = &[
            (r#""a b c" d e"#, &["a b c", "d", "e"]),
            (r#""ab\"c" "\\" d"#, &[r#"ab"c"#, r"\", "d"]),
            (r#"a\\\b d"e f"g h"#, &[r"a\\\b", "de fg", "h"]),
            (r#"a\\\"b c d"#, &[r#"a\"b"#, "c", "d"]),
            (r#"a\\\\"b c" d e"#, &[r"a\\b c", "d", "e"]),
            (r"C:\\Windows\\", &[r"C:\\Windows\\"]),
            (r#""""#, &[""]),
            ("'a b'", &["'a", "b'"]),
            ("", &[]),
        ];
        for (line, want) in cases {
            let want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
            assert_eq!(split(line, Style::Windows), Some(want), "{line}");
        }
        assert_eq!(split(r#""open"#, Style::Windows), None);
    }

    #[test]
    fn the_posix_split_is_the_shells() {
        let cases: &[(&str, &[&str])] = &[
            (r#"a "b c" 'd e' f\ g"#, &["a", "b c", "d e", "f g"]),
            (r#""a\$b\"c\d""#, &[r#"a$b"c\d"#]),
            ("'it'\\''s'", &["it's"]),
            ("a''b \"\"", &["ab", ""]),
        ];
        for (line, want) in cases {
            let want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
            assert_eq!(split(line, Style::Posix), Some(want), "{line}");
        }
        assert_eq!(split("'open", Style::Posix), None);
        assert_eq!(split("ends\\", Style::Posix), None);
    }

    #[test]
    fn the_verbatim_prefix_goes_when_windows_reads_the_path_the_same_without_it() {
        let cases = [
            (r"\\?\C:\Tools\keyfob.exe", r"C:\Tools\keyfob.exe"),
            (r"\\?\Z:\tmp\my dir\keyfob.exe", r"Z:\tmp\my dir\keyfob.exe"),
            (r"\\?\UNC\srv\share\keyfob.exe", r"\\srv\share\keyfob.exe"),
            (r"\\?\C:\", r"C:\"),
            (r"C:\Tools\keyfob.exe", r"C:\Tools\keyfob.exe"),
            ("/usr/bin/keyfob", "/usr/bin/keyfob"),
            // These mean something else (or nothing) without the prefix: kept.
            (r"\\?\C:\nul\keyfob.exe", r"\\?\C:\nul\keyfob.exe"),
            (r"\\?\C:\Com1.txt\keyfob.exe", r"\\?\C:\Com1.txt\keyfob.exe"),
            (r"\\?\C:\dir.\keyfob.exe", r"\\?\C:\dir.\keyfob.exe"),
            (r"\\?\C:\dir \keyfob.exe", r"\\?\C:\dir \keyfob.exe"),
            (r"\\?\C:\a\..\keyfob.exe", r"\\?\C:\a\..\keyfob.exe"),
            (r"\\?\C:\a\\keyfob.exe", r"\\?\C:\a\\keyfob.exe"),
            (r"\\?\C:\a/b\keyfob.exe", r"\\?\C:\a/b\keyfob.exe"),
            (r"\\?\Volume{0b1}\keyfob.exe", r"\\?\Volume{0b1}\keyfob.exe"),
            (r"\\?\UNC\srv", r"\\?\UNC\srv"),
        ];
        for (verbatim, plain) in cases {
            assert_eq!(without_verbatim_prefix(verbatim), plain, "{verbatim}");
        }
        let long = format!(r"\\?\C:\{}\keyfob.exe", "d".repeat(250));
        assert_eq!(without_verbatim_prefix(&long), long.as_str());
        let fits = format!(r"\\?\C:\{}\keyfob.exe", "d".repeat(240));
        assert_eq!(without_verbatim_prefix(&fits), &fits[4..]);
    }

    #[test]
    fn written_lines_read_back_on_both_platforms() {
        for style in [Style::Posix, Style::Windows] {
            for program in [
                "keyfob",
                "/opt/my tools/keyfob",
                r"C:\Program Files\keyfob\keyfob.exe",
            ] {
                for profile in ["dev", "acme prod.Admin", "it's"] {
                    let line = write(program, profile, style);
                    let words = split(&line, style).unwrap();
                    assert_eq!(
                        words,
                        [program, "credential-process", "--profile", profile],
                        "{line}"
                    );
                    assert_eq!(
                        keyfob_invocation(&line, style, &|_| false),
                        if style == Style::Posix && program.starts_with("C:") {
                            // A Windows path means nothing to a POSIX reader.
                            None
                        } else {
                            Some(Target::Named(profile.to_owned()))
                        },
                        "{style:?}: {line}"
                    );
                }
            }
        }
    }

    #[test]
    fn keyfob_invocations_are_recognised() {
        let named = |n: &str| Some(Target::Named(n.to_owned()));
        let posix = [
            ("keyfob credential-process --profile a", named("a")),
            (
                "/usr/local/bin/keyfob credential-process -p 'my prof'",
                named("my prof"),
            ),
            ("keyfob -v credential-process --profile=b", named("b")),
            ("keyfob credential-process -pd", named("d")),
            ("keyfob credential-process", Some(Target::Selected)),
            (
                "'/opt/my tools/keyfob' credential-process --profile c 2>/dev/null",
                named("c"),
            ),
            ("aws-vault export --format=json a", None),
            ("keyfob export --profile a", None),
            ("keyfob credential-process --profile 'unbalanced", None),
            ("keyfob.exe credential-process --profile a", None),
        ];
        for (line, want) in posix {
            assert_eq!(
                keyfob_invocation(line, Style::Posix, &|_| false),
                want,
                "{line}"
            );
        }
        let windows = [
            (
                r#""C:\Program Files\keyfob\keyfob.exe" credential-process --profile a"#,
                named("a"),
            ),
            (r"C:\tools\KEYFOB.EXE credential-process -p b", named("b")),
            (
                "keyfob credential-process --profile \"my prof\"",
                named("my prof"),
            ),
            // The line keyfob wrote on Windows before: single quotes are part of the name.
            (
                r"'\\?\Z:\tmp\keyfob.exe' credential-process --profile base",
                None,
            ),
        ];
        for (line, want) in windows {
            assert_eq!(
                keyfob_invocation(line, Style::Windows, &|_| false),
                want,
                "{line}"
            );
        }
        // A wrapper named in KEYFOB_COMMAND is keyfob too.
        let wrapper = "/opt/my tools/kf-wrapper";
        let line = write(wrapper, "w", Style::Posix);
        assert_eq!(keyfob_invocation(&line, Style::Posix, &|_| false), None);
        assert_eq!(
            keyfob_invocation(&line, Style::Posix, &|p| p == wrapper),
            named("w")
        );
    }
}
