//! The figures behind the `prometheus_tsdb_*` metrics move with the code paths they describe: appends and
//! rejections, head chunks, compaction, head and WAL truncation with its checkpoint, reloads and retention.

use std::sync::Arc;

use storage::AppendError;

use super::*;

fn rejected(db: &Db, t: i64, v: Value) -> AppendError {
    let l = Labels::from_pairs([("__name__", "m"), ("i", "0")]);
    let mut app = db.appender();
    let e = app.append(0, &l, 0, t, v, &AppendOptions::default()).unwrap_err();
    app.rollback().unwrap();
    e
}

fn histogram() -> Value {
    Value::FloatHistogram(Arc::new(model::FloatHistogram { count: 1.0, ..Default::default() }))
}

#[test]
fn counters_follow_appends_compaction_wal_truncation_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(HOUR);
    o.retention_ms = 2 * HOUR;
    let (db, _) = Db::open(dir.path(), o).unwrap();
    assert_eq!(db.stats().reloads, 1, "opening loads the block set");
    let app = db.appender();
    assert_eq!(db.head().stats().active_appenders, 1);
    drop(app);
    // 6 h of 15 s samples: 1440 per series, 12 head chunks of 120 each.
    ingest(&db, 0, 6, 50);
    let h = db.head().stats();
    assert_eq!((h.chunks_created, h.chunks_removed, h.chunks), (600, 0, 600));
    assert_eq!((h.samples_appended, h.truncations, h.gc_duration.count), (50 * 1440, 0, 0));

    let last = 6 * HOUR - 15_000;
    assert_eq!(rejected(&db, last - 1, Value::Float(1.0)), AppendError::OutOfOrderSample);
    assert_eq!(rejected(&db, last - 1, histogram()), AppendError::OutOfOrderSample);
    assert_eq!(rejected(&db, last - 2, histogram()), AppendError::OutOfOrderSample);
    let h = db.head().stats();
    assert_eq!((h.out_of_order_samples, h.out_of_order_histograms), (1, 2));
    assert_eq!(h.active_appenders, 0, "committed, rolled back or dropped");

    let w = db.head().wal_stats().unwrap();
    assert!(w.writer.page_flushes >= 1440, "one page write per commit at least: {w:?}");
    assert!(w.writer.completed_pages > 0 && w.segment_current > 2, "{w:?}");
    assert!(w.writer.fsync.count > 0, "closing a segment fsyncs it: {w:?}");
    assert_eq!(w.checkpoint_creations, 0);

    db.compact().unwrap();
    let st = db.stats();
    // Blocks [0,1h) .. [4h,5h) were cut from the head; retention then deleted the three ending by 3h at once.
    assert_eq!((st.compactions_triggered, st.compactions, st.compactions_failed), (1, 5, 0));
    assert_eq!(st.compaction_duration.count, 5);
    assert!(!st.populating_block);
    assert_eq!(st.chunk_samples.sum, (50 * 5 * 240) as f64, "every sample of the five blocks");
    assert_eq!(st.chunk_size_bytes.count, st.chunk_samples.count);
    assert_eq!(st.chunk_range.count, st.chunk_samples.count);
    assert!(st.chunk_range.sum > 0.0);
    assert_eq!((st.reloads, st.reloads_failed), (2, 0));
    assert_eq!((st.time_retentions, st.size_retentions), (1, 0));
    assert_eq!(db.blocks().len(), 2);
    assert!(db.symbol_table_bytes() > 0);

    let h = db.head().stats();
    assert_eq!((h.truncations, h.gc_duration.count), (5, 5));
    assert!(h.chunks_removed > 0);
    assert_eq!(h.chunks, db.head().count_chunks(), "{h:?}");
    // After truncation at 5 h older samples are out of bounds.
    assert_eq!(rejected(&db, HOUR, Value::Float(1.0)), AppendError::OutOfBounds);
    assert_eq!(rejected(&db, HOUR, histogram()), AppendError::OutOfBounds);
    let h = db.head().stats();
    assert_eq!((h.out_of_bound_samples, h.out_of_bound_histograms), (1, 1));

    let w = db.head().wal_stats().unwrap();
    assert!(w.checkpoint_creations > 0, "{w:?}");
    assert_eq!(w.checkpoint_creations_failed, 0);
    assert_eq!(w.checkpoint_deletions, w.checkpoint_creations);
    assert_eq!(w.checkpoint_deletions_failed, 0);
    assert_eq!(w.writer.truncations, w.checkpoint_creations);
    assert_eq!(w.writer.truncations_failed, 0);
    assert_eq!(w.truncate_duration.count, w.checkpoint_creations);
    assert_eq!(db.head().take_wal_fsync_durations().len() as u64, w.writer.fsync.count);
    assert!(db.head().take_wal_fsync_durations().is_empty(), "taken once");

    // A retention run that deletes nothing is a reload but no retention.
    assert_eq!(db.apply_retention().unwrap(), 0);
    let st = db.stats();
    assert_eq!((st.reloads, st.time_retentions), (3, 1));
    drop(db);

    let mut o = opts(HOUR);
    o.retention_bytes = 1;
    let (db, _) = Db::open(dir.path(), o).unwrap();
    assert_eq!(db.apply_retention().unwrap(), 2);
    assert_eq!((db.stats().size_retentions, db.stats().time_retentions), (1, 0));
}

#[test]
fn time_retention_keeps_the_newest_block_and_compares_with_at_least() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(HOUR);
    // Exactly the distance between the ends of the first and the last block cut below.
    o.retention_ms = 4 * HOUR;
    let (db, _) = Db::open(dir.path(), o).unwrap();
    ingest(&db, 0, 6, 2);
    db.compact().unwrap();
    // Ends 1h .. 5h: 5h - 1h >= 4h, so only [0,1h) goes.
    let ranges: Vec<(i64, i64)> =
        db.blocks().iter().map(|b| (b.meta().min_time, b.meta().max_time)).collect();
    assert_eq!(ranges, (1..5).map(|k| (k * HOUR, (k + 1) * HOUR)).collect::<Vec<_>>());
    assert_eq!(db.stats().time_retentions, 1);
}

#[test]
fn head_deletion_hides_samples_without_rewriting_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    ingest(&db, 0, 1, 3);
    let before = db.head().stats();
    let m = Matcher::new(MatchType::Equal, "i", "1").unwrap();
    db.head().delete(0, 30 * 60 * 1000, &[m]).unwrap();
    let after = db.head().stats();
    // Like Prometheus's head tombstones: the chunks stay (they may be in chunks_head/), the samples are hidden.
    assert_eq!(
        (after.chunks, after.chunks_created, after.chunks_removed),
        (before.chunks, before.chunks_created, before.chunks_removed)
    );
    assert_eq!(after.chunks, db.head().count_chunks(), "{after:?}");
}
