//! `query instant|range|series|labels`: HTTP API clients that print results the way promtool does.
//!
//! promtool prints a vector sample as `{labels} => value @[unix.millis]`, a matrix series as `{labels} =>` followed
//! by one `value @[time]` line per sample, and a scalar as `scalar: value @[time]`; `-o json` prints the `data`
//! object of the API response instead.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::Error;

/// Output format of query commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// promtool's text rendering.
    #[default]
    Promql,
    /// The API response's `data` as JSON.
    Json,
}

/// A client for one Prometheus-compatible server.
#[derive(Debug, Clone)]
pub struct Client {
    base: url::Url,
    http: reqwest::Client,
}

impl Client {
    /// A client for the server at `server` (for example `http://localhost:9090`).
    pub fn new(server: &str) -> Result<Client, Error> {
        let mut base = url::Url::parse(server)
            .map_err(|e| Error::Url { url: server.to_string(), message: e.to_string() })?;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        Ok(Client { base, http: reqwest::Client::new() })
    }

    async fn api(&self, path: &str, params: &[(&str, String)]) -> Result<Json, Error> {
        let url = self
            .base
            .join(path)
            .map_err(|e| Error::Url { url: path.to_string(), message: e.to_string() })?;
        let resp = self
            .http
            .post(url)
            .form(params)
            .send()
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| Error::Http(e.to_string()))?;
        let v: Json = serde_json::from_str(&body)
            .map_err(|e| Error::Api(format!("decode response (status {status}): {e}: {body}")))?;
        if v["status"] != "success" {
            let kind = v["errorType"].as_str().unwrap_or("unknown");
            let msg = v["error"].as_str().unwrap_or("");
            return Err(Error::Api(format!("{kind}: {msg}")));
        }
        Ok(v)
    }

    /// `query instant`: evaluates `expr` at `time` (RFC 3339 or Unix seconds; now when `None`).
    pub async fn instant(
        &self,
        expr: &str,
        time: Option<&str>,
        format: Format,
    ) -> Result<String, Error> {
        let mut params = vec![("query", expr.to_string())];
        if let Some(t) = time {
            params.push(("time", t.to_string()));
        }
        let v = self.api("api/v1/query", &params).await?;
        Ok(render(&v, format))
    }

    /// `query range`: evaluates `expr` from `start` to `end` every `step`.
    pub async fn range(
        &self,
        expr: &str,
        start: &str,
        end: &str,
        step: &str,
        format: Format,
    ) -> Result<String, Error> {
        let params = vec![
            ("query", expr.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.to_string()),
        ];
        let v = self.api("api/v1/query_range", &params).await?;
        Ok(render(&v, format))
    }

    /// `query series`: the series matching every selector in `matches`.
    pub async fn series(
        &self,
        matches: &[String],
        start: Option<&str>,
        end: Option<&str>,
        format: Format,
    ) -> Result<String, Error> {
        let mut params: Vec<(&str, String)> =
            matches.iter().map(|m| ("match[]", m.clone())).collect();
        push_range(&mut params, start, end);
        let v = self.api("api/v1/series", &params).await?;
        if format == Format::Json {
            return Ok(format!("{}\n", v["data"]));
        }
        let mut out = String::new();
        for s in v["data"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "{}", labels_text(s));
        }
        Ok(out)
    }

    /// `query labels`: the values of label `name`.
    pub async fn label_values(
        &self,
        name: &str,
        matches: &[String],
        start: Option<&str>,
        end: Option<&str>,
        format: Format,
    ) -> Result<String, Error> {
        let mut params: Vec<(&str, String)> =
            matches.iter().map(|m| ("match[]", m.clone())).collect();
        push_range(&mut params, start, end);
        let url = self
            .base
            .join("api/v1/label/")
            .and_then(|u| u.join(&format!("{name}/values")))
            .map_err(|e| Error::Url { url: name.to_string(), message: e.to_string() })?;
        let resp = self
            .http
            .get(url)
            .query(&params)
            .send()
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let body = resp.text().await.map_err(|e| Error::Http(e.to_string()))?;
        let v: Json =
            serde_json::from_str(&body).map_err(|e| Error::Api(format!("decode response: {e}")))?;
        if v["status"] != "success" {
            return Err(Error::Api(v["error"].as_str().unwrap_or("").to_string()));
        }
        if format == Format::Json {
            return Ok(format!("{}\n", v["data"]));
        }
        let mut out = String::new();
        for s in v["data"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "{}", s.as_str().unwrap_or(""));
        }
        Ok(out)
    }
}

fn push_range(params: &mut Vec<(&str, String)>, start: Option<&str>, end: Option<&str>) {
    if let Some(s) = start {
        params.push(("start", s.to_string()));
    }
    if let Some(e) = end {
        params.push(("end", e.to_string()));
    }
}

/// Renders an API query response (`{"status":"success","data":{…}}`).
pub fn render(v: &Json, format: Format) -> String {
    if format == Format::Json {
        return format!("{}\n", v["data"]);
    }
    let data = &v["data"];
    let mut out = String::new();
    match data["resultType"].as_str() {
        Some("vector") => {
            for s in data["result"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "{} => {}",
                    labels_text(&s["metric"]),
                    point_text(&s["value"], &s["histogram"])
                );
            }
        }
        Some("matrix") => {
            for s in data["result"].as_array().into_iter().flatten() {
                let _ = writeln!(out, "{} =>", labels_text(&s["metric"]));
                for p in s["values"].as_array().into_iter().flatten() {
                    let _ = writeln!(out, "{}", point_text(p, &Json::Null));
                }
                for p in s["histograms"].as_array().into_iter().flatten() {
                    let _ = writeln!(out, "{}", point_text(&Json::Null, p));
                }
            }
        }
        Some("scalar") => {
            let _ = writeln!(out, "scalar: {}", point_text(&data["result"], &Json::Null));
        }
        Some("string") => {
            let r = &data["result"];
            let _ = writeln!(out, "{} @[{}]", r[1].as_str().unwrap_or(""), time_text(&r[0]));
        }
        _ => {}
    }
    out
}

fn time_text(t: &Json) -> String {
    let secs = t.as_f64().unwrap_or(0.0);
    let ms = (secs * 1000.0).round() as i64;
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn point_text(p: &Json, h: &Json) -> String {
    if !p.is_null() {
        return format!("{} @[{}]", p[1].as_str().unwrap_or(""), time_text(&p[0]));
    }
    format!("{} @[{}]", h[1], time_text(&h[0]))
}

/// `{a="1", b="2"}` with the metric name in front, as Go's `model.Metric.String`.
fn labels_text(m: &Json) -> String {
    let Some(obj) = m.as_object() else { return "{}".to_string() };
    let name = obj.get("__name__").and_then(Json::as_str).unwrap_or("");
    let mut pairs: Vec<(&String, &str)> = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| (k, v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    if inner.is_empty() && !name.is_empty() {
        return name.to_string();
    }
    format!("{name}{{{}}}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_vectors_matrices_and_scalars() {
        let v: Json = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"vector","result":[
                {"metric":{"__name__":"up","job":"a","instance":"x:1"},"value":[1700000000.5,"1"]}]}}"#,
        )
        .unwrap();
        assert_eq!(
            render(&v, Format::Promql),
            "up{instance=\"x:1\", job=\"a\"} => 1 @[1700000000.500]\n"
        );
        let m: Json = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
                {"metric":{"job":"a"},"values":[[1,"1"],[2.25,"NaN"]]}]}}"#,
        )
        .unwrap();
        assert_eq!(render(&m, Format::Promql), "{job=\"a\"} =>\n1 @[1.000]\nNaN @[2.250]\n");
        let s: Json = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"scalar","result":[3,"2"]}}"#,
        )
        .unwrap();
        assert_eq!(render(&s, Format::Promql), "scalar: 2 @[3.000]\n");
    }

    #[tokio::test]
    async fn instant_query_against_a_loopback_server() {
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/api/v1/query",
            post(|body: String| async move {
                assert!(body.contains("query=up"), "{body}");
                r#"{"status":"success","data":{"resultType":"scalar","result":[10,"4"]}}"#
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        let c = Client::new(&format!("http://{addr}")).unwrap();
        assert_eq!(c.instant("up", None, Format::Promql).await.unwrap(), "scalar: 4 @[10.000]\n");
        let err = Client::new("not a url").unwrap_err();
        assert!(err.to_string().starts_with("parse server URL"), "{err}");
    }
}
