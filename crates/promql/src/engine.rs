//! Query execution: parsing, evaluation with limits, and shaping the result.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use model::{LabelsBuilder, METRIC_NAME_LABEL};
use promql_syntax::{Expr, ParserOptions, ValueType, parse_expr};
use rustc_hash::FxHashSet;
use storage::Queryable;

use crate::annotations::{Annotation, Annotations};
use crate::error::QueryError;
use crate::eval::{Ctx, EvalValue, Evaluator, merge_same_labels};
use crate::gate::Gate;
use crate::stats_decoding::stats_selectors;
use crate::value::{Matrix, QueryValue, Sample, Series};

/// Engine settings (Prometheus's `--query.*` flags and feature flags).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (ms).
    pub lookback_delta: i64,
    /// Maximum samples held in memory by one query.
    pub max_samples: usize,
    /// Maximum evaluation time.
    pub timeout: Option<Duration>,
    /// Step of subqueries written without one (ms).
    pub no_step_subquery_interval: i64,
    /// Experimental syntax accepted by the parser.
    pub parser: ParserOptions,
    /// Remove `__name__` only when the query finishes (`promql-delayed-name-removal`).
    pub delayed_name_removal: bool,
    /// Queries evaluated at once (`--query.max-concurrency`); 0 is no limit.
    pub max_concurrency: usize,
    /// Queries that may wait for a slot; more are refused as unavailable.
    pub max_queued: usize,
    /// Use the start timestamps storage keeps with samples in `rate`, `increase`, `irate`, `resets` and
    /// `start_timestamp` (`use-start-timestamps`).
    pub use_start_timestamps: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Some(Duration::from_secs(120)),
            no_step_subquery_interval: 60_000,
            parser: ParserOptions::default(),
            delayed_name_removal: false,
            max_concurrency: 0,
            max_queued: 0,
            use_start_timestamps: false,
        }
    }
}

/// Statistics of one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Samples processed over the whole query.
    pub total_samples: u64,
    /// Peak samples held at once.
    pub peak_samples: usize,
}

/// The outcome of a query: a value or an error, plus annotations either way.
#[derive(Debug)]
pub struct QueryResult {
    /// The value.
    pub value: Result<QueryValue, QueryError>,
    /// Warnings and infos.
    pub annotations: Vec<Annotation>,
    /// Statistics.
    pub stats: QueryStats,
}

/// The query engine. Clones share the concurrency limit.
#[derive(Debug, Clone)]
pub struct Engine {
    opts: EngineOptions,
    gate: Arc<Gate>,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new(EngineOptions::default())
    }
}

impl Engine {
    /// An engine with `opts`.
    pub fn new(opts: EngineOptions) -> Engine {
        let gate = Arc::new(Gate::new(opts.max_concurrency, opts.max_queued));
        Engine { opts, gate }
    }

    /// The options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Parses `q` with the engine's parser options, rendering errors as Prometheus does.
    pub fn parse(&self, q: &str) -> Result<Expr, QueryError> {
        parse_expr(q, &self.opts.parser).map_err(|e| QueryError::Parse(e.render(q)))
    }

    /// Evaluates `q` at time `t` (ms).
    pub fn instant_query(
        &self,
        queryable: &dyn Queryable,
        q: &str,
        t: i64,
        cancel: Option<&AtomicBool>,
    ) -> QueryResult {
        self.run(queryable, q, t, t, 0, cancel, self.opts.lookback_delta)
    }

    /// Evaluates `q` from `start` to `end` every `step` ms.
    pub fn range_query(
        &self,
        queryable: &dyn Queryable,
        q: &str,
        start: i64,
        end: i64,
        step: i64,
        cancel: Option<&AtomicBool>,
    ) -> QueryResult {
        self.run(queryable, q, start, end, step, cancel, self.opts.lookback_delta)
    }

    /// Like [`Engine::instant_query`]/[`Engine::range_query`] with an explicit lookback delta (`step == 0` means
    /// instant).
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        queryable: &dyn Queryable,
        q: &str,
        start: i64,
        end: i64,
        step: i64,
        cancel: Option<&AtomicBool>,
        lookback: i64,
    ) -> QueryResult {
        let fail = |e| QueryResult {
            value: Err(e),
            annotations: Vec::new(),
            stats: QueryStats::default(),
        };
        let expr = match self.parse(q) {
            Ok(e) => e,
            Err(e) => return fail(e),
        };
        let ty = expr.value_type();
        if step > 0 && ty != ValueType::Scalar && ty != ValueType::Vector {
            return fail(QueryError::BadData(format!(
                "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                ty.name()
            )));
        }
        // The timeout runs from here: waiting for a slot counts.
        let deadline = self.opts.timeout.map(|t| Instant::now() + t);
        let _permit = match self.gate.enter(deadline, cancel) {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
        let ctx = Ctx {
            queryable,
            lookback: if lookback > 0 { lookback } else { self.opts.lookback_delta },
            max_samples: self.opts.max_samples,
            current_samples: Cell::new(0),
            total_samples: Cell::new(0),
            annos: RefCell::new(Annotations::default()),
            deadline,
            cancel,
            no_step_subquery_interval: self.opts.no_step_subquery_interval,
            query_start: start,
            query_end: end,
            query_step: step,
            stats_selectors: stats_selectors(&expr),
            use_start_timestamps: self.opts.use_start_timestamps,
        };
        let ev = Evaluator { ctx: &ctx, start, end, interval: step.max(1) };
        let value = ev.eval(&expr).and_then(|v| shape(v, ty, start, step == 0));
        let stats = QueryStats {
            total_samples: ctx.total_samples.get(),
            peak_samples: ctx.current_samples.get(),
        };
        let annotations = ctx.annos.borrow().render(q);
        QueryResult { value, annotations, stats }
    }
}

fn drop_name(s: &mut Series) {
    if s.drop_name {
        let mut b = LabelsBuilder::new();
        b.reset(&s.metric);
        b.del(METRIC_NAME_LABEL);
        b.del("__type__");
        b.del("__unit__");
        s.metric = b.labels();
        s.drop_name = false;
    }
}

fn shape(v: EvalValue, ty: ValueType, start: i64, instant: bool) -> Result<QueryValue, QueryError> {
    let mut m: Matrix = match v {
        EvalValue::String(s) => return Ok(QueryValue::String { t: start, v: s }),
        EvalValue::Matrix(m) => m,
    };
    if instant && ty == ValueType::Scalar {
        let v = m.first().and_then(|s| s.floats.first()).map(|p| p.f).unwrap_or(f64::NAN);
        return Ok(QueryValue::Scalar { t: start, v });
    }
    for s in &mut m {
        drop_name(s);
    }
    if instant && ty == ValueType::Vector {
        let mut seen = FxHashSet::default();
        let mut out = Vec::with_capacity(m.len());
        for s in m {
            if !seen.insert(s.metric.clone()) {
                return Err(QueryError::Execution(
                    "vector cannot contain metrics with the same labelset".into(),
                ));
            }
            let (f, h) = match (s.floats.first(), s.histograms.first()) {
                (_, Some(h)) => (0.0, Some(h.h.clone())),
                (Some(p), None) => (p.f, None),
                (None, None) => continue,
            };
            out.push(Sample { metric: s.metric, t: start, f, h, drop_name: false });
        }
        return Ok(QueryValue::Vector(out));
    }
    // Series that collide once names are dropped merge when their points do not overlap.
    let mut merged = merge_same_labels(m)?;
    merged.sort_by(|a, b| a.metric.cmp(&b.metric));
    Ok(QueryValue::Matrix(merged))
}
