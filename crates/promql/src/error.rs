//! The crate's error type.

/// Why a query failed. The texts follow Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query did not parse; the message is already rendered with `line:col`.
    #[error("{0}")]
    Parse(String),
    /// Invalid request parameters or an expression unsuitable for the query type.
    #[error("{0}")]
    BadData(String),
    /// The query ran out of time.
    #[error("query timed out in {0}")]
    Timeout(String),
    /// The query was canceled.
    #[error("query was canceled in {0}")]
    Canceled(String),
    /// The query would hold too many samples in memory.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(String),
    /// An evaluation error.
    #[error("{0}")]
    Execution(String),
    /// The storage failed.
    #[error("{0}")]
    Storage(String),
    /// The engine cannot take the query now (the queue of `--query.max-concurrency` is full).
    #[error("{0}")]
    Unavailable(String),
}
