//! The crate's error type: why an HTTP client could not be made from its settings.

use std::fmt;

/// Where a piece of TLS material or a header value comes from: a file, or text inline in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file, by the path the configuration gives.
    File(String),
    /// Inline text under this configuration key (`ca`, `cert`, `key`).
    Inline(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "file {p:?}"),
            Origin::Inline(key) => write!(f, "inline {key}"),
        }
    }
}

/// Why a client could not be built. Errors about files are reported again, unchanged, until the file changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two settings that exclude each other are both set, or one needs another that is missing (the message is
    /// Prometheus's).
    #[error("{0}")]
    Invalid(&'static str),
    /// A file could not be read.
    #[error("read {what} {path:?}: {message}")]
    ReadFile {
        /// What the file holds (`CA certificate`, `client certificate`, `client key`, `header value`).
        what: &'static str,
        /// The path as configured.
        path: String,
        /// The operating system's reason.
        message: String,
    },
    /// PEM text held no usable item of the expected kind, or a malformed one.
    #[error("parse {what} from {origin}: {message}")]
    Pem {
        /// What was expected (`CA certificate`, `client certificate`, `client key`).
        what: &'static str,
        /// Where the text came from.
        origin: Origin,
        /// What is wrong with it.
        message: String,
    },
    /// The client certificate and key were read but rustls refused them (for example the key does not belong to
    /// the certificate).
    #[error("use client certificate and key: {0}")]
    ClientCert(String),
    /// A CA certificate was rejected as a trust anchor.
    #[error("use CA certificate from {origin}: {message}")]
    CaCert {
        /// Where the certificate came from.
        origin: Origin,
        /// Why it was rejected.
        message: String,
    },
    /// `min_version` or `max_version` is not one of `TLS10`…`TLS13`.
    #[error("unknown TLS version: {0}")]
    UnknownTlsVersion(String),
    /// `max_version` names a version below TLS 1.2, which rustls does not speak.
    #[error("max_version {0} is not supported: the oldest TLS version supported is TLS12")]
    UnsupportedTlsVersion(String),
    /// `min_version` is above `max_version`.
    #[error("min_version {min} is greater than max_version {max}")]
    TlsVersionRange {
        /// The configured minimum.
        min: String,
        /// The configured maximum.
        max: String,
    },
    /// `server_name` is not a DNS name or an IP address.
    #[error("invalid server_name {0:?}")]
    ServerName(String),
    /// `proxy_url` could not be used.
    #[error("invalid proxy_url {url:?}: {message}")]
    Proxy {
        /// The configured URL.
        url: String,
        /// Why it was rejected.
        message: String,
    },
    /// An `http_headers` or `proxy_connect_header` entry is malformed.
    #[error("invalid {section} header {name:?}: {message}")]
    Header {
        /// `http_headers` or `proxy_connect_header`.
        section: &'static str,
        /// The header name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// reqwest refused the assembled settings.
    #[error("build HTTP client: {0}")]
    Build(String),
}
