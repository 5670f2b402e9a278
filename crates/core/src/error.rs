//! Errors as the user reads them: one line, the command that fixes it, an exit code.
//!
//! Every library crate's error implements [`UserError`]; the CLI turns any of them into a
//! [`Report`] with `?` and prints it once (`keyfob: error: LINE; run: HINT`). [`one_line`] is
//! the one flattener of an error and its causes.

use std::fmt;

/// What every keyfob error gives the person who meets it.
pub trait UserError: std::error::Error + 'static {
    /// The command (or edit) that fixes it, if there is one.
    fn hint(&self) -> Option<String> {
        None
    }

    /// The process exit code: 1 for a failure, 2 for input that can never work (a usage
    /// error), 0 for a reader that went away (a closed pipe).
    fn exit_code(&self) -> u8 {
        1
    }
}

/// An error as the user sees it: its line (causes included), its hint and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    line: String,
    hint: Option<String>,
    exit_code: u8,
}

impl Report {
    /// A failure described by `message`.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            line: one_line_text(&message.to_string()),
            hint: None,
            exit_code: 1,
        }
    }

    /// A failure with the command that fixes it.
    pub fn hinted(message: impl fmt::Display, hint: impl Into<String>) -> Self {
        Self::msg(message).with_hint(hint)
    }

    /// Input that can never work (exit code 2).
    pub fn usage(message: impl fmt::Display) -> Self {
        Self {
            exit_code: 2,
            ..Self::msg(message)
        }
    }

    /// Adds (or replaces) the command that fixes it.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Puts what was being done in front: `CONTEXT: LINE`.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.line = format!("{}: {}", one_line_text(&context.to_string()), self.line);
        self
    }

    /// The message, on one line, without the hint.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The command that fixes it.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.exit_code
    }
}

/// `LINE; run: HINT` (the hint left out when the line already says it).
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.hint {
            Some(h) if !self.line.contains(h.as_str()) => write!(f, "{}; run: {h}", self.line),
            _ => f.write_str(&self.line),
        }
    }
}

impl<E: UserError> From<E> for Report {
    fn from(e: E) -> Self {
        Self {
            line: one_line(&e),
            hint: e.hint(),
            exit_code: e.exit_code(),
        }
    }
}

/// `.context(…)` on any result whose error becomes a [`Report`].
pub trait ResultExt<T> {
    /// Puts what was being done in front of the error.
    fn context(self, context: impl fmt::Display) -> Result<T, Report>;
    /// [`ResultExt::context`], built only on failure.
    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T, Report>;
}

impl<T, E: Into<Report>> ResultExt<T> for Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T, Report> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T, Report> {
        self.map_err(|e| e.into().context(context()))
    }
}

/// An error and its causes on one line (`outer: inner: innermost`): each message once (the
/// SDKs and reqwest nest the same words in several links), whitespace collapsed. The one
/// flattener of error chains.
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = one_line_text(&err.to_string());
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.retain(|p| !text.contains(p.as_str()));
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// `text` on one line: its lines trimmed and joined with single spaces.
pub fn one_line_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl UserError for std::io::Error {
    fn exit_code(&self) -> u8 {
        // The reader of our output went away (`keyfob export | head`): not a failure.
        u8::from(self.kind() != std::io::ErrorKind::BrokenPipe)
    }
}

impl UserError for serde_json::Error {}
impl UserError for std::fmt::Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    impl UserError for Outer {
        fn hint(&self) -> Option<String> {
            Some("keyfob login".into())
        }
    }

    #[test]
    fn causes_join_on_one_line() {
        let e = Outer(std::io::Error::other("inner\nline"));
        assert_eq!(one_line(&e), "outer: inner line");
    }

    #[test]
    fn reports_carry_line_hint_and_code() {
        let r: Report = Outer(std::io::Error::other("x")).into();
        assert_eq!(r.to_string(), "outer: x; run: keyfob login");
        let r = r.context("while logging in");
        assert_eq!(r.line(), "while logging in: outer: x");
        assert_eq!(Report::usage("bad").exit_code(), 2);
        let pipe: Report = std::io::Error::from(std::io::ErrorKind::BrokenPipe).into();
        assert_eq!(pipe.exit_code(), 0);
        assert_eq!(
            Report::hinted("a; run: b", "b").to_string(),
            "a; run: b",
            "a hint the line already names is not repeated"
        );
    }
}
