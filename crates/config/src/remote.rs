//! Validation of the sections kept as generic YAML until their features land (`remote_write`, `remote_read`,
//! `alerting`), with Prometheus's messages.

use std::collections::HashSet;

use serde_json::Value as Any;

use crate::Error;

fn invalid(s: impl Into<String>) -> Result<(), Error> {
    Err(Error::Invalid(s.into()))
}

fn no_null_items(v: &Any, key: &str, msg: &str) -> Result<(), Error> {
    if let Some(items) = v.get(key).and_then(Any::as_array)
        && items.iter().any(Any::is_null)
    {
        return invalid(msg);
    }
    Ok(())
}

fn duration_ms(v: Option<&Any>, default: i64) -> i64 {
    v.and_then(Any::as_str).and_then(|s| model::parse_duration(s).ok()).unwrap_or(default)
}

/// Headers Prometheus reserves for the remote protocols.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "retry-after",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
];

fn check_headers(v: &Any) -> Result<(), Error> {
    let Some(headers) = v.get("headers").and_then(Any::as_object) else { return Ok(()) };
    for name in headers.keys() {
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" {
            return invalid(
                "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
            );
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return invalid(format!("{lower} is a reserved header. It must not be changed"));
        }
    }
    Ok(())
}

/// Validates `remote_write` entries.
pub(crate) fn validate_remote_write(entries: &[Any]) -> Result<(), Error> {
    let mut names = HashSet::new();
    for rw in entries {
        if rw.is_null() {
            return invalid("empty or null remote write config section");
        }
        if rw.get("url").and_then(Any::as_str).is_none_or(str::is_empty) {
            return invalid("url for remote_write is empty");
        }
        no_null_items(
            rw,
            "write_relabel_configs",
            "empty or null relabeling rule in remote write config",
        )?;
        check_headers(rw)?;
        if let Some(name) = rw.get("name").and_then(Any::as_str).filter(|n| !n.is_empty())
            && !names.insert(name.to_string())
        {
            return invalid(format!("found multiple remote write configs with job name {name:?}"));
        }
        if let Some(msg) = rw.get("protobuf_message").and_then(Any::as_str)
            && msg != "prometheus.WriteRequest"
            && msg != "io.prometheus.write.v2.Request"
        {
            return invalid(format!(
                "invalid protobuf_message value: unknown type for remote write protobuf message {msg}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
            ));
        }
        if let Some(q) = rw.get("queue_config") {
            let int = |k: &str, d: i64| q.get(k).and_then(Any::as_i64).unwrap_or(d);
            for (key, default, what) in [
                ("max_samples_per_send", 2000, "max_samples_per_send"),
                ("max_shards", 50, "max_shards"),
                ("min_shards", 1, "min_shards"),
                ("capacity", 10000, "capacity"),
            ] {
                if int(key, default) <= 0 {
                    return invalid(format!("remote write queue {what} must be positive"));
                }
            }
            if int("min_shards", 1) > int("max_shards", 50) {
                return invalid(
                    "remote write queue min_shards must not be greater than max_shards",
                );
            }
            if duration_ms(q.get("max_backoff"), 5_000) < duration_ms(q.get("min_backoff"), 30) {
                return invalid("remote write queue max_backoff must not be less than min_backoff");
            }
        }
    }
    Ok(())
}

/// Validates `remote_read` entries.
pub(crate) fn validate_remote_read(entries: &[Any]) -> Result<(), Error> {
    let mut names = HashSet::new();
    for rr in entries {
        if rr.is_null() {
            return invalid("empty or null remote read config section");
        }
        if rr.get("url").and_then(Any::as_str).is_none_or(str::is_empty) {
            return invalid("url for remote_read is empty");
        }
        check_headers(rr)?;
        if let Some(name) = rr.get("name").and_then(Any::as_str).filter(|n| !n.is_empty())
            && !names.insert(name.to_string())
        {
            return invalid(format!("found multiple remote read configs with job name {name:?}"));
        }
    }
    Ok(())
}

/// Validates the `alerting` section.
pub(crate) fn validate_alerting(alerting: &Any) -> Result<(), Error> {
    no_null_items(alerting, "alert_relabel_configs", "empty or null alert relabeling rule")?;
    if let Some(ams) = alerting.get("alertmanagers").and_then(Any::as_array) {
        for am in ams {
            no_null_items(
                am,
                "relabel_configs",
                "empty or null Alertmanager target relabeling rule",
            )?;
            no_null_items(
                am,
                "alert_relabel_configs",
                "empty or null Alertmanager alert relabeling rule",
            )?;
        }
    }
    Ok(())
}
