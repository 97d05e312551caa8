//! PromQL syntax: lexer, parser, syntax tree, printer, the function table and the series-description notation of
//! test files.
//!
//! **Architecture Invariant:** the parser never panics and bounds its recursion, so any input, however hostile,
//! yields an expression or a [`ParseError`]. It depends on `model` only.

pub mod ast;
mod error;
mod functions;
mod lexer;
mod parser;
mod printer;
mod series;
mod strings;

pub use ast::*;
pub use error::{ParseError, line_col};
pub use functions::{FUNCTIONS, Function, get_function};
pub use parser::{ParserOptions, parse_expr, parse_metric_selector, parse_number};
pub use printer::format_number;
pub use series::{SequenceValue, parse_metric, parse_series_desc, parse_values};
pub use strings::{has_invalid_utf8, quote};
