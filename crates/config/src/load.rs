//! Loading: YAML → structs → defaults and validation, with Prometheus's messages.

use std::collections::HashSet;
use std::path::Path;

use crate::types::{Config, Duration};
use crate::{Error, ScrapeConfig};

/// Service discovery mechanisms Prometheus 3.x knows, as `<name>_sd_configs` keys.
const SD_MECHANISMS: &[&str] = &[
    "azure",
    "consul",
    "digitalocean",
    "docker",
    "dockerswarm",
    "dns",
    "ec2",
    "eureka",
    "gce",
    "hetzner",
    "http",
    "ionos",
    "kubernetes",
    "kuma",
    "lightsail",
    "linode",
    "marathon",
    "nerve",
    "nomad",
    "oci",
    "openstack",
    "outscale",
    "ovhcloud",
    "puppetdb",
    "scaleway",
    "serverset",
    "stackit",
    "triton",
    "uyuni",
    "vultr",
];

/// Reads and validates a configuration file, then appends the scrape configs of the files its
/// `scrape_config_files` name (relative patterns against the file's directory), validated as Prometheus validates
/// them when it applies a configuration. Relative paths inside are kept as written, those of included files
/// rebased onto the main file's directory; callers resolve them against that directory.
pub fn load_file(path: &Path) -> Result<Config, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Read { path: path.display().to_string(), message: e.to_string() })?;
    load_at(&text, &path.display().to_string(), Some(path.parent().unwrap_or(Path::new(""))))
}

/// Parses and validates configuration text; `name` is used in error messages. Files named by
/// `scrape_config_files` are not read (there is no directory to find them in).
pub fn load_str(text: &str, name: &str) -> Result<Config, Error> {
    load_at(text, name, None)
}

/// Parses and validates `text`, reading `scrape_config_files` relative to `dir` when given.
fn load_at(text: &str, name: &str, dir: Option<&Path>) -> Result<Config, Error> {
    let mut cfg: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        parse_yaml(text, name).map_err(|(location, message)| Error::Yaml {
            path: name.to_string(),
            location,
            message,
        })?
    };
    // Prometheus validates while decoding, so its validation errors carry the file name too.
    validate(&mut cfg).map_err(|e| match e {
        Error::Invalid(message) => {
            Error::Yaml { path: name.to_string(), location: String::new(), message }
        }
        other => other,
    })?;
    if let Some(dir) = dir {
        include::append_scrape_config_files(&mut cfg, dir)?;
    }
    Ok(cfg)
}

/// Decodes YAML text; an error is given as its `file:line:col: ` prefix (empty when unknown) and its message in
/// the Go YAML decoder's words.
fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    name: &str,
) -> Result<T, (String, String)> {
    serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| {
        let position = e.location().map(|l| (l.line() as usize, l.column() as usize));
        let location =
            position.map(|(line, col)| format!("{name}:{line}:{col}: ")).unwrap_or_default();
        if let serde_saphyr::Error::BinaryNotUtf8 { .. } = &e
            && let Some((line, col)) = position
            && let Some(message) = binary::non_utf8_message(text, line, col)
        {
            return (location, message);
        }
        let msg = e.to_string();
        // The library prefixes its own position and may append a source snippet: keep the first message line.
        let first = msg.lines().next().unwrap_or("").to_string();
        let message = match first.split_once(": ") {
            Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
            _ => first,
        };
        let mut message = prometheus_wording(&message);
        let line = position.map_or(0, |(line, _)| line);
        if message.starts_with("invalid type:") {
            message = format!("yaml: unmarshal errors:\n  line {line}: {message}");
        } else if message == "expected string scalar"
            && let Some((line, col)) = position
        {
            let node = node_kind(text, line, col);
            message = format!(
                "yaml: unmarshal errors:\n  line {line}: cannot unmarshal {node} into string"
            );
        }
        (location, message)
    })
}

/// The YAML kind (`!!seq`, `!!map`) of the node starting at `line`:`col`, for the Go decoder's type errors.
fn node_kind(text: &str, line: usize, col: usize) -> &'static str {
    let rest = text
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.char_indices().nth(col.saturating_sub(1)).map(|(i, _)| &l[i..]))
        .unwrap_or("");
    if rest.starts_with('[') || rest.starts_with("- ") { "!!seq" } else { "!!map" }
}

/// Rewrites the YAML library's messages for unknown and repeated fields into the Go YAML decoder's words, which
/// Prometheus users and tools match on.
fn prometheus_wording(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return format!("field {field} not found in type config.plain");
    }
    if msg.starts_with("!!binary scalar is not valid UTF-8") {
        return "!!binary value is not UTF-8 text, which this field cannot hold".into();
    }
    if msg == "invalid !!binary base64" {
        return "!!binary value contains invalid base64 data".into();
    }
    if let Some(rest) = msg.strip_prefix("duplicate mapping key: ") {
        let key = rest.split([',', ' ']).next().unwrap_or(rest);
        return format!("field {key} already set in type config.plain");
    }
    msg.to_string()
}

/// Comments are not needed for deserialisation; not capturing them also avoids the parser's look-ahead budget for
/// long comment blocks.
fn yaml_options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.emit_comments = false;
    o.with_snippet = false;
    o
}

/// The service discovery blocks of one scrape config, which Prometheus checks while decoding.
fn validate_sd(sc: &ScrapeConfig) -> Result<(), Error> {
    for (key, list) in &sc.other_sd_configs {
        if key.strip_suffix("_sd_configs").is_some_and(|m| SD_MECHANISMS.contains(&m)) {
            crate::sd::validate(key, list)?;
        }
    }
    Ok(())
}

fn validate(cfg: &mut Config) -> Result<(), Error> {
    if cfg.global.scrape_timeout == crate::types::UNSET {
        cfg.global.scrape_timeout = Duration(10_000).min(cfg.global.scrape_interval);
    }
    let g = &cfg.global;
    if g.scrape_timeout > g.scrape_interval {
        return Err(Error::Invalid("global scrape timeout greater than scrape interval".into()));
    }
    for (k, v) in &g.external_labels {
        if k.is_empty() {
            return Err(Error::Invalid("empty label name in external_labels".into()));
        }
        if v.is_empty() {
            return Err(Error::Invalid(format!("empty value for label name {k:?}")));
        }
    }
    let utf8 = g.metric_name_validation_scheme.as_deref() != Some("legacy");
    if let Some(s) = &g.metric_name_validation_scheme {
        validation_scheme(s)?;
    }
    if !g.scrape_protocols.is_empty() {
        check_protocols(&g.scrape_protocols)
            .map_err(|e| Error::Invalid(format!("{e} for global config")))?;
    }
    if let Some(st) = &cfg.storage {
        crate::sd::storage(st)?;
    }
    if let Some(t) = &cfg.tracing {
        crate::sd::tracing(t)?;
    }
    if let Some(o) = &cfg.otlp {
        crate::sd::otlp(o, utf8)?;
    }
    // Prometheus checks service discovery blocks while decoding, before the scrape configs' own rules.
    for sc in &cfg.scrape_configs {
        validate_sd(sc)?;
    }
    crate::remote::validate_remote_write(&cfg.remote_write)?;
    crate::remote::validate_remote_read(&cfg.remote_read)?;
    if let Some(a) = &cfg.alerting {
        crate::remote::validate_alerting(a)?;
        crate::AlertingConfig::from_value(a)?;
    }
    for rf in &cfg.rule_files {
        if !valid_glob_path(rf) {
            return Err(Error::Invalid(format!(
                "invalid rule file path {}",
                model::gostr::quote(rf)
            )));
        }
    }
    for sf in &cfg.scrape_config_files {
        if !valid_glob_path(sf) {
            return Err(Error::Invalid(format!(
                "invalid scrape config file path {}",
                model::gostr::quote(sf)
            )));
        }
    }
    let global = cfg.global.clone();
    let mut names = HashSet::new();
    for sc in &mut cfg.scrape_configs {
        if sc.job_name.is_empty() {
            return Err(Error::Invalid("job_name is empty".into()));
        }
        if !names.insert(sc.job_name.clone()) {
            return Err(Error::Invalid(format!(
                "found multiple scrape configs with job name {:?}",
                sc.job_name
            )));
        }
        validate_scrape(sc, &global, utf8)?;
    }
    Ok(())
}

/// Prometheus's rule for `rule_files` and `scrape_config_files` entries: a `*` may only appear in the last path
/// element (`^[^*]*(\*[^/]*)?$`).
fn valid_glob_path(p: &str) -> bool {
    p.find('*').is_none_or(|i| !p[i..].contains('/'))
}

/// A name validation scheme as the Go decoder reads it: `legacy` or `utf8`, or empty for unset.
fn validation_scheme(s: &str) -> Result<&str, Error> {
    match s {
        "" | "legacy" | "utf8" => Ok(s),
        other => Err(Error::Invalid(format!(
            "unrecognized ValidationScheme: {}",
            model::gostr::quote(other)
        ))),
    }
}

/// Prometheus's checks of a `scrape_protocols` list: duplicates (ignoring case) and unknown names, in order.
fn check_protocols(list: &[String]) -> Result<(), String> {
    const SUPPORTED: &str = "supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]";
    for (i, p) in list.iter().enumerate() {
        if list[..i].iter().any(|q| q.eq_ignore_ascii_case(p)) {
            return Err(format!(
                "duplicated protocol in scrape_protocols, got [{}]",
                list.join(" ")
            ));
        }
        if !PROTOCOLS.contains(&p.as_str()) {
            return Err(format!("scrape_protocols: unknown scrape protocol {p}, {SUPPORTED}"));
        }
    }
    Ok(())
}

/// The escaping schemes Prometheus knows.
const ESCAPINGS: &[&str] = &["allow-utf-8", "underscores", "dots", "values"];

/// The name validation and escaping of a scrape config, inherited from `global` as Prometheus does.
fn validate_name_schemes(sc: &ScrapeConfig, g: &crate::GlobalConfig) -> Result<(), Error> {
    let global_validation = g.metric_name_validation_scheme.as_deref().unwrap_or("utf8");
    let local_unset = sc.metric_name_validation_scheme.as_deref().is_none_or(str::is_empty);
    let validation = match sc.metric_name_validation_scheme.as_deref() {
        None | Some("") => global_validation,
        Some(v) => validation_scheme(v)?,
    };
    let by_validation = |v: &str| if v == "legacy" { "underscores" } else { "allow-utf-8" };
    let must_be = "must be one of 'allow-utf-8', 'underscores', 'dots', or 'values'";
    let global_escaping = match g.metric_name_escaping_scheme.as_deref() {
        None | Some("") => by_validation(global_validation),
        Some(e) if ESCAPINGS.contains(&e) => e,
        Some(e) => {
            return Err(Error::Invalid(format!(
                "unknown global name escaping method specified, {must_be}, got {}",
                model::gostr::quote(e)
            )));
        }
    };
    let escaping = match sc.metric_name_escaping_scheme.as_deref() {
        None | Some("") if local_unset => global_escaping,
        None | Some("") => by_validation(validation),
        Some(e) => e,
    };
    match escaping {
        "allow-utf-8" if validation != "utf8" => Err(Error::Invalid(
            "utf8 metric names requested but validation scheme is not set to UTF8".into(),
        )),
        e if ESCAPINGS.contains(&e) => Ok(()),
        e => Err(Error::Invalid(format!(
            "unknown scrape config name escaping method specified, {must_be}, got {}",
            model::gostr::quote(e)
        ))),
    }
}

fn validate_scrape(
    sc: &mut ScrapeConfig,
    g: &crate::GlobalConfig,
    utf8: bool,
) -> Result<(), Error> {
    let job = sc.job_name.clone();
    for key in sc.other_sd_configs.keys() {
        let known = key.strip_suffix("_sd_configs").is_some_and(|m| SD_MECHANISMS.contains(&m));
        if !known {
            return Err(Error::Invalid(format!("field {key} not found in type config.plain")));
        }
    }
    let interval = sc.scrape_interval.unwrap_or(g.scrape_interval);
    sc.scrape_interval = Some(interval);
    let timeout = match sc.scrape_timeout {
        Some(t) => t,
        None if g.scrape_timeout > interval => interval,
        None => g.scrape_timeout,
    };
    if timeout > interval {
        return Err(Error::Invalid(format!(
            "scrape timeout greater than scrape interval for scrape config with job name {job:?}"
        )));
    }
    if interval == Duration(0) {
        return Err(Error::Invalid(format!(
            "scrape interval must be greater than zero for scrape config with job name {job:?}"
        )));
    }
    sc.scrape_timeout = Some(timeout);
    if sc.scheme != "http" && sc.scheme != "https" {
        return Err(Error::Invalid(format!("scheme {:?} not supported", sc.scheme)));
    }
    if !sc.metrics_path.starts_with('/') {
        return Err(Error::Invalid(format!(
            "metrics_path {:?} must start with /",
            sc.metrics_path
        )));
    }
    sc.body_size_limit.get_or_insert(g.body_size_limit);
    sc.sample_limit.get_or_insert(g.sample_limit);
    sc.target_limit.get_or_insert(g.target_limit);
    sc.label_limit.get_or_insert(g.label_limit);
    sc.label_name_length_limit.get_or_insert(g.label_name_length_limit);
    sc.label_value_length_limit.get_or_insert(g.label_value_length_limit);
    sc.keep_dropped_targets.get_or_insert(g.keep_dropped_targets);
    if sc.scrape_protocols.is_empty() {
        sc.scrape_protocols = if g.scrape_protocols.is_empty() {
            default_protocols(
                sc.scrape_native_histograms.or(g.scrape_native_histograms).unwrap_or(false),
            )
        } else {
            g.scrape_protocols.clone()
        };
    }
    check_protocols(&sc.scrape_protocols)
        .map_err(|e| Error::Invalid(format!("{e} for scrape config with job name {job:?}")))?;
    if let Some(p) = &sc.fallback_scrape_protocol
        && !p.is_empty()
        && !PROTOCOLS.contains(&p.as_str())
    {
        let e = check_protocols(std::slice::from_ref(p)).expect_err("an unknown protocol fails");
        let e = e.trim_start_matches("scrape_protocols: ");
        return Err(Error::Invalid(format!(
            "invalid fallback_scrape_protocol for scrape config with job name {job:?}: {e}"
        )));
    }
    let has_bearer = sc.bearer_token.is_some() || sc.bearer_token_file.is_some();
    if sc.bearer_token.is_some() && sc.bearer_token_file.is_some() {
        return Err(Error::Invalid(
            "at most one of bearer_token & bearer_token_file must be configured".into(),
        ));
    }
    if sc.basic_auth.is_some() && (has_bearer || sc.authorization.is_some()) {
        return Err(Error::Invalid(
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured".into(),
        ));
    }
    if has_bearer && sc.authorization.is_some() {
        return Err(Error::Invalid(
            "authorization is not compatible with bearer_token & bearer_token_file".into(),
        ));
    }
    for (i, st) in sc.static_configs.iter().enumerate() {
        for (k, v) in &st.labels {
            if k.is_empty() || (!utf8 && !model::is_valid_legacy_label_name(k)) {
                return Err(Error::Invalid(format!("{k:?} is not a valid label name")));
            }
            let _ = (i, v);
        }
        for t in &st.targets {
            if t.contains('/') {
                return Err(Error::Invalid(format!("{t:?} is not a valid hostname")));
            }
        }
    }
    validate_name_schemes(sc, g)?;
    for r in sc.relabel_configs.iter().chain(sc.metric_relabel_configs.iter()) {
        r.validate(utf8).map_err(|e| Error::Invalid(e.to_string()))?;
    }
    Ok(())
}

const PROTOCOLS: &[&str] = &[
    "PrometheusProto",
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
];

fn default_protocols(native_histograms: bool) -> Vec<String> {
    let order: &[&str] = if native_histograms {
        &[
            "PrometheusProto",
            "OpenMetricsText1.0.0",
            "OpenMetricsText0.0.1",
            "PrometheusText1.0.0",
            "PrometheusText0.0.4",
        ]
    } else {
        &[
            "OpenMetricsText1.0.0",
            "OpenMetricsText0.0.1",
            "PrometheusText1.0.0",
            "PrometheusText0.0.4",
        ]
    };
    order.iter().map(|s| s.to_string()).collect()
}

impl Config {
    /// The configuration as `/api/v1/status/config` shows it: YAML with defaults filled in and secrets hidden.
    pub fn to_yaml_string(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_default()
    }

    /// The `alerting` section, decoded (validated at load, so this only fails for configs built by hand).
    pub fn alerting_config(&self) -> Result<crate::AlertingConfig, Error> {
        match &self.alerting {
            Some(a) => crate::AlertingConfig::from_value(a),
            None => Ok(crate::AlertingConfig::default()),
        }
    }
}

mod binary;
mod glob;

/// Whether the path element `name` matches the shell pattern `pattern` as Go's `filepath.Match` decides (`*`, `?`,
/// `[…]` with ranges and `^`, `\` escapes); `None` for a pattern Go refuses. `rule_files` share it with
/// `scrape_config_files`.
pub fn glob_match(pattern: &str, name: &str) -> Option<bool> {
    glob::matches(pattern, name).ok()
}
mod include;

#[cfg(test)]
mod tests;
