//! Service discovery: the target-group model every provider emits, and the providers implemented so far (static
//! groups and file-based discovery). Providers take plain option structs; the binary maps configuration onto them.

mod file;

pub use file::{FileSd, FileSdOptions};
use model::Labels;

/// A set of targets sharing labels, as emitted by one provider. `source` identifies the group within its provider
/// so an update can replace it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetGroup {
    /// Identifier of the group within its provider (for example `file.yml:0`).
    pub source: String,
    /// One label set per target, each holding at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels common to every target of the group.
    pub labels: Labels,
}

/// Errors of discovery providers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("read file {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// A file's content is not a list of target groups.
    #[error("parse file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Builds the groups of a `static_configs` list: one group per entry, sourced by its index.
pub fn static_groups<'a>(
    entries: impl IntoIterator<Item = (&'a [String], Vec<(String, String)>)>,
) -> Vec<TargetGroup> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, (targets, labels))| TargetGroup {
            source: i.to_string(),
            targets: targets
                .iter()
                .map(|t| Labels::from_pairs([("__address__", t.as_str())]))
                .collect(),
            labels: Labels::from_pairs(labels),
        })
        .collect()
}
