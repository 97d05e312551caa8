//! The `alerting` section: where alerts are sent and how they are relabeled. Kept as a generic value inside
//! [`Config`](crate::Config) (so it round-trips exactly) and decoded into these types on demand.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Any;

use crate::Error;
use crate::secrets::authorization_header;
use crate::types::{
    Authorization, BasicAuth, Duration, FileSdConfig, Secret, StaticConfig, TlsConfig,
};

/// `alerting`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Relabeling applied to every alert before it is queued.
    #[serde(default)]
    pub alert_relabel_configs: Vec<relabel::Config>,
    /// Alertmanager sets.
    #[serde(default)]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

fn http() -> String {
    "http".into()
}
fn v2() -> String {
    "v2".into()
}
fn d_10s() -> Duration {
    Duration(10_000)
}
fn yes() -> bool {
    true
}

/// One `alertmanagers` entry: a set of Alertmanagers discovered the same way and reached the same way.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AlertmanagerConfig {
    /// URL scheme (`http`).
    #[serde(default = "http")]
    pub scheme: String,
    /// Path prefix before `/api/v2/alerts`.
    #[serde(default)]
    pub path_prefix: String,
    /// Per-request timeout (10s).
    #[serde(default = "d_10s")]
    pub timeout: Duration,
    /// API version (`v2`, the only one supported).
    #[serde(default = "v2")]
    pub api_version: String,
    /// Basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// Authorization header.
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// OAuth 2.0 (parsed; not yet supported).
    #[serde(default)]
    pub oauth2: Option<Any>,
    /// SigV4 (parsed; not yet supported).
    #[serde(default)]
    pub sigv4: Option<Any>,
    /// Deprecated bearer token.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// Deprecated bearer token file.
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Proxy URL.
    #[serde(default)]
    pub proxy_url: Option<String>,
    /// Hosts not to proxy.
    #[serde(default)]
    pub no_proxy: Option<String>,
    /// Use the proxy from the environment.
    #[serde(default)]
    pub proxy_from_environment: bool,
    /// Headers for CONNECT.
    #[serde(default)]
    pub proxy_connect_header: Option<Any>,
    /// Follow redirects (true).
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Use HTTP/2 (true).
    #[serde(default = "yes")]
    pub enable_http2: bool,
    /// Extra request headers.
    #[serde(default)]
    pub http_headers: Option<Any>,
    /// Static Alertmanagers.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// File-discovered Alertmanagers.
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Relabeling of discovered Alertmanager targets.
    #[serde(default)]
    pub relabel_configs: Vec<relabel::Config>,
    /// Relabeling of alerts sent to this set.
    #[serde(default)]
    pub alert_relabel_configs: Vec<relabel::Config>,
    /// Other service discovery mechanisms (parsed, not yet supported).
    #[serde(flatten)]
    pub other_sd_configs: BTreeMap<String, Any>,
}

impl AlertingConfig {
    /// Decodes and validates the generic `alerting` value.
    pub fn from_value(v: &Any) -> Result<AlertingConfig, Error> {
        let cfg: AlertingConfig = serde_json::from_value(v.clone())
            .map_err(|e| Error::Invalid(e.to_string().replace("unknown field `", "field ")))?;
        for am in &cfg.alertmanagers {
            if am.api_version != "v2" {
                return Err(Error::Invalid(format!(
                    "expected Alertmanager api version to be one of [v2] but got {}",
                    am.api_version
                )));
            }
            let auth = am.basic_auth.is_some() || am.authorization.is_some() || am.oauth2.is_some();
            if auth && am.sigv4.is_some() {
                return Err(Error::Invalid(
                    "at most one of basic_auth, authorization, oauth2, & sigv4 must be configured"
                        .into(),
                ));
            }
            if am.relabel_configs.is_empty() {
                for t in am.static_configs.iter().flat_map(|s| &s.targets) {
                    if t.contains('/') {
                        return Err(Error::Invalid(format!("{t:?} is not a valid hostname")));
                    }
                }
            }
            for r in am.relabel_configs.iter().chain(&am.alert_relabel_configs) {
                r.validate(true).map_err(|e| Error::Invalid(e.to_string()))?;
            }
        }
        for r in &cfg.alert_relabel_configs {
            r.validate(true).map_err(|e| Error::Invalid(e.to_string()))?;
        }
        Ok(cfg)
    }
}

impl AlertmanagerConfig {
    /// The `Authorization` header for requests to this set, if any.
    pub fn authorization_header(&self) -> Option<String> {
        authorization_header(
            self.authorization.as_ref(),
            self.bearer_token.as_ref(),
            self.bearer_token_file.as_ref(),
        )
    }
}
