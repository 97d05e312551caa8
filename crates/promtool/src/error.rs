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
    /// The database directory cannot be read (`tsdb` commands).
    #[error("opening the db dir: stat {}: {message}", dir.display())]
    OpenDb {
        /// The directory as given.
        dir: std::path::PathBuf,
        /// Why, in Go's words.
        message: String,
    },
    /// A block of the database does not open.
    #[error("corrupted block {ulid}: {source}")]
    CorruptedBlock {
        /// The block's directory name.
        ulid: String,
        /// Why it does not open.
        #[source]
        source: tsdb::Error,
    },
    /// `tsdb analyze` without a block ID found no block.
    #[error("no blocks found")]
    NoBlocks,
    /// `tsdb analyze` was given a block ID that is not in the database.
    #[error("invalid block ID {0}")]
    InvalidBlockId(String),
    /// Reading a block or writing one failed.
    #[error(transparent)]
    Tsdb(#[from] tsdb::Error),
    /// Replaying the WAL read-only failed.
    #[error("read WAL: {0}")]
    ReadWal(String),
    /// A series selector does not parse.
    #[error("{0}")]
    Selector(String),
    /// An input file cannot be read.
    #[error("{op} {}: {message}", path.display())]
    File {
        /// The failed operation (`stat`, `open`).
        op: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why, in Go's words.
        message: String,
    },
    /// `create-blocks-from` failed; the context is Prometheus's chain of steps.
    #[error("{context}: {message}")]
    Backfill {
        /// The steps, outermost first (`block creation: process blocks: add sample`).
        context: String,
        /// The cause.
        message: String,
    },
    /// A feature promtool has that is not implemented here yet.
    #[error("not supported yet: {0}")]
    Unsupported(String),
    /// Writing the output failed.
    #[error("write output: {0}")]
    Output(#[from] std::io::Error),
}
