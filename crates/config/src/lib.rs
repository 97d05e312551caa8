//! `prometheus.yml`: typed configuration with Prometheus's defaults, validation with Prometheus's messages and
//! `file:line:col` positions, and the YAML rendering served by `/api/v1/status/config`.
//!
//! Sections whose features arrive later (alerting, remote write/read, tracing, most service discovery mechanisms)
//! are parsed into their structure so they round-trip and so the binary can report them as not yet supported.

mod alerting;
mod error;
mod load;
mod remote;
mod sd;
mod secrets;
mod types;

pub use alerting::{AlertingConfig, AlertmanagerConfig};
pub use error::Error;
pub use load::{glob_match, load_file, load_str};
pub use secrets::authorization_header;
pub use types::{
    Authorization, BasicAuth, Config, Duration, FileSdConfig, GlobalConfig, ScrapeConfig, Secret,
    Size, StaticConfig, TlsConfig,
};
