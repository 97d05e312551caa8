//! WAL tests across modules: the Prometheus 2.42 golden segment, round trips of every record type, page and
//! segment boundaries, the sync policy and truncation. Damage, repair, torn tails and checkpoints are in
//! `tests/recovery.rs`.

mod recovery;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use model::{
    BucketSpan, CounterResetHint, FloatHistogram, Histogram, Labels, Metadata, MetricType,
};

use super::record::{RECORD_SERIES, decode};
use super::segment::{FLAG_SNAPPY, FRAG_FULL, HEADER_SIZE};
use super::*;
use crate::error::Error;

/// Options with a given segment size and compression and no fsync policy (segments are still fsynced on close).
pub(super) fn opts(segment_size: u64, compression: Compression) -> WalOptions {
    WalOptions { segment_size, compression, sync_policy: SyncPolicy::Never }
}

pub(super) fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// A samples record whose every sample belongs to series `id`, so the record can be recognised after a replay.
pub(super) fn samples_of(id: u64, n: usize) -> Vec<RefSample> {
    (0..n)
        .map(|i| RefSample { series_ref: id, t: 1000 * i as i64, v: (id * 1000 + i as u64) as f64 })
        .collect()
}

/// The series ids of a list of records made with [`samples_of`].
pub(super) fn ids(records: &[Record]) -> Vec<u64> {
    records
        .iter()
        .map(|r| match r {
            Record::Samples(s) => s[0].series_ref,
            other => panic!("unexpected record {other:?}"),
        })
        .collect()
}

/// A record as found by a strict reader: segment, start and end offsets, and its series id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Placed {
    pub(super) segment: u32,
    pub(super) offset: u64,
    pub(super) end: u64,
    pub(super) id: u64,
}

/// Every record of `dir` with its place, read strictly.
pub(super) fn placed(dir: &Path) -> Vec<Placed> {
    let mut r = WalReader::new(&[SegmentRange::all(dir)], ReadOptions::default()).expect("reader");
    let mut out = Vec::new();
    while let Some(raw) = r.next_record().expect("read") {
        let rec = decode(raw.data).expect("decode");
        out.push(Placed {
            segment: raw.segment,
            offset: raw.offset,
            end: raw.end,
            id: ids(&[rec])[0],
        });
    }
    out
}

/// Every record of `dir`, decoded, read strictly.
pub(super) fn read_all(dir: &Path) -> Result<Vec<Record>, Error> {
    let mut r = WalReader::new(&[SegmentRange::all(dir)], ReadOptions::default())?;
    let mut out = Vec::new();
    while let Some(raw) = r.next_record()? {
        out.push(decode(raw.data)?);
    }
    Ok(out)
}

/// A fragment header found by walking a segment's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Frag {
    pub(super) offset: usize,
    pub(super) type_byte: u8,
    pub(super) len: usize,
}

/// Walks the fragment headers of an undamaged segment.
pub(super) fn frags(b: &[u8]) -> Vec<Frag> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let in_page = pos % PAGE_SIZE;
        if PAGE_SIZE - in_page < HEADER_SIZE || b[pos] == 0 {
            pos += PAGE_SIZE - in_page;
            continue;
        }
        let len = u16::from_be_bytes([b[pos + 1], b[pos + 2]]) as usize;
        out.push(Frag { offset: pos, type_byte: b[pos], len });
        pos += HEADER_SIZE + len;
    }
    out
}

/// Opens, replays (repairing) and returns the WAL with everything replayed.
pub(super) fn replay(dir: &Path, o: WalOptions) -> (Wal, Vec<Record>, ReplaySummary) {
    let mut records = Vec::new();
    let (wal, summary) = Wal::open_with(dir, o, |r| {
        records.push(r);
        Ok(())
    })
    .expect("open WAL");
    (wal, records, summary)
}

fn golden_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tsdb/golden/wal");
    dir.join("00000000").exists().then_some(dir)
}

#[test]
fn golden_wal_from_prometheus_2_42_decodes_fully() {
    let Some(dir) = golden_dir() else {
        eprintln!("notice: skipping: ../shared/tsdb/golden/wal is absent");
        return;
    };
    let bytes = fs::read(dir.join("00000000")).expect("read golden segment");
    // One page, 9 full snappy fragments, zero padding after the last one.
    assert_eq!(bytes.len(), PAGE_SIZE);
    let fr = frags(&bytes);
    let offsets: Vec<usize> = fr.iter().map(|f| f.offset).collect();
    assert_eq!(offsets, [0, 5656, 7168, 8007, 9709, 11437, 13179, 14916, 16667]);
    assert!(fr.iter().all(|f| f.type_byte == FRAG_FULL | FLAG_SNAPPY));
    let end = 16667 + HEADER_SIZE + 1750;
    assert!(bytes[end..].iter().all(|&b| b == 0));

    // prometheus.yml in the directory is not a segment and is ignored.
    let mut reader =
        WalReader::new(&[SegmentRange::all(&dir)], ReadOptions::default()).expect("reader");
    let mut raw_records = Vec::new();
    while let Some(raw) = reader.next_record().expect("read") {
        raw_records.push(raw.data.to_vec());
    }
    let records: Vec<Record> = raw_records.iter().map(|r| decode(r).expect("decode")).collect();
    let types: Vec<u8> = raw_records.iter().map(|r| r[0]).collect();
    assert_eq!(types, [1, 2, 1, 2, 2, 2, 2, 2, 2]);

    let series: Vec<&RefSeries> = records
        .iter()
        .filter_map(|r| if let Record::Series(s) = r { Some(s) } else { None })
        .flatten()
        .collect();
    assert_eq!(series.len(), 336);
    assert!(
        series.iter().map(|s| s.series_ref).eq(1..=336),
        "series refs start at 1 and are dense"
    );
    assert_eq!(
        series[0].labels,
        labels(&[
            ("__name__", "go_gc_duration_seconds"),
            ("instance", "127.0.0.1:19090"),
            ("job", "self"),
            ("quantile", "0")
        ])
    );
    let up = labels(&[("__name__", "up"), ("instance", "127.0.0.1:19090"), ("job", "self")]);
    assert_eq!(series.iter().find(|s| s.labels == up).map(|s| s.series_ref), Some(294));

    let per_record: Vec<&Vec<RefSample>> = records
        .iter()
        .filter_map(|r| if let Record::Samples(s) = r { Some(s) } else { None })
        .collect();
    assert_eq!(
        per_record.iter().map(|s| s.len()).collect::<Vec<_>>(),
        [298, 336, 336, 336, 336, 336, 336]
    );
    let samples: Vec<&RefSample> = per_record.iter().copied().flatten().collect();
    assert_eq!(samples.len(), 2314);
    // One scrape a second: every record holds one timestamp.
    for (k, rec) in per_record.iter().enumerate() {
        let t = 1_795_565_949_370 + 1000 * k as i64;
        assert!(rec.iter().all(|s| s.t == t), "record {k} at {t}");
    }
    let up_samples: Vec<(i64, f64)> =
        samples.iter().filter(|s| s.series_ref == 294).map(|s| (s.t, s.v)).collect();
    assert_eq!(up_samples.len(), 7);
    assert!(up_samples.iter().all(|&(_, v)| v == 1.0));
    assert_eq!(*samples[0], RefSample { series_ref: 1, t: 1_795_565_949_370, v: 3.6158e-05 });
    assert_eq!(*samples[2313], RefSample { series_ref: 298, t: 1_795_565_955_370, v: 0.0 });

    // Our encoder writes the same record bytes as Prometheus.
    for (rec, raw) in records.iter().zip(&raw_records) {
        assert_eq!(&record::encode(rec.as_record_ref().expect("known type")), raw);
    }

    // And our writer, with snappy, writes the same segment, byte for byte.
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut wal, replay) = Wal::open(tmp.path(), WalOptions::default()).expect("open");
    assert_eq!(replay.count(), 0);
    for rec in &records {
        wal.log(&[rec.as_record_ref().expect("known type")]).expect("log");
    }
    wal.close().expect("close");
    assert!(
        fs::read(tmp.path().join("00000000")).expect("read") == bytes,
        "segment differs from golden"
    );
}

fn histogram(schema: i32) -> Histogram {
    Histogram {
        counter_reset_hint: CounterResetHint::CounterReset,
        schema,
        zero_threshold: 0.001,
        zero_count: 3,
        count: 19,
        sum: -12.5,
        positive_spans: vec![
            BucketSpan { offset: -2, length: 2 },
            BucketSpan { offset: 3, length: 1 },
        ],
        negative_spans: vec![BucketSpan { offset: 0, length: 1 }],
        positive_buckets: vec![4, -1, 7],
        negative_buckets: vec![2],
        custom_values: Vec::new(),
    }
}

fn float_histogram(schema: i32) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        schema,
        zero_threshold: 0.0,
        zero_count: 1.5,
        count: 10.5,
        sum: 99.0,
        positive_spans: vec![BucketSpan { offset: 1, length: 2 }],
        negative_spans: Vec::new(),
        positive_buckets: vec![4.5, 4.5],
        negative_buckets: Vec::new(),
        custom_values: Vec::new(),
    }
}

/// One record of every type 1–10, with awkward values (negative deltas and times, extreme refs).
pub(super) fn one_of_each() -> Vec<Record> {
    let mut nhcb = histogram(model::CUSTOM_BUCKETS_SCHEMA);
    nhcb.negative_spans.clear();
    nhcb.negative_buckets.clear();
    nhcb.custom_values = vec![0.1, 0.5, 1.0];
    let mut fnhcb = float_histogram(model::CUSTOM_BUCKETS_SCHEMA);
    fnhcb.custom_values = vec![1.0, 2.0];
    vec![
        Record::Series(vec![
            RefSeries { series_ref: 1, labels: labels(&[("__name__", "up"), ("job", "a")]) },
            RefSeries {
                series_ref: u64::MAX,
                labels: labels(&[("__name__", "ünïcode"), ("x", "y\nz")]),
            },
        ]),
        Record::Samples(vec![
            RefSample { series_ref: 7, t: 1000, v: 1.5 },
            RefSample { series_ref: 3, t: -5, v: -0.0 },
            RefSample { series_ref: u64::MAX, t: i64::MAX, v: f64::INFINITY },
        ]),
        Record::Tombstones(vec![
            RefTombstone { series_ref: 1, mint: i64::MIN, maxt: i64::MAX },
            RefTombstone { series_ref: 2, mint: -100, maxt: 100 },
        ]),
        Record::Exemplars(vec![
            RefExemplar { series_ref: 5, t: 10, v: 0.5, labels: labels(&[("trace_id", "abc")]) },
            RefExemplar { series_ref: 4, t: 9, v: 1.0, labels: Labels::empty() },
        ]),
        Record::MmapMarkers(vec![
            RefMmapMarker { series_ref: 1, mmap_ref: 3 << 32 | 8 },
            RefMmapMarker { series_ref: 2, mmap_ref: 0 },
        ]),
        Record::Metadata(vec![
            RefMetadata {
                series_ref: 1,
                metadata: Metadata {
                    metric_type: MetricType::Counter,
                    unit: "seconds".into(),
                    help: "h".into(),
                },
            },
            RefMetadata { series_ref: 1 << 40, metadata: Metadata::default() },
        ]),
        Record::HistogramSamples(vec![
            RefHistogramSample { series_ref: 9, t: 100, h: Arc::new(histogram(3)) },
            RefHistogramSample { series_ref: 8, t: 90, h: Arc::new(histogram(-4)) },
        ]),
        Record::FloatHistogramSamples(vec![RefFloatHistogramSample {
            series_ref: 9,
            t: 100,
            fh: Arc::new(float_histogram(0)),
        }]),
        Record::CustomBucketsHistogramSamples(vec![RefHistogramSample {
            series_ref: 10,
            t: 1,
            h: Arc::new(nhcb),
        }]),
        Record::CustomBucketsFloatHistogramSamples(vec![RefFloatHistogramSample {
            series_ref: 11,
            t: 2,
            fh: Arc::new(fnhcb),
        }]),
    ]
}

#[test]
fn every_record_type_round_trips_through_the_codec() {
    for (i, rec) in one_of_each().into_iter().enumerate() {
        let r = rec.as_record_ref().expect("known type");
        assert_eq!(r.record_type() as usize, i + 1);
        let bytes = record::encode(r);
        assert_eq!(bytes[0] as usize, i + 1);
        assert_eq!(decode(&bytes).expect("decode"), rec, "type {}", i + 1);
    }
}

#[test]
fn every_record_type_round_trips_through_the_wal() {
    for compression in [Compression::None, Compression::Snappy] {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = one_of_each();
        let refs: Vec<RecordRef<'_>> = all.iter().filter_map(Record::as_record_ref).collect();
        let (mut wal, _) =
            Wal::open(dir.path(), opts(DEFAULT_SEGMENT_SIZE, compression)).expect("open");
        wal.log(&refs).expect("log");
        // Empty records are not written at all.
        wal.log(&[RecordRef::Samples(&[]), RecordRef::Series(&[])]).expect("log");
        wal.close().expect("close");
        let (_, replayed, summary) = replay(dir.path(), opts(DEFAULT_SEGMENT_SIZE, compression));
        assert_eq!(replayed, all, "{compression:?}");
        assert!(summary.repairs.is_empty());
    }
}

#[test]
fn stale_markers_keep_their_bits() {
    let s = [RefSample { series_ref: 1, t: 1, v: model::stale_nan() }];
    let Record::Samples(back) = decode(&record::encode(RecordRef::Samples(&s))).expect("decode")
    else {
        panic!("samples")
    };
    assert_eq!(back[0].v.to_bits(), model::STALE_NAN_BITS);
}

/// A raw record of `len` bytes whose content depends on `seed`.
fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn records_cross_pages_but_never_segments() {
    let seg = 2 * PAGE_SIZE as u64;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = Wal::open(dir.path(), opts(seg, Compression::None)).expect("open");
    let mut sizes = vec![
        0,
        1,
        10,
        PAGE_SIZE - 2 * HEADER_SIZE - 32, // leaves exactly 7 bytes: the next record starts with an empty fragment
        100,
        3 * PAGE_SIZE, // larger than a segment: gets an oversized segment of its own
        5,
        2 * (PAGE_SIZE - HEADER_SIZE), // exactly fills an empty segment
    ];
    sizes.extend((0..60).map(|i| 500 + 977 * i % 9000));
    let blobs: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| blob(n, i as u8)).collect();
    for chunk in blobs.chunks(3) {
        let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        wal.log_raw(&refs).expect("log");
    }
    let active = wal.active_segment();
    wal.close().expect("close");

    let mut r =
        WalReader::new(&[SegmentRange::all(dir.path())], ReadOptions::default()).expect("reader");
    let mut got = Vec::new();
    while let Some(raw) = r.next_record().expect("read") {
        got.push((raw.segment, raw.data.to_vec()));
    }
    assert_eq!(got.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(), blobs);
    let big = got.iter().find(|(_, d)| d.len() == 3 * PAGE_SIZE).expect("big record").0;
    let exact =
        got.iter().find(|(_, d)| d.len() == 2 * (PAGE_SIZE - HEADER_SIZE)).expect("exact record").0;
    for s in 0..=active {
        let len = fs::metadata(segment::segment_file(dir.path(), s)).expect("stat").len();
        assert_eq!(len % PAGE_SIZE as u64, 0, "segment {s} is padded");
        if s == big {
            assert!(len > seg, "the oversized record has an oversized segment");
            assert!(got.iter().filter(|(g, _)| *g == s).count() == 1, "and shares it with nobody");
        } else {
            assert!(len <= seg, "segment {s} is {len} bytes");
        }
    }
    assert_eq!(
        got.iter().filter(|(g, _)| *g == exact).count(),
        1,
        "a record filling a segment is alone"
    );
    assert!(active >= 5, "{active} segments");
    // The empty first fragment of the record after the 7-byte remainder.
    let seg0 = fs::read(segment::segment_file(dir.path(), 0)).expect("read");
    let f = frags(&seg0);
    assert_eq!(
        (f[4].offset, f[4].type_byte, f[4].len),
        (PAGE_SIZE - HEADER_SIZE, segment::FRAG_FIRST, 0)
    );
}

#[test]
fn snappy_only_when_smaller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) =
        Wal::open(dir.path(), opts(DEFAULT_SEGMENT_SIZE, Compression::Snappy)).expect("open");
    let compressible = vec![7u8; 5000];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    wal.log_raw(&[&compressible, &random]).expect("log");
    wal.close().expect("close");
    let b = fs::read(dir.path().join("00000000")).expect("read");
    let f = frags(&b);
    assert_eq!(f[0].type_byte, FRAG_FULL | FLAG_SNAPPY);
    assert!(f[0].len < 500, "{} bytes", f[0].len);
    assert_eq!(f[1].type_byte, FRAG_FULL);
    let mut r = WalReader::open(dir.path()).expect("reader");
    assert_eq!(r.next_record().expect("read").expect("one").data, &compressible[..]);
    assert_eq!(r.next_record().expect("read").expect("two").data, &random[..]);
}

#[test]
fn reopening_starts_a_new_segment_and_replays_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = opts(DEFAULT_SEGMENT_SIZE, Compression::Snappy);
    let (mut wal, replay0) = Wal::open(dir.path(), o).expect("open");
    assert_eq!(replay0.count(), 0);
    assert_eq!(wal.open_info().active_segment, 0);
    wal.log(&[RecordRef::Samples(&samples_of(1, 10))]).expect("log");
    assert_eq!(wal.position().segment, 0);
    assert!(wal.position().offset > 0);
    wal.close().expect("close");

    let (mut wal, recs, _) = replay(dir.path(), o);
    assert_eq!(ids(&recs), [1]);
    assert_eq!(wal.open_info().active_segment, 1);
    assert_eq!(wal.open_info().replayed_segments, Some((0, 0)));
    wal.log(&[RecordRef::Samples(&samples_of(2, 10))]).expect("log");
    // Not closed: the partial page was written at the end of log(), so a reopen sees it.
    drop(wal);
    let (wal, recs, _) = replay(dir.path(), o);
    assert_eq!(ids(&recs), [1, 2]);
    assert_eq!(wal.segments().expect("segments"), Some((0, 2)));
    wal.close().expect("close");
    // A run that wrote nothing leaves an empty segment, which the next run writes into instead of adding one.
    let (wal, recs, _) = replay(dir.path(), o);
    assert_eq!(ids(&recs), [1, 2]);
    assert_eq!((wal.active_segment(), wal.open_info().replayed_segments), (2, Some((0, 1))));
    assert_eq!(wal.segments().expect("segments"), Some((0, 2)));
}

#[test]
fn invalid_segment_sizes_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for size in [0, 1000, PAGE_SIZE as u64 + 1] {
        let err = Wal::open(dir.path(), opts(size, Compression::None)).expect_err("invalid");
        assert!(matches!(err, Error::WalInvalid { .. }), "{err}");
    }
}

#[test]
fn sync_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = samples_of(1, 3);
    let mut o = opts(DEFAULT_SEGMENT_SIZE, Compression::None);

    o.sync_policy = SyncPolicy::Interval(Duration::from_secs(3600));
    let (mut wal, _) = Wal::open(dir.path(), o).expect("open");
    assert!(!wal.has_unsynced_data());
    wal.log(&[RecordRef::Samples(&rec)]).expect("log");
    assert!(wal.has_unsynced_data());
    assert!(!wal.sync_if_due().expect("sync"), "an hour has not passed");
    let before = wal.last_sync();
    wal.sync().expect("sync");
    assert!(!wal.has_unsynced_data());
    assert!(wal.last_sync() >= before);
    wal.close().expect("close");

    o.sync_policy = SyncPolicy::Interval(Duration::ZERO);
    let (mut wal, _) = Wal::open(dir.path(), o).expect("open");
    assert!(!wal.sync_if_due().expect("sync"), "nothing written");
    wal.log(&[RecordRef::Samples(&rec)]).expect("log");
    assert!(wal.sync_if_due().expect("sync"));
    assert!(!wal.sync_if_due().expect("sync"), "nothing new");
    wal.close().expect("close");

    o.sync_policy = SyncPolicy::Always;
    let (mut wal, _) = Wal::open(dir.path(), o).expect("open");
    wal.log(&[RecordRef::Samples(&rec)]).expect("log");
    assert!(!wal.has_unsynced_data(), "synced by log()");
    wal.close().expect("close");

    o.sync_policy = SyncPolicy::Never;
    let (mut wal, _) = Wal::open(dir.path(), o).expect("open");
    wal.log(&[RecordRef::Samples(&rec)]).expect("log");
    assert!(!wal.sync_if_due().expect("sync"));
    assert!(wal.has_unsynced_data());
    // Closing a segment always syncs it.
    wal.next_segment().expect("cut");
    assert!(!wal.has_unsynced_data());
    wal.close().expect("close");
    assert_eq!(SyncPolicy::default(), SyncPolicy::Interval(Duration::from_secs(1)));
}

#[test]
fn truncation_deletes_old_segments_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) =
        Wal::open(dir.path(), opts(DEFAULT_SEGMENT_SIZE, Compression::None)).expect("open");
    for id in 0..4 {
        wal.log(&[RecordRef::Samples(&samples_of(id, 2))]).expect("log");
        assert_eq!(wal.next_segment().expect("cut"), id as u32 + 1);
    }
    assert_eq!(wal.segments().expect("segments"), Some((0, 4)));
    wal.truncate(2).expect("truncate");
    assert_eq!(wal.segments().expect("segments"), Some((2, 4)));
    let err = wal.truncate(5).expect_err("active segment");
    assert!(matches!(err, Error::WalInvalid { .. }), "{err}");
    wal.truncate(4).expect("truncate up to the active segment");
    assert_eq!(wal.segments().expect("segments"), Some((4, 4)));
    let st = wal.stats();
    assert_eq!((st.truncations, st.truncations_failed), (3, 1));
    // Each log() writes its partial page; each cut pads and completes it and fsyncs the segment.
    assert_eq!((st.page_flushes, st.completed_pages, st.fsync.count), (8, 4, 4));
    assert_eq!(wal.take_fsync_durations().len(), 4);
    wal.close().expect("close");
    let (_, recs, _) = replay(dir.path(), opts(DEFAULT_SEGMENT_SIZE, Compression::None));
    assert!(recs.is_empty());
}

#[test]
fn zstd_records_are_unsupported_not_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = [RECORD_SERIES];
    let mut seg = vec![0x11u8]; // zstd flag | full
    seg.extend_from_slice(&(data.len() as u16).to_be_bytes());
    seg.extend_from_slice(&crc32c::crc32c(&data).to_be_bytes());
    seg.extend_from_slice(&data);
    fs::write(dir.path().join("00000000"), &seg).expect("write");
    let Err(err) = read_all(dir.path()) else { panic!("zstd accepted") };
    assert!(matches!(err, Error::WalUnsupported { segment: 0, offset: 0, .. }), "{err}");
    assert!(err.to_string().contains("zstd"), "{err}");
}

/// Prometheus 2.42's `promtool tsdb dump` replays a data directory holding only a WAL we wrote: a checkpoint,
/// then several snappy segments.
#[test]
fn promtool_2_42_replays_our_wal() {
    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        crate::test_peers::missing_peer("/usr/bin/promtool (apt-get install prometheus)");
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) =
        Wal::open(data.path().join("wal"), opts(PAGE_SIZE as u64, Compression::Snappy))
            .expect("open");
    let series: Vec<RefSeries> = (1..=200)
        .map(|i| RefSeries {
            series_ref: i,
            labels: labels(&[("__name__", "m"), ("i", &format!("{i:03}"))]),
        })
        .collect();
    wal.log(&[RecordRef::Series(&series)]).expect("log");
    let t0 = 1_700_000_000_000i64;
    let scrape = |k: i64| -> Vec<RefSample> {
        (1..=200)
            .map(|i| RefSample {
                series_ref: i,
                t: t0 + 15_000 * k,
                v: (i * 100) as f64 + k as f64,
            })
            .collect()
    };
    for k in 0..40 {
        wal.log(&[RecordRef::Samples(&scrape(k))]).expect("log");
    }
    // Fold everything written so far, minus the first 10 scrapes, into a checkpoint.
    let last = wal.next_segment().expect("cut") - 1;
    wal.checkpoint(last, |_| true, t0 + 15_000 * 10).expect("checkpoint");
    wal.truncate(last + 1).expect("truncate");
    for k in 40..60 {
        wal.log(&[RecordRef::Samples(&scrape(k))]).expect("log");
    }
    wal.close().expect("close");
    assert!(last >= 2, "several segments were folded in ({last})");

    let out = std::process::Command::new(promtool)
        .arg("tsdb")
        .arg("dump")
        .arg(data.path())
        .output()
        .expect("run promtool");
    assert!(out.status.success(), "promtool failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 200 * 50, "scrapes 10..60 of 200 series");
    assert_eq!(lines[0], format!("{{__name__=\"m\", i=\"001\"}} 110 {}", t0 + 150_000));
    assert_eq!(
        lines[lines.len() - 1],
        format!("{{__name__=\"m\", i=\"200\"}} 20059 {}", t0 + 15_000 * 59)
    );
}
