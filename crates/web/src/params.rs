//! Request parameters: GET query strings and form-encoded POST bodies merged, and Prometheus's time parsing.

use crate::ApiError;

/// Earliest timestamp the API accepts by default, in milliseconds.
pub(crate) const MIN_TIME: i64 = -9_223_309_901_257_974;
/// Latest timestamp the API accepts by default, in milliseconds.
pub(crate) const MAX_TIME: i64 = 9_223_309_901_257_974;

/// All parameters of a request, in order (query string first, then the form body).
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(query: Option<&str>, body: &[u8]) -> Params {
        let mut v: Vec<(String, String)> = Vec::new();
        if let Some(q) = query {
            v.extend(
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
        }
        v.extend(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())));
        Params(v)
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// A time parameter in milliseconds, or `default` when absent or empty.
    pub(crate) fn time(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(s) => parse_time(s)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter {name:?}: {e}"))),
        }
    }

    /// A non-negative integer `limit`-style parameter (0 when absent).
    pub(crate) fn limit(&self, name: &str) -> Result<usize, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(0),
            Some(s) => {
                s.parse::<i64>().ok().filter(|n| *n >= 0).map(|n| n as usize).ok_or_else(|| {
                    ApiError::bad_data(format!(
                        "invalid parameter {name:?}: cannot parse {s:?} to a valid limit"
                    ))
                })
            }
        }
    }
}

/// Parses a timestamp as Prometheus's API does: Unix seconds (with fractions) or RFC 3339.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        let secs = f.trunc();
        let frac = ((f - secs) * 1000.0).round();
        return Ok(secs as i64 * 1000 + frac as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    match s {
        "-292273086-05-16T16:47:06Z" => Ok(MIN_TIME),
        "292277025-08-18T07:12:54.999999999Z" => Ok(MAX_TIME),
        _ => Err(format!("cannot parse {s:?} to a valid timestamp")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000.123"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T23:13:20.5+01:00"), Ok(1_700_000_000_500));
        assert_eq!(parse_time("x"), Err("cannot parse \"x\" to a valid timestamp".to_string()));
        let p = Params::parse(Some("start=abc"), b"");
        assert_eq!(
            p.time("start", 0).unwrap_err().message,
            "invalid parameter \"start\": cannot parse \"abc\" to a valid timestamp"
        );
        let p = Params::parse(Some("match[]=a"), b"match[]=b&limit=3");
        assert_eq!(p.all("match[]"), vec!["a", "b"]);
        assert_eq!(p.limit("limit").unwrap(), 3);
    }
}
