//! The crate's error type.

/// Why a batch could not be delivered to one Alertmanager.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request failed (connection, timeout, TLS).
    #[error("{0}")]
    Request(String),
    /// The set's HTTP client could not be made from its settings (an unreadable CA, certificate or key file, bad
    /// PEM, …).
    #[error(transparent)]
    Client(#[from] http_client::Error),
    /// The Alertmanager answered with a non-2xx status.
    #[error("bad response status {0}")]
    Status(String),
}
