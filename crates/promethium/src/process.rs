//! The `process_*` metrics every Prometheus client exports (CPU, memory, file descriptors, start time), read from
//! `/proc/self` on Linux.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Collects process metrics on every scrape of `/metrics`.
#[derive(Debug)]
pub(crate) struct ProcessCollector {
    start_time_seconds: f64,
}

impl ProcessCollector {
    pub(crate) fn new() -> ProcessCollector {
        let start_time_seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        ProcessCollector { start_time_seconds }
    }
}

/// Figures read from `/proc/self`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ProcStat {
    pub(crate) cpu_seconds: f64,
    pub(crate) rss_bytes: f64,
    pub(crate) virtual_bytes: f64,
    pub(crate) open_fds: f64,
    pub(crate) max_fds: f64,
}

/// Parses `/proc/self/stat`'s utime, stime (fields 14–15, in clock ticks of 1/100 s), vsize and rss (pages).
pub(crate) fn parse_stat(stat: &str, page_size: f64) -> Option<(f64, f64, f64)> {
    // The command name (field 2) may contain spaces; fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let vsize: f64 = f.get(20)?.parse().ok()?;
    let rss: f64 = f.get(21)?.parse().ok()?;
    Some(((utime + stime) / 100.0, vsize, rss * page_size))
}

fn read_proc() -> ProcStat {
    let mut s = ProcStat::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((cpu, vsize, rss)) = parse_stat(&stat, 4096.0)
    {
        s.cpu_seconds = cpu;
        s.virtual_bytes = vsize;
        s.rss_bytes = rss;
    }
    s.open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as f64).unwrap_or(0.0);
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        for line in limits.lines() {
            if let Some(rest) = line.strip_prefix("Max open files") {
                s.max_fds =
                    rest.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            }
        }
    }
    s
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let p = read_proc();
        let c = ConstCounter::new(p.cpu_seconds);
        c.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            c.metric_type(),
        )?)?;
        let gauges = [
            ("process_resident_memory_bytes", "Resident memory size in bytes.", p.rss_bytes),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes.", p.virtual_bytes),
            ("process_open_fds", "Number of open file descriptors.", p.open_fds),
            ("process_max_fds", "Maximum number of open file descriptors.", p.max_fds),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                self.start_time_seconds,
            ),
        ];
        for (name, help, v) in gauges {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_spaces_in_the_name() {
        let stat = "1234 (my prog) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 4 0 100 409600 25 18446744073709551615";
        assert_eq!(parse_stat(stat, 4096.0), Some((4.0, 409_600.0, 102_400.0)));
    }

    #[test]
    fn reads_this_process() {
        let p = read_proc();
        assert!(p.rss_bytes > 0.0 && p.open_fds > 0.0 && p.max_fds > 0.0, "{p:?}");
    }
}
