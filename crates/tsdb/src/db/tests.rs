//! The database: head compaction into blocks, reading across blocks and head, reopening, retention, and Debian's
//! Prometheus 2.42 `promtool tsdb dump` reading our data directory.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use model::{Labels, MatchType, Matcher, Value};
use storage::{AppendOptions, Appendable, Queryable, ValueKind};

use super::*;
use crate::wal::{Compression, PAGE_SIZE, SyncPolicy};

mod compact;
mod metrics;
mod ooo;

const HOUR: i64 = 3600 * 1000;

fn opts(range: i64) -> DbOptions {
    DbOptions {
        wal: WalOptions {
            segment_size: 4 * PAGE_SIZE as u64,
            compression: Compression::Snappy,
            sync_policy: SyncPolicy::Never,
        },
        block_range: range,
        // Head compaction only: these tests count the blocks cut from the head (leveled compaction is tested in
        // `compact_tests.rs`).
        max_block_duration: range,
        retention_ms: 0,
        ..DbOptions::default()
    }
}

/// Every sample of every series, keyed by labels.
fn dump(db: &dyn Queryable) -> BTreeMap<String, Vec<(i64, u64)>> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let m = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
    let mut set = q.select(true, None, &[m]);
    let mut out = BTreeMap::new();
    while let Some(s) = set.next() {
        let mut c = s.cursor();
        let mut v = Vec::new();
        loop {
            match c.next() {
                ValueKind::None => break,
                ValueKind::Float => {
                    let (t, x) = c.at();
                    v.push((t, x.to_bits()));
                }
                ValueKind::Histogram | ValueKind::FloatHistogram => {
                    // Count and sum identify the synthetic histograms of these tests.
                    let (t, h) = c.at_float_histogram();
                    v.push((t, h.count.to_bits() ^ h.sum.to_bits().rotate_left(1)));
                }
            }
        }
        assert!(c.err().is_none());
        out.insert(s.labels.to_string(), v);
    }
    assert!(set.err().is_none());
    out
}

/// Appends `hours` of 15 s samples for `n` series, one commit per timestamp.
fn ingest(db: &Db, from: i64, hours: i64, n: usize) {
    let o = AppendOptions::default();
    let mut t = from;
    while t < from + hours * HOUR {
        let mut app = db.appender();
        for i in 0..n {
            let l = Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]);
            app.append(0, &l, 0, t, Value::Float((t / 1000) as f64 * (i + 1) as f64), &o).unwrap();
        }
        app.commit().unwrap();
        t += 15_000;
    }
}

#[test]
fn the_head_is_cut_into_blocks_and_everything_reads_back_once() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    ingest(&db, 0, 5, 20);
    let before = dump(&db);
    assert_eq!(before.values().map(Vec::len).sum::<usize>(), 20 * 5 * 240);
    let report = db.compact().unwrap();
    // The head spanned 5 h; blocks are cut while it spans more than 1.5 ranges.
    assert_eq!(
        report.blocks.iter().map(|(_, a, b)| (*a, *b)).collect::<Vec<_>>(),
        vec![(0, HOUR), (HOUR, 2 * HOUR), (2 * HOUR, 3 * HOUR), (3 * HOUR, 4 * HOUR)]
    );
    assert_eq!(db.blocks().len(), 4);
    assert_eq!(db.head().min_time(), 4 * HOUR);
    assert_eq!(db.blocks()[0].meta().stats.num_samples, 20 * 240);
    assert_eq!(dump(&db), before, "blocks and head read as one");
    // Appending before the newest block is out of bounds.
    let mut app = db.appender();
    let l = Labels::from_pairs([("__name__", "m"), ("i", "0")]);
    assert!(app.append(0, &l, 0, HOUR, Value::Float(1.0), &AppendOptions::default()).is_err());
    drop(app);
    drop(db);

    // Reopen: blocks plus the WAL (which still holds samples of the compacted ranges) give the same data.
    let (db, replay) = Db::open(dir.path(), opts(HOUR)).unwrap();
    assert_eq!(db.blocks().len(), 4);
    assert_eq!(dump(&db), before);
    assert_eq!(replay.unknown_refs, 0);
    ingest(&db, 5 * HOUR, 1, 20);
    db.compact().unwrap();
    assert_eq!(db.blocks().len(), 5);
    assert_eq!(dump(&db).values().map(Vec::len).sum::<usize>(), 20 * 6 * 240);
}

#[test]
fn leftovers_and_replaced_parents_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
        ingest(&db, 0, 3, 2);
        db.compact().unwrap();
    }
    let stray = dir.path().join("01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp-for-creation");
    fs::create_dir_all(stray.join("chunks")).unwrap();
    let doomed = dir.path().join("01HZZZZZZZZZZZZZZZZZZZZZZY.tmp-for-deletion");
    fs::create_dir_all(&doomed).unwrap();
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    assert!(!stray.exists() && !doomed.exists());
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 2);
    drop(db);

    // A compaction that wrote its result but crashed before deleting its input: the result names the first
    // block as its parent, so opening deletes that one.
    let (first, second) = (&blocks[0], &blocks[1]);
    let ulid = crate::block::Ulid::new();
    let result = dir.path().join(ulid.to_string());
    fs::create_dir_all(result.join("chunks")).unwrap();
    for f in ["index", "tombstones", "chunks/000001"] {
        fs::copy(second.dir().join(f), result.join(f)).unwrap();
    }
    let mut meta = second.meta().clone();
    meta.ulid = ulid;
    meta.compaction.level = 2;
    meta.compaction.parents = vec![crate::block::BlockDesc {
        ulid: first.meta().ulid,
        min_time: first.meta().min_time,
        max_time: first.meta().max_time,
    }];
    meta.write(&result).unwrap();
    let first_dir = first.dir().to_path_buf();
    drop(blocks);
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    assert!(!first_dir.exists());
    assert_eq!(db.blocks().len(), 2);
    assert!(db.blocks().iter().any(|b| b.meta().ulid == ulid));
}

#[test]
fn retention_deletes_old_blocks_by_time_and_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(HOUR);
    o.retention_ms = 2 * HOUR;
    let (db, _) = Db::open(dir.path(), o).unwrap();
    ingest(&db, 0, 6, 5);
    db.compact().unwrap();
    // Blocks [0,1h) .. [4h,5h) were written; the newest ends at 5h, so those ending at or before 3h go.
    let ranges: Vec<(i64, i64)> =
        db.blocks().iter().map(|b| (b.meta().min_time, b.meta().max_time)).collect();
    assert_eq!(ranges, vec![(3 * HOUR, 4 * HOUR), (4 * HOUR, 5 * HOUR)]);
    assert_eq!(db.stats().time_retentions, 1, "one retention run deleted them");
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp")), "{names:?}");
    drop(db);

    let mut o = opts(HOUR);
    o.retention_bytes = 1;
    let (db, _) = Db::open(dir.path(), o).unwrap();
    assert_eq!(db.apply_retention().unwrap(), 2, "any block is over a 1-byte budget");
    assert!(db.blocks().is_empty());
    assert_eq!(db.stats().size_retentions, 1);
}

/// What Debian's Prometheus 2.42 `promtool tsdb dump` prints for `dir`, keyed and valued as [`dump`] (label sets
/// without the space after commas); `None` (with a notice) when promtool is not installed.
fn promtool_dump(dir: &std::path::Path) -> Option<BTreeMap<String, Vec<(i64, u64)>>> {
    let Some(promtool) = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        crate::test_peers::missing_peer("promtool (for the Prometheus 2.42 dump comparison)");
        return None;
    };
    let out = Command::new(promtool).args(["tsdb", "dump"]).arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut theirs: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        // `{__name__="m", i="0"} 15 15000`
        let (labels, rest) = line.rsplit_once("} ").unwrap();
        let mut parts = rest.split(' ');
        let v: f64 = parts.next().unwrap().parse().unwrap();
        let t: i64 = parts.next().unwrap().parse().unwrap();
        let key = format!("{labels}}}").replace(", ", ",");
        theirs.entry(key).or_default().push((t, v.to_bits()));
    }
    for v in theirs.values_mut() {
        v.sort();
        v.dedup();
    }
    Some(theirs)
}

fn normalized(d: BTreeMap<String, Vec<(i64, u64)>>) -> BTreeMap<String, Vec<(i64, u64)>> {
    d.into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.replace(", ", ","), v)).collect()
}

#[test]
fn deleted_series_stay_deleted_across_restarts_and_clean_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    ingest(&db, 0, 4, 3);
    db.compact().unwrap();
    assert_eq!(db.blocks().len(), 3);
    let m = |v: &str| {
        vec![
            Matcher::new(MatchType::Equal, "__name__", "m").unwrap(),
            Matcher::new(MatchType::Equal, "i", v).unwrap(),
        ]
    };
    // Across all three blocks and the head.
    let (from, to) = (HOUR / 2, 3 * HOUR + HOUR / 2);
    db.delete(from, to, &m("1")).unwrap();
    let after = dump(&db);
    let key = "{__name__=\"m\", i=\"1\"}";
    assert!(after[key].iter().all(|(t, _)| *t < from || *t > to));
    assert_eq!(after[key].len(), 4 * 240 - ((to - from) / 15_000 + 1) as usize);
    assert_eq!(after["{__name__=\"m\", i=\"0\"}"].len(), 4 * 240);
    assert!(db.blocks().iter().any(|b| b.meta().stats.num_tombstones > 0));
    db.head().sync_wal().unwrap();
    if let Some(theirs) = promtool_dump(dir.path()) {
        assert_eq!(theirs, normalized(after.clone()), "Prometheus 2.42 applies our tombstones");
    }
    drop(db);
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    assert_eq!(dump(&db), after, "block tombstones and the logged head deletion survive");
    assert_eq!(db.clean_tombstones().unwrap(), 3);
    assert!(db.blocks().iter().all(|b| b.tombstones().is_empty()));
    assert_eq!(db.blocks().len(), 3);
    assert_eq!(dump(&db), after);
    drop(db);
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    assert_eq!(dump(&db), after);
}

#[test]
fn a_snapshot_opens_as_a_database_with_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    ingest(&db, 0, 3, 4);
    db.compact().unwrap();
    let before = dump(&db);
    let snap = dir.path().join("snapshots").join("s1");
    db.snapshot(&snap, false).unwrap();
    let skip = dir.path().join("snapshots").join("s2");
    db.snapshot(&skip, true).unwrap();
    let (copy, _) = Db::open(&snap, opts(HOUR)).unwrap();
    assert_eq!(dump(&copy), before);
    let (blocks_only, _) = Db::open(&skip, opts(HOUR)).unwrap();
    assert_eq!(blocks_only.blocks().len(), db.blocks().len());
    assert!(dump(&blocks_only).values().map(Vec::len).sum::<usize>() < 4 * 3 * 240);
}

/// [`dump`]'s output keyed as [`promtool_dump`]'s.
fn without_spaces(ours: BTreeMap<String, Vec<(i64, u64)>>) -> BTreeMap<String, Vec<(i64, u64)>> {
    ours.into_iter().map(|(k, v)| (k.replace(", ", ","), v)).collect()
}

#[test]
fn prometheus_2_42_dumps_exactly_our_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    ingest(&db, 0, 4, 30);
    db.compact().unwrap();
    assert!(!db.blocks().is_empty());
    // A sample in the head only, logged to the WAL: 2.42's dump reads the head too.
    ingest(&db, 4 * HOUR, 1, 30);
    let ours = normalized(dump(&db));
    db.head().sync_wal().unwrap();
    let Some(theirs) = promtool_dump(dir.path()) else { return };
    assert_eq!(theirs.len(), ours.len());
    assert_eq!(theirs, ours);
}

#[test]
fn native_histograms_are_compacted_into_blocks() {
    use model::{BucketSpan, Histogram};
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    let o = AppendOptions::default();
    let l = Labels::from_pairs([("__name__", "h")]);
    let mut t = 0;
    let mut k = 0u64;
    while t < 3 * HOUR {
        let mut app = db.appender();
        let h = Histogram {
            count: 3 * k,
            sum: k as f64 * 1.5,
            schema: 0,
            zero_threshold: 1e-128,
            zero_count: k,
            positive_spans: vec![BucketSpan { offset: 0, length: 2 }],
            positive_buckets: vec![k as i64, 0],
            ..Histogram::default()
        };
        app.append(0, &l, 0, t, Value::Histogram(std::sync::Arc::new(h)), &o).unwrap();
        app.commit().unwrap();
        t += 15_000;
        k += 1;
    }
    let before = dump(&db);
    assert_eq!(before["{__name__=\"h\"}"].len(), 720);
    let report = db.compact().unwrap();
    assert_eq!(report.blocks.len(), 2);
    assert_eq!(dump(&db), before);
    drop(db);
    let (db, _) = Db::open(dir.path(), opts(HOUR)).unwrap();
    assert_eq!(dump(&db), before);
}
