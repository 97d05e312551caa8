//! The crate's error type: why one scrape failed, in Prometheus's words (shown as `lastError` in the targets API).

/// Why a scrape failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request did not complete within the scrape timeout.
    #[error("Get \"{0}\": context deadline exceeded")]
    Timeout(String),
    /// The connection or request failed.
    #[error("Get \"{url}\": {message}")]
    Http {
        /// The scrape URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The job's HTTP client could not be made from its settings (an unreadable CA, certificate or key file, bad
    /// PEM, a key that does not match its certificate, …).
    #[error("Get \"{url}\": {error}")]
    Client {
        /// The scrape URL.
        url: String,
        /// Why the client could not be made.
        error: http_client::Error,
    },
    /// The target answered with a non-200 status.
    #[error("server returned HTTP status {0}")]
    Status(String),
    /// The body was cut short.
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// The body exceeded `body_size_limit`.
    #[error("body size limit exceeded")]
    BodySizeLimit,
    /// The body could not be parsed.
    #[error("{0}")]
    Parse(#[from] exposition::ParseError),
    /// More samples than `sample_limit`.
    #[error("sample limit exceeded")]
    SampleLimit,
    /// A native histogram has more buckets than `native_histogram_bucket_limit`, even at the coarsest resolution.
    #[error("histogram bucket limit exceeded")]
    BucketLimit,
    /// A scraped series has no metric name or an invalid label name.
    #[error("{0}")]
    InvalidLabels(String),
    /// The pool has more targets than `target_limit`.
    #[error("target_limit exceeded (number of targets: {targets}, limit: {limit})")]
    TargetLimit {
        /// Targets in the pool.
        targets: usize,
        /// The limit.
        limit: u64,
    },
    /// A label limit was exceeded.
    #[error("{0}")]
    LabelLimit(String),
    /// gzip decoding failed.
    #[error("{0}")]
    Decode(String),
    /// Committing to storage failed.
    #[error("{0}")]
    Storage(String),
}
