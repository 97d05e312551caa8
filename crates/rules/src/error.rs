//! The crate's error type.

/// Why rule files could not be loaded or a rule could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One or more rule files are invalid; each message is complete (`file: line:col: …`), as Prometheus prints
    /// them.
    #[error("{}", .0.join("\n"))]
    Load(Vec<String>),
    /// A rule's evaluation failed (query error, duplicate label sets, limit exceeded, …).
    #[error("{0}")]
    Eval(String),
}
