//! The crate's error type.

/// Why a scrape body could not be parsed. Messages follow Prometheus's parsers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A token other than the expected one.
    #[error("{expected}, got {got:?} while parsing: {line:?}")]
    Unexpected {
        /// What the grammar required at this point.
        expected: &'static str,
        /// The offending text.
        got: String,
        /// The line up to and including the offending text.
        line: String,
    },
    /// A value that is not a float.
    #[error("strconv.ParseFloat: parsing {0:?}: invalid syntax")]
    InvalidValue(String),
    /// A timestamp that is not an integer.
    #[error("strconv.ParseInt: parsing {0:?}: invalid syntax")]
    InvalidTimestamp(String),
    /// Invalid UTF-8 in a name or value.
    #[error("invalid UTF-8 label value: {0:?}")]
    InvalidUtf8(String),
    /// An OpenMetrics body without the final `# EOF`.
    #[error("data does not end with # EOF")]
    MissingEof,
    /// Content after `# EOF`.
    #[error("unexpected data after # EOF")]
    DataAfterEof,
    /// A Content-Type no parser handles.
    #[error(
        "received unsupported Content-Type {0:?} and no fallback_scrape_protocol specified for target"
    )]
    UnsupportedContentType(String),
}
