//! Block tests: the Prometheus 2.42 golden block read and reproduced byte for byte, unit checks of each file
//! format, round trips, corruption and interoperability with the real `promtool`.

mod corruption;
mod histograms;
mod promtool;
mod roundtrip;

use std::fs;
use std::path::{Path, PathBuf};

use model::Labels;

use super::*;

/// The golden fixtures, or `None` (with a notice) when `shared/` is not beside the repository.
fn golden_block_root() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tsdb/golden/block");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("notice: skipping: ../shared/tsdb/golden/block is absent");
        None
    }
}

const GOLDEN_ULID: &str = "01M8812ZMGPXCKKXXPMKXJMWAY";

/// Parses the OpenMetrics text the golden block was made from: `name{a="b",…} value seconds` lines.
fn parse_openmetrics(text: &str) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, rest) = line.rsplit_once('}').expect("series with labels");
        let (name, labels) = series.split_once('{').expect("label set");
        let mut pairs = vec![("__name__".to_string(), name.to_string())];
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let (n, v) = pair.split_once('=').expect("label pair");
            pairs.push((n.to_string(), v.trim_matches('"').to_string()));
        }
        let mut fields = rest.split_whitespace();
        let value: f64 = fields.next().expect("value").parse().expect("float value");
        let seconds: f64 = fields.next().expect("timestamp").parse().expect("timestamp");
        let labels = Labels::from_pairs(pairs);
        let t = (seconds * 1000.0).round() as i64;
        match out.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, s)) => s.push((t, value)),
            None => out.push((labels, vec![(t, value)])),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn golden_input(root: &Path) -> Vec<(Labels, Vec<(i64, f64)>)> {
    parse_openmetrics(&fs::read_to_string(root.join("input.om.txt")).expect("read input.om.txt"))
}

/// Copies a block directory into `dst` as writable files.
fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).expect("create copy");
    for e in fs::read_dir(src).expect("read dir") {
        let e = e.expect("dir entry");
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            fs::write(&to, fs::read(e.path()).expect("read file")).expect("write copy");
        }
    }
}

fn bits(series: &[(Labels, Vec<(i64, f64)>)]) -> Vec<(String, Vec<(i64, u64)>)> {
    series
        .iter()
        .map(|(l, s)| (l.to_string(), s.iter().map(|(t, v)| (*t, v.to_bits())).collect()))
        .collect()
}

#[test]
fn golden_block_reads_as_its_input() {
    let Some(root) = golden_block_root() else { return };
    let block = Block::open(&root.join(GOLDEN_ULID)).expect("open golden block");
    let meta = block.meta();
    assert_eq!(meta.ulid.to_string(), GOLDEN_ULID);
    assert_eq!((meta.min_time, meta.max_time), (1_700_000_000_000, 1_700_000_030_001));
    assert_eq!(
        meta.stats,
        BlockStats { num_samples: 6, num_series: 2, num_chunks: 2, num_tombstones: 0 }
    );
    assert_eq!(meta.compaction.level, 1);
    assert_eq!(meta.compaction.sources, vec![meta.ulid]);
    assert_eq!(block.size(), 808, "promtool tsdb list prints SIZE 808");

    let input = golden_input(&root);
    assert_eq!(bits(&block.read_all().expect("read golden block")), bits(&input));

    let ix = block.index();
    let symbols: Vec<&str> = ix.symbols().collect::<Result<_, _>>().expect("symbols");
    assert_eq!(
        symbols,
        ["", "200", "500", "__name__", "api", "code", "http_requests_total", "job"]
    );
    assert_eq!(ix.label_names(), ["__name__", "code", "job"]);
    assert_eq!(ix.label_values("code"), ["200", "500"]);
    assert_eq!(ix.all_postings().expect("all postings"), [5, 7]);
    assert_eq!(ix.postings("code", "500").expect("postings"), [7]);
    assert_eq!(ix.postings("code", "404").expect("postings"), Vec::<u32>::new());
    let s = ix.series(5).expect("series 5");
    assert_eq!(
        s.chunks,
        [ChunkMeta { min_time: 1_700_000_000_000, max_time: 1_700_000_030_000, chunk_ref: 8 }]
    );
    assert!(block.tombstones().is_empty());
}

#[test]
fn golden_block_is_reproduced_byte_for_byte() {
    let Some(root) = golden_block_root() else { return };
    let golden = root.join(GOLDEN_ULID);
    let tmp = tempfile::tempdir().expect("tempdir");
    let ulid = write_block_from_samples(tmp.path(), golden_input(&root)).expect("write block");
    let ours = tmp.path().join(ulid.to_string());
    for file in ["index", "chunks/000001", "tombstones"] {
        let want = fs::read(golden.join(file)).expect("read golden file");
        let got = fs::read(ours.join(file)).expect("read our file");
        assert!(
            got == want,
            "{file} differs from the golden block:\n got {got:02x?}\nwant {want:02x?}"
        );
    }
    // meta.json is identical apart from the ULID (in `ulid` and `sources`).
    let want = fs::read_to_string(golden.join("meta.json")).expect("read golden meta");
    let got = fs::read_to_string(ours.join("meta.json")).expect("read our meta");
    assert_eq!(got.replace(&ulid.to_string(), GOLDEN_ULID), want);
    let entries: Vec<String> = fs::read_dir(tmp.path())
        .expect("read parent")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, [ulid.to_string()], "no temporary directory or spool left behind");
    let mut files: Vec<String> = fs::read_dir(&ours)
        .expect("read block")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["chunks", "index", "meta.json", "tombstones"]);
}

#[test]
fn meta_json_matches_go_marshal_indent() {
    let a = Ulid::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("ulid");
    let b = Ulid::parse("01BX5ZZKBKACTAV9WEVGEMMVRZ").expect("ulid");
    let mut meta =
        BlockMeta::new_level1(a, -5, 10, BlockStats { num_tombstones: 3, ..Default::default() });
    meta.compaction.level = 2;
    meta.compaction.sources = vec![a, b];
    meta.compaction.parents = vec![BlockDesc { ulid: b, min_time: 0, max_time: 5 }];
    meta.compaction.hints = vec!["from-out-of-order".to_string()];
    let want = "{\n\t\"ulid\": \"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\n\t\"minTime\": -5,\n\t\"maxTime\": 10,\n\
        \t\"stats\": {\n\t\t\"numTombstones\": 3\n\t},\n\t\"compaction\": {\n\t\t\"level\": 2,\n\
        \t\t\"sources\": [\n\t\t\t\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\n\t\t\t\"01BX5ZZKBKACTAV9WEVGEMMVRZ\"\n\t\t],\n\
        \t\t\"parents\": [\n\t\t\t{\n\t\t\t\t\"ulid\": \"01BX5ZZKBKACTAV9WEVGEMMVRZ\",\n\t\t\t\t\"minTime\": 0,\n\
        \t\t\t\t\"maxTime\": 5\n\t\t\t}\n\t\t],\n\t\t\"hints\": [\n\t\t\t\"from-out-of-order\"\n\t\t]\n\t},\n\
        \t\"version\": 1\n}";
    assert_eq!(String::from_utf8(meta.to_json()).expect("utf-8"), want);
    let path = Path::new("meta.json");
    assert_eq!(BlockMeta::from_json(path, want.as_bytes()).expect("parse"), meta);

    // Empty stats are kept as an empty object, as Go never omits a struct.
    let empty = BlockMeta::new_level1(a, 0, 1, BlockStats::default());
    assert!(String::from_utf8(empty.to_json()).expect("utf-8").contains("\"stats\": {},"));

    let v2 = want.replace("\"version\": 1", "\"version\": 2");
    let err = BlockMeta::from_json(path, v2.as_bytes()).expect_err("version 2 is refused");
    assert!(err.to_string().contains("unexpected meta file version 2"), "{err}");
    let err = BlockMeta::from_json(path, b"{\"ulid\": \"nope\"").expect_err("garbage is refused");
    assert!(matches!(err, crate::Error::BlockCorruption { .. }), "{err}");
}

#[test]
fn ulids_format_parse_and_order() {
    let check = |s: &str, ms: u64| {
        let u = Ulid::parse(s).expect("valid ULID");
        assert_eq!(u.to_string(), s);
        assert_eq!(u.timestamp_ms(), ms);
    };
    check("00000000000000000000000000", 0);
    check("7ZZZZZZZZZZZZZZZZZZZZZZZZZ", (1 << 48) - 1);
    check(GOLDEN_ULID, Ulid::parse(GOLDEN_ULID).expect("golden").timestamp_ms());
    assert_eq!(
        Ulid::parse("01m8812zmgpxckkxxpmkxjmway").map(|u| u.to_string()).as_deref(),
        Some(GOLDEN_ULID)
    );
    for bad in [
        "",
        "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        "01M8812ZMGPXCKKXXPMKXJMWA",
        "01M8812ZMGPXCKKXXPMKXJMWAU",
        "01M8812ZMGPXCKKXXPMKXJMWAY0",
    ] {
        assert_eq!(Ulid::parse(bad), None, "{bad:?}");
    }
    let (a, b) = (Ulid::new(), Ulid::new());
    assert_ne!(a, b);
    assert_eq!(a.to_string().len(), 26);
    let later = Ulid::from_parts(a.timestamp_ms() + 1, 0);
    assert!(later > a && later.to_string() > a.to_string());
}

#[test]
fn tombstones_round_trip_and_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = Tombstones::new();
    assert_eq!(empty.encode(), [0x01, 0x30, 0xba, 0x30, 0x01, 0, 0, 0, 0]);
    assert_eq!(Tombstones::read(dir.path()).expect("missing file"), empty);

    let mut t = Tombstones::new();
    t.add(7, Interval { mint: 10, maxt: 20 });
    t.add(7, Interval { mint: 21, maxt: 30 });
    t.add(7, Interval { mint: 50, maxt: 60 });
    t.add(3, Interval { mint: -100, maxt: i64::MAX });
    t.add(7, Interval { mint: 55, maxt: 70 });
    assert_eq!(t.get(7), [Interval { mint: 10, maxt: 30 }, Interval { mint: 50, maxt: 70 }]);
    assert_eq!(t.num_intervals(), 3);
    assert_eq!(t.write(dir.path()).expect("write"), t.encode().len() as u64);
    assert_eq!(Tombstones::read(dir.path()).expect("read"), t);

    let path = dir.path().join(TOMBSTONES_FILENAME);
    let good = t.encode();
    for cut in 0..good.len() {
        assert!(Tombstones::decode(&path, &good[..cut]).is_err(), "truncated to {cut}");
    }
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        assert!(Tombstones::decode(&path, &bad).is_err(), "flipped byte {i}");
    }
}

#[test]
fn chunk_segments_are_cut_at_the_size_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = ChunkWriter::with_segment_size(dir.path(), 64).expect("writer");
    let datas: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 20 + usize::from(i)]).collect();
    let refs: Vec<ChunkRef> =
        datas.iter().map(|d| w.write_chunk(ChunkEncoding::Xor, d).expect("write chunk")).collect();
    w.close().expect("close");
    // 8-byte header + one 20–25 byte chunk (+ 5-byte length allowance, encoding, CRC) fills a 64-byte segment.
    assert_eq!(refs.iter().map(|r| r >> 32).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]);
    assert!(refs.iter().all(|r| r & 0xffff_ffff == 8));
    let r = ChunkReader::open(dir.path()).expect("open");
    assert_eq!(r.num_segments(), 6);
    for (d, cref) in datas.iter().zip(&refs) {
        let c = r.chunk_verified(*cref).expect("read chunk");
        assert_eq!((c.encoding, c.data), (ChunkEncoding::Xor as u8, d.as_slice()));
    }
    assert!(r.chunk(6 << 32 | 8).is_err(), "segment out of range");
    assert!(r.chunk(4).is_err(), "offset inside the header");
    assert!(r.chunk(1000).is_err(), "offset past the end");

    let big = tempfile::tempdir().expect("tempdir");
    let mut w = ChunkWriter::new(big.path()).expect("writer");
    let a = w.write_chunk(ChunkEncoding::Xor, &[1, 2, 3]).expect("write");
    let b = w.write_chunk(ChunkEncoding::Xor, &[4]).expect("write");
    w.close().expect("close");
    assert_eq!((a, b), (8, 8 + 1 + 1 + 3 + 4));
}

#[test]
fn xor_chunks_are_cut_like_prometheus_head() {
    let sizes = |samples: &[(i64, f64)]| -> Vec<u64> {
        cut_xor_chunks(samples, DEFAULT_BLOCK_DURATION).iter().map(Chunk::num_samples).collect()
    };
    // 15s scrapes over 2h: four chunks of 120.
    let s: Vec<(i64, f64)> = (0..480).map(|i| (i * 15_000, i as f64)).collect();
    assert_eq!(sizes(&s), [120, 120, 120, 120]);
    // A chunk never crosses the 2h range boundary.
    let s: Vec<(i64, f64)> = (0..10).map(|i| (DEFAULT_BLOCK_DURATION - 5 + i, 0.0)).collect();
    assert_eq!(sizes(&s), [5, 5]);
    // The rate jumps after the prediction: cut at 240 samples.
    let mut s: Vec<(i64, f64)> = (0..31).map(|i| (i * 60_000, 0.0)).collect();
    s.extend((1..=400).map(|i| (30 * 60_000 + i, 1.0)));
    assert_eq!(sizes(&s).first(), Some(&240));
    // Duplicate and out-of-order timestamps are dropped; chunk bounds are the first and last sample.
    let chunks = cut_xor_chunks(&[(5, 1.0), (5, 2.0), (3, 0.0), (9, 3.0)], DEFAULT_BLOCK_DURATION);
    assert_eq!(chunks.len(), 1);
    assert_eq!((chunks[0].min_time, chunks[0].max_time, chunks[0].num_samples()), (5, 9, 2));
}

#[test]
fn writers_refuse_misuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Labels::from_pairs([("a", "1")]);
    let b = Labels::from_pairs([("a", "2")]);
    let mut iw = IndexWriter::new(&dir.path().join("index"), ["1", "a"]).expect("index writer");
    iw.add_series(&b, &[]).expect_err("symbol 2 is missing");
    iw.add_series(&a, &[]).expect("first series");
    iw.add_series(&a, &[]).expect_err("duplicate series");
    assert!(IndexWriter::new(&dir.path().join("index2"), ["b", "a"]).is_err(), "unsorted symbols");

    let mut w = BlockWriter::new(dir.path(), 0, 100).expect("block writer");
    let chunk = |min_time, max_time| Chunk {
        encoding: ChunkEncoding::Xor,
        min_time,
        max_time,
        data: vec![0, 0],
    };
    w.add_series(&b, &[chunk(0, 10)]).expect("first series");
    assert!(w.add_series(&a, &[chunk(0, 10)]).is_err(), "out of order");
    let c = Labels::from_pairs([("a", "3")]);
    assert!(w.add_series(&c, &[chunk(0, 100)]).is_err(), "chunk past maxt");
    let d = Labels::from_pairs([("a", "4")]);
    assert!(w.add_series(&d, &[chunk(0, 10), chunk(10, 20)]).is_err(), "overlapping chunks");
    let tmp = dir.path().join(format!("{}{TMP_FOR_CREATION_SUFFIX}", w.ulid()));
    assert!(tmp.is_dir());
    drop(w);
    assert!(!tmp.exists(), "an abandoned writer removes its directory");
    assert!(BlockWriter::new(dir.path(), 5, 5).is_err(), "empty range");
    assert!(write_block_from_samples(dir.path(), Vec::new()).is_err(), "no samples");
}
