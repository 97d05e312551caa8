//! `/api/v1/rules`, `/api/v1/alerts` and `/api/v1/alertmanagers`, served from the [`RulesRetriever`] the binary
//! implements over the rule manager and the notifier.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use model::{Labels, Matcher};
use serde_json::{Value as Json, json};

use crate::ApiError;
use crate::api::ApiOptions;
use crate::params::Params;

/// An alert as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertInfo {
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// `pending`, `firing` or `inactive`.
    pub state: String,
    /// When it became active.
    pub active_at: Option<SystemTime>,
    /// When `keep_firing_for` started holding it.
    pub keep_firing_since: Option<SystemTime>,
    /// The expression's value.
    pub value: f64,
}

/// What kind of rule, with the kind's own fields.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// A recording rule.
    Recording,
    /// An alerting rule.
    Alerting {
        /// The rule state (highest alert state).
        state: String,
        /// `for`.
        duration: Duration,
        /// `keep_firing_for`.
        keep_firing_for: Duration,
        /// Annotation templates.
        annotations: Labels,
        /// Active alerts (pending or firing).
        alerts: Vec<AlertInfo>,
    },
}

/// A rule as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    /// Record or alert name.
    pub name: String,
    /// Expression text.
    pub query: String,
    /// Rule labels.
    pub labels: Labels,
    /// `ok`, `err` or `unknown`.
    pub health: String,
    /// Error of the last evaluation, empty if none.
    pub last_error: String,
    /// Duration of the last evaluation.
    pub evaluation_time: Duration,
    /// When it was last evaluated.
    pub last_evaluation: Option<SystemTime>,
    /// Kind-specific fields.
    pub kind: RuleKind,
}

/// A rule group as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroupInfo {
    /// Group name.
    pub name: String,
    /// File it came from.
    pub file: String,
    /// Evaluation interval.
    pub interval: Duration,
    /// Result limit (0: none).
    pub limit: i64,
    /// The rules.
    pub rules: Vec<RuleInfo>,
    /// Duration of the last evaluation.
    pub evaluation_time: Duration,
    /// When it was last evaluated.
    pub last_evaluation: Option<SystemTime>,
}

/// Read access to rules and Alertmanagers.
pub trait RulesRetriever: Send + Sync {
    /// The rule groups, sorted by file and name.
    fn rule_groups(&self) -> Vec<RuleGroupInfo>;
    /// URLs of active and dropped Alertmanagers.
    fn alertmanagers(&self) -> (Vec<String>, Vec<String>);
}

type St = State<Arc<ApiOptions>>;

fn ok(data: Json) -> Response {
    ([("Content-Type", "application/json")], json!({"status": "success", "data": data}).to_string())
        .into_response()
}

fn labels_json(l: &Labels) -> Json {
    Json::Object(
        l.iter().map(|x| (x.name.to_string(), Json::String(x.value.to_string()))).collect(),
    )
}

fn time_json(t: Option<SystemTime>) -> Json {
    Json::String(match t {
        Some(t) => chrono::DateTime::<chrono::Utc>::from(t)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => "0001-01-01T00:00:00Z".to_string(),
    })
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: shortest round-trip digits in exponent form (`1e+00`).
pub(crate) fn format_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

fn alert_json(a: &AlertInfo) -> Json {
    let mut j = json!({
        "labels": labels_json(&a.labels),
        "annotations": labels_json(&a.annotations),
        "state": a.state,
        "activeAt": time_json(a.active_at),
        "value": format_e(a.value),
    });
    if let Some(k) = a.keep_firing_since {
        j["keepFiringSince"] = time_json(Some(k));
    }
    j
}

fn retriever(s: &ApiOptions) -> Result<&Arc<dyn RulesRetriever>, ApiError> {
    s.rules.as_ref().ok_or_else(|| ApiError::internal("rules are not available"))
}

/// `GET /api/v1/alerts`.
pub(crate) async fn alerts(State(s): St) -> Result<Response, ApiError> {
    let r = retriever(&s)?;
    let mut out = Vec::new();
    for g in r.rule_groups() {
        for rule in &g.rules {
            if let RuleKind::Alerting { alerts, .. } = &rule.kind {
                out.extend(alerts.iter().map(alert_json));
            }
        }
    }
    Ok(ok(json!({ "alerts": out })))
}

/// `GET /api/v1/alertmanagers`.
pub(crate) async fn alertmanagers(State(s): St) -> Result<Response, ApiError> {
    let r = retriever(&s)?;
    let (active, dropped) = r.alertmanagers();
    let urls = |v: Vec<String>| v.into_iter().map(|u| json!({ "url": u })).collect::<Vec<_>>();
    Ok(ok(json!({ "activeAlertmanagers": urls(active), "droppedAlertmanagers": urls(dropped) })))
}

fn invalid_param(param: &str, msg: String) -> ApiError {
    ApiError::bad_data(format!("invalid parameter {param:?}: {msg}"))
}

fn next_token(file: &str, group: &str) -> String {
    sha256_hex(format!("{file};{group}").as_bytes())
}

/// `GET|POST /api/v1/rules`.
pub(crate) async fn rules(
    State(s): St,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let r = retriever(&s)?;
    let p = Params::parse(q.as_deref(), &body);
    let url_only = Params::parse(q.as_deref(), b"");
    let set = |k: &str| p.all(k).into_iter().map(str::to_string).collect::<BTreeSet<String>>();
    let (names, groups, files) = (set("rule_name[]"), set("rule_group[]"), set("file[]"));
    let matcher_sets: Vec<Vec<Matcher>> = p
        .all("match[]")
        .into_iter()
        .map(|m| crate::parse_selector(m).map_err(ApiError::bad_data))
        .collect::<Result<_, _>>()?;
    let typ = url_only.get("type").unwrap_or("").to_lowercase();
    if !typ.is_empty() && typ != "alert" && typ != "record" {
        return Err(invalid_param("type", format!("not supported value {typ:?}")));
    }
    let exclude = match url_only.get("exclude_alerts").unwrap_or("").to_lowercase().as_str() {
        "" => false,
        v => parse_go_bool(v).ok_or_else(|| {
            invalid_param(
                "exclude_alerts",
                format!("error converting exclude_alerts: strconv.ParseBool: parsing {v:?}: invalid syntax"),
            )
        })?,
    };
    let token = url_only.get("group_next_token").unwrap_or("").to_string();
    let max_groups = match url_only.get("group_limit") {
        None | Some("") if !token.is_empty() => {
            return Err(invalid_param(
                "group_next_token",
                "group_limit needs to be present in order to paginate over the groups".into(),
            ));
        }
        None | Some("") => 0,
        Some(v) => match v.parse::<i32>() {
            Ok(n) if n > 0 => n as usize,
            Ok(_) => {
                return Err(invalid_param(
                    "group_limit",
                    "group_limit needs to be greater than 0".into(),
                ));
            }
            Err(_) => {
                return Err(invalid_param(
                    "group_limit",
                    format!(
                        "group_limit needs to be a valid number: strconv.ParseInt: parsing {v:?}: invalid syntax"
                    ),
                ));
            }
        },
    };
    let mut out = Vec::new();
    let mut next = None;
    let mut found = false;
    for g in r.rule_groups() {
        if max_groups > 0 && !token.is_empty() && !found {
            if token != next_token(&g.file, &g.name) {
                continue;
            }
            found = true;
        }
        if (!groups.is_empty() && !groups.contains(&g.name))
            || (!files.is_empty() && !files.contains(&g.file))
        {
            continue;
        }
        let mut rules = Vec::new();
        for rule in &g.rules {
            if !names.is_empty() && !names.contains(&rule.name) {
                continue;
            }
            if !matcher_sets.is_empty()
                && !matcher_sets
                    .iter()
                    .any(|ms| ms.iter().all(|m| m.matches(rule.labels.get(&m.name))))
            {
                continue;
            }
            let mut j = json!({
                "name": rule.name,
                "query": pretty_query(&rule.query),
                "labels": labels_json(&rule.labels),
                "health": rule.health,
                "evaluationTime": rule.evaluation_time.as_secs_f64(),
                "lastEvaluation": time_json(rule.last_evaluation),
            });
            match &rule.kind {
                RuleKind::Recording => {
                    if typ == "alert" {
                        continue;
                    }
                    j["type"] = json!("recording");
                }
                RuleKind::Alerting { state, duration, keep_firing_for, annotations, alerts } => {
                    if typ == "record" {
                        continue;
                    }
                    j["state"] = json!(state);
                    j["duration"] = json!(duration.as_secs_f64());
                    j["keepFiringFor"] = json!(keep_firing_for.as_secs_f64());
                    j["annotations"] = labels_json(annotations);
                    j["alerts"] = if exclude {
                        Json::Null
                    } else {
                        Json::Array(alerts.iter().map(alert_json).collect())
                    };
                    j["type"] = json!("alerting");
                }
            }
            if !rule.last_error.is_empty() {
                j["lastError"] = json!(rule.last_error);
            }
            rules.push(j);
        }
        if rules.is_empty() {
            continue;
        }
        if max_groups > 0 && out.len() == max_groups {
            next = Some(next_token(&g.file, &g.name));
            break;
        }
        out.push(json!({
            "name": g.name,
            "file": g.file,
            "rules": rules,
            "interval": g.interval.as_secs_f64(),
            "limit": g.limit,
            "evaluationTime": g.evaluation_time.as_secs_f64(),
            "lastEvaluation": time_json(g.last_evaluation),
        }));
    }
    if max_groups > 0 && !token.is_empty() && !found {
        return Err(invalid_param(
            "group_next_token",
            format!("invalid group_next_token '{token}'. were rule groups changed?"),
        ));
    }
    let mut data = json!({ "groups": out });
    if let Some(n) = next {
        data["groupNextToken"] = json!(n);
    }
    Ok(ok(data))
}

/// The expression as Prometheus prints it (its `Query().String()`), or as written when it does not parse.
fn pretty_query(q: &str) -> String {
    promql_syntax::parse_expr(q, &promql_syntax::ParserOptions::all())
        .map(|e| e.to_string())
        .unwrap_or_else(|_| q.to_string())
}

fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "true" => Some(true),
        "0" | "f" | "false" => Some(false),
        _ => None,
    }
}

/// SHA-256 (FIPS 180-4), hex encoded; used only for pagination tokens.
fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (i, b) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7].wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), v[0], v[1], v[2], v[3].wrapping_add(t1), v[4], v[5], v[6]];
        }
        for (a, b) in h.iter_mut().zip(v) {
            *a = a.wrapping_add(b);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn go_exponent_format() {
        assert_eq!(format_e(1.0), "1e+00");
        assert_eq!(format_e(0.5), "5e-01");
        assert_eq!(format_e(1234.5), "1.2345e+03");
        assert_eq!(format_e(1e-300), "1e-300");
        assert_eq!(format_e(0.0), "0e+00");
    }
}
