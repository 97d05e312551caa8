//! `/api/v1/parse_query`: the syntax tree of a query as JSON, in the shape Prometheus's UI tree view reads.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use promql_syntax::{
    AtModifier, Cardinality, DurOp, Duration, DurationExpr, Expr, ValueType, VectorSelector,
};
use serde_json::{Value as Json, json};

use crate::ApiError;
use crate::api::ApiOptions;
use crate::params::Params;

/// `GET|POST /api/v1/parse_query`.
pub(crate) async fn parse_query(
    State(s): State<Arc<ApiOptions>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), &body);
    let query = p.get("query").unwrap_or("");
    let expr = s.engine.parse(query).map_err(crate::query::query_error)?;
    Ok((
        [("Content-Type", "application/json")],
        json!({"status": "success", "data": translate(&expr)}).to_string(),
    )
        .into_response())
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest digits, never an exponent.
fn format_f(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v}");
    if !s.contains('e') {
        return s;
    }
    // Rust prints very small or large values in full with `{}` already; keep the fallback exact anyway.
    let digits = format!("{v:e}");
    let (mant, exp) = digits.split_once('e').unwrap_or((&digits, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let m: String = mant.trim_start_matches('-').chars().filter(|c| *c != '.').collect();
    let point = 1 + exp;
    let body = if point <= 0 {
        format!("0.{}{m}", "0".repeat((-point) as usize))
    } else if point as usize >= m.len() {
        format!("{m}{}", "0".repeat(point as usize - m.len()))
    } else {
        format!("{}.{}", &m[..point as usize], &m[point as usize..])
    };
    if neg { format!("-{body}") } else { body }
}

fn value_type(t: ValueType) -> &'static str {
    t.api_name()
}

fn dur_op(op: DurOp) -> &'static str {
    match op {
        DurOp::Add => "+",
        DurOp::Sub => "-",
        DurOp::Mul => "*",
        DurOp::Div => "/",
        DurOp::Mod => "%",
        DurOp::Pow => "^",
        DurOp::MinOf => "min_of",
        DurOp::MaxOf => "max_of",
    }
}

fn duration_expr(e: &DurationExpr) -> Json {
    match e {
        DurationExpr::Number { secs, text } => json!({
            "type": "numberLiteral",
            "val": format_f(*secs),
            "duration": text.chars().any(|c| c.is_ascii_alphabetic() && !matches!(c, 'e' | 'E' | 'x' | 'X')),
        }),
        DurationExpr::Step => {
            json!({"type": "durationExpr", "op": "step", "lhs": null, "rhs": null, "wrapped": false})
        }
        DurationExpr::Range => {
            json!({"type": "durationExpr", "op": "range", "lhs": null, "rhs": null, "wrapped": false})
        }
        DurationExpr::Neg(inner) => {
            json!({"type": "durationExpr", "op": "-", "lhs": null, "rhs": duration_expr(inner), "wrapped": false})
        }
        DurationExpr::Paren(inner) => {
            let mut j = duration_expr(inner);
            if j["type"] == "durationExpr" {
                j["wrapped"] = json!(true);
            }
            j
        }
        DurationExpr::Binary(op, a, b) => json!({
            "type": "durationExpr",
            "op": dur_op(*op),
            "lhs": duration_expr(a),
            "rhs": duration_expr(b),
            "wrapped": false,
        }),
    }
}

/// `(milliseconds, expression)` of an optional duration as Prometheus splits them.
fn duration(d: Option<&Duration>) -> (i64, Json) {
    match d {
        None => (0, Json::Null),
        Some(Duration::Literal(ms)) => (*ms, Json::Null),
        Some(Duration::Expr(e)) => (0, duration_expr(e)),
    }
}

fn at(at: Option<AtModifier>) -> Json {
    match at {
        None => Json::Null,
        Some(AtModifier::Start) => json!("start"),
        Some(AtModifier::End) => json!("end"),
    }
}

fn matchers(vs: &VectorSelector) -> Json {
    Json::Array(
        vs.matchers
            .iter()
            .map(|m| json!({"name": m.name, "value": m.value, "type": m.match_type.as_str()}))
            .collect(),
    )
}

fn card(c: Cardinality) -> &'static str {
    match c {
        Cardinality::OneToOne => "one-to-one",
        Cardinality::ManyToOne => "many-to-one",
        Cardinality::OneToMany => "one-to-many",
        Cardinality::ManyToMany => "many-to-many",
    }
}

/// The tree as Prometheus's `translateAST` writes it.
pub(crate) fn translate(e: &Expr) -> Json {
    match e {
        Expr::Aggregate(a) => json!({
            "type": "aggregation",
            "op": a.op.as_str(),
            "expr": translate(&a.expr),
            "param": a.param.as_ref().map_or(Json::Null, |p| translate(p)),
            "grouping": a.grouping,
            "without": a.without,
        }),
        Expr::Binary(b) => {
            let vectors =
                b.lhs.value_type() == ValueType::Vector && b.rhs.value_type() == ValueType::Vector;
            let matching = if vectors {
                let m = &b.matching;
                json!({
                    "card": card(m.card),
                    "labels": m.matching_labels,
                    "on": m.on,
                    "include": m.include,
                    "fillValues": {"lhs": m.fill_lhs, "rhs": m.fill_rhs},
                })
            } else {
                Json::Null
            };
            json!({
                "type": "binaryExpr",
                "op": b.op.as_str(),
                "lhs": translate(&b.lhs),
                "rhs": translate(&b.rhs),
                "matching": matching,
                "bool": b.return_bool,
            })
        }
        Expr::Call(c) => json!({
            "type": "call",
            "func": {
                "name": c.func.name,
                "argTypes": c.func.arg_types.iter().map(|t| value_type(*t)).collect::<Vec<_>>(),
                "variadic": c.func.variadic,
                "returnType": value_type(c.func.return_type),
            },
            "args": c.args.iter().map(translate).collect::<Vec<_>>(),
        }),
        Expr::MatrixSelector(m) => {
            let (range, range_expr) = duration(Some(&m.range));
            let (offset, offset_expr) = duration(m.vs.offset.as_ref());
            json!({
                "type": "matrixSelector",
                "name": m.vs.name,
                "range": range,
                "rangeExpr": range_expr,
                "offset": offset,
                "offsetExpr": offset_expr,
                "matchers": matchers(&m.vs),
                "timestamp": m.vs.timestamp,
                "startOrEnd": at(m.vs.at),
                "anchored": m.vs.anchored,
                "smoothed": m.vs.smoothed,
            })
        }
        Expr::Subquery(s) => {
            let (range, range_expr) = duration(Some(&s.range));
            let (offset, offset_expr) = duration(s.offset.as_ref());
            let (step, step_expr) = duration(s.step.as_ref());
            json!({
                "type": "subquery",
                "expr": translate(&s.expr),
                "range": range,
                "rangeExpr": range_expr,
                "offset": offset,
                "offsetExpr": offset_expr,
                "step": step,
                "stepExpr": step_expr,
                "timestamp": s.timestamp,
                "startOrEnd": at(s.at),
            })
        }
        Expr::Number(n) => json!({"type": "numberLiteral", "val": format_f(n.val)}),
        Expr::String(s) => json!({"type": "stringLiteral", "val": s.val}),
        Expr::Paren(p) => json!({"type": "parenExpr", "expr": translate(&p.expr)}),
        Expr::Unary(u) => json!({
            "type": "unaryExpr",
            "op": if u.neg { "-" } else { "+" },
            "expr": translate(&u.expr),
        }),
        Expr::VectorSelector(vs) => {
            let (offset, offset_expr) = duration(vs.offset.as_ref());
            json!({
                "type": "vectorSelector",
                "name": vs.name,
                "offset": offset,
                "offsetExpr": offset_expr,
                "matchers": matchers(vs),
                "timestamp": vs.timestamp,
                "startOrEnd": at(vs.at),
                "anchored": vs.anchored,
                "smoothed": vs.smoothed,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(q: &str) -> Json {
        translate(&promql_syntax::parse_expr(q, &promql_syntax::ParserOptions::all()).unwrap())
    }

    #[test]
    fn selectors_and_calls() {
        assert_eq!(
            tree("rate(http_requests_total{job=~\"a.*\"}[5m] offset 1m @ end())"),
            json!({
                "type": "call",
                "func": {"name": "rate", "argTypes": ["matrix"], "variadic": 0, "returnType": "vector"},
                "args": [{
                    "type": "matrixSelector",
                    "name": "http_requests_total",
                    "range": 300000,
                    "rangeExpr": null,
                    "offset": 60000,
                    "offsetExpr": null,
                    "matchers": [
                        {"name": "job", "value": "a.*", "type": "=~"},
                        {"name": "__name__", "value": "http_requests_total", "type": "="},
                    ],
                    "timestamp": null,
                    "startOrEnd": "end",
                    "anchored": false,
                    "smoothed": false,
                }],
            })
        );
    }

    #[test]
    fn aggregations_binaries_and_literals() {
        let t = tree("sum by (job) (a) / on (job) group_left (x) b > bool 1e21");
        assert_eq!(t["type"], "binaryExpr");
        assert_eq!(t["op"], ">");
        assert_eq!(t["bool"], true);
        assert_eq!(t["matching"], Json::Null);
        assert_eq!(t["rhs"], json!({"type": "numberLiteral", "val": "1000000000000000000000"}));
        let div = &t["lhs"];
        assert_eq!(div["op"], "/");
        assert_eq!(
            div["matching"],
            json!({"card": "many-to-one", "labels": ["job"], "on": true, "include": ["x"],
                   "fillValues": {"lhs": null, "rhs": null}})
        );
        assert_eq!(div["lhs"]["type"], "aggregation");
        assert_eq!(div["lhs"]["grouping"], json!(["job"]));
        assert_eq!(div["lhs"]["param"], Json::Null);
        assert_eq!(tree("-(1)")["expr"]["type"], "parenExpr");
        assert_eq!(tree("\"x\""), json!({"type": "stringLiteral", "val": "x"}));
    }

    #[test]
    fn subqueries_and_duration_expressions() {
        let t = tree("max_over_time(rate(x[1m])[10m:step()*2] offset -5m)");
        let s = &t["args"][0];
        assert_eq!(s["type"], "subquery");
        assert_eq!(s["range"], 600000);
        assert_eq!(s["offset"], -300000);
        assert_eq!(s["step"], 0);
        assert_eq!(s["stepExpr"]["op"], "*");
        assert_eq!(s["stepExpr"]["lhs"]["op"], "step");
        assert_eq!(format_f(0.000001), "0.000001");
        assert_eq!(format_f(-2.5), "-2.5");
    }
}
