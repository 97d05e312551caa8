//! Text encoder for the Prometheus text format and OpenMetrics, used for our own `/metrics` and `/federate`.

use std::fmt::Write as _;

use model::{Labels, MetricType, is_valid_legacy_label_name, is_valid_legacy_metric_name};

/// Output format of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeFormat {
    /// Prometheus text format 0.0.4.
    PrometheusText,
    /// OpenMetrics 1.0 text (ends with `# EOF`).
    OpenMetrics,
}

/// One metric family to encode: metadata plus samples (full label sets with `__name__`, value, optional
/// timestamp in milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Family name.
    pub name: String,
    /// Family type.
    pub metric_type: MetricType,
    /// Help text (unescaped).
    pub help: String,
    /// Samples.
    pub samples: Vec<(Labels, f64, Option<i64>)>,
}

/// Formats a float the way Go's `strconv.FormatFloat(v, 'g', -1, 64)` does for exposition (`NaN`, `+Inf`, `-Inf`,
/// shortest round-trip digits).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..21).contains(&exp) {
        return format!("{v}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

fn escape(s: &str, quote: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

fn write_series(out: &mut String, labels: &Labels) {
    let name = labels.metric_name();
    let legacy = is_valid_legacy_metric_name(name);
    let mut parts = Vec::new();
    if legacy {
        out.push_str(name);
    } else {
        parts.push(format!("\"{}\"", escape(name, true)));
    }
    for l in labels.iter().filter(|l| l.name != "__name__") {
        let n = if is_valid_legacy_label_name(l.name) {
            l.name.to_string()
        } else {
            format!("\"{}\"", escape(l.name, true))
        };
        parts.push(format!("{n}=\"{}\"", escape(l.value, true)));
    }
    if !parts.is_empty() {
        out.push('{');
        out.push_str(&parts.join(","));
        out.push('}');
    }
}

/// Encodes families in the given format.
pub fn encode_families(families: &[Family], format: EncodeFormat) -> String {
    let mut out = String::new();
    for f in families {
        if !f.help.is_empty() {
            let _ = writeln!(out, "# HELP {} {}", f.name, escape(&f.help, false));
        }
        let t = match (format, f.metric_type) {
            (EncodeFormat::PrometheusText, MetricType::Unknown) => "untyped",
            (
                EncodeFormat::PrometheusText,
                MetricType::GaugeHistogram | MetricType::Info | MetricType::StateSet,
            ) => "untyped",
            (_, t) => t.as_str(),
        };
        let _ = writeln!(out, "# TYPE {} {}", f.name, t);
        for (labels, v, ts) in &f.samples {
            write_series(&mut out, labels);
            let _ = write!(out, " {}", format_float(*v));
            if let Some(ts) = ts {
                match format {
                    EncodeFormat::PrometheusText => {
                        let _ = write!(out, " {ts}");
                    }
                    EncodeFormat::OpenMetrics => {
                        let _ = write!(out, " {}.{:03}", ts.div_euclid(1000), ts.rem_euclid(1000));
                    }
                }
            }
            out.push('\n');
        }
    }
    if format == EncodeFormat::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}
