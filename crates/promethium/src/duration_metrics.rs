//! Duration metrics that the metrics library cannot express: summaries with quantiles over a sliding window
//! (as client_golang's: the last 10 minutes in 5 age buckets, sum and count since start) together with the
//! classic histogram Prometheus exports next to them, rendered as OpenMetrics text.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long observations count towards the quantiles.
const MAX_AGE: Duration = Duration::from_secs(600);
/// The window moves in steps of `MAX_AGE / AGE_BUCKETS`.
const AGE_BUCKETS: u32 = 5;
/// Observations kept per age bucket; beyond that, reservoir sampling keeps a uniform sample.
const MAX_PER_BUCKET: usize = 20_000;

#[derive(Debug)]
struct Inner {
    /// Age buckets, oldest first: when each started and its (sampled) observations.
    window: VecDeque<(Instant, Vec<f64>, u64)>,
    sum: f64,
    count: u64,
    /// Cumulative-free counts per histogram bucket upper bound (the last one is +Inf).
    buckets: Vec<u64>,
    rng: u64,
}

/// A summary and a histogram of the same observations.
#[derive(Debug)]
pub(crate) struct DurationMetric {
    summary_name: &'static str,
    histogram_name: &'static str,
    help: &'static str,
    objectives: &'static [f64],
    bounds: &'static [f64],
    inner: Mutex<Inner>,
}

impl DurationMetric {
    pub(crate) fn new(
        summary_name: &'static str,
        histogram_name: &'static str,
        help: &'static str,
        objectives: &'static [f64],
        bounds: &'static [f64],
    ) -> DurationMetric {
        DurationMetric {
            summary_name,
            histogram_name,
            help,
            objectives,
            bounds,
            inner: Mutex::new(Inner {
                window: VecDeque::new(),
                sum: 0.0,
                count: 0,
                buckets: vec![0; bounds.len() + 1],
                rng: 0x9E37_79B9_7F4A_7C15,
            }),
        }
    }

    pub(crate) fn observe(&self, d: Duration) {
        self.observe_at(d.as_secs_f64(), Instant::now());
    }

    /// Records an observation of `v` seconds made at `now`.
    pub(crate) fn observe_at(&self, v: f64, now: Instant) {
        let mut g = self.inner.lock();
        g.sum += v;
        g.count += 1;
        let idx = self.bounds.iter().position(|b| v <= *b).unwrap_or(self.bounds.len());
        g.buckets[idx] += 1;
        expire(&mut g.window, now);
        let step = MAX_AGE / AGE_BUCKETS;
        if g.window.back().is_none_or(|(start, _, _)| now.duration_since(*start) >= step) {
            g.window.push_back((now, Vec::new(), 0));
        }
        g.rng ^= g.rng << 13;
        g.rng ^= g.rng >> 7;
        g.rng ^= g.rng << 17;
        let r = g.rng;
        let Some((_, obs, seen)) = g.window.back_mut() else { return };
        *seen += 1;
        if obs.len() < MAX_PER_BUCKET {
            obs.push(v);
        } else {
            let j = (r % *seen) as usize;
            if j < MAX_PER_BUCKET {
                obs[j] = v;
            }
        }
    }

    /// The quantiles of the window (NaN when it is empty, as client_golang reports).
    fn quantiles(&self, now: Instant) -> (Vec<(f64, f64)>, f64, u64) {
        let mut g = self.inner.lock();
        expire(&mut g.window, now);
        let mut all: Vec<f64> = g.window.iter().flat_map(|(_, o, _)| o.iter().copied()).collect();
        all.sort_by(f64::total_cmp);
        let qs = self
            .objectives
            .iter()
            .map(|&q| {
                if all.is_empty() {
                    return (q, f64::NAN);
                }
                let rank = ((q * all.len() as f64).ceil() as usize).clamp(1, all.len());
                (q, all[rank - 1])
            })
            .collect();
        (qs, g.sum, g.count)
    }

    /// Appends both metrics in OpenMetrics text, each series with `labels` (already rendered, e.g.
    /// `alertmanager="…"`, or empty).
    pub(crate) fn render(&self, out: &mut String, labels: &str, with_header: bool) {
        self.render_summary(out, labels, with_header);
        self.render_histogram(out, labels, with_header);
    }

    /// Appends the summary's lines (with its `# HELP`/`# TYPE` header if `with_header`).
    pub(crate) fn render_summary(&self, out: &mut String, labels: &str, with_header: bool) {
        let (qs, sum, count) = self.quantiles(Instant::now());
        let sep = if labels.is_empty() { "" } else { "," };
        if with_header {
            let _ = writeln!(out, "# HELP {} {}", self.summary_name, self.help);
            let _ = writeln!(out, "# TYPE {} summary", self.summary_name);
        }
        for (q, v) in qs {
            let _ = writeln!(
                out,
                "{}{{{labels}{sep}quantile=\"{}\"}} {}",
                self.summary_name,
                fmt_float(q),
                fmt_float(v)
            );
        }
        let _ = writeln!(out, "{}_sum{} {}", self.summary_name, braces(labels), fmt_float(sum));
        let _ = writeln!(out, "{}_count{} {count}", self.summary_name, braces(labels));
    }

    /// Appends the summary with its header, quantiles from the window but `sum` and `count` as given (for
    /// observations whose exact totals are kept elsewhere, while only a sample of them reaches the window).
    pub(crate) fn render_summary_totals(&self, out: &mut String, sum: f64, count: u64) {
        let (qs, _, _) = self.quantiles(Instant::now());
        let _ = writeln!(out, "# HELP {} {}", self.summary_name, self.help);
        let _ = writeln!(out, "# TYPE {} summary", self.summary_name);
        for (q, v) in qs {
            let _ = writeln!(
                out,
                "{}{{quantile=\"{}\"}} {}",
                self.summary_name,
                fmt_float(q),
                fmt_float(v)
            );
        }
        let _ = writeln!(out, "{}_sum {}", self.summary_name, fmt_float(sum));
        let _ = writeln!(out, "{}_count {count}", self.summary_name);
    }

    /// Appends the histogram's lines (with its header if `with_header`).
    pub(crate) fn render_histogram(&self, out: &mut String, labels: &str, with_header: bool) {
        let sep = if labels.is_empty() { "" } else { "," };
        if with_header {
            let _ = writeln!(out, "# HELP {} {}", self.histogram_name, self.help);
            let _ = writeln!(out, "# TYPE {} histogram", self.histogram_name);
        }
        let (buckets, sum, count) = {
            let g = self.inner.lock();
            (g.buckets.clone(), g.sum, g.count)
        };
        let mut cumulative = 0;
        for (i, n) in buckets.iter().enumerate() {
            cumulative += n;
            let le = self.bounds.get(i).map_or_else(|| "+Inf".to_string(), |b| fmt_float(*b));
            let _ = writeln!(
                out,
                "{}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}",
                self.histogram_name
            );
        }
        let _ = writeln!(out, "{}_sum{} {}", self.histogram_name, braces(labels), fmt_float(sum));
        let _ = writeln!(out, "{}_count{} {count}", self.histogram_name, braces(labels));
    }
}

fn braces(labels: &str) -> String {
    if labels.is_empty() { String::new() } else { format!("{{{labels}}}") }
}

/// A summary and histogram pair with one label: one series of each per label value, created on its first
/// observation.
#[derive(Debug)]
pub(crate) struct DurationFamily {
    label_name: &'static str,
    make: fn() -> DurationMetric,
    per_value: Mutex<std::collections::BTreeMap<String, std::sync::Arc<DurationMetric>>>,
}

impl DurationFamily {
    fn new(label_name: &'static str, make: fn() -> DurationMetric) -> DurationFamily {
        DurationFamily { label_name, make, per_value: Mutex::default() }
    }

    fn observe(&self, value: &str, d: Duration) {
        let m = self
            .per_value
            .lock()
            .entry(value.to_string())
            .or_insert_with(|| std::sync::Arc::new((self.make)()))
            .clone();
        m.observe(d);
    }

    /// Appends both families, one series per label value (nothing before the first observation).
    fn render(&self, out: &mut String) {
        let all: Vec<(String, std::sync::Arc<DurationMetric>)> =
            self.per_value.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let label = |v: &str| format!("{}=\"{}\"", self.label_name, escape_label(v));
        for (i, (v, m)) in all.iter().enumerate() {
            m.render_summary(out, &label(v), i == 0);
        }
        for (i, (v, m)) in all.iter().enumerate() {
            m.render_histogram(out, &label(v), i == 0);
        }
    }
}

/// Durations of alert notifications per Alertmanager (`prometheus_notifications_latency_*`).
#[derive(Debug)]
pub(crate) struct NotificationLatency(DurationFamily);

impl Default for NotificationLatency {
    fn default() -> NotificationLatency {
        NotificationLatency(DurationFamily::new("alertmanager", || {
            DurationMetric::new(
                "prometheus_notifications_latency_seconds",
                "prometheus_notifications_latency_histogram_seconds",
                "Latency quantiles for sending alert notifications.",
                &[0.5, 0.9, 0.99],
                &[0.01, 0.1, 1.0, 10.0],
            )
        }))
    }
}

impl NotificationLatency {
    /// Appends both families, one series per Alertmanager (nothing before the first notification).
    pub(crate) fn render(&self, out: &mut String) {
        self.0.render(out);
    }
}

impl notifier::LatencyObserver for NotificationLatency {
    fn observe(&self, alertmanager: &str, d: Duration) {
        self.0.observe(alertmanager, d);
    }
}

/// Actual times between the scrapes of targets per configured interval
/// (`prometheus_target_interval_length_seconds` and its histogram).
#[derive(Debug)]
pub(crate) struct IntervalLength(DurationFamily);

impl Default for IntervalLength {
    fn default() -> IntervalLength {
        IntervalLength(DurationFamily::new("interval", || {
            DurationMetric::new(
                "prometheus_target_interval_length_seconds",
                "prometheus_target_interval_length_histogram_seconds",
                "Actual intervals between scrapes.",
                &[0.01, 0.05, 0.5, 0.9, 0.99],
                &[0.01, 0.1, 1.0, 10.0],
            )
        }))
    }
}

impl IntervalLength {
    /// Appends both families, one series per configured interval (nothing before a target's second scrape).
    pub(crate) fn render(&self, out: &mut String) {
        self.0.render(out);
    }
}

impl scrape::IntervalObserver for IntervalLength {
    fn observe(&self, interval: &str, actual: Duration) {
        self.0.observe(interval, actual);
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn expire(window: &mut VecDeque<(Instant, Vec<f64>, u64)>, now: Instant) {
    let step = MAX_AGE / AGE_BUCKETS;
    while window.front().is_some_and(|(start, _, _)| now.duration_since(*start) >= MAX_AGE + step) {
        window.pop_front();
    }
}

pub(crate) fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() }
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric() -> DurationMetric {
        DurationMetric::new(
            "x_seconds",
            "x_histogram_seconds",
            "Help.",
            &[0.5, 0.9, 0.99],
            &[0.01, 0.1, 1.0, 10.0],
        )
    }

    #[test]
    fn renders_quantiles_buckets_sum_and_count() {
        let m = metric();
        let now = Instant::now();
        for i in 1..=100 {
            m.observe_at(f64::from(i) / 100.0, now);
        }
        let mut out = String::new();
        m.render(&mut out, "", true);
        for line in [
            "# TYPE x_seconds summary",
            "x_seconds{quantile=\"0.5\"} 0.5",
            "x_seconds{quantile=\"0.9\"} 0.9",
            "x_seconds{quantile=\"0.99\"} 0.99",
            "x_seconds_count 100",
            "# TYPE x_histogram_seconds histogram",
            "x_histogram_seconds_bucket{le=\"0.01\"} 1",
            "x_histogram_seconds_bucket{le=\"0.1\"} 10",
            "x_histogram_seconds_bucket{le=\"1.0\"} 100",
            "x_histogram_seconds_bucket{le=\"+Inf\"} 100",
            "x_histogram_seconds_count 100",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        let sum: f64 =
            out.lines().find_map(|l| l.strip_prefix("x_seconds_sum ")).unwrap().parse().unwrap();
        assert!((sum - 50.5).abs() < 1e-9);
    }

    #[test]
    fn quantiles_forget_old_observations_but_counts_do_not() {
        let m = metric();
        let start = Instant::now();
        m.observe_at(5.0, start);
        let later = start + MAX_AGE + MAX_AGE / AGE_BUCKETS;
        m.observe_at(0.001, later);
        let (qs, _, count) = m.quantiles(later);
        assert_eq!(count, 2);
        assert_eq!(qs[2].1, 0.001, "{qs:?}");
        let (qs, _, _) = m.quantiles(later + MAX_AGE * 2);
        assert!(qs[0].1.is_nan());
    }

    #[test]
    fn notification_latency_groups_each_family_over_alertmanagers() {
        use notifier::LatencyObserver as _;
        let n = NotificationLatency::default();
        let mut out = String::new();
        n.render(&mut out);
        assert!(out.is_empty(), "nothing before the first notification: {out}");
        n.observe("http://b/api/v2/alerts", Duration::from_millis(20));
        n.observe("http://a/api/v2/alerts", Duration::from_millis(5));
        n.render(&mut out);
        let summary = out.find("# TYPE prometheus_notifications_latency_seconds summary").unwrap();
        let hist = out
            .find("# TYPE prometheus_notifications_latency_histogram_seconds histogram")
            .unwrap();
        let last_summary_line = out
            .rfind("prometheus_notifications_latency_seconds_count{alertmanager=\"http://b")
            .unwrap();
        assert!(summary < last_summary_line && last_summary_line < hist, "{out}");
        assert!(out.contains(
            "prometheus_notifications_latency_histogram_seconds_bucket{alertmanager=\"http://a/api/v2/alerts\",le=\"0.01\"} 1"
        ));
        assert_eq!(out.matches("# TYPE").count(), 2);
    }

    #[test]
    fn interval_length_has_prometheus_quantiles_per_interval() {
        use scrape::IntervalObserver as _;
        let m = IntervalLength::default();
        m.observe("15s", Duration::from_millis(15_002));
        m.observe("15s", Duration::from_millis(14_998));
        m.observe("1m0s", Duration::from_secs(60));
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "# HELP prometheus_target_interval_length_seconds Actual intervals between scrapes.",
            "# TYPE prometheus_target_interval_length_seconds summary",
            "prometheus_target_interval_length_seconds{interval=\"15s\",quantile=\"0.01\"} 14.998",
            "prometheus_target_interval_length_seconds{interval=\"15s\",quantile=\"0.05\"} 14.998",
            "prometheus_target_interval_length_seconds{interval=\"15s\",quantile=\"0.5\"} 14.998",
            "prometheus_target_interval_length_seconds{interval=\"15s\",quantile=\"0.9\"} 15.002",
            "prometheus_target_interval_length_seconds{interval=\"15s\",quantile=\"0.99\"} 15.002",
            "prometheus_target_interval_length_seconds_count{interval=\"15s\"} 2",
            "prometheus_target_interval_length_seconds{interval=\"1m0s\",quantile=\"0.5\"} 60.0",
            "prometheus_target_interval_length_seconds_count{interval=\"1m0s\"} 1",
            "# TYPE prometheus_target_interval_length_histogram_seconds histogram",
            "prometheus_target_interval_length_histogram_seconds_bucket{interval=\"15s\",le=\"+Inf\"} 2",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        assert_eq!(out.matches("# TYPE").count(), 2, "{out}");
    }

    #[test]
    fn labels_go_before_quantile_and_le() {
        let m = metric();
        m.observe(Duration::from_millis(3));
        let mut out = String::new();
        m.render(&mut out, "alertmanager=\"http://a/api/v2/alerts\"", false);
        assert!(
            out.contains(
                "x_seconds{alertmanager=\"http://a/api/v2/alerts\",quantile=\"0.5\"} 0.003"
            )
        );
        assert!(out.contains("x_seconds_count{alertmanager=\"http://a/api/v2/alerts\"} 1"));
        assert!(!out.contains("# TYPE"));
    }
}
