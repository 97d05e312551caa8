//! Validation of the service discovery blocks kept as generic YAML until their providers land, with Prometheus's
//! messages. Prometheus validates these while decoding, so they run before the scrape config's own checks.

use serde_json::Value as Any;

use crate::Error;

fn invalid<T>(s: impl Into<String>) -> Result<T, Error> {
    Err(Error::Invalid(s.into()))
}

fn has(v: &Any, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null() && x.as_str() != Some(""))
}

fn text<'a>(v: &'a Any, key: &str) -> &'a str {
    v.get(key).and_then(Any::as_str).unwrap_or("")
}

/// The HTTP client checks every SD block with client settings shares.
fn http_client(v: &Any) -> Result<(), Error> {
    let bearer = has(v, "bearer_token") || has(v, "bearer_token_file");
    if has(v, "bearer_token") && has(v, "bearer_token_file") {
        return invalid("at most one of bearer_token & bearer_token_file must be configured");
    }
    if has(v, "basic_auth") && bearer {
        return invalid(
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        );
    }
    if has(v, "basic_auth") && has(v, "authorization") {
        return invalid("at most one of basic_auth, oauth2 & authorization must be configured");
    }
    if bearer && has(v, "authorization") {
        return invalid("authorization is not compatible with bearer_token & bearer_token_file");
    }
    Ok(())
}

fn http_url(u: &str) -> Result<(), Error> {
    match u.split_once("://") {
        Some(("http" | "https", rest)) => {
            if rest.split(['/', '?']).next().unwrap_or("").is_empty() {
                return invalid("host is missing in URL");
            }
            Ok(())
        }
        _ => invalid("URL scheme must be 'http' or 'https'"),
    }
}

/// The keys of Prometheus's inline HTTP client settings.
const HTTP_CLIENT_FIELDS: &[&str] = &[
    "basic_auth",
    "authorization",
    "oauth2",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "follow_redirects",
    "enable_http2",
    "http_headers",
];

/// The Go decoder's strict check: every key of mapping `v` must be a field of Go type `ty`.
fn known_fields(v: &Any, fields: &[&[&str]], ty: &str) -> Result<(), Error> {
    let Some(map) = v.as_object() else { return Ok(()) };
    match map.keys().find(|k| !fields.iter().any(|f| f.contains(&k.as_str()))) {
        Some(k) => invalid(format!("field {k} not found in type {ty}")),
        None => Ok(()),
    }
}

fn kubernetes(v: &Any) -> Result<(), Error> {
    // Decoding is strict and comes before the checks, so unknown fields are reported first.
    const FIELDS: &[&str] =
        &["api_server", "role", "kubeconfig_file", "namespaces", "selectors", "attach_metadata"];
    known_fields(v, &[FIELDS, HTTP_CLIENT_FIELDS], "kubernetes.plain")?;
    if let Some(ns) = v.get("namespaces") {
        known_fields(ns, &[&["own_namespace", "names"]], "kubernetes.plain")?;
    }
    for s in v.get("selectors").and_then(Any::as_array).into_iter().flatten() {
        known_fields(s, &[&["role", "label", "field"]], "kubernetes.SelectorConfig")?;
    }
    if let Some(m) = v.get("attach_metadata") {
        let fields: &[&str] = &["node", "namespace", "deployment", "job", "cronjob"];
        known_fields(m, &[fields], "kubernetes.AttachMetadataConfig")?;
    }
    let role = text(v, "role");
    const ROLES: &[&str] = &["endpoints", "endpointslice", "service", "pod", "node", "ingress"];
    if !ROLES.contains(&role) {
        return invalid(format!("unknown Kubernetes SD role {role:?}"));
    }
    let api = has(v, "api_server");
    let kubeconfig = has(v, "kubeconfig_file");
    if api && kubeconfig {
        return invalid("cannot use 'kubeconfig_file' and 'api_server' simultaneously");
    }
    let custom_http = [
        "basic_auth",
        "authorization",
        "oauth2",
        "bearer_token",
        "bearer_token_file",
        "tls_config",
        "proxy_url",
    ]
    .iter()
    .any(|k| has(v, k));
    if kubeconfig && custom_http {
        return invalid(
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
        );
    }
    if !api && !kubeconfig && custom_http {
        return invalid(
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        );
    }
    let own_ns = v
        .get("namespaces")
        .and_then(|n| n.get("own_namespace"))
        .and_then(Any::as_bool)
        .unwrap_or(false);
    if own_ns && api {
        return invalid("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
    }
    if own_ns && kubeconfig {
        return invalid(
            "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
        );
    }
    http_client(v)?;
    let Some(selectors) = v.get("selectors").and_then(Any::as_array) else { return Ok(()) };
    let single = [role];
    let allowed: &[&str] = match role {
        "endpoints" | "endpointslice" => &["pod", "service", "endpoints", "endpointslice"],
        "pod" => &["pod", "node"],
        _ => &single,
    };
    let mut seen = Vec::new();
    for s in selectors {
        let r = text(s, "role");
        if seen.contains(&r) {
            return invalid(format!("duplicated selector role: {r}"));
        }
        seen.push(r);
        if !allowed.contains(&r) {
            let list = match role {
                "endpoints" | "endpointslice" => "pod, service, endpoints".to_string(),
                "pod" => "pod, node".to_string(),
                other => other.to_string(),
            };
            return invalid(format!("{role} role supports only {list} selectors"));
        }
        for key in ["field", "label"] {
            let sel = text(s, key);
            for part in split_requirements(sel) {
                let part = part.trim();
                let has_op =
                    part.contains('=') || part.contains(" in ") || part.contains(" notin ");
                // Field selectors need an operator; label selectors may also test for existence (`key`, `!key`).
                let existence = key == "label"
                    && part
                        .trim_start_matches('!')
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
                if !part.is_empty() && !has_op && !existence {
                    return invalid(format!(
                        "invalid selector: '{sel}'; can't understand '{part}'"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Exactly one of `secret_key` and `secret_key_file`.
fn secret_pair(v: &Any) -> Result<(), Error> {
    match (has(v, "secret_key"), has(v, "secret_key_file")) {
        (false, false) => invalid("one of secret_key & secret_key_file must be configured"),
        (true, true) => invalid("at most one of secret_key & secret_key_file must be configured"),
        _ => Ok(()),
    }
}

/// Splits a selector on the commas that separate requirements (not those inside `in (a,b)` sets).
fn split_requirements(sel: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in sel.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&sel[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&sel[start..]);
    out
}

fn marathon(v: &Any) -> Result<(), Error> {
    if v.get("servers").and_then(Any::as_array).is_none_or(Vec::is_empty) {
        return invalid("marathon_sd: must contain at least one Marathon server");
    }
    let token = has(v, "auth_token");
    let token_file = has(v, "auth_token_file");
    if token && token_file {
        return invalid(
            "marathon_sd: at most one of auth_token & auth_token_file must be configured",
        );
    }
    let any_token = token || token_file;
    if any_token && has(v, "basic_auth") {
        return invalid(
            "marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured",
        );
    }
    if any_token && (has(v, "bearer_token") || has(v, "bearer_token_file")) {
        return invalid(
            "marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured",
        );
    }
    if any_token && has(v, "authorization") {
        return invalid(
            "marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured",
        );
    }
    http_client(v)
}

fn azure(v: &Any) -> Result<(), Error> {
    let method = v.get("authentication_method").and_then(Any::as_str).unwrap_or("OAuth");
    if !has(v, "subscription_id") {
        return invalid("azure SD configuration requires a subscription_id");
    }
    if method == "OAuth" {
        for (k, msg) in [
            ("tenant_id", "azure SD configuration requires a tenant_id"),
            ("client_id", "azure SD configuration requires a client_id"),
            ("client_secret", "azure SD configuration requires a client_secret"),
        ] {
            if !has(v, k) {
                return invalid(msg);
            }
        }
    }
    const METHODS: [&str; 4] = ["OAuth", "ManagedIdentity", "SDK", "WorkloadIdentity"];
    if !METHODS.contains(&method) {
        let [a, b, c, d] = METHODS;
        return invalid(format!(
            "unknown authentication_type {method:?}. Supported types are {a:?}, {b:?}, {c:?} or {d:?}"
        ));
    }
    http_client(v)
}

/// Oracle Cloud: a region, then the settings of the chosen authentication method.
fn oci(v: &Any) -> Result<(), Error> {
    if !has(v, "region") {
        return invalid("oci_sd: region is required");
    }
    const KEY_FIELDS: [&str; 4] = ["tenancy", "user", "fingerprint", "key_file"];
    let passphrases = has(v, "key_passphrase") || has(v, "key_passphrase_file");
    match v.get("auth").and_then(Any::as_str).unwrap_or("api_key") {
        "api_key" => {
            if let Some(k) = KEY_FIELDS.iter().find(|k| !has(v, k)) {
                return invalid(format!("oci_sd: api_key auth requires {k}"));
            }
            if has(v, "key_passphrase") && has(v, "key_passphrase_file") {
                return invalid(
                    "oci_sd: at most one of key_passphrase and key_passphrase_file must be configured",
                );
            }
        }
        "instance_principal" => {
            if passphrases || KEY_FIELDS.iter().any(|k| has(v, k)) {
                return invalid(
                    "oci_sd: instance_principal auth must not have tenancy, user, fingerprint, key_file, key_passphrase, or key_passphrase_file set",
                );
            }
        }
        other => {
            return invalid(format!(
                "oci_sd: unknown auth method {other:?}, expected \"api_key\" or \"instance_principal\""
            ));
        }
    }
    for (i, c) in v.get("compartments").and_then(Any::as_array).into_iter().flatten().enumerate() {
        if c.as_str().is_none_or(str::is_empty) {
            return invalid(format!("oci_sd: compartments[{i}] must not be empty"));
        }
    }
    http_client(v)
}

fn puppetdb(v: &Any) -> Result<(), Error> {
    if !has(v, "url") {
        return invalid("URL is missing");
    }
    http_url(text(v, "url"))?;
    if !has(v, "query") {
        return invalid("query missing");
    }
    http_client(v)
}

fn eureka(v: &Any) -> Result<(), Error> {
    if !has(v, "server") {
        return invalid("empty or null eureka server");
    }
    if http_url(text(v, "server")).is_err() {
        return invalid("invalid eureka server URL");
    }
    http_client(v)
}

/// Validates every `<mechanism>_sd_configs` list of one scrape config.
pub(crate) fn validate(key: &str, list: &Any) -> Result<(), Error> {
    let Some(items) = list.as_array() else { return Ok(()) };
    for v in items {
        match key {
            "kubernetes_sd_configs" => kubernetes(v)?,
            "marathon_sd_configs" => marathon(v)?,
            "azure_sd_configs" => azure(v)?,
            "oci_sd_configs" => oci(v)?,
            "puppetdb_sd_configs" => puppetdb(v)?,
            "eureka_sd_configs" => eureka(v)?,
            "http_sd_configs" => {
                http_url(text(v, "url"))?;
                http_client(v)?;
            }
            "hetzner_sd_configs" if !matches!(text(v, "role"), "robot" | "hcloud") => {
                return invalid(format!("unknown role {:?}", text(v, "role")));
            }
            "scaleway_sd_configs" => {
                if !matches!(text(v, "role"), "instance" | "baremetal") {
                    return invalid(format!("unknown role {:?}", text(v, "role")));
                }
                secret_pair(v)?;
            }
            "outscale_sd_configs" => {
                if !has(v, "region") {
                    return invalid("outscale SD configuration requires a region");
                }
                secret_pair(v)?;
            }
            "uyuni_sd_configs" => {
                if !has(v, "server") {
                    return invalid("Uyuni SD configuration requires server host");
                }
                http_client(v)?;
            }
            "ionos_sd_configs" if !has(v, "datacenter_id") => {
                return invalid("datacenter id can't be empty");
            }
            "ovhcloud_sd_configs" => {
                if !has(v, "application_secret") {
                    return invalid("application secret can not be empty");
                }
                let service = text(v, "service");
                if !matches!(service, "vps" | "dedicated_server") {
                    return invalid(format!("unknown service: {service}"));
                }
            }
            "stackit_sd_configs" => {
                let e = text(v, "endpoint");
                if !e.is_empty() && http_url(e).is_err() {
                    return invalid(format!("invalid endpoint {e:?}"));
                }
                http_client(v)?;
            }
            "openstack_sd_configs" => {
                // A role that is there is checked while decoding, the rest afterwards (availability defaults
                // to public).
                let role = text(v, "role");
                if v.get("role").is_some_and(|r| !r.is_null())
                    && !matches!(role, "hypervisor" | "instance" | "loadbalancer")
                {
                    return invalid(format!("unknown OpenStack SD role {role:?}"));
                }
                if let Some(a) = v.get("availability").and_then(Any::as_str)
                    && !matches!(a, "public" | "admin" | "internal")
                {
                    return invalid(format!(
                        "unknown availability {a}, must be one of admin, internal or public"
                    ));
                }
                if role.is_empty() {
                    return invalid("role missing (one of: instance, hypervisor, loadbalancer)");
                }
                if !has(v, "region") {
                    return invalid("openstack SD configuration requires a region");
                }
            }
            "ec2_sd_configs" => {
                for f in v.get("filters").and_then(Any::as_array).into_iter().flatten() {
                    if f.get("values").and_then(Any::as_array).is_none_or(Vec::is_empty) {
                        return invalid("EC2 SD configuration filter values cannot be empty");
                    }
                }
                http_client(v)?;
            }
            _ => http_client(v)?,
        }
    }
    Ok(())
}

/// Validates the `storage` section.
pub(crate) fn storage(v: &Any) -> Result<(), Error> {
    let Some(tsdb) = v.get("tsdb") else { return Ok(()) };
    if let Some(w) = tsdb.get("out_of_order_time_window") {
        match w.as_str() {
            Some(d) => {
                model::parse_duration(d).map_err(|e| Error::Invalid(e.to_string()))?;
            }
            None if w.is_null() => {}
            None => return invalid(format!("not a valid duration string: {w:?}")),
        }
    }
    if let Some(r) = tsdb.get("retention") {
        if let Some(t) = r.get("time").and_then(Any::as_str) {
            model::parse_duration(t).map_err(|e| Error::Invalid(e.to_string()))?;
        }
        if let Some(sz) = r.get("size").and_then(Any::as_str)
            && sz.starts_with('-')
        {
            return invalid("'storage.tsdb.retention.size' must be greater than or equal to 0");
        }
        if let Some(p) = r.get("percentage").and_then(Any::as_f64)
            && !(0.0..=100.0).contains(&p)
        {
            return invalid("'storage.tsdb.retention.percentage' must be in the range [0, 100]");
        }
    }
    if let Some(f) = tsdb.get("chunk_encoding").and_then(|c| c.get("floats")).and_then(Any::as_str)
        && f != "xor"
        && f != "xor2"
    {
        return invalid(format!(
            "'storage.tsdb.chunk_encoding.floats' must be 'xor' or 'xor2', or the field must be omitted entirely, got {f:?}"
        ));
    }
    Ok(())
}

/// Validates the `tracing` section.
pub(crate) fn tracing(v: &Any) -> Result<(), Error> {
    if v.as_object().is_none_or(|o| o.is_empty()) {
        return Ok(());
    }
    if !has(v, "endpoint") {
        return invalid("tracing endpoint must be set");
    }
    if let Some(h) = v.get("headers").and_then(Any::as_object) {
        for k in h.keys() {
            let lower = k.to_ascii_lowercase();
            if lower == "authorization" {
                return invalid("authorization header configuration is not yet supported");
            }
            if lower.starts_with("x-prometheus-")
                || lower == "user-agent"
                || lower == "content-type"
            {
                return invalid(format!("{lower} is a reserved header. It must not be changed"));
            }
        }
    }
    if let Some(c) = v.get("compression").and_then(Any::as_str)
        && !c.is_empty()
        && c != "gzip"
    {
        return invalid(format!("invalid compression type {c} provided, valid options: gzip"));
    }
    Ok(())
}

/// Validates the `otlp` section; `utf8` is whether the global name validation allows UTF-8.
pub(crate) fn otlp(v: &Any, utf8: bool) -> Result<(), Error> {
    let list = |k: &str| -> Vec<&str> {
        v.get(k).and_then(Any::as_array).into_iter().flatten().filter_map(Any::as_str).collect()
    };
    let promote = list("promote_resource_attributes");
    let ignore = list("ignore_resource_attributes");
    if v.get("promote_all_resource_attributes").and_then(Any::as_bool).unwrap_or(false) {
        if !promote.is_empty() {
            return invalid(
                "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
            );
        }
        attributes(&ignore, "ignored")
            .map_err(|e| Error::Invalid(format!("invalid 'ignore_resource_attributes': {e}")))?;
    } else {
        if !ignore.is_empty() {
            return invalid(
                "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true",
            );
        }
        attributes(&promote, "promoted")
            .map_err(|e| Error::Invalid(format!("invalid 'promote_resource_attributes': {e}")))?;
    }
    match text(v, "translation_strategy") {
        "" | "UnderscoreEscapingWithSuffixes" | "UnderscoreEscapingWithoutSuffixes" => Ok(()),
        s @ ("NoTranslation" | "NoUTF8EscapingWithSuffixes") if !utf8 => {
            invalid(format!("OTLP translation strategy {s:?} is not allowed when UTF8 is disabled"))
        }
        "NoTranslation" | "NoUTF8EscapingWithSuffixes" => Ok(()),
        s => invalid(format!("unsupported OTLP translation strategy {s:?}")),
    }
}

/// Every problem of an OTel resource attribute list (trimmed names must be non-empty and distinct), one a line.
fn attributes(names: &[&str], adjective: &str) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for name in names.iter().map(|n| n.trim()) {
        if name.is_empty() {
            problems.push(format!("empty {adjective} OTel resource attribute"));
        } else if !seen.insert(name) {
            problems.push(format!("duplicated {adjective} OTel resource attribute {name:?}"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}
