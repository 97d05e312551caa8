//! Damage, repair, torn tails and checkpoints.

use std::fs;
use std::path::Path;

use super::{Placed, frags, ids, opts, placed, read_all, replay, samples_of};
use crate::error::{CorruptionKind, Error};
use crate::wal::checkpoint::{checkpoint_dir, list_checkpoints, read_checkpoint};
use crate::wal::segment::{HEADER_SIZE, segment_file};
use crate::wal::*;

const PAGE: u64 = PAGE_SIZE as u64;

/// A WAL of several 4-page segments written without compression: 150 samples records of varied sizes (a few
/// spanning more than a page), record `i` holding series id `i`.
fn multi_segment_wal(dir: &Path) -> Vec<Placed> {
    let (mut wal, _) = Wal::open(dir, opts(4 * PAGE, Compression::None)).expect("open");
    for i in 0..150u64 {
        let n = if i % 40 == 7 { 3500 } else { 1 + (i as usize * 37) % 300 };
        wal.log(&[RecordRef::Samples(&samples_of(i, n))]).expect("log");
    }
    wal.close().expect("close");
    let p = placed(dir);
    assert_eq!(p.len(), 150);
    assert!(p.last().expect("records").segment >= 3, "several segments");
    p
}

/// The fragment covering the middle of segment 0 (or the first one after it).
fn middle_fragment(seg: &[u8]) -> super::Frag {
    let mid = seg.len() / 2;
    *frags(seg)
        .iter()
        .find(|f| f.offset + HEADER_SIZE + f.len > mid && f.len > 0)
        .expect("a fragment")
}

fn next_page(offset: u64) -> u64 {
    (offset / PAGE + 1) * PAGE
}

#[test]
fn damage_is_reported_with_segment_and_offset_and_repair_keeps_intact_records() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let before = multi_segment_wal(dir);
    let seg0_path = segment_file(dir, 0);
    let mut seg0 = fs::read(&seg0_path).expect("read");
    let later: Vec<Vec<u8>> =
        (1..=3).map(|s| fs::read(segment_file(dir, s)).expect("read")).collect();

    let f = middle_fragment(&seg0);
    seg0[f.offset + HEADER_SIZE + f.len / 2] ^= 0x40;
    fs::write(&seg0_path, &seg0).expect("write");
    let damaged = f.offset as u64;

    // The reader stops at the damaged fragment, after every record that ended before it.
    let mut r = WalReader::new(&[SegmentRange::all(dir)], ReadOptions::default()).expect("reader");
    let mut read = 0;
    let err = loop {
        match r.next_record() {
            Ok(Some(_)) => read += 1,
            Ok(None) => panic!("damage not found"),
            Err(e) => break e,
        }
    };
    let Error::WalCorruption(c) = &err else { panic!("{err}") };
    assert_eq!((c.dir.as_path(), c.segment, c.offset), (dir, 0, damaged));
    assert!(matches!(c.kind, CorruptionKind::Checksum { .. }), "{:?}", c.kind);
    assert!(err.to_string().starts_with("corruption in segment "), "{err}");
    let kept_before: Vec<u64> =
        before.iter().filter(|p| p.segment == 0 && p.end <= damaged).map(|p| p.id).collect();
    assert_eq!(read, kept_before.len());
    assert!(r.next_record().expect("fused").is_none());

    // Repair keeps everything before, everything starting on a later page of segment 0, and all later
    // segments; it loses only the records touching the damaged page after the damage.
    let expected: Vec<u64> = before
        .iter()
        .filter(|p| p.segment != 0 || p.end <= damaged || p.offset >= next_page(damaged))
        .map(|p| p.id)
        .collect();
    let salvaged =
        before.iter().filter(|p| p.segment == 0 && p.offset >= next_page(damaged)).count();
    assert!(salvaged > 0, "the test damages a page that has later pages in its segment");
    let o = opts(4 * PAGE, Compression::None);
    let (wal, recs, summary) = replay(dir, o);
    assert_eq!(ids(&recs), expected);
    assert!(expected.len() < before.len());
    assert_eq!(summary.repairs.len(), 1);
    let rep = &summary.repairs[0];
    assert_eq!(
        (rep.segment, rep.damaged_at, rep.kept_before, rep.salvaged_after),
        (0, damaged, kept_before.len(), salvaged)
    );
    assert_eq!(rep.damaged_places, 1);
    assert_eq!(rep.resume, Position { segment: 0, offset: before[kept_before.len() - 1].end });
    drop(wal);

    // Later segments are untouched, the prefix of segment 0 is byte for byte the same, and the WAL now reads
    // cleanly.
    for (s, old) in later.iter().enumerate() {
        assert!(fs::read(segment_file(dir, s as u32 + 1)).expect("read") == *old);
    }
    let repaired = fs::read(&seg0_path).expect("read");
    let prefix = rep.resume.offset as usize;
    assert!(repaired[..prefix] == seg0[..prefix]);
    assert_eq!(repaired.len() % PAGE_SIZE, 0);
    let (_, again, summary) = replay(dir, o);
    assert!(summary.repairs.is_empty());
    assert_eq!(ids(&again), expected);
}

#[test]
fn every_kind_of_header_damage_is_repaired() {
    // (byte in the fragment header to change, xor mask)
    // The reserved bits 0xe0 of the type byte are ignored, as by Prometheus, so they are not in the list.
    for (at, mask) in [(0usize, 0x07u8), (0, 0x08), (1, 0x80), (2, 0x01), (4, 0x10)] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let before = multi_segment_wal(dir);
        let path = segment_file(dir, 0);
        let mut seg0 = fs::read(&path).expect("read");
        let f = middle_fragment(&seg0);
        seg0[f.offset + at] ^= mask;
        fs::write(&path, &seg0).expect("write");
        let Err(err) = read_all(dir) else { panic!("byte {at} ^ {mask:#x} not detected") };
        let Error::WalCorruption(c) = &err else { panic!("{err}") };
        assert_eq!(c.segment, 0, "{err}");
        let damaged = f.offset as u64;
        let (_, recs, summary) = replay(dir, opts(4 * PAGE, Compression::None));
        assert_eq!(summary.repairs.len(), 1, "byte {at} ^ {mask:#x}: {err}");
        let got = ids(&recs);
        // At least everything before the damaged fragment and from the next page on survives, in order.
        let must: Vec<u64> = before
            .iter()
            .filter(|p| p.segment != 0 || p.end <= damaged || p.offset >= next_page(damaged))
            .map(|p| p.id)
            .collect();
        assert!(must.iter().all(|id| got.contains(id)), "byte {at} ^ {mask:#x}: {err}");
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        assert!(read_all(dir).is_ok(), "clean after repair");
    }
}

#[test]
fn an_undecodable_record_costs_only_itself() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let o = opts(crate::wal::DEFAULT_SEGMENT_SIZE, Compression::Snappy);
    let (mut wal, _) = Wal::open(dir, o).expect("open");
    for i in 0..5 {
        wal.log(&[RecordRef::Samples(&samples_of(i, 50))]).expect("log");
    }
    // A samples record too short for its base: passes its CRC, fails to decode.
    wal.log_raw(&[&[2, 0, 0, 1]]).expect("log");
    let bad_at = wal.position();
    for i in 5..10 {
        wal.log(&[RecordRef::Samples(&samples_of(i, 50))]).expect("log");
    }
    wal.close().expect("close");

    let (_, mut replay0) = Wal::open(dir, o).expect("open");
    let mut n = 0;
    let err = loop {
        match replay0.next().expect("not the end") {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(n, 5);
    let Error::WalCorruption(c) = &err else { panic!("{err}") };
    assert!(matches!(c.kind, CorruptionKind::Decode(_)), "{err}");
    assert_eq!(c.segment, 0);
    assert!(c.offset < bad_at.offset);
    drop(replay0);

    let (_, recs, summary) = replay(dir, o);
    assert_eq!(ids(&recs), (0..10).collect::<Vec<_>>());
    assert_eq!(summary.repairs.len(), 1);
    assert_eq!((summary.repairs[0].kept_before, summary.repairs[0].salvaged_after), (5, 5));
}

#[test]
fn a_torn_tail_of_the_last_segment_is_tolerated_and_cut() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let o = opts(crate::wal::DEFAULT_SEGMENT_SIZE, Compression::None);
    let (mut wal, _) = Wal::open(dir, o).expect("open");
    for i in 0..20 {
        wal.log(&[RecordRef::Samples(&samples_of(i, 200))]).expect("log");
    }
    wal.close().expect("close");
    let p = placed(dir);
    let last = *p.last().expect("records");
    let path = segment_file(dir, 0);
    let cut = last.offset + (last.end - last.offset) / 2;
    let file = fs::OpenOptions::new().write(true).open(&path).expect("open");
    file.set_len(cut).expect("truncate");
    drop(file);

    // A strict reader calls that damage; a tolerant one stops cleanly where the torn record starts.
    let Err(err) = read_all(dir) else { panic!("a strict reader accepted the torn tail") };
    assert!(matches!(err, Error::WalCorruption(_)), "{err}");
    let mut r = WalReader::open(dir).expect("reader");
    let mut n = 0;
    while r.next_record().expect("tolerant").is_some() {
        n += 1;
    }
    assert_eq!(n, 19);
    assert_eq!(
        r.torn_tail().map(|(_, pos)| pos),
        Some(Position { segment: 0, offset: last.offset })
    );

    // Opening cuts it off (zero-padded to the page end) and replays the rest.
    let (mut wal, recs, summary) = replay(dir, o);
    assert_eq!(wal.open_info().torn_tail, Some(Position { segment: 0, offset: last.offset }));
    assert!(summary.repairs.is_empty());
    assert_eq!(ids(&recs), (0..19).collect::<Vec<_>>());
    let b = fs::read(&path).expect("read");
    assert_eq!(b.len() as u64, last.offset.div_ceil(PAGE) * PAGE);
    assert!(b[last.offset as usize..].iter().all(|&x| x == 0));
    wal.log(&[RecordRef::Samples(&samples_of(99, 3))]).expect("log");
    wal.close().expect("close");
    // Segment 0 is no longer the last, and reads cleanly.
    let (wal, recs, summary) = replay(dir, o);
    assert!(summary.repairs.is_empty());
    assert_eq!(wal.open_info().torn_tail, None);
    assert_eq!(ids(&recs).last(), Some(&99));
    assert_eq!(recs.len(), 20);
}

#[test]
fn a_zero_filled_tail_counts_as_torn() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let o = opts(crate::wal::DEFAULT_SEGMENT_SIZE, Compression::None);
    let (mut wal, _) = Wal::open(dir, o).expect("open");
    for i in 0..5 {
        wal.log(&[RecordRef::Samples(&samples_of(i, 100))]).expect("log");
    }
    wal.close().expect("close");
    let last = *placed(dir).last().expect("records");
    let path = segment_file(dir, 0);
    let mut b = fs::read(&path).expect("read");
    // The header survived, the data after a few bytes did not.
    for x in &mut b[last.offset as usize + HEADER_SIZE + 5..] {
        *x = 0;
    }
    fs::write(&path, &b).expect("write");
    let (wal, recs, summary) = replay(dir, o);
    assert_eq!(ids(&recs), (0..4).collect::<Vec<_>>());
    assert!(summary.repairs.is_empty());
    assert_eq!(wal.open_info().torn_tail, Some(Position { segment: 0, offset: last.offset }));

    // The same damage with a record after it is not a torn write (while in the very last record it cannot
    // be told from one).
    drop(wal);
    let tmp2 = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = Wal::open(tmp2.path(), o).expect("open");
    for i in 0..5 {
        wal.log(&[RecordRef::Samples(&samples_of(i, 100))]).expect("log");
    }
    wal.close().expect("close");
    let p = placed(tmp2.path());
    let second_last = p[p.len() - 2];
    let path = segment_file(tmp2.path(), 0);
    let mut b = fs::read(&path).expect("read");
    b[second_last.offset as usize + HEADER_SIZE + 5] ^= 1;
    fs::write(&path, &b).expect("write");
    let mut r = WalReader::open(tmp2.path()).expect("reader");
    let err = loop {
        match r.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("damage tolerated"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::WalCorruption(_)), "{err}");
}

#[test]
fn a_torn_record_in_an_earlier_segment_is_damage_and_repaired() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let before = multi_segment_wal(dir);
    let last0 = *before.iter().rfind(|p| p.segment == 0).expect("records");
    let file = fs::OpenOptions::new().write(true).open(segment_file(dir, 0)).expect("open");
    file.set_len(last0.offset + 3).expect("truncate");
    drop(file);
    let Err(err) = read_all(dir) else { panic!("damage not detected") };
    let Error::WalCorruption(c) = &err else { panic!("{err}") };
    assert_eq!((c.segment, c.offset), (0, last0.offset));
    let (_, recs, summary) = replay(dir, opts(4 * PAGE, Compression::None));
    assert_eq!(summary.repairs.len(), 1);
    let expected: Vec<u64> = before.iter().map(|p| p.id).filter(|&id| id != last0.id).collect();
    assert_eq!(ids(&recs), expected);
}

#[test]
fn leftovers_of_interrupted_repairs_and_checkpoints_are_removed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    fs::write(dir.join("00000000.repair"), b"junk").expect("write");
    fs::create_dir(dir.join("checkpoint.00000003.tmp")).expect("mkdir");
    let (wal, _) = Wal::open(dir, opts(PAGE, Compression::None)).expect("open");
    assert!(!dir.join("00000000.repair").exists());
    assert!(!dir.join("checkpoint.00000003.tmp").exists());
    wal.close().expect("close");
}

fn series(id: u64) -> RefSeries {
    RefSeries {
        series_ref: id,
        labels: super::labels(&[("__name__", "m"), ("id", &id.to_string())]),
    }
}

fn metadata(id: u64, help: &str) -> RefMetadata {
    RefMetadata {
        series_ref: id,
        metadata: model::Metadata {
            metric_type: model::MetricType::Gauge,
            unit: String::new(),
            help: help.into(),
        },
    }
}

#[test]
fn checkpoints_keep_what_is_needed_and_replace_older_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let o = opts(crate::wal::DEFAULT_SEGMENT_SIZE, Compression::Snappy);
    let (mut wal, _) = Wal::open(dir, o).expect("open");
    let s = |id, t| RefSample { series_ref: id, t, v: t as f64 };
    wal.log(&[
        RecordRef::Series(&[series(1), series(2), series(3)]),
        RecordRef::Samples(&[s(1, 100), s(2, 100), s(3, 100)]),
        RecordRef::Metadata(&[metadata(1, "old"), metadata(2, "two")]),
        RecordRef::MmapMarkers(&[RefMmapMarker { series_ref: 1, mmap_ref: 8 }]),
    ])
    .expect("log");
    wal.next_segment().expect("cut");
    wal.log(&[
        RecordRef::Samples(&[s(1, 300), s(2, 300), s(3, 250)]),
        RecordRef::Tombstones(&[
            RefTombstone { series_ref: 1, mint: 0, maxt: 400 },
            RefTombstone { series_ref: 2, mint: 0, maxt: 400 },
            RefTombstone { series_ref: 3, mint: 0, maxt: 10 },
        ]),
        RecordRef::Exemplars(&[
            RefExemplar { series_ref: 1, t: 299, v: 1.0, labels: super::labels(&[("a", "b")]) },
            RefExemplar { series_ref: 3, t: 300, v: 2.0, labels: super::labels(&[("a", "c")]) },
        ]),
        RecordRef::Metadata(&[metadata(1, "new")]),
    ])
    .expect("log");
    wal.next_segment().expect("cut");
    wal.log(&[RecordRef::Samples(&[s(1, 500)])]).expect("log");

    let err = wal.checkpoint(2, |_| true, 0).expect_err("active segment");
    assert!(matches!(err, Error::WalInvalid { .. }), "{err}");
    let stats = wal.checkpoint(1, |r| r != 2, 300).expect("checkpoint");
    assert_eq!(
        stats,
        CheckpointStats {
            dropped_series: 1,
            dropped_samples: 4,
            dropped_tombstones: 2,
            dropped_exemplars: 1,
            dropped_metadata: 2,
            total_series: 3,
            total_samples: 6,
            total_tombstones: 3,
            total_exemplars: 2,
            total_metadata: 3,
        }
    );
    assert_eq!(list_checkpoints(dir).expect("list").iter().map(|c| c.0).collect::<Vec<_>>(), [1]);
    wal.truncate(2).expect("truncate");
    wal.close().expect("close");

    let want_checkpoint = vec![
        Record::Series(vec![series(1), series(3)]),
        Record::Samples(vec![s(1, 300), s(2, 300)]),
        Record::Tombstones(vec![RefTombstone { series_ref: 1, mint: 0, maxt: 400 }]),
        Record::Exemplars(vec![RefExemplar {
            series_ref: 3,
            t: 300,
            v: 2.0,
            labels: super::labels(&[("a", "c")]),
        }]),
        Record::Metadata(vec![metadata(1, "new")]),
    ];
    let cp: Vec<Record> = read_checkpoint(&checkpoint_dir(dir, 1))
        .expect("read")
        .collect::<Result<_, _>>()
        .expect("records");
    assert_eq!(cp, want_checkpoint);

    // Replay: the checkpoint, then the segments after it.
    let (mut wal, recs, _) = replay(dir, o);
    assert_eq!(wal.open_info().checkpoint, Some(1));
    assert_eq!(wal.open_info().replayed_segments, Some((2, 2)));
    let mut want = want_checkpoint.clone();
    want.push(Record::Samples(vec![s(1, 500)]));
    assert_eq!(recs, want);

    // A second checkpoint folds in the first one and replaces it.
    let active = wal.active_segment();
    let stats = wal.checkpoint(active - 1, |_| true, 0).expect("checkpoint");
    assert_eq!(stats.total_series, 2);
    assert_eq!(
        list_checkpoints(dir).expect("list").iter().map(|c| c.0).collect::<Vec<_>>(),
        [active - 1]
    );
    wal.truncate(active).expect("truncate");
    wal.close().expect("close");
    let (_, recs, _) = replay(dir, o);
    // Metadata always goes last in a checkpoint.
    want.swap(4, 5);
    assert_eq!(recs, want);
}

#[test]
fn damage_in_a_checkpoint_is_not_repaired() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let o = opts(crate::wal::DEFAULT_SEGMENT_SIZE, Compression::None);
    let (mut wal, _) = Wal::open(dir, o).expect("open");
    wal.log(&[RecordRef::Series(&[series(1)]), RecordRef::Samples(&samples_of(1, 5))])
        .expect("log");
    wal.next_segment().expect("cut");
    wal.checkpoint(0, |_| true, 0).expect("checkpoint");
    wal.close().expect("close");
    let cp_seg = segment_file(&checkpoint_dir(dir, 0), 0);
    let mut b = fs::read(&cp_seg).expect("read");
    b[HEADER_SIZE + 3] ^= 1;
    fs::write(&cp_seg, &b).expect("write");

    let err = Wal::open_with(dir, o, |_| Ok(())).expect_err("checkpoint damage");
    let Error::WalCorruption(c) = &err else { panic!("{err}") };
    assert_eq!(c.dir, checkpoint_dir(dir, 0));
    let (mut wal, _) = Wal::open(dir, o).expect("open");
    let err = wal.repair(c).expect_err("refused");
    assert!(matches!(err, Error::WalInvalid { .. }), "{err}");
}
