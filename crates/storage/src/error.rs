//! Storage errors. Append errors are part of the contract: callers count them by variant (scrape's
//! `prometheus_target_scrapes_sample_out_of_order_total`, …) and the remote-write receiver maps them to 400.

/// Why one sample (or exemplar, or metadata entry) was rejected. Messages are Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The sample is older than the newest sample of its series.
    #[error("out of order sample")]
    OutOfOrderSample,
    /// The sample is older than the head's lower bound.
    #[error("out of bounds")]
    OutOfBounds,
    /// The sample is older than the out-of-order window allows.
    #[error("too old sample")]
    TooOldSample,
    /// Another value was already appended for this series at the same timestamp.
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    /// An exemplar arrived out of order.
    #[error("out of order exemplar")]
    OutOfOrderExemplar,
    /// An exemplar duplicates an existing one.
    #[error("duplicate exemplar")]
    DuplicateExemplar,
    /// Exemplar labels exceed 128 UTF-8 characters.
    #[error("exemplar label set is too long")]
    ExemplarLabelLength,
    /// A histogram is internally inconsistent.
    #[error("histogram: {0}")]
    InvalidHistogram(String),
    /// The label set is empty or has duplicate names.
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// The storage refuses writes (for example a full disk).
    #[error("{0}")]
    Storage(String),
}

/// Errors of a storage operation as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An I/O failure, with what was being done.
    #[error("{context}: {message}")]
    Io {
        /// What was being done ("write WAL record").
        context: String,
        /// The underlying error's text.
        message: String,
    },
    /// Data on disk or the wire is corrupt.
    #[error("corruption: {0}")]
    Corruption(String),
    /// The operation was cancelled.
    #[error("operation canceled")]
    Canceled,
    /// Anything else, with its message.
    #[error("{0}")]
    Other(String),
}
