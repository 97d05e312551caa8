//! Cross-origin headers on the API, as Prometheus sets them (`--web.cors.origin`, a fully anchored regular
//! expression): every API response varies by `Origin`; a request with an `Origin` gets the allowed headers,
//! methods and exposed headers, and `Access-Control-Allow-Origin` when the origin matches (`*` for the default
//! `.*`). `OPTIONS` on any API path is a preflight answered with success.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The allowed origins.
#[derive(Debug, Clone)]
pub struct CorsOrigin {
    re: regex::Regex,
    any: bool,
}

impl CorsOrigin {
    /// Compiles `pattern` anchored at both ends, as Prometheus does.
    pub fn new(pattern: &str) -> Result<CorsOrigin, regex::Error> {
        let re = regex::Regex::new(&format!("^(?:{pattern})$"))?;
        Ok(CorsOrigin { any: pattern == ".*", re })
    }
}

const HEADERS: [(&str, &str); 3] = [
    ("access-control-allow-headers", "Accept, Authorization, Content-Type, Origin"),
    ("access-control-allow-methods", "GET, POST, OPTIONS"),
    ("access-control-expose-headers", "Date"),
];

pub(crate) async fn layer(
    State(origin): State<Option<Arc<CorsOrigin>>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(origin) = origin.filter(|_| req.uri().path().starts_with("/api/v1/")) else {
        return next.run(req).await;
    };
    let from = req.headers().get(header::ORIGIN).cloned();
    let mut resp = if req.method() == Method::OPTIONS {
        ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"success","data":null}"#)
            .into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(from) = from else { return resp };
    for (k, v) in HEADERS {
        h.insert(k, HeaderValue::from_static(v));
    }
    if origin.any {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    } else if from.to_str().is_ok_and(|o| origin.re.is_match(o)) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, from);
    }
    resp
}
