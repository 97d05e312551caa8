//! Out-of-order data through the database: its compaction into blocks with the `"from-out-of-order"` hint,
//! their vertical merge with the in-order blocks, the WBL's truncation, restarts, and Prometheus 2.42 reading
//! the directory.

use super::*;
use crate::block::HINT_FROM_OUT_OF_ORDER;

fn ooo_opts(window: i64) -> DbOptions {
    let mut o = opts(HOUR);
    o.head.out_of_order_time_window = window;
    o
}

fn series(i: &str) -> Labels {
    Labels::from_pairs([("__name__", "m"), ("i", i)])
}

/// Appends `m{i=…}` samples at `from, from + step, …` below `to`, one commit each.
fn add_range(db: &Db, i: &str, from: i64, to: i64, step: i64) {
    let o = AppendOptions::default();
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        app.append(0, &series(i), 0, t, Value::Float(t as f64 / 7.0), &o).unwrap();
        app.commit().unwrap();
        t += step;
    }
}

fn hinted(db: &Db) -> Vec<(i64, i64)> {
    db.blocks()
        .iter()
        .filter(|b| b.meta().compaction.from_out_of_order())
        .map(|b| (b.meta().min_time, b.meta().max_time))
        .collect()
}

#[test]
fn out_of_order_data_is_compacted_into_hinted_blocks_merged_and_the_wbl_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), ooo_opts(2 * HOUR)).unwrap();
    ingest(&db, 0, 3, 2);
    // Between the in-order samples of the last hour and a half.
    add_range(&db, "0", HOUR + HOUR / 2 + 7_500, 3 * HOUR, 15_000);
    assert_eq!(db.head().stats().too_old_samples, 0);
    let expected = dump(&db);
    assert_eq!(expected["{__name__=\"m\", i=\"0\"}"].len(), 3 * 240 + 360);

    let report = db.compact().unwrap();
    assert_eq!(report.blocks.len(), 2, "{report:?}");
    let ooo: Vec<(i64, i64)> = report.ooo_blocks.iter().map(|(_, a, b)| (*a, *b)).collect();
    assert_eq!(ooo, vec![(HOUR, 2 * HOUR), (2 * HOUR, 3 * HOUR)]);
    // [1h, 2h) overlapped the in-order block and was merged with it; [2h, 3h) waits for the head's.
    assert!(report.merges.iter().any(|m| m.vertical && m.min_time == HOUR));
    assert_eq!(hinted(&db), vec![(2 * HOUR, 3 * HOUR)]);
    let meta = db.blocks().into_iter().find(|b| b.meta().compaction.from_out_of_order()).unwrap();
    assert_eq!(meta.meta().compaction.level, 1);
    assert_eq!(meta.meta().compaction.hints, vec![HINT_FROM_OUT_OF_ORDER.to_string()]);
    let merged = db.blocks().into_iter().find(|b| b.meta().min_time == HOUR).unwrap();
    assert!(merged.meta().compaction.hints.is_empty(), "in-order and out-of-order parents");
    assert_eq!(dump(&db), expected, "every sample once, after compaction");
    // Nothing out of order is left in the head or the WBL.
    let wbl_dir = dir.path().join("wbl");
    let left: Vec<u32> = crate::wal::segment::list_segments(&wbl_dir).unwrap();
    assert_eq!(left.len(), 1, "only the segment started at the seal: {left:?}");
    drop(db);

    // The hinted block does not bound the head: the WAL's in-order samples of [2h, 3h) come back.
    let (db, replay) = Db::open(dir.path(), ooo_opts(2 * HOUR)).unwrap();
    assert_eq!(replay.wbl.unwrap().samples, 0);
    assert_eq!(dump(&db), expected, "after a restart");
    // Later the head's own [2h, 3h) block is merged with the hinted one.
    ingest(&db, 3 * HOUR, 2, 2);
    db.compact().unwrap();
    assert!(
        hinted(&db).is_empty(),
        "{:?}",
        db.blocks().iter().map(|b| b.meta()).collect::<Vec<_>>()
    );
    let after = dump(&db);
    assert_eq!(after["{__name__=\"m\", i=\"0\"}"].len(), 5 * 240 + 360);
    for (k, v) in &expected {
        assert!(v.iter().all(|s| after[k].contains(s)), "{k}");
    }
}

#[test]
fn compacting_out_of_order_data_on_demand_and_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), ooo_opts(HOUR)).unwrap();
    add_range(&db, "0", 0, HOUR, 60_000);
    add_range(&db, "0", 30_000, HOUR, 60_000);
    let first = dump(&db);
    let written = db.compact_ooo_head().unwrap();
    assert_eq!(written.iter().map(|(_, a, b)| (*a, *b)).collect::<Vec<_>>(), vec![(0, HOUR)]);
    assert_eq!(db.compact_ooo_head().unwrap(), Vec::new(), "nothing left to compact");
    // More out-of-order samples after the compaction, then a restart: they come back from the WBL.
    add_range(&db, "0", 45_000, HOUR, 60_000);
    let second = dump(&db);
    assert_eq!(second.values().map(Vec::len).sum::<usize>(), 180);
    db.head().sync_wal().unwrap();
    drop(db);
    let (db, replay) = Db::open(dir.path(), ooo_opts(HOUR)).unwrap();
    // The last sample of the range is newer than the head's newest one: in order.
    assert_eq!(replay.wbl.unwrap().samples, 59);
    assert_eq!(dump(&db), second);
    // The second compaction overlaps the first block: merged vertically by the next compaction.
    db.compact_ooo_head().unwrap();
    assert_eq!(hinted(&db).len(), 2);
    db.compact().unwrap();
    assert_eq!(hinted(&db), vec![(0, HOUR)], "two out-of-order parents make an out-of-order block");
    assert_eq!(dump(&db), second);
    assert!(first.values().flatten().all(|s| second.values().flatten().any(|x| x == s)));
}

#[test]
fn prometheus_2_42_reads_out_of_order_blocks_chunks_and_wbl() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), ooo_opts(2 * HOUR)).unwrap();
    ingest(&db, 0, 3, 3);
    db.compact().unwrap();
    // A block of out-of-order data, not merged yet. (2.42's read-only open, which `promtool tsdb dump` uses,
    // bounds the WAL replay by the newest block whatever its hint, so this block stays below the in-order ones.)
    add_range(&db, "1", HOUR + 7_500, 2 * HOUR, 15_000);
    db.compact_ooo_head().unwrap();
    assert_eq!(hinted(&db), vec![(HOUR, 2 * HOUR)]);
    // Out-of-order data in the head: full chunks in `chunks_head/` (m-map markers in the WBL) and the buffer.
    add_range(&db, "2", 2 * HOUR + 7_500, 2 * HOUR + HOUR / 2, 15_000);
    db.head().sync_wal().unwrap();
    let chunks = crate::head::count_ooo_chunks_for_test(&dir.path().join("chunks_head"));
    assert!(chunks > 0, "out-of-order chunks in chunks_head/");
    let ours = normalized(dump(&db));
    assert_eq!(ours["{__name__=\"m\",i=\"2\"}"].len(), 3 * 240 + 120);
    let Some(theirs) = promtool_dump(dir.path()) else { return };
    for (k, v) in &ours {
        let t = theirs.get(k).cloned().unwrap_or_default();
        let missing: Vec<_> = v.iter().filter(|s| !t.contains(s)).take(5).collect();
        let extra: Vec<_> = t.iter().filter(|s| !v.contains(s)).take(5).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{k}: missing {missing:?} extra {extra:?}");
    }
    assert_eq!(theirs.len(), ours.len());
}

/// Copies the files of `from` into `to` (one level of directories).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_crash_before_the_wbl_is_truncated_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wbl = dir.path().join("wbl");
    let saved = dir.path().join("wbl-before");
    let (db, _) = Db::open(dir.path(), ooo_opts(2 * HOUR)).unwrap();
    ingest(&db, 0, 3, 2);
    add_range(&db, "0", HOUR + 7_500, 3 * HOUR, 15_000);
    let expected = dump(&db);
    db.head().sync_wal().unwrap();
    copy_dir(&wbl, &saved);
    let written = db.compact_ooo_head().unwrap();
    assert_eq!(written.len(), 2);
    drop(db);

    // As if the process died after writing the blocks and before deleting the WBL's segments.
    fs::remove_dir_all(&wbl).unwrap();
    copy_dir(&saved, &wbl);
    let (db, replay) = Db::open(dir.path(), ooo_opts(2 * HOUR)).unwrap();
    // 480 samples, the last one newer than the head's newest and so in order.
    assert_eq!(replay.wbl.unwrap().samples, 479, "the sealed samples come back");
    assert_eq!(dump(&db), expected, "and read back once next to their blocks");
    // Compacting them again makes blocks overlapping the first ones; merging keeps each sample once.
    assert_eq!(db.compact_ooo_head().unwrap().len(), 2);
    db.compact().unwrap();
    assert!(db.plan_compaction().is_none());
    assert_eq!(dump(&db), expected);
    drop(db);

    // As if it died before writing any block: the blocks are gone, the WBL still has everything.
    let (db, _) = Db::open(dir.path(), ooo_opts(2 * HOUR)).unwrap();
    for b in db.blocks() {
        fs::remove_dir_all(b.dir()).unwrap();
    }
    drop(db);
    fs::remove_dir_all(&wbl).unwrap();
    copy_dir(&saved, &wbl);
    let (db, _) = Db::open(dir.path(), ooo_opts(2 * HOUR)).unwrap();
    assert!(db.blocks().is_empty());
    assert_eq!(dump(&db), expected, "the WAL and the WBL alone hold everything");
}

/// A scrape-like load: `m` exposes timestamps ten minutes behind `up`'s and goes back on every other one, so
/// after the first cut everything of `m` is behind the head's lower bound; compactions run in between.
#[test]
fn compacting_while_samples_arrive_behind_the_head_keeps_each_sample_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(2000);
    o.head.out_of_order_time_window = 600_000;
    let (db, _) = Db::open(dir.path(), o).unwrap();
    let base = 1_000_000_000i64;
    let up = Labels::from_pairs([("__name__", "up")]);
    let ao = AppendOptions::default();
    let mut report = CompactReport::default();
    for k in 1..200i64 {
        let t = if k % 2 == 1 { base + k * 1000 } else { base + k * 1000 - 1500 };
        let mut app = db.appender();
        app.append(0, &series("0"), 0, t, Value::Float(k as f64), &ao).unwrap();
        app.append(0, &up, 0, base + 600_000 + k * 100, Value::Float(1.0), &ao).unwrap();
        app.commit().unwrap();
        if k % 3 == 0 {
            let r = db.compact().unwrap();
            report.ooo_blocks.extend(r.ooo_blocks);
            report.merges.extend(r.merges);
        }
        let d = dump(&db);
        assert_eq!(d["{__name__=\"m\", i=\"0\"}"].len(), k as usize, "k={k}");
        assert_eq!(d["{__name__=\"up\"}"].len(), k as usize, "k={k}");
    }
    assert!(report.ooo_blocks.len() > 10 && report.merges.iter().any(|m| m.vertical));
    assert!(db.head().stats().out_of_order_appended > 150);
}
