//! `/federate`: the newest sample (within the lookback delta) of every series matching the `match[]` selectors,
//! with the server's external labels, in the text exposition format.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use exposition::{EncodeFormat, Family, encode_families};
use model::{Labels, MetricType, is_stale_nan};
use storage::{SelectHints, ValueKind};

use crate::api::ApiOptions;
use crate::params::Params;
use crate::{ApiError, parse_selector};

/// How far back the newest sample may be (Prometheus's default lookback delta).
const LOOKBACK_MS: i64 = 5 * 60 * 1000;

pub(crate) async fn federate(
    State(s): State<Arc<ApiOptions>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), &body);
    let sets: Vec<_> = p
        .all("match[]")
        .into_iter()
        .map(|m| parse_selector(m).map_err(ApiError::bad_data))
        .collect::<Result<_, _>>()?;
    let now = chrono::Utc::now().timestamp_millis();
    let external = s.status.external_labels();
    let text = tokio::task::spawn_blocking(move || -> Result<String, ApiError> {
        let (mint, maxt) = (now - LOOKBACK_MS, now);
        let q = s.queryable.querier(mint, maxt).map_err(|e| ApiError::internal(e.to_string()))?;
        let hints = SelectHints {
            start: mint,
            end: maxt,
            func: Some("series".into()),
            ..Default::default()
        };
        let mut latest: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
        for m in &sets {
            let mut set = q.select(true, Some(&hints), m);
            while let Some(series) = set.next() {
                let mut c = series.cursor();
                let mut last = None;
                while c.next() == ValueKind::Float {
                    last = Some(c.at());
                }
                if let Some((t, v)) = last.filter(|(_, v)| !is_stale_nan(*v)) {
                    latest.insert(series.labels, (t, v));
                }
            }
        }
        let mut families: BTreeMap<String, Family> = BTreeMap::new();
        for (labels, (t, v)) in latest {
            let mut b = labels.builder();
            for (k, val) in &external {
                if b.get(k).is_empty() {
                    b.set(k, val);
                }
            }
            let name = labels.metric_name().to_string();
            let fam = families.entry(name.clone()).or_insert_with(|| Family {
                name,
                metric_type: MetricType::Unknown,
                help: String::new(),
                samples: Vec::new(),
            });
            fam.samples.push((b.labels(), v, Some(t)));
        }
        let fams: Vec<Family> = families.into_values().collect();
        Ok(encode_families(&fams, EncodeFormat::PrometheusText))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}
