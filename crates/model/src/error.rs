//! The crate's error type.

/// Errors raised while building model values from untrusted input.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A regular expression did not compile; the text follows Go's `regexp` wording.
    #[error("error parsing regexp: {0}")]
    Regex(String),
    /// A duration string is not in Prometheus's duration syntax.
    #[error("not a valid duration string: {0:?}")]
    Duration(String),
}
