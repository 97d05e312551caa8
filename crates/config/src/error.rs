//! The crate's error type.

/// A configuration that cannot be used, with Prometheus's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("open config file {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// The OS error text.
        message: String,
    },
    /// The YAML does not fit the schema; `location` is `file:line:col` when known.
    #[error("parsing YAML file {path}: {location}{message}")]
    Yaml {
        /// The file.
        path: String,
        /// `file:line:col: ` or empty.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A file named by `scrape_config_files` cannot be used; Prometheus names it by its absolute path.
    #[error("{}: {location}{message}", model::gostr::quote(path))]
    ScrapeConfigFile {
        /// The included file, absolute.
        path: String,
        /// `file:line:col: ` or empty.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The structure is valid YAML but the values are not acceptable.
    #[error("{0}")]
    Invalid(String),
}
