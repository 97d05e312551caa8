//! One target's scrape loop: fetch, parse, label processing, limits, staleness and the report series.
//!
//! Text bodies are ingested here, protobuf bodies in [`proto_ingest`]; both share the series cache and the
//! staleness bookkeeping ([`ScrapeLoop::begin_iteration`], [`ScrapeLoop::finish_iteration`]).

mod cache;
mod proto_ingest;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exposition::{Entry, Format, Parser};
use futures::StreamExt;
use model::{FloatHistogram, Histogram, Labels, LabelsBuilder, Metadata, Value, stale_nan};
use parking_lot::Mutex;
use storage::{AppendError, AppendOptions, Appendable, SeriesRef};
use tokio_util::sync::CancellationToken;

use crate::manager::ScrapeStats;
use crate::options::accept_header;
use crate::target::TargetHealth;
use crate::{Error, ScrapeOptions};

/// What the API needs to know about a target's latest scrape, shared with the manager.
#[derive(Debug, Default, Clone)]
pub(crate) struct State {
    pub(crate) health: TargetHealth,
    pub(crate) last_error: String,
    pub(crate) last_scrape: Option<SystemTime>,
    pub(crate) last_duration: Duration,
    /// Metric family metadata from the last successful scrape.
    pub(crate) metadata: HashMap<String, Metadata>,
}

/// The largest capacity a scrape reserves for its body up front (larger bodies still grow as needed).
const MAX_BODY_HINT: usize = 64 << 20;

/// An entry of the series cache: the final labels (None when metric relabeling dropped the series) and the
/// storage reference.
struct CacheEntry {
    labels: Option<Labels>,
    series_ref: SeriesRef,
    /// The last scrape that exposed the series.
    last_seen: u64,
    /// The last scrape that appended a sample of the series subject to staleness: one without its own timestamp,
    /// or any with `track_timestamps_staleness`. 0 = none.
    tracked: u64,
    /// `tracked` before the current scrape changed it, restored if that scrape fails.
    prev_tracked: u64,
    /// The kind of the last value appended, so a staleness marker matches the series.
    kind: SampleKind,
}

impl CacheEntry {
    fn new(labels: Option<Labels>) -> CacheEntry {
        CacheEntry {
            labels,
            series_ref: 0,
            last_seen: 0,
            tracked: 0,
            prev_tracked: 0,
            kind: SampleKind::Float,
        }
    }

    /// Records a successful append in scrape `iter`; `tracked` says whether the sample is subject to staleness.
    fn appended(&mut self, series_ref: SeriesRef, kind: SampleKind, iter: u64, tracked: bool) {
        self.series_ref = series_ref;
        self.kind = kind;
        if tracked && self.tracked != iter {
            self.prev_tracked = self.tracked;
            self.tracked = iter;
        }
    }
}

/// What kind of value a series holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SampleKind {
    Float,
    Histogram,
    FloatHistogram,
}

impl SampleKind {
    fn of(v: &Value) -> SampleKind {
        match v {
            Value::Float(_) => SampleKind::Float,
            Value::Histogram(_) => SampleKind::Histogram,
            Value::FloatHistogram(_) => SampleKind::FloatHistogram,
        }
    }

    /// The staleness marker for a series of this kind: the stale NaN as the float value or the histogram sum (what
    /// Prometheus's TSDB stores when a float marker is appended to a histogram series).
    fn stale_marker(self) -> Value {
        match self {
            SampleKind::Float => Value::Float(stale_nan()),
            SampleKind::Histogram => {
                Value::Histogram(Arc::new(Histogram { sum: stale_nan(), ..Histogram::default() }))
            }
            SampleKind::FloatHistogram => Value::FloatHistogram(Arc::new(FloatHistogram {
                sum: stale_nan(),
                ..FloatHistogram::default()
            })),
        }
    }
}

pub(crate) struct ScrapeLoop {
    pub(crate) target_labels: Labels,
    pub(crate) url: String,
    pub(crate) opts: Arc<ScrapeOptions>,
    pub(crate) client: http_client::Client,
    pub(crate) storage: Arc<dyn Appendable>,
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) stats: Arc<ScrapeStats>,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    /// When set (for example `target_limit` exceeded), every scrape fails with this error without a request.
    pub(crate) forced_error: Option<Error>,
    /// Keyed on the raw series text (see [`cache`]).
    cache: cache::SeriesCache<CacheEntry>,
    /// Metadata of the families of the last scrape (the text path's working copy; see `MetadataUpdate`).
    metadata: HashMap<String, Metadata>,
    /// Whether `metadata` changed since it was last published in the target state.
    metadata_dirty: bool,
    /// Capacity for the next body: about the size of the last one.
    body_hint: std::sync::atomic::AtomicUsize,
    /// Id of the last successful scrape: cache entries seen in it are the target's live series.
    iteration: u64,
    /// `interval` as Go prints it, the label of the interval-length metric.
    interval_label: String,
    /// When the previous scrape started.
    last_start: Option<Instant>,
    /// The scheduled time of the latest scrape (ms), for timestamp alignment.
    aligned_ms: Option<i64>,
}

/// Prometheus's default `--scrape.timestamp-tolerance`.
const DEFAULT_TIMESTAMP_TOLERANCE: Duration = Duration::from_millis(2);

/// The timestamp of a scrape starting at `now_ms` when the previous scheduled time was `aligned` (ms): that
/// schedule moved on by whole intervals, and `now_ms` replaced by the nearest scheduled time when within
/// `tolerance` of it (capped at 1 % of the interval). Returns the timestamp and the new scheduled time.
///
/// Prometheus aligns only scrapes that start late. Ours are also aligned when they start up to the tolerance
/// early: the schedule is kept in wall-clock milliseconds while the ticker runs on the monotonic clock, so a wall
/// clock that is being slewed, or a millisecond boundary, puts a punctual scrape a millisecond before its time
/// about as often as after it, and each of those would cost two irregular deltas in the chunk.
pub(crate) fn align_timestamp(
    now_ms: i64,
    aligned: Option<i64>,
    interval: Duration,
    tolerance: Duration,
) -> (i64, i64) {
    let Some(a) = aligned else { return (now_ms, now_ms) };
    let interval_ms = (interval.as_millis() as i64).max(1);
    let tol_ms = tolerance.min(interval / 100).as_millis() as i64;
    // The nearest scheduled time after the previous one.
    let steps = (now_ms - a + interval_ms / 2).div_euclid(interval_ms);
    let expected = a + steps * interval_ms;
    if steps >= 1 && (now_ms - expected).abs() <= tol_ms {
        return (expected, expected);
    }
    (now_ms, a + (now_ms - a).div_euclid(interval_ms).max(0) * interval_ms)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl ScrapeLoop {
    #[allow(clippy::too_many_arguments, reason = "a plain constructor of the loop's parts")]
    pub(crate) fn new(
        target_labels: Labels,
        url: String,
        opts: Arc<ScrapeOptions>,
        client: http_client::Client,
        storage: Arc<dyn Appendable>,
        stats: Arc<ScrapeStats>,
        interval: Duration,
        timeout: Duration,
    ) -> ScrapeLoop {
        ScrapeLoop {
            target_labels,
            url,
            opts,
            client,
            storage,
            state: Arc::new(Mutex::new(State::default())),
            stats,
            interval,
            timeout,
            forced_error: None,
            cache: cache::SeriesCache::new(),
            body_hint: std::sync::atomic::AtomicUsize::new(0),
            metadata: HashMap::new(),
            metadata_dirty: false,
            iteration: 0,
            interval_label: model::format_go_duration(interval),
            last_start: None,
            aligned_ms: None,
        }
    }

    /// Runs until `cancel` fires, then writes staleness markers for every series of the target.
    pub(crate) async fn run(mut self, cancel: CancellationToken) {
        let interval_ns = self.interval.as_nanos().max(1) as u64;
        let hash = fnv64a(self.target_labels.to_string().as_bytes()) ^ fnv64a(self.url.as_bytes());
        let now_ns =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        let offset = (hash % interval_ns + interval_ns - now_ns % interval_ns) % interval_ns;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_nanos(offset)) => {}
        }
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_ts = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ticker.tick() => {}
            }
            last_ts = Some(self.scrape_and_report().await);
        }
        if last_ts.is_some() {
            self.end_of_run_staleness();
        }
    }

    /// One scrape: fetch, append, report. Returns the scrape timestamp.
    pub(crate) async fn scrape_and_report(&mut self) -> i64 {
        let started = Instant::now();
        if let (Some(last), Some(o)) = (self.last_start, self.stats.intervals.get()) {
            o.observe(&self.interval_label, started.duration_since(last));
        }
        self.last_start = Some(started);
        let wall = SystemTime::now();
        let mut ts = now_ms();
        let tolerance =
            *self.stats.align_tolerance.get().unwrap_or(&Some(DEFAULT_TIMESTAMP_TOLERANCE));
        if let Some(tol) = tolerance {
            let (t, a) = align_timestamp(ts, self.aligned_ms, self.interval, tol);
            ts = t;
            self.aligned_ms = Some(a);
        }
        let fetched = match &self.forced_error {
            Some(e) => Err(e.clone()),
            None => self.fetch().await,
        };
        let body_len = fetched.as_ref().map(|(b, _)| b.len()).unwrap_or(0);
        if body_len > 0 {
            // A little more than the last body: targets grow.
            let hint = (body_len + body_len / 16).min(MAX_BODY_HINT);
            self.body_hint.store(hint, std::sync::atomic::Ordering::Relaxed);
        }
        let result = match fetched {
            Ok((body, ctype)) => self.append_body(&body, &ctype, ts),
            Err(e) => Err((e, Counted::default())),
        };
        let duration = started.elapsed();
        let (report, err) = match result {
            Ok(r) => (r, None),
            Err((e, counted)) => {
                let limit_counter = match e {
                    Error::SampleLimit => Some(&self.stats.exceeded_sample_limit),
                    Error::BucketLimit => Some(&self.stats.exceeded_bucket_limit),
                    _ => None,
                };
                if let Some(c) = limit_counter {
                    c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                // A failed scrape counts as an empty one: every series of the previous scrape goes stale. The
                // report keeps what the failed attempt counted (the text path counts nothing).
                self.append_empty(ts);
                (Report::from(counted), Some(e))
            }
        };
        self.append_report(ts, duration, &report, err.is_none(), body_len);
        let mut st = self.state.lock();
        st.last_scrape = Some(wall);
        st.last_duration = duration;
        match err {
            Some(e) => {
                st.health = TargetHealth::Down;
                st.last_error = e.to_string();
                tracing::debug!(target = %self.url, err = %e, "Scrape failed");
            }
            None => {
                st.health = TargetHealth::Up;
                st.last_error.clear();
                if let Some(m) = report.metadata {
                    st.metadata = m;
                }
            }
        }
        ts
    }

    async fn fetch(&self) -> Result<(Vec<u8>, String), Error> {
        let client =
            self.client.get().map_err(|error| Error::Client { url: self.url.clone(), error })?;
        let mut req = client
            .get(&self.url)
            .header(
                "Accept",
                accept_header(&self.opts.scrape_protocols, &self.opts.escaping_scheme),
            )
            .header("User-Agent", "Prometheus/3.14.0")
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", self.timeout.as_secs_f64()),
            );
        if let Some((u, p)) = &self.opts.basic_auth {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(a) = &self.opts.authorization {
            req = req.header("Authorization", a);
        }
        let limit = self.opts.body_size_limit;
        let url = self.url.clone();
        let hint = self.body_hint.load(std::sync::atomic::Ordering::Relaxed);
        let fut = async move {
            let resp = req.send().await.map_err(|e| http_error(&url, &e))?;
            let status = resp.status();
            if status != reqwest::StatusCode::OK {
                return Err(Error::Status(status.to_string()));
            }
            let ctype = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            // Sized like the last body, so a scrape does not grow (and copy) its buffer step by step.
            let mut body = Vec::with_capacity(hint);
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| {
                    if e.is_timeout() { Error::Timeout(url.clone()) } else { Error::UnexpectedEof }
                })?;
                if limit > 0 && (body.len() + chunk.len()) as u64 > limit {
                    return Err(Error::BodySizeLimit);
                }
                body.extend_from_slice(&chunk);
            }
            Ok((body, ctype))
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout(self.url.clone())),
        }
    }

    /// Applies `honor_labels` and the target labels to a scraped label set, as Prometheus's
    /// `mutateSampleLabels` does.
    fn mutate(&self, b: &mut LabelsBuilder) {
        if self.opts.honor_labels {
            for l in self.target_labels.iter() {
                if b.get(l.name).is_empty() {
                    b.set(l.name, l.value);
                }
            }
            return;
        }
        for l in self.target_labels.iter() {
            let existing = b.get(l.name).to_string();
            if !existing.is_empty() {
                let mut name = format!("exported_{}", l.name);
                while !b.get(&name).is_empty() {
                    name = format!("exported_{name}");
                }
                b.set(&name, &existing);
            }
            b.set(l.name, l.value);
        }
    }

    fn check_label_limits(&self, labels: &Labels) -> Result<(), Error> {
        let o = &self.opts;
        let name = labels.metric_name();
        if o.label_limit > 0 && labels.len() as u64 > o.label_limit {
            return Err(Error::LabelLimit(format!(
                "label_limit exceeded (metric: {name:.50}, number of labels: {}, limit: {})",
                labels.len(),
                o.label_limit
            )));
        }
        for l in labels.iter() {
            if o.label_name_length_limit > 0 && l.name.len() as u64 > o.label_name_length_limit {
                return Err(Error::LabelLimit(format!(
                    "label_name_length_limit exceeded (metric: {name:.50}, label name: {:.50}, length: {}, limit: {})",
                    l.name,
                    l.name.len(),
                    o.label_name_length_limit
                )));
            }
            if o.label_value_length_limit > 0 && l.value.len() as u64 > o.label_value_length_limit {
                return Err(Error::LabelLimit(format!(
                    "label_value_length_limit exceeded (metric: {name:.50}, label name: {:.50}, value: {:.50}, length: {}, limit: {})",
                    l.name,
                    l.value,
                    l.value.len(),
                    o.label_value_length_limit
                )));
            }
        }
        Ok(())
    }

    /// Parses and appends one scrape body in the format its Content-Type names. On failure nothing is committed
    /// and the error comes with what the attempt counted for the report series.
    fn append_body(
        &mut self,
        body: &[u8],
        ctype: &str,
        ts: i64,
    ) -> Result<Report, (Error, Counted)> {
        let format = exposition::format_for_content_type(ctype, self.opts.fallback_protocol)
            .map_err(|e| (Error::from(e), Counted::default()))?;
        if format == Format::PrometheusProto {
            return self.append_proto(body, ts);
        }
        self.append_text(body, format, ts).map_err(|e| (e, Counted::default()))
    }

    /// The text path: the series cache is keyed on the raw series text, so labels are parsed only for series not
    /// seen in the last two scrapes.
    fn append_text(&mut self, body: &[u8], format: Format, ts: i64) -> Result<Report, Error> {
        let mut parser = exposition::new_parser(body, format);
        let storage = self.storage.clone();
        let mut app = storage.appender();
        let iter = self.begin_iteration();
        let mut report = Report::default();
        let mut b = LabelsBuilder::new();
        // The families' metadata is kept from scrape to scrape and only replaced where it changed: most scrapes
        // allocate nothing for it.
        let mut meta = MetadataUpdate::new(std::mem::take(&mut self.metadata));
        let aopts = AppendOptions::default();
        let outcome: Result<(), Error> = (|| {
            // The cache's prediction spares the parser splitting the labels of a series it met before.
            while let Some(entry) = parser.next_known(self.cache.predicted_key())? {
                match entry {
                    Entry::Type => {
                        let (n, t) = parser.metric_type();
                        meta.set_type(n, t);
                        continue;
                    }
                    Entry::Help => {
                        let (n, h) = parser.help();
                        meta.set_help(n, &h);
                        continue;
                    }
                    Entry::Unit => {
                        let (n, u) = parser.unit();
                        meta.set_unit(n, u);
                        continue;
                    }
                    Entry::Comment => continue,
                    Entry::Series => {}
                }
                report.scraped += 1;
                let (raw, sample_ts, v) = parser.series();
                let t = if self.opts.honor_timestamps { sample_ts.unwrap_or(ts) } else { ts };
                let is_new;
                let slot = match self.cache.find(raw) {
                    Some(i) => {
                        is_new = false;
                        i
                    }
                    None => {
                        is_new = true;
                        parser.labels(&mut b);
                        self.mutate(&mut b);
                        let labels = if relabel::process_builder(
                            &mut b,
                            &self.opts.metric_relabel_configs,
                        ) {
                            let l = b.labels();
                            if l.is_empty() { None } else { Some(l) }
                        } else {
                            None
                        };
                        if let Some(l) = &labels {
                            self.check_label_limits(l)?;
                        }
                        self.cache.insert(raw, CacheEntry::new(labels))
                    }
                };
                let entry = self.cache.get_mut(slot);
                if entry.last_seen == iter {
                    // The same series twice in one scrape: Prometheus drops the repeat.
                    self.stats
                        .duplicate_timestamp
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
                entry.last_seen = iter;
                // Borrowed, not cloned: a clone touches the label set's reference count, one more cache miss
                // per sample.
                let Some(labels) = entry.labels.as_ref() else { continue };
                report.post_relabel += 1;
                if self.opts.sample_limit > 0 && report.post_relabel > self.opts.sample_limit {
                    return Err(Error::SampleLimit);
                }
                let appended = app.append(entry.series_ref, labels, 0, t, Value::Float(v), &aopts);
                match appended {
                    Ok(r) => {
                        // As in Prometheus, a sample with its own timestamp is not subject to staleness.
                        let own_ts = self.opts.honor_timestamps && sample_ts.is_some();
                        let tracked = !own_ts || self.opts.track_timestamps_staleness;
                        entry.appended(r, SampleKind::Float, iter, tracked);
                        if is_new {
                            report.added += 1;
                        }
                    }
                    Err(AppendError::OutOfOrderSample) => {
                        self.stats.out_of_order.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(AppendError::DuplicateSampleForTimestamp) => {
                        self.stats
                            .duplicate_timestamp
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(AppendError::OutOfBounds | AppendError::TooOldSample) => {
                        self.stats.out_of_bounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(_) => {}
                }
                if let Some(ex) = parser.exemplar()
                    && let Some(labels) = &entry.labels
                {
                    let _ =
                        app.append_exemplars(entry.series_ref, labels, std::slice::from_ref(&ex));
                }
            }
            Ok(())
        })();
        let (map, changed) = meta.finish();
        self.metadata = map;
        if let Err(e) = outcome {
            // What the failed scrape changed is published with the next good one.
            self.metadata_dirty |= changed;
            let _ = app.rollback();
            self.abort_iteration(iter);
            return Err(e);
        }
        if let Err(e) = self.finish_iteration(app, iter, ts) {
            self.metadata_dirty |= changed;
            return Err(e);
        }
        if changed || self.metadata_dirty {
            self.metadata_dirty = false;
            report.metadata = Some(self.metadata.clone());
        }
        Ok(report)
    }

    /// Starts the bookkeeping of a scrape: returns its iteration number.
    fn begin_iteration(&mut self) -> u64 {
        self.cache.begin();
        self.iteration += 1;
        self.iteration
    }

    /// Undoes the bookkeeping of scrape `iter`, whose appends were rolled back: the series tracked before it stay
    /// the live ones, and entries it touched still count as seen in the last good scrape.
    fn abort_iteration(&mut self, iter: u64) {
        for entry in self.cache.values_mut() {
            if entry.last_seen == iter {
                entry.last_seen = iter - 1;
            }
            if entry.tracked == iter {
                entry.tracked = entry.prev_tracked;
            }
        }
        self.iteration -= 1;
    }

    /// Completes successful scrape `iter`: staleness markers at `ts` for series tracked in the previous scrape but
    /// not in this one, the commit, then forgetting cache entries not seen for two scrapes.
    fn finish_iteration(
        &mut self,
        mut app: Box<dyn storage::Appender + '_>,
        iter: u64,
        ts: i64,
    ) -> Result<(), Error> {
        let stale_opts = AppendOptions { discard_out_of_order: true };
        for e in self.cache.values() {
            if e.tracked > 0
                && e.tracked + 1 == iter
                && let Some(gone) = &e.labels
            {
                let _ = app.append(0, gone, 0, ts, e.kind.stale_marker(), &stale_opts);
            }
        }
        app.commit().map_err(|e| Error::Storage(e.to_string()))?;
        // Prometheus keeps entries for one more scrape.
        self.cache.retain(|e| e.last_seen + 1 >= iter);
        Ok(())
    }

    /// Appends staleness markers for the series of the last successful scrape and forgets them as live.
    fn mark_live_series_stale(
        &mut self,
        app: &mut dyn storage::Appender,
        ts: i64,
        opts: &AppendOptions,
    ) {
        let live = self.iteration;
        for e in self.cache.values() {
            if live > 0
                && e.tracked == live
                && let Some(l) = &e.labels
            {
                let _ = app.append(0, l, 0, ts, e.kind.stale_marker(), opts);
            }
        }
        // Nothing is live any more: the next scrape compares against this empty one.
        self.iteration += 1;
    }

    /// Appends staleness markers for every series of the previous scrape (a failed scrape).
    fn append_empty(&mut self, ts: i64) {
        let storage = self.storage.clone();
        let mut app = storage.appender();
        let opts = AppendOptions { discard_out_of_order: true };
        self.mark_live_series_stale(app.as_mut(), ts, &opts);
        if let Err(e) = app.commit() {
            tracing::warn!(err = %e, "Error committing staleness markers");
        }
    }

    fn report_series(&self, name: &str) -> Labels {
        let mut b = self.target_labels.builder();
        b.set("__name__", name);
        b.labels()
    }

    fn append_report(&self, ts: i64, duration: Duration, r: &Report, up: bool, body_len: usize) {
        let storage = self.storage.clone();
        let mut app = storage.appender();
        let mut values = vec![
            ("up", if up { 1.0 } else { 0.0 }),
            ("scrape_duration_seconds", duration.as_secs_f64()),
            ("scrape_samples_scraped", r.scraped as f64),
            ("scrape_samples_post_metric_relabeling", r.post_relabel as f64),
            ("scrape_series_added", r.added as f64),
        ];
        if self.opts.extra_scrape_metrics {
            values.push(("scrape_timeout_seconds", self.timeout.as_secs_f64()));
            values.push(("scrape_sample_limit", self.opts.sample_limit as f64));
            values.push(("scrape_body_size_bytes", body_len as f64));
        }
        for (name, v) in values {
            let _ = app.append(
                0,
                &self.report_series(name),
                0,
                ts,
                Value::Float(v),
                &AppendOptions::default(),
            );
        }
        if let Err(e) = app.commit() {
            tracing::warn!(err = %e, "Error committing report series");
        }
    }

    /// At the end of the loop: staleness markers for every scraped series and the report series.
    fn end_of_run_staleness(&mut self) {
        let ts = now_ms();
        let storage = self.storage.clone();
        let mut app = storage.appender();
        let opts = AppendOptions { discard_out_of_order: true };
        self.mark_live_series_stale(app.as_mut(), ts, &opts);
        let mut names = vec![
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
            "scrape_series_added",
        ];
        if self.opts.extra_scrape_metrics {
            names.extend([
                "scrape_timeout_seconds",
                "scrape_sample_limit",
                "scrape_body_size_bytes",
            ]);
        }
        for n in names {
            let _ = app.append(0, &self.report_series(n), 0, ts, Value::Float(stale_nan()), &opts);
        }
        if let Err(e) = app.commit() {
            tracing::warn!(err = %e, "Error committing end-of-run staleness markers");
        }
    }
}

#[derive(Debug, Default)]
struct Report {
    scraped: u64,
    post_relabel: u64,
    added: u64,
    /// The families' metadata, `None` when it is the same as after the last successful scrape.
    metadata: Option<HashMap<String, Metadata>>,
}

/// The counts of a [`Report`]: what a failed scrape still reports.
#[derive(Debug, Default, Clone, Copy)]
struct Counted {
    scraped: u64,
    post_relabel: u64,
    added: u64,
}

impl Report {
    fn counted(&self) -> Counted {
        Counted { scraped: self.scraped, post_relabel: self.post_relabel, added: self.added }
    }
}

impl From<Counted> for Report {
    fn from(c: Counted) -> Report {
        Report { scraped: c.scraped, post_relabel: c.post_relabel, added: c.added, metadata: None }
    }
}

fn http_error(url: &str, e: &reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::Timeout(url.to_string());
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    if e.is_connect() {
        let host = url.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("");
        if msg.contains("refused") {
            return Error::Http {
                url: url.to_string(),
                message: format!("dial tcp {host}: connect: connection refused"),
            };
        }
    }
    Error::Http { url: url.to_string(), message: msg }
}

/// FNV-1a, as Prometheus uses for target hashes.
pub(crate) fn fnv64a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Updates last scrape's metadata in place from this scrape's `# TYPE`, `# HELP` and `# UNIT` lines, with the
/// result a fresh map would have (a field a family's lines leave out is empty, families not seen again go), but
/// without allocating for families whose lines are unchanged.
struct MetadataUpdate<'b> {
    map: HashMap<String, Metadata>,
    /// Families seen in this scrape, with the fields their lines set.
    seen: rustc_hash::FxHashMap<&'b str, u8>,
    changed: bool,
}

const META_TYPE: u8 = 1;
const META_HELP: u8 = 2;
const META_UNIT: u8 = 4;

impl<'b> MetadataUpdate<'b> {
    fn new(map: HashMap<String, Metadata>) -> MetadataUpdate<'b> {
        let seen = rustc_hash::FxHashMap::with_capacity_and_hasher(map.len(), Default::default());
        MetadataUpdate { map, seen, changed: false }
    }

    /// The entry of family `name` (created if new), noting that this scrape sets `field` of it.
    fn slot(&mut self, name: &'b str, field: u8) -> Option<&mut Metadata> {
        *self.seen.entry(name).or_insert(0) |= field;
        if !self.map.contains_key(name) {
            self.changed = true;
            self.map.insert(name.to_string(), Metadata::default());
        }
        self.map.get_mut(name)
    }

    fn set_type(&mut self, name: &'b str, t: model::MetricType) {
        if let Some(m) = self.slot(name, META_TYPE)
            && m.metric_type != t
        {
            m.metric_type = t;
            self.changed = true;
        }
    }

    fn set_help(&mut self, name: &'b str, help: &str) {
        if let Some(m) = self.slot(name, META_HELP)
            && m.help != help
        {
            help.clone_into(&mut m.help);
            self.changed = true;
        }
    }

    fn set_unit(&mut self, name: &'b str, unit: &str) {
        if let Some(m) = self.slot(name, META_UNIT)
            && m.unit != unit
        {
            unit.clone_into(&mut m.unit);
            self.changed = true;
        }
    }

    /// The updated metadata and whether it differs from what came in.
    fn finish(mut self) -> (HashMap<String, Metadata>, bool) {
        for (name, set) in &self.seen {
            let Some(m) = self.map.get_mut(*name) else { continue };
            let fresh = Metadata::default();
            if set & META_TYPE == 0 && m.metric_type != fresh.metric_type {
                m.metric_type = fresh.metric_type;
                self.changed = true;
            }
            if set & META_HELP == 0 && !m.help.is_empty() {
                m.help.clear();
                self.changed = true;
            }
            if set & META_UNIT == 0 && !m.unit.is_empty() {
                m.unit.clear();
                self.changed = true;
            }
        }
        if self.seen.len() != self.map.len() {
            let seen = &self.seen;
            self.map.retain(|k, _| seen.contains_key(k.as_str()));
            self.changed = true;
        }
        (self.map, self.changed)
    }
}

#[cfg(test)]
mod metadata_tests {
    use super::*;
    use model::MetricType;

    fn scrape(
        prev: HashMap<String, Metadata>,
        lines: &[(&str, &str, &str)],
    ) -> (HashMap<String, Metadata>, bool) {
        let mut u = MetadataUpdate::new(prev);
        for (kind, name, v) in lines {
            match *kind {
                "TYPE" => u.set_type(name, MetricType::parse(v).unwrap()),
                "HELP" => u.set_help(name, v),
                _ => u.set_unit(name, v),
            }
        }
        u.finish()
    }

    #[test]
    fn metadata_is_replaced_only_where_it_changed() {
        let first = [
            ("TYPE", "a", "counter"),
            ("HELP", "a", "help a"),
            ("TYPE", "b", "gauge"),
            ("UNIT", "b", "s"),
        ];
        let (m, changed) = scrape(HashMap::new(), &first);
        assert!(changed);
        assert_eq!(
            m["a"],
            Metadata {
                metric_type: MetricType::Counter,
                help: "help a".into(),
                unit: String::new()
            }
        );
        assert_eq!(m["b"].unit, "s");
        let (m, changed) = scrape(m, &first);
        assert!(!changed, "the same lines again change nothing");
        // b loses its unit line, a changes its help, c is new: as a fresh map would have it.
        let second = [
            ("TYPE", "a", "counter"),
            ("HELP", "a", "new help"),
            ("TYPE", "b", "gauge"),
            ("TYPE", "c", "summary"),
        ];
        let (m, changed) = scrape(m, &second);
        assert!(changed);
        assert_eq!(m["a"].help, "new help");
        assert_eq!(m["b"], Metadata { metric_type: MetricType::Gauge, ..Metadata::default() });
        assert_eq!(m["c"].metric_type, MetricType::Summary);
        // A family not seen again goes.
        let (m, changed) = scrape(m, &[("TYPE", "c", "summary")]);
        assert!(changed);
        assert_eq!(m.keys().collect::<Vec<_>>(), vec!["c"]);
    }
}
