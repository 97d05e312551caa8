//! The crate's error type.

/// Errors of promtool commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server URL is malformed.
    #[error("parse server URL {url:?}: {message}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why it did not parse.
        message: String,
    },
    /// The HTTP request failed.
    #[error("{0}")]
    Http(String),
    /// The server answered with an error envelope or bad JSON.
    #[error("{0}")]
    Api(String),
}
