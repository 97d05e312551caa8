//! The crate's error type. Messages reproduce Go's `text/template` and Prometheus's wording, because users read
//! them in alert annotations (`<error expanding template: …>`) and in `promtool check rules` output.

use crate::gofmt::quote;

/// Errors from parsing, executing or expanding a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The template text does not parse.
    #[error("template: {template}:{line}: {message}")]
    Parse {
        /// Name of the template being parsed.
        template: String,
        /// Line of the offending token.
        line: usize,
        /// What is wrong, in Go's words.
        message: String,
    },
    /// Execution failed at a node of the template.
    #[error("template: {parse_name}:{line}:{column}: executing {} at <{context}>: {message}", quote(.template))]
    Exec {
        /// Name of the top-level template whose source holds the node.
        parse_name: String,
        /// Line of the node.
        line: usize,
        /// Byte column of the node, counted from 0 as Go does.
        column: usize,
        /// Name of the template being executed.
        template: String,
        /// The node, printed as Go prints it.
        context: String,
        /// What went wrong.
        message: String,
    },
    /// Execution failed before reaching any node (for example an unknown template name).
    #[error("template: {template}: {message}")]
    ExecNoNode {
        /// Name of the template being executed.
        template: String,
        /// What went wrong.
        message: String,
    },
    /// `execute_template` named a template that was never defined.
    #[error("template: no template {} associated with template {}", quote(.name), quote(.template))]
    NoTemplate {
        /// The requested template.
        name: String,
        /// The template set's own name.
        template: String,
    },
    /// `Expander::expand` could not parse its template.
    #[error("error parsing template {name}: {source}")]
    ExpandParse {
        /// The expander's template name, e.g. `__alert_HighLatency`.
        name: String,
        /// The parse error.
        #[source]
        source: Box<Error>,
    },
    /// `Expander::expand` failed while executing its template.
    #[error("error executing template {name}: {source}")]
    ExpandExec {
        /// The expander's template name.
        name: String,
        /// The execution error.
        #[source]
        source: Box<Error>,
    },
}
