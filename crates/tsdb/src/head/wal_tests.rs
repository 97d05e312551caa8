//! The durable head: what is committed comes back after reopening, whatever was logged in between (torn
//! writes, checkpoints, series created and dropped, rolled back appenders).

use std::fs;
use std::sync::Arc;

use model::{Exemplar, Histogram, Labels, MatchType, Matcher, Value, stale_nan};
use storage::{AppendOptions, Appendable, ExemplarQueryable, Queryable, ValueKind};

use super::*;
use crate::wal::{Compression, PAGE_SIZE, SyncPolicy};

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn opts() -> WalOptions {
    WalOptions {
        segment_size: PAGE_SIZE as u64,
        compression: Compression::Snappy,
        sync_policy: SyncPolicy::Never,
    }
}

/// Every series of the head with its samples, as comparable text.
fn dump(h: &Head) -> Vec<String> {
    let q = h.querier(i64::MIN, i64::MAX).unwrap();
    let all = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
    let mut set = q.select(true, None, &[all]);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let mut c = s.cursor();
        loop {
            let line = match c.next() {
                ValueKind::None => break,
                ValueKind::Float => {
                    let (t, v) = c.at();
                    format!("{} {t} {:#x}", s.labels, v.to_bits())
                }
                ValueKind::Histogram => {
                    let (t, h) = c.at_histogram();
                    format!("{} {t} h{} {}", s.labels, h.count, h.sum)
                }
                ValueKind::FloatHistogram => {
                    let (t, h) = c.at_float_histogram();
                    format!("{} {t} fh{} {}", s.labels, h.count, h.sum)
                }
            };
            out.push(line);
        }
    }
    out
}

fn hist(count: u64) -> Value {
    Value::Histogram(Arc::new(Histogram {
        count,
        sum: count as f64 * 1.5,
        schema: 0,
        zero_threshold: 1e-128,
        zero_count: count,
        ..Histogram::default()
    }))
}

#[test]
fn committed_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let o = AppendOptions::default();
    let expected = {
        let (h, stats) = Head::open(
            dir.path(),
            HeadOptions { max_exemplars: 100, ..HeadOptions::default() },
            opts(),
        )
        .unwrap();
        assert_eq!(stats.records, 0);
        for i in 0..300i64 {
            let mut app = h.appender();
            for s in 0..20 {
                let name = format!("m{s}");
                let v = if i == 299 && s == 0 { stale_nan() } else { (i * s) as f64 * 0.25 };
                app.append(
                    0,
                    &l(&[("__name__", &name), ("i", "x")]),
                    0,
                    i * 1000,
                    Value::Float(v),
                    &o,
                )
                .unwrap();
            }
            let r =
                app.append(0, &l(&[("__name__", "h")]), 0, i * 1000, hist(i as u64), &o).unwrap();
            if i % 50 == 0 {
                let e = Exemplar {
                    labels: l(&[("trace_id", "abc")]),
                    value: i as f64,
                    ts: Some(i * 1000),
                };
                app.append_exemplars(r, &l(&[("__name__", "h")]), &[e]).unwrap();
            }
            app.commit().unwrap();
        }
        // Never committed: not logged, not restored.
        let mut app = h.appender();
        app.append(0, &l(&[("__name__", "rolled_back")]), 0, 1, Value::Float(1.0), &o).unwrap();
        app.rollback().unwrap();
        let d = dump(&h);
        assert_eq!(d.len(), 300 * 21);
        assert!(
            h.wal_segments().unwrap().is_some_and(|(f, l)| l > f),
            "several segments were written"
        );
        d
    };
    let (h, stats) = Head::open(
        dir.path(),
        HeadOptions { max_exemplars: 100, ..HeadOptions::default() },
        opts(),
    )
    .unwrap();
    assert_eq!(dump(&h), expected);
    assert_eq!(stats.series, 21);
    assert_eq!(stats.samples, 300 * 20);
    assert_eq!(stats.histograms, 300);
    assert_eq!(stats.exemplars, 6);
    assert_eq!(stats.unknown_refs, 0);
    let sel = vec![vec![Matcher::new(MatchType::Equal, "__name__", "h").unwrap()]];
    assert_eq!(h.select_exemplars(0, i64::MAX, &sel).unwrap()[0].1.len(), 6);
    // New series get references after the restored ones, and appending goes on.
    let mut app = h.appender();
    app.append(0, &l(&[("__name__", "m0"), ("i", "x")]), 0, 300_000, Value::Float(7.0), &o)
        .unwrap();
    let r = app.append(0, &l(&[("__name__", "new")]), 0, 300_000, Value::Float(1.0), &o).unwrap();
    assert!(r > 21);
    app.commit().unwrap();
    drop(h);
    let (h, _) = Head::open(dir.path(), HeadOptions::default(), opts()).unwrap();
    assert_eq!(dump(&h).len(), expected.len() + 2);
}

#[test]
fn a_torn_write_at_the_end_loses_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let o = AppendOptions::default();
    {
        let (h, _) = Head::open(dir.path(), HeadOptions::default(), opts()).unwrap();
        for i in 0..10 {
            let mut app = h.appender();
            app.append(0, &l(&[("__name__", "a")]), 0, i, Value::Float(i as f64), &o).unwrap();
            app.commit().unwrap();
        }
    }
    // A crash in the middle of writing a page: garbage after the valid data of the last segment.
    let wal = dir.path().join("wal");
    let mut segs: Vec<_> = fs::read_dir(&wal).unwrap().map(|e| e.unwrap().path()).collect();
    segs.sort();
    let last = segs.last().unwrap();
    // The active segment ends where its data ends (its last page is not padded until it is closed).
    let mut bytes = fs::read(last).unwrap();
    bytes.extend_from_slice(&[3, 0, 50, 1, 2, 3, 4, 9, 9]);
    fs::write(last, &bytes).unwrap();
    let (h, _) = Head::open(dir.path(), HeadOptions::default(), opts()).unwrap();
    assert_eq!(dump(&h).len(), 10);
}

#[test]
fn checkpoints_keep_live_series_and_recent_samples() {
    let dir = tempfile::tempdir().unwrap();
    let o = AppendOptions::default();
    let (h, _) = Head::open(dir.path(), HeadOptions::default(), opts()).unwrap();
    // Series "old" stops at t=999; "live" goes on. Enough data for several segments.
    for i in 0..6000i64 {
        let mut app = h.appender();
        if i < 1000 {
            app.append(0, &l(&[("__name__", "old")]), 0, i, Value::Float(i as f64), &o).unwrap();
        }
        app.append(0, &l(&[("__name__", "live")]), 0, i, Value::Float(i as f64), &o).unwrap();
        app.commit().unwrap();
    }
    let mint = 1500;
    h.truncate(mint);
    let cp = h.truncate_wal(mint).unwrap().expect("enough segments to checkpoint");
    assert!(cp.dropped_samples > 0);
    assert_eq!(cp.dropped_series, 1, "the series removed from the head is dropped");
    let (first, _) = h.wal_segments().unwrap().unwrap();
    assert!(first > 0, "folded segments are deleted");
    let from_mint = |d: Vec<String>| -> Vec<String> {
        d.into_iter()
            .filter(|line| line.split(' ').nth(1).unwrap().parse::<i64>().unwrap() >= mint)
            .collect()
    };
    let expected = from_mint(dump(&h));
    assert_eq!(expected.len(), 4500);
    drop(h);
    let (h, stats) = Head::open(dir.path(), HeadOptions::default(), opts()).unwrap();
    assert!(stats.checkpoint.is_some());
    // Nothing from mint on is lost (older samples may or may not come back, depending on their segment).
    assert_eq!(from_mint(dump(&h)), expected);
}

#[test]
fn a_series_dropped_and_created_again_replays_under_its_new_reference() {
    let dir = tempfile::tempdir().unwrap();
    let o = AppendOptions::default();
    {
        let (h, _) = Head::open(dir.path(), HeadOptions::default(), opts()).unwrap();
        let mut app = h.appender();
        app.append(0, &l(&[("__name__", "a")]), 0, 10, Value::Float(1.0), &o).unwrap();
        app.commit().unwrap();
        h.truncate(100);
        assert_eq!(h.num_series(), 0);
        let mut app = h.appender();
        app.append(0, &l(&[("__name__", "a")]), 0, 200, Value::Float(2.0), &o).unwrap();
        app.commit().unwrap();
    }
    let (h, stats) = Head::open(dir.path(), HeadOptions::default(), opts()).unwrap();
    assert_eq!(h.num_series(), 1);
    assert_eq!(stats.samples, 2);
    assert_eq!(dump(&h).len(), 2);
}

#[test]
fn a_missing_middle_segment_costs_only_its_own_records() {
    let dir = tempfile::tempdir().unwrap();
    let o = AppendOptions::default();
    {
        let (h, _) = Head::open(dir.path(), HeadOptions::default(), opts()).unwrap();
        // The series record goes to the first segment; its samples fill several.
        for i in 0..6000i64 {
            let mut app = h.appender();
            app.append(0, &l(&[("__name__", "a")]), 0, i, Value::Float(i as f64), &o).unwrap();
            app.commit().unwrap();
        }
        assert!(h.wal_segments().unwrap().unwrap().1 >= 3);
    }
    fs::remove_file(dir.path().join("wal").join("00000001")).unwrap();
    let (h, stats) = Head::open(dir.path(), HeadOptions::default(), opts()).unwrap();
    assert_eq!(stats.missing_segments, 1);
    assert_eq!(h.wal_stats().unwrap().corruptions, 1);
    let got = dump(&h);
    // Samples of segment 0 and of the segments after the hole are back; the newest one for sure.
    assert!(got.len() > 3000 && got.len() < 6000, "{}", got.len());
    assert!(got.last().unwrap().starts_with("{__name__=\"a\"} 5999 "), "{:?}", got.last());
    // Writing goes on, and the next open sees no hole any more.
    let mut app = h.appender();
    app.append(0, &l(&[("__name__", "a")]), 0, 6000, Value::Float(1.0), &o).unwrap();
    app.commit().unwrap();
    drop(h);
    let (h, stats) = Head::open(dir.path(), HeadOptions::default(), opts()).unwrap();
    assert_eq!(stats.missing_segments, 0);
    assert_eq!(dump(&h).len(), got.len() + 1);
}

#[test]
fn replay_gives_the_same_head_with_any_number_of_applying_threads() {
    let dir = tempfile::tempdir().unwrap();
    let o = AppendOptions::default();
    let with = |n: usize| HeadOptions {
        max_exemplars: 1000,
        replay_concurrency: n,
        ..HeadOptions::default()
    };
    let expected = {
        let (h, _) = Head::open(dir.path(), with(1), opts()).unwrap();
        // A series logged, dropped by truncation and logged again under a new reference, whose samples
        // land in another shard than its first reference's.
        let mut app = h.appender();
        app.append(0, &l(&[("__name__", "again")]), 0, 10, Value::Float(1.0), &o).unwrap();
        app.commit().unwrap();
        h.truncate(100);
        for i in 0..40i64 {
            let mut app = h.appender();
            for s in 0..257 {
                let name = format!("m{}", s % 7);
                let v = (i * 31 + s) as f64 / 8.0;
                let r = app
                    .append(
                        0,
                        &l(&[("__name__", &name), ("s", &s.to_string())]),
                        0,
                        1000 + i * 1000,
                        Value::Float(v),
                        &o,
                    )
                    .unwrap();
                if s % 64 == 0 && i % 10 == 0 {
                    let e = Exemplar {
                        labels: l(&[("trace_id", &format!("{s}-{i}"))]),
                        value: v,
                        ts: Some(1000 + i * 1000),
                    };
                    app.append_exemplars(
                        r,
                        &l(&[("__name__", &name), ("s", &s.to_string())]),
                        &[e],
                    )
                    .unwrap();
                }
            }
            app.append(
                0,
                &l(&[("__name__", "again")]),
                0,
                1000 + i * 1000,
                Value::Float(i as f64),
                &o,
            )
            .unwrap();
            app.append(0, &l(&[("__name__", "h")]), 0, 1000 + i * 1000, hist(i as u64), &o)
                .unwrap();
            app.commit().unwrap();
        }
        // Tombstones go to the shard of their series, after the samples they delete.
        let m = vec![Matcher::new(MatchType::Equal, "s", "5").unwrap()];
        h.delete(5_000, 20_000, &m).unwrap();
        let d = dump(&h);
        assert_eq!(d.len(), 40 * 259 - 16);
        // Truncation does not rewrite the log: the first sample of `again` comes back too.
        let mut d = d;
        d.insert(0, format!("{} 10 {:#x}", l(&[("__name__", "again")]), 1.0f64.to_bits()));
        d
    };
    let mut first_stats = None;
    for n in [1, 2, 3, 7] {
        let (h, stats) = Head::open(dir.path(), with(n), opts()).unwrap();
        let got = dump(&h);
        let differ = got.iter().zip(&expected).position(|(a, b)| a != b);
        assert!(
            got.len() == expected.len() && differ.is_none(),
            "replayed with {n} applying threads: {} lines against {}, first difference at {differ:?}",
            got.len(),
            expected.len()
        );
        assert_eq!(h.num_exemplars(), 5 * 4, "exemplars with {n} applying threads");
        assert_eq!(stats.unknown_refs, 0);
        let stats = WalReplayStats { duration: Default::default(), ..stats };
        match &first_stats {
            None => first_stats = Some(stats),
            Some(f) => assert_eq!(&stats, f, "stats with {n} applying threads"),
        }
    }
}
