//! Logging in Prometheus 3's format: logfmt lines `time=… level=INFO source=file.rs:42 msg="…" key=value`, or
//! JSON with the same keys (`--log.format=json`).

use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// `key=value` pairs (Prometheus's default).
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Log level threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    fn filter(self) -> tracing::level_filters::LevelFilter {
        match self {
            LogLevel::Debug => tracing::level_filters::LevelFilter::DEBUG,
            LogLevel::Info => tracing::level_filters::LevelFilter::INFO,
            LogLevel::Warn => tracing::level_filters::LevelFilter::WARN,
            LogLevel::Error => tracing::level_filters::LevelFilter::ERROR,
        }
    }
}

/// Installs the global subscriber writing to stderr.
pub(crate) fn init(level: LogLevel, format: LogFormat) {
    let _ = std::io::stderr().is_terminal();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level.filter())
        .with_writer(std::io::stderr)
        .event_format(PromFormat { json: format == LogFormat::Json })
        .finish();
    // A second init (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

struct PromFormat {
    json: bool,
}

#[derive(Default)]
struct Fields {
    msg: String,
    pairs: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.pairs.push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let v = format!("{value:?}");
        if field.name() == "message" {
            self.msg = v;
        } else {
            self.pairs.push((field.name().to_string(), v));
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "DEBUG",
    }
}

/// `v` in double quotes with `"`, `\\` and control characters escaped (valid as a logfmt and a JSON string).
fn quoted(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Quotes a logfmt value when it needs it (spaces, quotes, `=`, or empty), as go-logfmt does.
pub(crate) fn logfmt_value(v: &str) -> String {
    let needs = v.is_empty()
        || v.chars().any(|c| c <= ' ' || c == '"' || c == '=' || c == '\\' || c == '\u{7f}');
    if needs { quoted(v) } else { v.to_string() }
}

impl<S, N> FormatEvent<S, N> for PromFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let file = meta.file().map(|f| f.rsplit('/').next().unwrap_or(f)).unwrap_or("unknown");
        let source = format!("{}:{}", file, meta.line().unwrap_or(0));
        let component = meta.target().split("::").next().unwrap_or("");
        if self.json {
            write!(
                w,
                "{{\"time\":{},\"level\":\"{}\",\"source\":{},\"msg\":{}",
                quoted(&time),
                level_name(meta.level()),
                quoted(&source),
                quoted(&fields.msg)
            )?;
            if component != "promethium" && !component.is_empty() {
                write!(w, ",\"component\":{}", quoted(component))?;
            }
            for (k, v) in &fields.pairs {
                write!(w, ",{}:{}", quoted(k), quoted(v))?;
            }
            writeln!(w, "}}")
        } else {
            write!(
                w,
                "time={} level={} source={} msg={}",
                time,
                level_name(meta.level()),
                logfmt_value(&source),
                logfmt_value(&fields.msg)
            )?;
            if component != "promethium" && !component.is_empty() {
                write!(w, " component={}", logfmt_value(component))?;
            }
            for (k, v) in &fields.pairs {
                write!(w, " {}={}", k, logfmt_value(v))?;
            }
            writeln!(w)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_quoting() {
        assert_eq!(logfmt_value("abc"), "abc");
        assert_eq!(logfmt_value("a b"), "\"a b\"");
        assert_eq!(logfmt_value(""), "\"\"");
        assert_eq!(logfmt_value("x=\"1\""), "\"x=\\\"1\\\"\"");
    }
}
