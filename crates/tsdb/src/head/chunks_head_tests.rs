//! `chunks_head/`: chunks leave the heap, restarts take them back instead of rebuilding them from the WAL, and
//! damaged or stray files never cost a sample.

use std::fs;
use std::path::Path;

use model::{Labels, MatchType, Matcher, Value};
use storage::{AppendOptions, Appendable, Queryable, ValueKind};

use super::chunks_head::{FILE_HEADER, MAGIC};
use super::*;
use crate::wal::{Compression, PAGE_SIZE, SyncPolicy};

fn opts() -> WalOptions {
    WalOptions {
        segment_size: 4 * PAGE_SIZE as u64,
        compression: Compression::Snappy,
        sync_policy: SyncPolicy::Never,
    }
}

fn open(dir: &Path) -> (Head, WalReplayStats) {
    Head::open(dir, HeadOptions::default(), opts()).unwrap()
}

/// Appends `n` samples (15 s apart from `from`) to each of `series` series, one commit per timestamp.
fn ingest(h: &Head, series: usize, from: i64, n: i64) {
    for k in 0..n {
        let t = from + k * 15_000;
        let mut app = h.appender();
        for s in 0..series {
            let labels = Labels::from_pairs([("__name__", "m"), ("s", &s.to_string())]);
            let v = (k as f64) * 1.5 + s as f64;
            app.append(0, &labels, 0, t, Value::Float(v), &AppendOptions::default()).unwrap();
        }
        app.commit().unwrap();
    }
}

/// Every sample of the head as text.
fn dump(h: &Head) -> Vec<String> {
    let q = h.querier(i64::MIN, i64::MAX).unwrap();
    let all = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
    let mut set = q.select(true, None, &[all]);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let mut c = s.cursor();
        while c.next() == ValueKind::Float {
            let (t, v) = c.at();
            out.push(format!("{} {t} {v}", s.labels));
        }
    }
    out
}

fn chunk_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir.join("chunks_head"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn mapped_chunks(h: &Head) -> usize {
    h.inner
        .by_ref
        .all()
        .iter()
        .map(|s| s.data.lock().closed.iter().filter(|c| c.bytes.file_index().is_some()).count())
        .sum()
}

#[test]
fn closed_chunks_are_written_in_prometheus_format_and_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = open(dir.path());
    ingest(&h, 3, 0, 500);
    // 500 samples per series: 4 full chunks of 120 are closed, the fifth is open.
    assert_eq!(mapped_chunks(&h), 0);
    assert_eq!(h.mmap_chunks().unwrap(), 12);
    assert_eq!(mapped_chunks(&h), 12);
    assert_eq!(h.mmap_chunks().unwrap(), 0, "nothing new to write");
    let st = h.mmap_stats().unwrap();
    assert_eq!((st.chunks_written, st.write_failures, st.files), (12, 0, 1));
    assert_eq!(chunk_files(dir.path()), vec!["000001"]);

    let b = fs::read(dir.path().join("chunks_head/000001")).unwrap();
    assert_eq!(st.storage_size_bytes, b.len() as u64);
    assert_eq!(&b[..4], &MAGIC.to_be_bytes());
    assert_eq!(&b[4..8], &[1, 0, 0, 0]);
    // The first chunk: series ref, mint, maxt, XOR encoding, length, data (120 samples), CRC32C of it all.
    let be = |at: usize| u64::from_be_bytes(b[at..at + 8].try_into().unwrap());
    let at = FILE_HEADER;
    let series_ref = be(at);
    assert!(series_ref >= 1);
    assert_eq!((be(at + 8) as i64, be(at + 16) as i64), (0, 119 * 15_000));
    assert_eq!(b[at + 24], 1);
    let (mut len, mut n) = (0usize, 0);
    while b[at + 25 + n] & 0x80 != 0 {
        len |= usize::from(b[at + 25 + n] & 0x7f) << (7 * n);
        n += 1;
    }
    len |= usize::from(b[at + 25 + n]) << (7 * n);
    let data = at + 26 + n;
    assert_eq!(u16::from_be_bytes([b[data], b[data + 1]]), 120);
    let crc = u32::from_be_bytes(b[data + len..data + len + 4].try_into().unwrap());
    assert_eq!(crc, crc32c::crc32c(&b[at..data + len]));

    // The mapped chunks read back the same samples as before.
    let want: Vec<String> = (0..3)
        .flat_map(|s| {
            (0..500).map(move |k| {
                format!(
                    "{{__name__=\"m\", s=\"{s}\"}} {} {}",
                    k * 15_000,
                    k as f64 * 1.5 + s as f64
                )
            })
        })
        .collect();
    assert_eq!(dump(&h), want);
}

#[test]
fn a_restart_takes_the_mapped_chunks_and_skips_their_samples_in_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let (h, _) = open(dir.path());
        ingest(&h, 4, 0, 400);
        h.mmap_chunks().unwrap();
        ingest(&h, 4, 400 * 15_000, 100);
        h.sync_wal().unwrap();
        dump(&h)
    };
    assert_eq!(before.len(), 4 * 500);
    let (h, stats) = open(dir.path());
    // 500 samples: 4 closed chunks per series were written (3 before the second batch, one on shutdown).
    assert_eq!(stats.mmapped_chunks, 16);
    assert_eq!(stats.in_mmapped_chunks, 4 * 480);
    assert_eq!(stats.samples, 4 * 20);
    assert_eq!(stats.out_of_order, 0);
    assert_eq!(dump(&h), before);
    assert_eq!(h.stats().chunks, h.count_chunks(), "taken chunks are counted");
    assert_eq!(h.min_time(), 0);
    assert_eq!(h.max_time(), 499 * 15_000);
    // Appends continue after the restored data, and a new file is started.
    ingest(&h, 4, 500 * 15_000, 200);
    h.mmap_chunks().unwrap();
    assert_eq!(chunk_files(dir.path()), vec!["000001", "000002"]);
    drop(h);
    let (h, stats) = open(dir.path());
    assert_eq!(dump(&h).len(), 4 * 700);
    assert_eq!(stats.mmapped_chunks, 4 * 5);
}

#[test]
fn damage_in_a_chunk_file_costs_no_sample() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let (h, _) = open(dir.path());
        ingest(&h, 2, 0, 600);
        h.sync_wal().unwrap();
        dump(&h)
    };
    let path = dir.path().join("chunks_head/000001");
    let mut b = fs::read(&path).unwrap();
    let len = b.len();
    b[len / 2] ^= 0x55;
    fs::write(&path, &b).unwrap();
    let (h, stats) = open(dir.path());
    let opened = h.mmap_stats().unwrap().opened;
    assert_eq!(opened.corruptions, 1, "{opened:?}");
    assert!(opened.first_corruption.unwrap().contains("checksum mismatch"));
    assert!(stats.mmapped_chunks < 8, "chunks from the damage on are dropped: {stats:?}");
    assert!(fs::metadata(&path).unwrap().len() < len as u64, "the file is cut at the damage");
    assert_eq!(dump(&h), before);
}

#[test]
fn stray_and_misnumbered_files_cost_no_sample() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let (h, _) = open(dir.path());
        ingest(&h, 2, 0, 300);
        h.sync_wal().unwrap();
        dump(&h)
    };
    // A hole in the numbering, then garbage: both are dropped, the intact first file is kept.
    fs::write(dir.path().join("chunks_head/000003"), b"not a chunk file at all").unwrap();
    let (h, stats) = open(dir.path());
    assert_eq!(h.mmap_stats().unwrap().opened.corruptions, 1);
    assert_eq!(stats.mmapped_chunks, 4);
    assert_eq!(dump(&h), before);
    assert!(!dir.path().join("chunks_head/000003").exists());
    drop(h);
    // An empty last file (created, never written before a crash) is removed silently.
    fs::write(dir.path().join("chunks_head/000002"), b"").unwrap();
    let (h, _) = open(dir.path());
    assert_eq!(h.mmap_stats().unwrap().opened.corruptions, 0);
    assert_eq!(dump(&h), before);
    drop(h);
    // A file with a wrong magic number is damage: it goes, the WAL restores its samples.
    fs::write(dir.path().join("chunks_head/000001"), [0xde, 0xad, 0xbe, 0xef, 1, 0, 0, 0]).unwrap();
    let (h, stats) = open(dir.path());
    assert_eq!(h.mmap_stats().unwrap().opened.corruptions, 1);
    assert_eq!(stats.mmapped_chunks, 0);
    assert_eq!(dump(&h), before);
}

#[test]
fn truncation_deletes_files_from_the_oldest_up() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = open(dir.path());
    // Three files: chunks written, then truncations cut a new file each time.
    ingest(&h, 2, 0, 250);
    h.mmap_chunks().unwrap();
    h.truncate(0);
    ingest(&h, 2, 250 * 15_000, 250);
    h.mmap_chunks().unwrap();
    h.truncate(0);
    ingest(&h, 2, 500 * 15_000, 250);
    h.mmap_chunks().unwrap();
    assert_eq!(chunk_files(dir.path()), vec!["000001", "000002", "000003"]);
    // Dropping everything before sample 300 frees the first file only.
    h.truncate(300 * 15_000);
    assert_eq!(chunk_files(dir.path()), vec!["000002", "000003"]);
    h.sync_wal().unwrap();
    let before = dump(&h);
    drop(h);
    let (h, stats) =
        Head::open_from(dir.path(), HeadOptions::default(), opts(), 300 * 15_000).unwrap();
    assert_eq!(dump(&h), before);
    assert!(stats.mmapped_chunks > 0);
}

#[test]
fn deletions_survive_a_restart_over_mapped_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let m = Matcher::new(MatchType::Equal, "s", "1").unwrap();
    let before = {
        let (h, _) = open(dir.path());
        ingest(&h, 2, 0, 400);
        h.mmap_chunks().unwrap();
        assert_eq!(h.delete(100 * 15_000, 199 * 15_000, std::slice::from_ref(&m)).unwrap(), 1);
        ingest(&h, 2, 400 * 15_000, 300);
        h.sync_wal().unwrap();
        dump(&h)
    };
    assert_eq!(before.len(), 2 * 700 - 100);
    let (h, stats) = open(dir.path());
    assert!(stats.mmapped_chunks >= 10, "{stats:?}");
    assert_eq!(dump(&h), before);
}

#[test]
fn series_references_in_the_files_are_not_handed_out_again() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (h, _) = open(dir.path());
        ingest(&h, 3, 0, 130);
        h.sync_wal().unwrap();
    }
    // The WAL loses its series records (a checkpoint dropped the series), the chunk files keep them.
    fs::remove_dir_all(dir.path().join("wal")).unwrap();
    fs::create_dir(dir.path().join("wal")).unwrap();
    let (h, stats) = open(dir.path());
    assert_eq!((stats.series, stats.mmapped_chunks), (0, 0));
    ingest(&h, 1, 0, 1);
    let refs: Vec<u64> = h.inner.by_ref.all().iter().map(|s| s.reference).collect();
    assert_eq!(refs.len(), 1);
    assert!(refs[0] > 3, "a fresh reference, not one of the files' {refs:?}");
}

/// Debian's Prometheus 2.42 `promtool tsdb dump` reads our head chunk files: with a WAL that holds only the
/// series records, every sample it prints can only have come from `chunks_head/`.
#[test]
fn promtool_2_42_reads_our_head_chunk_files() {
    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        crate::test_peers::missing_peer("/usr/bin/promtool (apt-get install prometheus)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let series: Vec<crate::wal::RefSeries> = {
        let (h, _) = open(dir.path());
        ingest(&h, 3, 1_700_000_000_000, 500);
        h.sync_wal().unwrap();
        h.inner
            .by_ref
            .all()
            .iter()
            .map(|s| crate::wal::RefSeries { series_ref: s.reference, labels: s.labels.clone() })
            .collect()
    };
    fs::remove_dir_all(dir.path().join("wal")).unwrap();
    let (mut wal, _) = crate::wal::Wal::open(dir.path().join("wal"), opts()).unwrap();
    wal.log(&[crate::wal::RecordRef::Series(&series)]).unwrap();
    wal.close().unwrap();

    let out = std::process::Command::new(promtool)
        .args(["tsdb", "dump"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<String> =
        String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect();
    // The four closed chunks of each series (480 samples); the open chunk was only in the WAL.
    let want: Vec<String> = (0..3)
        .flat_map(|s| {
            (0..480i64).map(move |k| {
                let v = k as f64 * 1.5 + s as f64;
                format!("{{__name__=\"m\", s=\"{s}\"}} {v} {}", 1_700_000_000_000 + k * 15_000)
            })
        })
        .collect();
    assert_eq!(theirs.len(), want.len());
    assert_eq!(theirs, want);
    let (h, stats) = open(dir.path());
    assert_eq!((stats.mmapped_chunks, stats.samples), (12, 0));
    assert_eq!(dump(&h).len(), 3 * 480);
}

#[test]
fn a_series_ending_in_a_mapped_chunk_keeps_its_newest_value_for_duplicate_checks() {
    use super::chunks_head::{ChunkBytes, ENCODING_XOR, LoadedChunk};
    use crate::chunkenc::XorAppender;
    let loaded = |series_ref, from: i64| {
        let mut a = XorAppender::new();
        for k in 0..120 {
            a.append(from + k * 1000, (from + k) as f64 * 0.5);
        }
        LoadedChunk {
            series_ref,
            min_t: from,
            max_t: from + 119_000,
            encoding: ENCODING_XOR,
            out_of_order: false,
            bytes: ChunkBytes::heap(a.bytes()),
        }
    };
    let s = series::Series::new(Labels::from_pairs([("__name__", "m")]), 7);
    assert_eq!(
        s.attach_mapped(vec![loaded(7, 0), loaded(7, 120_000)], i64::MIN),
        Some((2, 0, 239_000))
    );
    // The newest sample is settled at the end of the replay, from the newest chunk if nothing newer came.
    assert_eq!(s.last(), None);
    s.settle_mapped();
    assert_eq!(s.last(), Some((239_000, ((120_000 + 119) as f64 * 0.5).to_bits())));
    // A chunk without samples, or overlapping the one before, is not taken.
    let mut empty = loaded(8, 0);
    empty.bytes = ChunkBytes::heap(XorAppender::new().bytes());
    let s = series::Series::new(Labels::from_pairs([("__name__", "e")]), 8);
    assert_eq!(s.attach_mapped(vec![empty], i64::MIN), None);
    assert_eq!(s.attach_mapped(vec![loaded(8, 0), loaded(8, 100_000)], i64::MIN), None);
    assert_eq!(s.last(), None);
}

/// A series whose float samples alternate with histogram samples: after its float chunks went to
/// `chunks_head/`, a restart still has the histogram samples that lie between their floats, and the append
/// rules still compare against the newest sample.
#[test]
fn histogram_samples_between_mapped_floats_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let labels = Labels::from_pairs([("__name__", "mixed")]);
    let hist = |k: i64| {
        Value::Histogram(std::sync::Arc::new(model::Histogram {
            count: k as u64,
            sum: k as f64,
            zero_count: k as u64,
            zero_threshold: 1e-128,
            ..model::Histogram::default()
        }))
    };
    let kinds = |h: &Head| {
        let q = h.querier(i64::MIN, i64::MAX).unwrap();
        let m = Matcher::new(MatchType::Equal, "__name__", "mixed").unwrap();
        let mut set = q.select(true, None, &[m]);
        let s = set.next().unwrap();
        let mut c = s.cursor();
        let mut out = Vec::new();
        loop {
            match c.next() {
                ValueKind::None => break,
                ValueKind::Float => out.push(format!("f{}", c.at().0)),
                _ => out.push(format!("h{}", c.at_histogram().0)),
            }
        }
        out
    };
    let before = {
        let (h, _) = open(dir.path());
        for k in 0..400i64 {
            let v = if (k / 30) % 2 == 0 { Value::Float(k as f64) } else { hist(k) };
            let mut app = h.appender();
            app.append(0, &labels, 0, k * 1000, v, &AppendOptions::default()).unwrap();
            app.commit().unwrap();
        }
        h.sync_wal().unwrap();
        assert!(mapped_chunks(&h) > 0);
        kinds(&h)
    };
    let (h, stats) = open(dir.path());
    assert!(stats.mmapped_chunks > 0);
    assert_eq!(kinds(&h), before);
    let mut app = h.appender();
    let r = app.append(0, &labels, 0, 399_000, Value::Float(1.0), &AppendOptions::default());
    assert!(r.is_err(), "the newest sample is still the reference: {r:?}");
}
