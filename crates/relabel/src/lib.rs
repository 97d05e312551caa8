//! `relabel_config`: the configuration block (deserialised from YAML, validated with Prometheus's messages) and its
//! application to label sets, with Prometheus 3.x semantics for every action.

mod config;
mod process;

pub use config::{Action, Config, Error, Regex};
pub use process::{process, process_builder};
