//! Memory snapshots: a start from a snapshot builds the head a full WAL replay builds (samples of every kind,
//! deletions, exemplars, what the append rules compare against), reads only the WAL after the snapshot, and
//! any snapshot that cannot be trusted is deleted and the WAL replayed in full.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use model::{
    BucketSpan, CounterResetHint, Exemplar, FloatHistogram, Histogram, Labels, MatchType, Matcher,
    Value, stale_nan,
};
use storage::{AppendOptions, Appendable, ExemplarQueryable, Queryable, ValueKind};

use super::*;
use crate::wal::{Compression, PAGE_SIZE, SyncPolicy};

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn wal_opts() -> WalOptions {
    WalOptions {
        segment_size: 4 * PAGE_SIZE as u64,
        compression: Compression::Snappy,
        sync_policy: SyncPolicy::Never,
    }
}

fn head_opts(snapshot: bool) -> HeadOptions {
    HeadOptions {
        max_exemplars: 1000,
        memory_snapshot_on_shutdown: snapshot,
        ..HeadOptions::default()
    }
}

fn open(dir: &Path, snapshot: bool) -> (Head, WalReplayStats) {
    Head::open(dir, head_opts(snapshot), wal_opts()).unwrap()
}

/// Everything a reader and an appender can tell about the head, as comparable text: every sample (values as
/// bits, histograms whole with their counter-reset hints), the exemplars, the head's figures, and what
/// appending at each series' newest timestamp and just after it answers.
fn state(h: &Head) -> Vec<String> {
    let all = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
    let q = h.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(true, None, std::slice::from_ref(&all));
    let mut out = Vec::new();
    let mut newest: Vec<(Labels, i64)> = Vec::new();
    while let Some(s) = set.next() {
        let mut c = s.cursor();
        let mut last = i64::MIN;
        loop {
            let line = match c.next() {
                ValueKind::None => break,
                ValueKind::Float => {
                    let (t, v) = c.at();
                    last = t;
                    format!("{} {t} {:#x}", s.labels, v.to_bits())
                }
                ValueKind::Histogram => {
                    let (t, v) = c.at_histogram();
                    last = t;
                    format!("{} {t} {v:?}", s.labels)
                }
                ValueKind::FloatHistogram => {
                    let (t, v) = c.at_float_histogram();
                    last = t;
                    format!("{} {t} {v:?}", s.labels)
                }
            };
            out.push(line);
        }
        newest.push((s.labels.clone(), last));
    }
    // Sorted: replay threads fill the buffer in an order that differs between series (not within one).
    let mut exemplars: Vec<String> = h
        .select_exemplars(i64::MIN, i64::MAX, &[vec![all]])
        .unwrap()
        .into_iter()
        .map(|(labels, e)| format!("exemplars {labels} {e:?}"))
        .collect();
    exemplars.sort();
    out.extend(exemplars);
    let st = h.stats();
    out.push(format!(
        "series {} chunks {} min {} max {} exemplars {}",
        st.series,
        st.chunks,
        st.min_time,
        st.max_time,
        h.num_exemplars()
    ));
    for (labels, t) in newest {
        for (dt, v) in [(0, 42.0), (1, 43.0)] {
            let mut app = h.appender();
            let r = app.append(0, &labels, 0, t + dt, Value::Float(v), &AppendOptions::default());
            out.push(format!("append {labels} at newest+{dt}: {r:?}"));
            app.rollback().unwrap();
        }
    }
    out
}

/// Asserts that two states are equal, showing the first difference.
#[track_caller]
fn same(got: &[String], want: &[String], what: &str) {
    if got == want {
        return;
    }
    let i = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: {} lines, {} expected; first difference at {i}:\n got: {:?}\nwant: {:?}",
        got.len(),
        want.len(),
        got.get(i),
        want.get(i)
    );
}

fn hist(i: u64, custom: bool) -> Value {
    let mut h = Histogram {
        count: 3 * i + 2,
        sum: i as f64 * 2.5,
        schema: if custom { -53 } else { 1 },
        zero_threshold: if custom { 0.0 } else { 1e-128 },
        zero_count: if custom { 0 } else { i },
        positive_spans: vec![BucketSpan { offset: 0, length: 2 }],
        positive_buckets: vec![i as i64 + 1, i as i64 + 1],
        ..Histogram::default()
    };
    if custom {
        h.custom_values = vec![1.0, 5.0];
        h.count = 2 * i + 2;
    } else {
        h.count = 3 * i + 2;
    }
    Value::Histogram(Arc::new(h))
}

fn float_hist(i: u64) -> Value {
    Value::FloatHistogram(Arc::new(FloatHistogram {
        counter_reset_hint: if i % 40 == 39 {
            CounterResetHint::Gauge
        } else {
            CounterResetHint::Unknown
        },
        count: i as f64 + 1.0,
        sum: i as f64 * 0.5,
        schema: 0,
        zero_threshold: 1e-128,
        zero_count: i as f64 + 1.0,
        ..FloatHistogram::default()
    }))
}

/// One batch of commits: `n` timestamps from `from`, 15 s apart, on every series the case writes.
type Ingest = fn(&Head, i64, i64);

fn floats(h: &Head, from: i64, n: i64) {
    let o = AppendOptions::default();
    for k in 0..n {
        let t = from + k * 15_000;
        let mut app = h.appender();
        for s in 0..7 {
            let labels = l(&[("__name__", "m"), ("s", &s.to_string())]);
            let v = match (k + s) % 9 {
                0 => stale_nan(),
                1 => f64::NAN,
                _ => (k as f64) * 1.25 + s as f64,
            };
            app.append(0, &labels, 0, t + s, Value::Float(v), &o).unwrap();
        }
        app.commit().unwrap();
    }
}

fn histograms(h: &Head, from: i64, n: i64) {
    let o = AppendOptions::default();
    for k in 0..n {
        let t = from + k * 15_000;
        let mut app = h.appender();
        // A counter reset every 50 samples.
        let i = (k % 50) as u64;
        app.append(0, &l(&[("__name__", "h")]), 0, t, hist(i, false), &o).unwrap();
        app.append(0, &l(&[("__name__", "nhcb")]), 0, t, hist(i, true), &o).unwrap();
        app.append(0, &l(&[("__name__", "fh")]), 0, t, float_hist(k as u64), &o).unwrap();
        app.commit().unwrap();
    }
}

/// A series that turns from floats into histograms and back every 30 samples.
fn mixed(h: &Head, from: i64, n: i64) {
    let o = AppendOptions::default();
    for k in 0..n {
        let t = from + k * 15_000;
        let mut app = h.appender();
        let v =
            if (k / 30) % 2 == 0 { Value::Float(k as f64) } else { hist((k % 50) as u64, false) };
        app.append(0, &l(&[("__name__", "mixed")]), 0, t, v, &o).unwrap();
        app.commit().unwrap();
    }
}

fn with_exemplars(h: &Head, from: i64, n: i64) {
    let o = AppendOptions::default();
    for k in 0..n {
        let t = from + k * 15_000;
        let mut app = h.appender();
        let labels = l(&[("__name__", "req"), ("code", if k % 2 == 0 { "200" } else { "500" })]);
        let r = app.append(0, &labels, 0, t, Value::Float(k as f64), &o).unwrap();
        if k % 3 == 0 {
            let e = Exemplar {
                labels: l(&[("trace_id", &format!("t{k}"))]),
                value: k as f64 * 0.1,
                ts: Some(t),
            };
            app.append_exemplars(r, &labels, &[e]).unwrap();
        }
        app.commit().unwrap();
    }
}

fn with_deletions(h: &Head, from: i64, n: i64) {
    floats(h, from, n);
    histograms(h, from, n);
    let sel = |v: &str| vec![Matcher::new(MatchType::Equal, "s", v).unwrap()];
    let name = |v: &str| vec![Matcher::new(MatchType::Equal, "__name__", v).unwrap()];
    let mid = from + n / 2 * 15_000;
    h.delete(from, mid, &sel("1")).unwrap();
    h.delete(mid - 60_000, mid + 60_000, &sel("2")).unwrap();
    h.delete(mid - 30_000, mid + 90_000, &sel("2")).unwrap();
    h.delete(i64::MIN, i64::MAX, &sel("3")).unwrap();
    h.delete(from, mid, &name("h")).unwrap();
}

fn nothing(_: &Head, _: i64, _: i64) {}

const MIXED: &str = "a series of floats and histograms";

/// The cases: name, ingestion, samples per batch. 300 samples close chunks (written to `chunks_head/`), 7 leave
/// only open chunks.
const CASES: &[(&str, Ingest, i64)] = &[
    ("floats with closed chunks", floats, 300),
    ("floats in open chunks only", floats, 7),
    ("histograms of every kind", histograms, 130),
    (MIXED, mixed, 130),
    ("exemplars", with_exemplars, 100),
    ("deletions", with_deletions, 200),
    ("empty head", nothing, 0),
];

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn snapshots(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("chunk_snapshot"))
        .collect();
    v.sort();
    v
}

/// The head `dir` gives with a full WAL replay (the snapshot ignored), from a copy so `dir` stays as it is.
fn full_replay(dir: &Path) -> (Vec<String>, WalReplayStats) {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path());
    let (h, stats) = open(copy.path(), false);
    (state(&h), stats)
}

#[test]
fn a_start_from_the_snapshot_gives_the_head_a_full_replay_gives() {
    for &(name, ingest, n) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let before = {
            let (h, _) = open(dir.path(), true);
            ingest(&h, 1_000_000, n);
            let st = h.shutdown().unwrap().expect("a snapshot");
            assert!(st.dir.ends_with(format!(
                "chunk_snapshot.{:06}.{:010}",
                st.position.segment, st.position.offset
            )));
            assert_eq!(st.position.offset % PAGE_SIZE as u64, 0, "{name}: a page boundary");
            state(&h)
        };
        assert_eq!(snapshots(dir.path()).len(), 1, "{name}: {:?}", snapshots(dir.path()));
        let (want, full) = full_replay(dir.path());
        same(&want, &before, &format!("{name}: a full replay gives the head as it was"));
        let (h, stats) = open(dir.path(), true);
        same(&state(&h), &want, name);
        let snap = &stats.snapshot;
        assert!(snap.loaded.is_some(), "{name}: {snap:?}");
        assert_eq!((snap.replay_errors, &snap.discarded), (0, &None), "{name}");
        assert_eq!(stats.records, 0, "{name}: nothing of the WAL is read");
        assert_eq!(stats.series, 0, "{name}");
        assert_eq!(snap.series, full.series, "{name}");
        assert_eq!(stats.mmapped_chunks, 0, "{name}: the snapshot's series took their chunks");
        assert!(full.records > 0 || n == 0, "{name}");
    }
}

#[test]
fn samples_logged_after_the_snapshot_come_from_the_wal() {
    for &(name, ingest, n) in CASES {
        let dir = tempfile::tempdir().unwrap();
        {
            let (h, _) = open(dir.path(), true);
            ingest(&h, 1_000_000, n);
            h.shutdown().unwrap();
        }
        // A run started from the snapshot that writes more, closing the snapshot's open chunks and writing them
        // to chunks_head/, and new series, then crashes (no shutdown).
        let before = {
            let (h, stats) = open(dir.path(), true);
            assert!(stats.snapshot.loaded.is_some(), "{name}");
            ingest(&h, 1_000_000 + n * 15_000, 150);
            floats(&h, 1_000_000 + (n + 150) * 15_000, 3);
            h.mmap_chunks().unwrap();
            state(&h)
        };
        let (full, _) = full_replay(dir.path());
        same(&full, &before, &format!("{name}: full replay"));
        let (h, stats) = open(dir.path(), true);
        same(&state(&h), &before, name);
        assert!(stats.snapshot.loaded.is_some(), "{name}: {:?}", stats.snapshot);
        assert!(stats.records > 0, "{name}: the WAL after the snapshot is read");
        // And a clean shutdown of that replaces the snapshot with a newer one.
        let old = snapshots(dir.path());
        h.shutdown().unwrap();
        let new = snapshots(dir.path());
        assert_eq!(new.len(), 1, "{name}");
        assert_ne!(new, old, "{name}");
    }
}

/// Snapshot damage of every kind: the snapshot is deleted, the replay error counted, the WAL replayed in full.
#[test]
fn a_damaged_snapshot_is_deleted_and_the_wal_replayed() {
    type Damage = fn(&Path);
    let segment = |snap: &Path| snap.join("00000000");
    let damages: &[(&str, Damage)] = &[
        ("flipped byte", |s| {
            let p = s.join("00000000");
            let mut b = fs::read(&p).unwrap();
            let i = b.len() / 3;
            b[i] ^= 0x40;
            fs::write(&p, b).unwrap();
        }),
        ("cut in half", |s| {
            let p = s.join("00000000");
            let b = fs::read(&p).unwrap();
            fs::write(&p, &b[..b.len() / 2 + 123]).unwrap();
        }),
        ("cut in the last page", |s| {
            let p = s.join("00000000");
            let b = fs::read(&p).unwrap();
            fs::write(&p, &b[..b.len() - 1000]).unwrap();
        }),
        ("segment missing", |s| fs::remove_file(s.join("00000000")).unwrap()),
        ("unknown record", |s| {
            let p = s.join("00000000");
            fs::remove_file(&p).unwrap();
            let mut w = crate::wal::writer::LogWriter::create(
                s,
                0,
                PAGE_SIZE as u64 * 4,
                Compression::None,
            )
            .unwrap();
            w.log([&[77u8, 1, 2, 3][..]]).unwrap();
            w.close().unwrap();
        }),
    ];
    for &(what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        {
            let (h, _) = open(dir.path(), true);
            with_deletions(&h, 1_000_000, 200);
            with_exemplars(&h, 1_000_000, 50);
            h.shutdown().unwrap();
        }
        let (want, _) = full_replay(dir.path());
        let snap = dir.path().join(&snapshots(dir.path())[0]);
        assert!(segment(&snap).exists());
        damage(&snap);
        let (h, stats) = open(dir.path(), true);
        same(&state(&h), &want, what);
        assert_eq!(stats.snapshot.replay_errors, 1, "{what}: {:?}", stats.snapshot);
        assert!(stats.snapshot.loaded.is_none() && stats.snapshot.discarded.is_some(), "{what}");
        assert!(stats.records > 0, "{what}: the whole WAL was replayed");
        assert!(snapshots(dir.path()).is_empty(), "{what}: the snapshot is deleted");
    }
}

#[test]
fn a_snapshot_the_wal_moved_past_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let at = {
        let (h, _) = open(dir.path(), true);
        floats(&h, 1_000_000, 300);
        h.shutdown().unwrap().unwrap().position.segment
    };
    // A run from the snapshot that checkpoints the segments after the snapshot's position, then crashes: the
    // snapshot plus the WAL after it is no longer the head.
    {
        let (h, _) = open(dir.path(), true);
        let mut k = 300;
        while h.wal_segments().unwrap().is_none_or(|(_, last)| last < at + 4) {
            floats(&h, 1_000_000 + k * 15_000, 300);
            k += 300;
        }
        let mint = 1_000_000 + (k - 200) * 15_000;
        h.truncate(mint);
        let cp = h.truncate_wal(mint).unwrap();
        assert!(cp.is_some(), "a checkpoint");
    }
    let (want, _) = full_replay(dir.path());
    let (h, stats) = open(dir.path(), true);
    same(&state(&h), &want, "");
    let why = stats.snapshot.discarded.clone().unwrap_or_default();
    assert!(why.contains("checkpointed"), "{:?}", stats.snapshot);
    assert_eq!(stats.snapshot.replay_errors, 0, "an outdated snapshot is not a failed replay");
    assert!(snapshots(dir.path()).is_empty());

    // A WAL that is behind the snapshot (deleted and started again): the snapshot goes too.
    h.shutdown().unwrap();
    drop(h);
    fs::remove_dir_all(dir.path().join("wal")).unwrap();
    let (_, stats) = open(dir.path(), true);
    assert!(stats.snapshot.discarded.is_some(), "{:?}", stats.snapshot);
    assert!(snapshots(dir.path()).is_empty());
}

#[test]
fn damaged_head_chunk_files_make_the_snapshot_useless() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (h, _) = open(dir.path(), true);
        floats(&h, 1_000_000, 500);
        h.shutdown().unwrap();
    }
    let (want, _) = full_replay(dir.path());
    let file = dir.path().join("chunks_head/000001");
    let mut b = fs::read(&file).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0xff;
    fs::write(&file, b).unwrap();
    let (h, stats) = open(dir.path(), true);
    same(&state(&h), &want, "");
    assert!(stats.snapshot.loaded.is_none(), "{:?}", stats.snapshot);
    assert!(snapshots(dir.path()).is_empty());
}

#[test]
fn without_the_feature_no_snapshot_is_written_or_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (h, _) = open(dir.path(), false);
        floats(&h, 1_000_000, 50);
        assert_eq!(h.shutdown().unwrap(), None);
    }
    assert!(snapshots(dir.path()).is_empty());
    {
        let (h, _) = open(dir.path(), true);
        floats(&h, 1_000_000 + 50 * 15_000, 50);
        h.shutdown().unwrap();
    }
    let kept = snapshots(dir.path());
    assert_eq!(kept.len(), 1);
    // As in Prometheus, a start without the feature replays the WAL and leaves the snapshot alone; an
    // interrupted snapshot's temporary directory goes with the next one the feature writes.
    let (h, stats) = open(dir.path(), false);
    assert_eq!(stats.snapshot, SnapshotLoadStats::default());
    assert!(stats.records > 0);
    assert_eq!(snapshots(dir.path()), kept);
    fs::create_dir(dir.path().join("chunk_snapshot.000001.0000000000.tmp")).unwrap();
    drop(h);
    let (h, stats) = open(dir.path(), true);
    assert!(stats.snapshot.loaded.is_some(), "{:?}", stats.snapshot);
    assert_eq!(snapshots(dir.path()), kept, "the leftover is removed");
    drop(h);
}
