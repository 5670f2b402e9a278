//! Errors as the user reads them: one line.

/// An error and its causes on one line (`outer: inner: innermost`), skipping a cause whose
/// text the line already holds, with line breaks turned into spaces.
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_join_on_one_line() {
        let e = Outer(std::io::Error::other("inner\nline"));
        assert_eq!(one_line(&e), "outer: inner line");
    }
}
