//! Block compaction: leveled merging into `block_range × 3^n` ranges, vertical merging of overlapping blocks,
//! tombstones, the parent/child swap surviving a crash, and Prometheus 2.42 reading the result.

use std::path::Path;

use super::*;
use crate::block::{Interval, write_block_from_samples};

const MIN: i64 = 60_000;

/// One-minute blocks merged into 3- and 9-minute ones.
fn leveled_opts() -> DbOptions {
    let mut o = opts(MIN);
    o.max_block_duration = 9 * MIN;
    o
}

/// Appends a sample every `step` ms in `[from, to)` for `n` series, one commit per timestamp.
fn ingest_range(db: &Db, from: i64, to: i64, step: i64, n: usize) {
    let o = AppendOptions::default();
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        for i in 0..n {
            let l = Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]);
            app.append(0, &l, 0, t, Value::Float(t as f64 + i as f64), &o).unwrap();
        }
        app.commit().unwrap();
        t += step;
    }
}

fn total(d: &BTreeMap<String, Vec<(i64, u64)>>) -> usize {
    d.values().map(Vec::len).sum()
}

/// `(min, max, level)` of every block, oldest first.
fn layout(db: &Db) -> Vec<(i64, i64, u32)> {
    db.blocks()
        .iter()
        .map(|b| (b.meta().min_time, b.meta().max_time, b.meta().compaction.level))
        .collect()
}

/// Blocks do not overlap, and each lies inside the aligned window of the smallest range it fits.
fn assert_leveled(db: &Db) {
    let ranges = db.compaction_ranges();
    let blocks = layout(db);
    for w in blocks.windows(2) {
        assert!(w[0].1 <= w[1].0, "overlapping blocks {blocks:?}");
    }
    for &(min, max, _) in &blocks {
        let r = ranges.iter().copied().find(|r| max - min <= *r).expect("block wider than ranges");
        let start = min.div_euclid(r) * r;
        assert!(max <= start + r, "block [{min}, {max}) crosses a {r} ms window: {blocks:?}");
    }
}

/// Names in the data directory that are neither blocks nor the WAL.
fn stray_entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "wal" && n != "chunks_head" && crate::block::Ulid::parse(n).is_none())
        .collect()
}

#[test]
fn leveled_compaction_merges_into_three_and_nine_minute_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), leveled_opts()).unwrap();
    assert_eq!(db.compaction_ranges(), vec![MIN, 3 * MIN, 9 * MIN]);
    ingest_range(&db, 0, 40 * MIN, 5_000, 10);
    let before = dump(&db);
    assert_eq!(total(&before), 10 * 480);

    let report = db.compact().unwrap();
    // The head spanned 40 min: 39 one-minute blocks, then the planner merged every full 3-minute window but the
    // one holding the newest block, then the full 9-minute windows.
    assert_eq!(report.blocks.len(), 39);
    assert_eq!(report.merges.len(), 12 + 4);
    for (i, m) in report.merges.iter().enumerate() {
        let (level, width, parents) = if i < 12 { (2, 3 * MIN, 3) } else { (3, 9 * MIN, 3) };
        assert_eq!((m.level, m.max_time - m.min_time, m.parents.len()), (level, width, parents));
        assert!(!m.vertical && m.ulid.is_some());
        // Aligned blocks without deletions: chunks are copied, not re-encoded.
        assert_eq!((m.stats.series, m.stats.chunks_reencoded), (10, 0));
        assert!(m.stats.chunks_copied >= 10 * 3);
    }
    let mut want: Vec<(i64, i64, u32)> =
        (0..4).map(|k| (k * 9 * MIN, (k + 1) * 9 * MIN, 3)).collect();
    want.extend((36..39).map(|m| (m * MIN, (m + 1) * MIN, 1)));
    assert_eq!(layout(&db), want);
    assert_eq!(db.plan_compaction(), None);
    let st = db.stats();
    assert_eq!((st.compactions, st.vertical_compactions, st.compactions_failed), (39 + 16, 0, 0));

    // A level-3 block's history: its nine level-1 sources and its three level-2 parents, which are gone.
    let b = &db.blocks()[0];
    let c = &b.meta().compaction;
    assert_eq!(c.sources.len(), 9);
    assert!(c.sources.windows(2).all(|w| w[0] < w[1]));
    let parents: Vec<(i64, i64)> = c.parents.iter().map(|p| (p.min_time, p.max_time)).collect();
    assert_eq!(parents, vec![(0, 3 * MIN), (3 * MIN, 6 * MIN), (6 * MIN, 9 * MIN)]);
    assert!(c.parents.iter().all(|p| !dir.path().join(p.ulid.to_string()).exists()));
    assert_eq!(b.meta().stats.num_samples, 10 * 9 * 12);
    assert_eq!(b.meta().stats.num_series, 10);
    assert!(stray_entries(dir.path()).is_empty(), "{:?}", stray_entries(dir.path()));

    // Every sample reads back exactly once, from the blocks and after reopening.
    assert_eq!(dump(&db), before);
    let in_blocks: u64 = db.blocks().iter().map(|b| b.meta().stats.num_samples).sum();
    assert_eq!(in_blocks, 10 * 39 * 12);
    drop(db);
    let (db, _) = Db::open(dir.path(), leveled_opts()).unwrap();
    assert_eq!(layout(&db), want);
    assert_eq!(dump(&db), before);

    // More data: the newest blocks join the levels as their windows fill.
    ingest_range(&db, 40 * MIN, 60 * MIN, 5_000, 10);
    db.compact().unwrap();
    assert_leveled(&db);
    assert_eq!(total(&dump(&db)), 10 * 720);
    let levels: Vec<(i64, i64, u32)> = layout(&db).into_iter().filter(|b| b.2 == 3).collect();
    assert_eq!(levels.len(), 6, "{:?}", layout(&db));
}

#[test]
fn compacting_after_every_minute_keeps_the_levels() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), leveled_opts()).unwrap();
    for m in 0..30 {
        ingest_range(&db, m * MIN, (m + 1) * MIN, 2_000, 5);
        db.compact().unwrap();
        assert_leveled(&db);
    }
    assert_eq!(total(&dump(&db)), 5 * 30 * 30);
    // 27 minutes in 9-minute blocks, then the window the newest block holds.
    assert_eq!(
        layout(&db)[..3],
        [(0, 9 * MIN, 3), (9 * MIN, 18 * MIN, 3), (18 * MIN, 27 * MIN, 3)]
    );
    assert!(db.blocks().len() <= 6, "{:?}", layout(&db));
}

#[test]
fn overlapping_blocks_are_merged_vertically() {
    use model::{BucketSpan, Histogram};
    let dir = tempfile::tempdir().unwrap();
    let hist = |k: u64| {
        Value::Histogram(std::sync::Arc::new(Histogram {
            count: 2 * k,
            sum: k as f64,
            schema: 0,
            zero_threshold: 1e-128,
            zero_count: k,
            positive_spans: vec![BucketSpan { offset: 0, length: 1 }],
            positive_buckets: vec![k as i64],
            ..Histogram::default()
        }))
    };
    let series = |name: &str, from: i64, to: i64, step: i64| {
        let samples: Vec<(i64, Value)> = (from / step..to / step)
            .map(|k| (k * step, Value::Float((k * step) as f64 / 1000.0)))
            .collect();
        (Labels::from_pairs([("__name__", name)]), samples)
    };
    // Older block: `a` every 15 s for 2 h, `b`, and histograms `h` in the first hour; newer block: `a` every
    // 10 s from 1 h to 3 h (every 30 s a duplicate of the older block's sample), `c`, histograms from 30 min.
    let h_old: Vec<(i64, Value)> = (0..240).map(|k| (k as i64 * 15_000, hist(k))).collect();
    let h_new: Vec<(i64, Value)> = (120..480).map(|k| (k as i64 * 15_000, hist(k))).collect();
    let hl = Labels::from_pairs([("__name__", "h")]);
    let old = crate::block::write_block_from_series(
        dir.path(),
        [series("a", 0, 2 * HOUR, 15_000), series("b", 0, 2 * HOUR, 60_000), (hl.clone(), h_old)],
    )
    .unwrap();
    let new = crate::block::write_block_from_series(
        dir.path(),
        [series("a", HOUR, 3 * HOUR, 10_000), series("c", HOUR, 3 * HOUR, 60_000), (hl, h_new)],
    )
    .unwrap();

    let mut o = opts(HOUR);
    o.max_block_duration = 100 * HOUR;
    let (db, _) = Db::open(dir.path(), o.clone()).unwrap();
    let before = dump(&db);
    let a_times: std::collections::BTreeSet<i64> =
        (0..480).map(|k| k * 15_000).chain((360..1080).map(|k| k * 10_000)).collect();
    assert_eq!(before["{__name__=\"a\"}"].len(), a_times.len());
    assert_eq!(before["{__name__=\"h\"}"].len(), 480);

    let plan = db.plan_compaction().unwrap();
    assert!(plan.overlapping);
    assert_eq!(plan.blocks, vec![old, new]);
    let report = db.compact().unwrap();
    assert_eq!(report.merges.len(), 1);
    assert!(report.merges[0].vertical);
    // `a` and `h` overlap and are re-encoded; `b` and `c` are copied.
    let ms = report.merges[0].stats;
    assert_eq!(ms.series, 4);
    assert_eq!(ms.chunks_copied, 1 + 2, "`c` crosses the 2 h chunk boundary");
    assert!(ms.chunks_reencoded > 2);
    assert_eq!(db.stats().vertical_compactions, 1);
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 1);
    let meta = blocks[0].meta();
    assert_eq!(meta.compaction.level, 2);
    let mut sources = vec![old, new];
    sources.sort();
    assert_eq!(meta.compaction.sources, sources);
    assert_eq!(meta.compaction.parents.iter().map(|p| p.ulid).collect::<Vec<_>>(), vec![old, new]);
    assert_eq!((meta.min_time, meta.max_time), (0, 3 * HOUR - 10_000 + 1));
    assert!(
        !dir.path().join(old.to_string()).exists() && !dir.path().join(new.to_string()).exists()
    );
    // Each sample once in the merged block.
    assert_eq!(meta.stats.num_samples as usize, total(&before));
    assert_eq!(dump(&db), before);
    drop(db);
    let (db, _) = Db::open(dir.path(), o).unwrap();
    assert_eq!(dump(&db), before);
    assert_eq!(db.plan_compaction(), None);
}

/// Writes block `w` holding `[w min, (w + 1) min)` of series `x` and `y` (every 5 s, plus the window's last
/// millisecond so the block spans the whole window).
fn minute_block(dir: &Path, w: i64) -> crate::block::Ulid {
    let times: Vec<i64> = (0..12).map(|k| w * MIN + k * 5_000).chain([(w + 1) * MIN - 1]).collect();
    let s = |name: &str| {
        let l = Labels::from_pairs([("__name__", name)]);
        (l, times.iter().map(|&t| (t, t as f64)).collect::<Vec<_>>())
    };
    write_block_from_samples(dir, [s("x"), s("y")]).unwrap()
}

/// Deletes `iv` of the series named `name` in the block `ulid`.
fn tombstone(dir: &Path, ulid: crate::block::Ulid, name: &str, iv: Interval) {
    let bdir = dir.join(ulid.to_string());
    let block = crate::block::Block::open(&bdir).unwrap();
    let mut stones = block.tombstones().clone();
    for r in block.index().all_postings().unwrap() {
        if block.index().series(r).unwrap().labels.get("__name__") == name {
            stones.add(u64::from(r), iv);
        }
    }
    drop(block);
    stones.write(&bdir).unwrap();
}

#[test]
fn tombstoned_samples_are_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let ulids: Vec<_> = (0..4).map(|w| minute_block(dir.path(), w)).collect();
    tombstone(dir.path(), ulids[1], "x", Interval { mint: 70_000, maxt: 90_000 });
    let (db, _) = Db::open(dir.path(), leveled_opts()).unwrap();
    let before = dump(&db);
    assert_eq!(before["{__name__=\"x\"}"].len(), 4 * 13 - 5);
    assert!(before["{__name__=\"x\"}"].iter().all(|(t, _)| !(70_000..=90_000).contains(t)));
    let report = db.compact().unwrap();
    assert_eq!(report.merges.len(), 1);
    assert_eq!(report.merges[0].parents, ulids[..3].to_vec());
    // `x` is re-encoded around its deleted samples, `y` copied.
    assert_eq!(report.merges[0].stats.chunks_copied, 3);
    assert!(report.merges[0].stats.chunks_reencoded > 0);
    let merged = &db.blocks()[0];
    assert_eq!((merged.meta().min_time, merged.meta().max_time), (0, 3 * MIN));
    assert_eq!(merged.meta().stats.num_samples, 2 * 3 * 13 - 5);
    assert_eq!(merged.tombstones().num_intervals(), 0);
    assert_eq!(dump(&db), before);
}

#[test]
fn a_merge_with_nothing_left_deletes_its_parents() {
    let dir = tempfile::tempdir().unwrap();
    let ulids: Vec<_> = (0..4).map(|w| minute_block(dir.path(), w)).collect();
    for &u in &ulids[..3] {
        for name in ["x", "y"] {
            tombstone(dir.path(), u, name, Interval { mint: i64::MIN, maxt: i64::MAX });
        }
    }
    let (db, _) = Db::open(dir.path(), leveled_opts()).unwrap();
    let report = db.compact().unwrap();
    assert_eq!(report.merges.len(), 1);
    assert_eq!(report.merges[0].ulid, None);
    assert_eq!(db.blocks().iter().map(|b| b.meta().ulid).collect::<Vec<_>>(), vec![ulids[3]]);
    assert!(stray_entries(dir.path()).is_empty());
    assert_eq!(total(&dump(&db)), 2 * 13);
}

#[test]
fn a_failed_merge_marks_its_parents_and_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let ulids: Vec<_> = (0..4).map(|w| minute_block(dir.path(), w)).collect();
    // Damage a chunk of the second block: its checksum no longer matches.
    let seg = dir.path().join(ulids[1].to_string()).join("chunks/000001");
    let mut bytes = fs::read(&seg).unwrap();
    bytes[12] ^= 0xff;
    fs::write(&seg, bytes).unwrap();
    let (db, _) = Db::open(dir.path(), leveled_opts()).unwrap();
    assert!(matches!(db.compact(), Err(Error::BlockCorruption { .. })));
    assert_eq!(db.stats().compactions_failed, 1);
    assert!(stray_entries(dir.path()).is_empty());
    let failed: Vec<bool> = db.blocks().iter().map(|b| b.meta().compaction.failed).collect();
    assert_eq!(failed, vec![true, true, true, false]);
    // The leveled planner passes over them now, and after reopening.
    assert!(db.compact().unwrap().merges.is_empty());
    drop(db);
    let (db, _) = Db::open(dir.path(), leveled_opts()).unwrap();
    assert_eq!(db.blocks().len(), 4);
    assert_eq!(db.plan_compaction(), None);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_crash_between_writing_and_deleting_leaves_the_parents_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    // Head compaction only (no range above the block range): four level-1 blocks, copied aside.
    let mut head_only = leveled_opts();
    head_only.max_block_duration = MIN;
    let (db, _) = Db::open(dir.path(), head_only).unwrap();
    ingest_range(&db, 0, 5 * MIN, 5_000, 4);
    let before = dump(&db);
    assert_eq!(db.compact().unwrap().blocks.len(), 4);
    for b in db.blocks() {
        copy_dir(b.dir(), &backup.path().join(b.meta().ulid.to_string()));
    }
    drop(db);

    let (db, _) = Db::open(dir.path(), leveled_opts()).unwrap();
    let report = db.compact().unwrap();
    assert_eq!(report.merges.len(), 1);
    let parents = report.merges[0].parents.clone();
    assert_eq!(parents.len(), 3);
    drop(db);
    // The state a crash after the rename of the new block leaves: the new block and all its parents.
    for p in &parents {
        copy_dir(&backup.path().join(p.to_string()), &dir.path().join(p.to_string()));
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2 + 2 + 3,
        "wal, chunks_head, 2 blocks, 3 parents"
    );

    let (db, _) = Db::open(dir.path(), leveled_opts()).unwrap();
    for p in &parents {
        assert!(!dir.path().join(p.to_string()).exists());
    }
    assert_eq!(layout(&db), vec![(0, 3 * MIN, 2), (3 * MIN, 4 * MIN, 1)]);
    let in_blocks: u64 = db.blocks().iter().map(|b| b.meta().stats.num_samples).sum();
    assert_eq!(in_blocks, 4 * 4 * 12);
    assert_eq!(dump(&db), before);
    assert_eq!(db.plan_compaction(), None);
}

#[test]
fn prometheus_2_42_dumps_exactly_our_compacted_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), leveled_opts()).unwrap();
    ingest_range(&db, 0, 20 * MIN, 5_000, 8);
    let report = db.compact().unwrap();
    assert!(report.merges.iter().any(|m| m.level == 3));
    let ours = without_spaces(dump(&db));
    db.head().sync_wal().unwrap();
    let Some(theirs) = promtool_dump(dir.path()) else { return };
    assert_eq!(theirs.len(), ours.len());
    assert_eq!(theirs, ours);
}
