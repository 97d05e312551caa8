//! The `prometheus_tsdb_*` metrics: the figures the head, its WAL and the database keep, under Prometheus's
//! names, types, labels and help texts. Counters, gauges and histograms go through the metrics library's
//! encoder; the summaries (which it cannot express) are written by hand before the end marker.

use std::fmt::Write as _;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::duration_metrics::DurationMetric;

type Result = std::result::Result<(), std::fmt::Error>;

fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: f64) -> Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// A counter; `name` without `_total`, which the encoder appends.
fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

/// A counter with a `type` label, `float` and `histogram`, as Prometheus's sample counters have.
fn typed_counter(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    floats: u64,
    histograms: u64,
) -> Result {
    let f = Family::<Vec<(String, String)>, Counter>::default();
    f.get_or_create(&vec![("type".to_string(), "float".to_string())]).inc_by(floats);
    f.get_or_create(&vec![("type".to_string(), "histogram".to_string())]).inc_by(histograms);
    f.encode(e.encode_descriptor(name, help, None, f.metric_type())?)
}

fn histogram(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, h: &tsdb::Histogram) -> Result {
    let buckets: Vec<(f64, u64)> =
        h.bounds.iter().copied().chain([f64::INFINITY]).zip(h.counts.iter().copied()).collect();
    e.encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)
}

/// Prometheus's gauges of millisecond timestamps report an empty head's bounds as they are; we report 0.
fn bound(empty: bool, t: i64) -> f64 {
    if empty { 0.0 } else { t as f64 }
}

/// Encodes every `prometheus_tsdb_*` counter, gauge and histogram.
pub(crate) fn encode(
    e: &mut DescriptorEncoder<'_>,
    head: &tsdb::Head,
    db: &tsdb::Db,
    replay: &tsdb::WalReplayStats,
) -> Result {
    encode_head(e, head)?;
    if let Some(w) = head.wal_stats() {
        encode_wal(e, &w)?;
    }
    if let Some(w) = head.wbl_stats() {
        encode_wbl(e, &w)?;
    }
    if let Some(m) = head.mmap_stats() {
        gauge(
            e,
            "prometheus_tsdb_head_chunks_storage_size_bytes",
            "Size of the chunks_head directory.",
            m.storage_size_bytes as f64,
        )?;
        counter(
            e,
            "prometheus_tsdb_mmap_chunk_corruptions",
            "Total number of memory-mapped chunk corruptions.",
            m.opened.corruptions,
        )?;
    }
    gauge(
        e,
        "prometheus_tsdb_data_replay_duration_seconds",
        "Time taken to replay the data on disk.",
        replay.duration.as_secs_f64(),
    )?;
    counter(
        e,
        "prometheus_tsdb_snapshot_replay_error",
        "Total number snapshot replays that failed.",
        replay.snapshot.replay_errors,
    )?;
    encode_db(e, db)
}

fn encode_head(e: &mut DescriptorEncoder<'_>, head: &tsdb::Head) -> Result {
    let st = head.stats();
    let empty = st.series == 0;
    gauge(
        e,
        "prometheus_tsdb_head_active_appenders",
        "Number of currently active appender transactions",
        st.active_appenders as f64,
    )?;
    gauge(
        e,
        "prometheus_tsdb_head_series",
        "Total number of series in the head block.",
        st.series as f64,
    )?;
    gauge(
        e,
        "prometheus_tsdb_head_chunks",
        "Total number of chunks in the head block.",
        st.chunks as f64,
    )?;
    gauge(
        e,
        "prometheus_tsdb_head_min_time",
        "Minimum time bound of the head block. The unit is decided by the library consumer.",
        bound(empty, st.min_time),
    )?;
    gauge(
        e,
        "prometheus_tsdb_head_max_time",
        "Maximum timestamp of the head block. The unit is decided by the library consumer.",
        bound(empty, st.max_time),
    )?;
    gauge(
        e,
        "prometheus_tsdb_head_min_time_seconds",
        "Minimum time bound of the head block.",
        bound(empty, st.min_time / 1000),
    )?;
    gauge(
        e,
        "prometheus_tsdb_head_max_time_seconds",
        "Maximum timestamp of the head block.",
        bound(empty, st.max_time / 1000),
    )?;
    let counters = [
        (
            "prometheus_tsdb_head_series_created",
            "Total number of series created in the head",
            st.series_created,
        ),
        (
            "prometheus_tsdb_head_series_removed",
            "Total number of series removed in the head",
            st.series_removed,
        ),
        (
            "prometheus_tsdb_head_chunks_created",
            "Total number of chunks created in the head",
            st.chunks_created,
        ),
        (
            "prometheus_tsdb_head_chunks_removed",
            "Total number of chunks removed in the head",
            st.chunks_removed,
        ),
        (
            "prometheus_tsdb_head_truncations",
            "Total number of head truncations attempted.",
            st.truncations,
        ),
    ];
    for (name, help, v) in counters {
        counter(e, name, help, v)?;
    }
    typed_counter(
        e,
        "prometheus_tsdb_head_samples_appended",
        "Total number of appended samples.",
        st.samples_appended,
        st.histograms_appended,
    )?;
    typed_counter(
        e,
        "prometheus_tsdb_out_of_order_samples",
        "Total number of out of order samples ingestion failed attempts due to out of order being disabled.",
        st.out_of_order_samples,
        st.out_of_order_histograms,
    )?;
    typed_counter(
        e,
        "prometheus_tsdb_out_of_bound_samples",
        "Total number of out of bound samples ingestion failed attempts with out of order support disabled.",
        st.out_of_bound_samples,
        st.out_of_bound_histograms,
    )?;
    // Out-of-order native histograms are not accepted, so their figures stay 0.
    typed_counter(
        e,
        "prometheus_tsdb_head_out_of_order_samples_appended",
        "Total number of appended out of order samples.",
        st.out_of_order_appended,
        0,
    )?;
    histogram(
        e,
        "prometheus_tsdb_sample_ooo_delta",
        "Delta in seconds by which a sample is considered out of order (reported regardless of OOO time window and whether sample is accepted or not).",
        &st.ooo_delta,
    )?;
    typed_counter(
        e,
        "prometheus_tsdb_too_old_samples",
        "Total number of out of order samples ingestion failed attempts with out of support enabled, but sample outside of time window.",
        st.too_old_samples,
        0,
    )
}

/// The WBL's `prometheus_tsdb_out_of_order_wbl_*` counters and gauges (the WAL's writer metrics under
/// Prometheus's WBL prefix).
fn encode_wbl(e: &mut DescriptorEncoder<'_>, w: &tsdb::WalStats) -> Result {
    gauge(
        e,
        "prometheus_tsdb_out_of_order_wbl_segment_current",
        "Write log segment index that TSDB is currently writing to.",
        f64::from(w.segment_current),
    )?;
    gauge(
        e,
        "prometheus_tsdb_out_of_order_wbl_storage_size_bytes",
        "Size of the write log directory.",
        w.storage_size_bytes as f64,
    )?;
    let counters = [
        (
            "prometheus_tsdb_out_of_order_wbl_writes_failed",
            "Total number of write log writes that failed.",
            w.writes_failed,
        ),
        (
            "prometheus_tsdb_out_of_order_wbl_page_flushes",
            "Total number of page flushes.",
            w.writer.page_flushes,
        ),
        (
            "prometheus_tsdb_out_of_order_wbl_completed_pages",
            "Total number of completed pages.",
            w.writer.completed_pages,
        ),
        (
            "prometheus_tsdb_out_of_order_wbl_truncations",
            "Total number of write log truncations attempted.",
            w.writer.truncations,
        ),
        (
            "prometheus_tsdb_out_of_order_wbl_truncations_failed",
            "Total number of write log truncations that failed.",
            w.writer.truncations_failed,
        ),
    ];
    for (name, help, v) in counters {
        counter(e, name, help, v)?;
    }
    Ok(())
}

/// The `prometheus_tsdb_wal_*` and `prometheus_tsdb_checkpoint_*` counters and gauges.
fn encode_wal(e: &mut DescriptorEncoder<'_>, w: &tsdb::WalStats) -> Result {
    gauge(
        e,
        "prometheus_tsdb_wal_segment_current",
        "Write log segment index that TSDB is currently writing to.",
        f64::from(w.segment_current),
    )?;
    gauge(
        e,
        "prometheus_tsdb_wal_storage_size_bytes",
        "Size of the write log directory.",
        w.storage_size_bytes as f64,
    )?;
    let counters = [
        (
            "prometheus_tsdb_wal_writes_failed",
            "Total number of write log writes that failed.",
            w.writes_failed,
        ),
        (
            "prometheus_tsdb_wal_page_flushes",
            "Total number of page flushes.",
            w.writer.page_flushes,
        ),
        (
            "prometheus_tsdb_wal_completed_pages",
            "Total number of completed pages.",
            w.writer.completed_pages,
        ),
        (
            "prometheus_tsdb_wal_truncations",
            "Total number of write log truncations attempted.",
            w.writer.truncations,
        ),
        (
            "prometheus_tsdb_wal_truncations_failed",
            "Total number of write log truncations that failed.",
            w.writer.truncations_failed,
        ),
        (
            "prometheus_tsdb_checkpoint_creations",
            "Total number of checkpoint creations attempted.",
            w.checkpoint_creations,
        ),
        (
            "prometheus_tsdb_checkpoint_creations_failed",
            "Total number of checkpoint creations that failed.",
            w.checkpoint_creations_failed,
        ),
        (
            "prometheus_tsdb_checkpoint_deletions",
            "Total number of checkpoint deletions attempted.",
            w.checkpoint_deletions,
        ),
        (
            "prometheus_tsdb_checkpoint_deletions_failed",
            "Total number of checkpoint deletions that failed.",
            w.checkpoint_deletions_failed,
        ),
        ("prometheus_tsdb_wal_corruptions", "Total number of WAL corruptions.", w.corruptions),
    ];
    for (name, help, v) in counters {
        counter(e, name, help, v)?;
    }
    Ok(())
}

/// The block, compaction and retention metrics.
fn encode_db(e: &mut DescriptorEncoder<'_>, db: &tsdb::Db) -> Result {
    let st = db.stats();
    let lowest = db.min_time();
    let lowest = if lowest == i64::MAX { 0 } else { lowest };
    let opts = db.options();
    let gauges = [
        (
            "prometheus_tsdb_blocks_loaded",
            "Number of currently loaded data blocks",
            db.blocks().len() as f64,
        ),
        (
            "prometheus_tsdb_storage_blocks_bytes",
            "The number of bytes that are currently used for local storage by all blocks.",
            db.blocks_bytes() as f64,
        ),
        (
            "prometheus_tsdb_symbol_table_size_bytes",
            "Size of symbol table in memory for loaded blocks",
            db.symbol_table_bytes() as f64,
        ),
        (
            "prometheus_tsdb_lowest_timestamp",
            "Lowest timestamp value stored in the database. The unit is decided by the library consumer.",
            lowest as f64,
        ),
        (
            "prometheus_tsdb_lowest_timestamp_seconds",
            "Lowest timestamp value stored in the database.",
            (lowest / 1000) as f64,
        ),
        (
            "prometheus_tsdb_compaction_populating_block",
            "Set to 1 when a block is currently being written to the disk.",
            f64::from(u8::from(st.populating_block)),
        ),
        (
            "prometheus_tsdb_retention_limit_bytes",
            "Max number of bytes to be retained in the tsdb blocks, configured 0 means disabled",
            opts.retention_bytes as f64,
        ),
        (
            "prometheus_tsdb_retention_limit_seconds",
            "How long to retain samples in storage.",
            opts.retention_ms as f64 / 1000.0,
        ),
    ];
    for (name, help, v) in gauges {
        gauge(e, name, help, v)?;
    }
    let counters = [
        (
            "prometheus_tsdb_compactions_triggered",
            "Total number of triggered compactions for the partition.",
            st.compactions_triggered,
        ),
        (
            "prometheus_tsdb_compactions",
            "Total number of compactions that were executed for the partition.",
            st.compactions,
        ),
        (
            "prometheus_tsdb_compactions_failed",
            "Total number of compactions that failed for the partition.",
            st.compactions_failed,
        ),
        (
            "prometheus_tsdb_vertical_compactions",
            "Total number of compactions done on overlapping blocks.",
            st.vertical_compactions,
        ),
        (
            "prometheus_tsdb_reloads",
            "Number of times the database reloaded block data from disk.",
            st.reloads,
        ),
        (
            "prometheus_tsdb_reloads_failures",
            "Number of times the database failed to reloadBlocks block data from disk.",
            st.reloads_failed,
        ),
        (
            "prometheus_tsdb_time_retentions",
            "The number of times that blocks were deleted because the maximum time limit was exceeded.",
            st.time_retentions,
        ),
        (
            "prometheus_tsdb_size_retentions",
            "The number of times that blocks were deleted because the maximum number of bytes was exceeded.",
            st.size_retentions,
        ),
    ];
    for (name, help, v) in counters {
        counter(e, name, help, v)?;
    }
    let histograms = [
        (
            "prometheus_tsdb_compaction_duration_seconds",
            "Duration of compaction runs",
            &st.compaction_duration,
        ),
        (
            "prometheus_tsdb_compaction_chunk_size_bytes",
            "Final size of chunks on their first compaction",
            &st.chunk_size_bytes,
        ),
        (
            "prometheus_tsdb_compaction_chunk_samples",
            "Final number of samples on their first compaction",
            &st.chunk_samples,
        ),
        (
            "prometheus_tsdb_compaction_chunk_range_seconds",
            "Final time range of chunks on their first compaction",
            &st.chunk_range,
        ),
    ];
    for (name, help, h) in histograms {
        histogram(e, name, help, h)?;
    }
    Ok(())
}

/// The `prometheus_tsdb_*` summaries: head GC and WAL truncation durations (sum and count, as Prometheus's,
/// which have no quantiles) and WAL fsync durations with client_golang's sliding-window quantiles.
#[derive(Debug)]
pub(crate) struct TsdbSummaries {
    head: tsdb::Head,
    /// The fsync quantile window, fed with what the WAL observed since the last render.
    fsync: DurationMetric,
    /// The same for the WBL.
    wbl_fsync: DurationMetric,
}

impl TsdbSummaries {
    pub(crate) fn new(head: tsdb::Head) -> TsdbSummaries {
        TsdbSummaries {
            head,
            fsync: DurationMetric::new(
                "prometheus_tsdb_wal_fsync_duration_seconds",
                "",
                "Duration of write log fsync.",
                &[0.5, 0.9, 0.99],
                &[],
            ),
            wbl_fsync: DurationMetric::new(
                "prometheus_tsdb_out_of_order_wbl_fsync_duration_seconds",
                "",
                "Duration of write log fsync.",
                &[0.5, 0.9, 0.99],
                &[],
            ),
        }
    }

    /// Appends the summaries in OpenMetrics text.
    pub(crate) fn render(&self, out: &mut String) {
        let st = self.head.stats();
        plain_summary(
            out,
            "prometheus_tsdb_head_gc_duration_seconds",
            "Runtime of garbage collection in the head block.",
            st.gc_duration,
        );
        if let Some(w) = self.head.wbl_stats() {
            for (at, v) in self.head.take_wbl_fsync_durations() {
                self.wbl_fsync.observe_at(v, at);
            }
            self.wbl_fsync.render_summary_totals(
                out,
                w.writer.fsync.sum_seconds,
                w.writer.fsync.count,
            );
        }
        let Some(w) = self.head.wal_stats() else { return };
        for (at, v) in self.head.take_wal_fsync_durations() {
            self.fsync.observe_at(v, at);
        }
        self.fsync.render_summary_totals(out, w.writer.fsync.sum_seconds, w.writer.fsync.count);
        plain_summary(
            out,
            "prometheus_tsdb_wal_truncate_duration_seconds",
            "Duration of WAL truncation.",
            w.truncate_duration,
        );
    }
}

/// A summary without quantiles.
fn plain_summary(out: &mut String, name: &str, help: &str, d: tsdb::DurationTotals) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} summary");
    let _ = writeln!(out, "{name}_sum {}", crate::duration_metrics::fmt_float(d.sum_seconds));
    let _ = writeln!(out, "{name}_count {}", d.count);
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::collector::Collector;
    use prometheus_client::registry::Registry;
    use storage::{AppendOptions, Appendable};

    #[derive(Debug)]
    struct Tsdb(tsdb::Db);

    impl Collector for Tsdb {
        fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result {
            let replay = tsdb::WalReplayStats {
                duration: std::time::Duration::from_millis(500),
                ..tsdb::WalReplayStats::default()
            };
            encode(&mut e, self.0.head(), &self.0, &replay)
        }
    }

    /// The text of every `prometheus_tsdb_*` metric after `hours` of samples and a compaction.
    fn exported(dir: &std::path::Path, hours: i64) -> String {
        const HOUR: i64 = 3600 * 1000;
        let opts = tsdb::DbOptions {
            wal: tsdb::wal::WalOptions {
                segment_size: 4 * tsdb::wal::PAGE_SIZE as u64,
                ..Default::default()
            },
            block_range: HOUR,
            max_block_duration: HOUR,
            retention_ms: 2 * HOUR,
            ..Default::default()
        };
        let (db, _) = tsdb::Db::open(dir, opts).unwrap();
        let o = AppendOptions::default();
        let mut t = 0;
        while t < hours * HOUR {
            let mut app = db.appender();
            for i in 0..50 {
                let l = model::Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]);
                app.append(0, &l, 0, t, model::Value::Float(1.0), &o).unwrap();
            }
            app.commit().unwrap();
            t += 15_000;
        }
        let l = model::Labels::from_pairs([("__name__", "m"), ("i", "0")]);
        let mut app = db.appender();
        assert!(app.append(0, &l, 0, 0, model::Value::Float(1.0), &o).is_err());
        app.rollback().unwrap();
        db.compact().unwrap();
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Tsdb(db.clone())));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        TsdbSummaries::new(db.head().clone()).render(&mut out);
        out
    }

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn exports_out_of_order_and_wbl_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = tsdb::DbOptions::default();
        opts.head.out_of_order_time_window = 60_000;
        let (db, _) = tsdb::Db::open(dir.path(), opts).unwrap();
        let o = AppendOptions::default();
        let l = model::Labels::from_pairs([("__name__", "m")]);
        for (t, ok) in [(100_000, true), (50_000, true), (60_000, true), (39_999, false)] {
            let mut app = db.appender();
            assert_eq!(app.append(0, &l, 0, t, model::Value::Float(1.0), &o).is_ok(), ok, "{t}");
            app.commit().unwrap();
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Tsdb(db.clone())));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        TsdbSummaries::new(db.head().clone()).render(&mut text);
        let appended = "prometheus_tsdb_head_out_of_order_samples_appended_total{type=\"float\"}";
        assert_eq!(value(&text, appended), 2.0);
        assert_eq!(value(&text, "prometheus_tsdb_too_old_samples_total{type=\"float\"}"), 1.0);
        // Behind the newest sample by 50 s, 40 s and 60.001 s: all in the first bucket (10 min).
        assert_eq!(value(&text, "prometheus_tsdb_sample_ooo_delta_count"), 3.0);
        assert_eq!(value(&text, "prometheus_tsdb_sample_ooo_delta_bucket{le=\"600.0\"}"), 3.0);
        assert!((value(&text, "prometheus_tsdb_sample_ooo_delta_sum") - 150.001).abs() < 1e-9);
        assert_eq!(
            value(&text, "prometheus_tsdb_head_samples_appended_total{type=\"float\"}"),
            3.0
        );
        assert!(value(&text, "prometheus_tsdb_out_of_order_wbl_storage_size_bytes") > 0.0);
        assert!(value(&text, "prometheus_tsdb_out_of_order_wbl_page_flushes_total") >= 2.0);
        for name in [
            "# TYPE prometheus_tsdb_out_of_order_wbl_segment_current gauge",
            "# TYPE prometheus_tsdb_out_of_order_wbl_writes_failed counter",
            "# TYPE prometheus_tsdb_out_of_order_wbl_truncations counter",
            "# TYPE prometheus_tsdb_out_of_order_wbl_fsync_duration_seconds summary",
        ] {
            assert!(text.lines().any(|l| l == name), "missing {name:?} in\n{text}");
        }
    }

    #[test]
    fn exports_prometheus_names_types_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let text = exported(dir.path(), 6);
        // Every metric with Prometheus's type (OpenMetrics names counters without `_total` in TYPE lines).
        for (name, ty) in [
            ("prometheus_tsdb_head_series", "gauge"),
            ("prometheus_tsdb_head_chunks", "gauge"),
            ("prometheus_tsdb_head_active_appenders", "gauge"),
            ("prometheus_tsdb_head_min_time", "gauge"),
            ("prometheus_tsdb_head_max_time", "gauge"),
            ("prometheus_tsdb_head_min_time_seconds", "gauge"),
            ("prometheus_tsdb_head_max_time_seconds", "gauge"),
            ("prometheus_tsdb_head_series_created", "counter"),
            ("prometheus_tsdb_head_series_removed", "counter"),
            ("prometheus_tsdb_head_chunks_created", "counter"),
            ("prometheus_tsdb_head_chunks_removed", "counter"),
            ("prometheus_tsdb_head_truncations", "counter"),
            ("prometheus_tsdb_head_samples_appended", "counter"),
            ("prometheus_tsdb_out_of_order_samples", "counter"),
            ("prometheus_tsdb_out_of_bound_samples", "counter"),
            ("prometheus_tsdb_head_gc_duration_seconds", "summary"),
            ("prometheus_tsdb_head_chunks_storage_size_bytes", "gauge"),
            ("prometheus_tsdb_mmap_chunk_corruptions", "counter"),
            ("prometheus_tsdb_wal_segment_current", "gauge"),
            ("prometheus_tsdb_wal_storage_size_bytes", "gauge"),
            ("prometheus_tsdb_wal_writes_failed", "counter"),
            ("prometheus_tsdb_wal_page_flushes", "counter"),
            ("prometheus_tsdb_wal_completed_pages", "counter"),
            ("prometheus_tsdb_wal_truncations", "counter"),
            ("prometheus_tsdb_wal_truncations_failed", "counter"),
            ("prometheus_tsdb_wal_corruptions", "counter"),
            ("prometheus_tsdb_wal_fsync_duration_seconds", "summary"),
            ("prometheus_tsdb_wal_truncate_duration_seconds", "summary"),
            ("prometheus_tsdb_checkpoint_creations", "counter"),
            ("prometheus_tsdb_checkpoint_creations_failed", "counter"),
            ("prometheus_tsdb_checkpoint_deletions", "counter"),
            ("prometheus_tsdb_checkpoint_deletions_failed", "counter"),
            ("prometheus_tsdb_data_replay_duration_seconds", "gauge"),
            ("prometheus_tsdb_snapshot_replay_error", "counter"),
            ("prometheus_tsdb_blocks_loaded", "gauge"),
            ("prometheus_tsdb_storage_blocks_bytes", "gauge"),
            ("prometheus_tsdb_symbol_table_size_bytes", "gauge"),
            ("prometheus_tsdb_lowest_timestamp", "gauge"),
            ("prometheus_tsdb_lowest_timestamp_seconds", "gauge"),
            ("prometheus_tsdb_compaction_populating_block", "gauge"),
            ("prometheus_tsdb_retention_limit_bytes", "gauge"),
            ("prometheus_tsdb_retention_limit_seconds", "gauge"),
            ("prometheus_tsdb_compactions_triggered", "counter"),
            ("prometheus_tsdb_compactions", "counter"),
            ("prometheus_tsdb_compactions_failed", "counter"),
            ("prometheus_tsdb_vertical_compactions", "counter"),
            ("prometheus_tsdb_reloads", "counter"),
            ("prometheus_tsdb_reloads_failures", "counter"),
            ("prometheus_tsdb_time_retentions", "counter"),
            ("prometheus_tsdb_size_retentions", "counter"),
            ("prometheus_tsdb_compaction_duration_seconds", "histogram"),
            ("prometheus_tsdb_compaction_chunk_size_bytes", "histogram"),
            ("prometheus_tsdb_compaction_chunk_samples", "histogram"),
            ("prometheus_tsdb_compaction_chunk_range_seconds", "histogram"),
        ] {
            let line = format!("# TYPE {name} {ty}");
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
            assert_eq!(text.matches(&format!("# TYPE {name} ")).count(), 1, "{name} twice");
        }
        assert_eq!(value(&text, "prometheus_tsdb_out_of_order_samples_total{type=\"float\"}"), 1.0);
        assert_eq!(
            value(&text, "prometheus_tsdb_out_of_order_samples_total{type=\"histogram\"}"),
            0.0
        );
        assert_eq!(value(&text, "prometheus_tsdb_out_of_bound_samples_total{type=\"float\"}"), 0.0);
        assert_eq!(
            value(&text, "prometheus_tsdb_head_samples_appended_total{type=\"float\"}"),
            72000.0
        );
        // Five blocks cut from the head, three of them then beyond the 2 h retention, in one run.
        assert_eq!(value(&text, "prometheus_tsdb_compactions_total"), 5.0);
        assert_eq!(value(&text, "prometheus_tsdb_compaction_duration_seconds_count"), 5.0);
        assert_eq!(value(&text, "prometheus_tsdb_vertical_compactions_total"), 0.0);
        assert_eq!(value(&text, "prometheus_tsdb_time_retentions_total"), 1.0);
        assert_eq!(value(&text, "prometheus_tsdb_reloads_total"), 2.0);
        assert_eq!(value(&text, "prometheus_tsdb_blocks_loaded"), 2.0);
        assert_eq!(value(&text, "prometheus_tsdb_head_truncations_total"), 5.0);
        assert_eq!(value(&text, "prometheus_tsdb_head_gc_duration_seconds_count"), 5.0);
        assert_eq!(value(&text, "prometheus_tsdb_retention_limit_seconds"), 7200.0);
        assert!(value(&text, "prometheus_tsdb_head_chunks_removed_total") > 0.0);
        assert!(value(&text, "prometheus_tsdb_compaction_chunk_samples_count") > 0.0);
        assert!(value(&text, "prometheus_tsdb_compaction_chunk_samples_bucket{le=\"+Inf\"}") > 0.0);
        let checkpoints = value(&text, "prometheus_tsdb_checkpoint_creations_total");
        assert!(checkpoints > 0.0, "{text}");
        assert_eq!(value(&text, "prometheus_tsdb_checkpoint_deletions_total"), checkpoints);
        assert_eq!(value(&text, "prometheus_tsdb_wal_truncations_total"), checkpoints);
        assert_eq!(
            value(&text, "prometheus_tsdb_wal_truncate_duration_seconds_count"),
            checkpoints
        );
        assert!(value(&text, "prometheus_tsdb_wal_page_flushes_total") >= 1440.0);
        assert!(value(&text, "prometheus_tsdb_wal_completed_pages_total") > 0.0);
        let fsyncs = value(&text, "prometheus_tsdb_wal_fsync_duration_seconds_count");
        assert!(fsyncs > 0.0);
        let q = value(&text, "prometheus_tsdb_wal_fsync_duration_seconds{quantile=\"0.99\"}");
        assert!(q >= 0.0, "the window holds the fsyncs: {q}");
    }
}
