//! Go `text/template` for Promethium, with Prometheus's template functions.
//!
//! Alerting rules expand their labels and annotations with Go templates (`{{ $labels.instance }}`,
//! `{{ $value | humanize }}`), and users' existing rule files must keep working, so this crate implements Go's
//! `text/template` language and Prometheus's function set rather than a Rust template language:
//!
//! - [`Template`] is Go's `*template.Template`: parse text (with `define`, `block`, `template`, `if`, `range`,
//!   `with`, pipelines, variables, trim markers and comments), then execute it against a [`Value`].
//! - [`Value`] replaces Go reflection: a closed set of Go-typed values with Go truthiness and `fmt` printing.
//! - [`Expander`] is Prometheus's `template.Expander`: the Prometheus functions (`query`, `humanize`,
//!   `reReplaceAll`, …) and the `error parsing/executing template NAME:` wrapping; [`AlertData`] and
//!   [`ALERT_PRELUDE`] give alert templates their `$labels`, `$externalLabels`, `$externalURL` and `$value`.
//!
//! Output and error messages follow Go byte for byte where practical, including `printf` formats, float printing
//! (`1e+06`), `<no value>` for missing values, and error locations (`template: NAME:LINE:COL: executing …`).
//!
//! **Architecture Invariant:** no input panics. Parsing bounds nesting; execution bounds template-call depth,
//! steps, output and value sizes (see [`Limits`]) and reports each breach as an [`Error`].

mod ast;
mod builtins;
mod error;
mod exec;
mod expander;
mod float;
mod funcs;
mod gofmt;
mod gotime;
mod lex;
mod parse;
mod prometheus;
mod template;
mod value;

pub use error::Error;
pub use expander::{ALERT_PRELUDE, AlertData, Expander};
pub use funcs::{ArgType, Func, FuncMap};
pub use prometheus::{QueryFn, QuerySample, prometheus_funcs};
pub use template::{Limits, MissingKey, Template};
pub use value::{Struct, Value};

/// Formats values as Go's `fmt.Sprintf` does, for callers that build template functions.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    gofmt::sprintf(format, args)
}
