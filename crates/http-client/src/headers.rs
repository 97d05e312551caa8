//! `http_headers` (name → `{values, secrets, files}`) and `proxy_connect_header` (name → values), both kept as
//! generic YAML by `config`, as header maps.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value as Any;

use crate::Error;

fn header_error(section: &'static str, name: &str, message: impl Into<String>) -> Error {
    Error::Header { section, name: name.to_string(), message: message.into() }
}

/// The entries of a header section, which must be a mapping (or absent).
fn entries<'a>(
    section: &'static str,
    v: Option<&'a Any>,
) -> Result<Vec<(&'a String, &'a Any)>, Error> {
    match v {
        None | Some(Any::Null) => Ok(Vec::new()),
        Some(Any::Object(m)) => Ok(m.iter().collect()),
        Some(_) => Err(header_error(section, "", "the section must be a mapping")),
    }
}

/// The strings of a list (or absent) under header `name`.
fn strings<'a>(
    section: &'static str,
    name: &str,
    v: Option<&'a Any>,
) -> Result<Vec<&'a str>, Error> {
    match v {
        None | Some(Any::Null) => Ok(Vec::new()),
        Some(Any::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().ok_or_else(|| header_error(section, name, "values must be strings"))
            })
            .collect(),
        Some(_) => Err(header_error(section, name, "expected a list of strings")),
    }
}

fn append(
    map: &mut HeaderMap,
    section: &'static str,
    name: &str,
    value: &str,
) -> Result<(), Error> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| header_error(section, name, "not a valid header name"))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| header_error(section, name, "a value is not a valid header value"))?;
    map.append(n, v);
    Ok(())
}

/// The header value files `http_headers` names.
pub(crate) fn files(v: Option<&Any>) -> Vec<String> {
    let Ok(entries) = entries("http_headers", v) else { return Vec::new() };
    let mut out = Vec::new();
    for (name, spec) in entries {
        if let Ok(fs) = strings("http_headers", name, spec.get("files")) {
            out.extend(fs.into_iter().map(str::to_string));
        }
    }
    out
}

/// The headers of `http_headers`, reading its files now (their content is trimmed of surrounding whitespace).
/// The values of one header are joined into one, separated by ", ": reqwest sends only one value of a default
/// header.
pub(crate) fn http_headers(v: Option<&Any>) -> Result<HeaderMap, Error> {
    const SECTION: &str = "http_headers";
    let mut map = HeaderMap::new();
    for (name, spec) in entries(SECTION, v)? {
        let mut values: Vec<String> = Vec::new();
        if let Some(unknown) = spec
            .as_object()
            .and_then(|o| o.keys().find(|k| !["values", "secrets", "files"].contains(&k.as_str())))
        {
            return Err(header_error(SECTION, name, format!("unknown field {unknown:?}")));
        }
        for value in strings(SECTION, name, spec.get("values"))? {
            values.push(value.to_string());
        }
        for value in strings(SECTION, name, spec.get("secrets"))? {
            values.push(value.to_string());
        }
        for path in strings(SECTION, name, spec.get("files"))? {
            let text = std::fs::read_to_string(path).map_err(|e| Error::ReadFile {
                what: "header value",
                path: path.to_string(),
                message: e.to_string(),
            })?;
            values.push(text.trim().to_string());
        }
        if !values.is_empty() {
            append(&mut map, SECTION, name, &values.join(", "))?;
        }
    }
    Ok(map)
}

/// The headers of `proxy_connect_header`.
pub(crate) fn proxy_connect_headers(v: Option<&Any>) -> Result<HeaderMap, Error> {
    const SECTION: &str = "proxy_connect_header";
    let mut map = HeaderMap::new();
    for (name, values) in entries(SECTION, v)? {
        for value in strings(SECTION, name, Some(values))? {
            append(&mut map, SECTION, name, value)?;
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_headers_read_values_secrets_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "from-file\n").unwrap();
        let v = serde_json::json!({
            "X-One": {"values": ["a", "b"], "secrets": ["s"]},
            "X-Two": {"files": [f.to_str().unwrap()]},
        });
        let map = http_headers(Some(&v)).unwrap();
        assert_eq!(map.get("x-one").unwrap(), "a, b, s");
        assert_eq!(map.get("x-two").unwrap(), "from-file");
        assert_eq!(files(Some(&v)), [f.to_str().unwrap().to_string()]);

        let missing = serde_json::json!({"X": {"files": ["/nonexistent/h"]}});
        assert!(
            http_headers(Some(&missing))
                .unwrap_err()
                .to_string()
                .starts_with("read header value \"/nonexistent/h\": ")
        );
        let bad = serde_json::json!({"X": {"value": ["a"]}});
        assert_eq!(
            http_headers(Some(&bad)).unwrap_err().to_string(),
            "invalid http_headers header \"X\": unknown field \"value\""
        );
    }

    #[test]
    fn proxy_connect_header_lists() {
        let v = serde_json::json!({"Proxy-Authorization": ["Basic abc"]});
        let map = proxy_connect_headers(Some(&v)).unwrap();
        assert_eq!(map.get("proxy-authorization").unwrap(), "Basic abc");
    }
}
