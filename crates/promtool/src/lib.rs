//! promtool's jobs as a library, run by `promethium tool …`: `check config`, `check metrics`, `test promql`, the
//! HTTP query client commands and the `tsdb` commands. Each command returns its output text and exit code
//! instead of printing (the `tsdb` commands, whose output can be large, write to a writer they are given), so
//! the binary decides where output goes and tests can assert it.

pub mod check;
pub mod engine_query;
mod error;
pub mod query;
pub mod tsdb;
pub mod unittest;

pub use error::Error;

/// What a command produced: text for stdout, text for stderr and the process exit code.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Text for standard output.
    pub stdout: String,
    /// Text for standard error.
    pub stderr: String,
    /// Exit code (0 success, 1 failure, 3 lint problems, as promtool).
    pub code: i32,
}
