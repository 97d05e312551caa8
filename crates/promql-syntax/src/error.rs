//! The crate's error type.

/// A parse error: what went wrong and where (byte offsets into the query).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct ParseError {
    /// Start of the offending text (byte offset).
    pub start: usize,
    /// End of the offending text (byte offset).
    pub end: usize,
    /// The message, in Prometheus's words.
    pub msg: String,
}

impl ParseError {
    pub(crate) fn new(start: usize, end: usize, msg: impl Into<String>) -> ParseError {
        ParseError { start, end, msg: msg.into() }
    }

    /// The error as Prometheus prints it for `query`: `line:col: parse error: msg` (1-based, columns in
    /// characters).
    pub fn render(&self, query: &str) -> String {
        let (line, col) = line_col(query, self.start);
        format!("{line}:{col}: parse error: {}", self.msg)
    }
}

/// 1-based line and column of byte offset `pos` in `query`.
pub fn line_col(query: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(query.len());
    let before = query.get(..pos).unwrap_or(query);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}
