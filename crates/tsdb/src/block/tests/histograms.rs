//! Native histogram chunks in blocks: written with [`write_block_from_series`], read back through the querier,
//! damaged chunks reported as corruption, and read by the real Prometheus 2.42 (Debian's `/usr/bin/prometheus`
//! with native histograms enabled), whose HTTP API must give the counts, sums and buckets we wrote.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::{
    BucketSpan, CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Histogram, Labels,
    MatchType, Matcher, Value,
};
use storage::{Queryable, ValueKind};

use super::super::*;

const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 15_000;

fn spans(pairs: &[(i32, u32)]) -> Vec<BucketSpan> {
    pairs.iter().map(|&(offset, length)| BucketSpan { offset, length }).collect()
}

/// A counter histogram that gains a bucket at sample 50 and resets at sample 120.
fn counter(i: i64) -> Histogram {
    let k = if i >= 120 { i - 120 } else { i };
    let (pos_spans, pos) = if (50..120).contains(&i) {
        (spans(&[(-1, 2), (2, 2)]), vec![k, 1, 2 * k, 5])
    } else {
        (spans(&[(-1, 2), (2, 1)]), vec![k, 1, 2 * k])
    };
    let neg = vec![3 * k];
    let zero = k as u64 / 2;
    let abs: Vec<i64> = pos.iter().chain(&neg).copied().collect();
    let deltas = |v: &[i64]| {
        let mut prev = 0;
        v.iter()
            .map(|c| {
                let d = c - prev;
                prev = *c;
                d
            })
            .collect::<Vec<i64>>()
    };
    Histogram {
        counter_reset_hint: CounterResetHint::Unknown,
        schema: 0,
        zero_threshold: 2f64.powi(-128),
        zero_count: zero,
        count: zero + abs.iter().sum::<i64>() as u64,
        sum: k as f64 * 3.25,
        positive_spans: pos_spans,
        negative_spans: spans(&[(0, 1)]),
        positive_buckets: deltas(&pos),
        negative_buckets: deltas(&neg),
        custom_values: Vec::new(),
    }
}

fn gauge(i: i64) -> FloatHistogram {
    let c = ((i * 37) % 11) as f64 + 0.5;
    FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        schema: 3,
        zero_threshold: 0.001,
        zero_count: 1.0,
        count: 1.0 + 3.0 * c,
        sum: -2.5 * c,
        positive_spans: spans(&[(4, 2)]),
        negative_spans: spans(&[(1, 1)]),
        positive_buckets: vec![c, c],
        negative_buckets: vec![c],
        custom_values: Vec::new(),
    }
}

fn nhcb(i: i64) -> Histogram {
    Histogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: 3 * i as u64,
        sum: i as f64,
        positive_spans: spans(&[(0, 3)]),
        positive_buckets: vec![i, 0, 0],
        custom_values: vec![0.25, 1.0],
        ..Histogram::default()
    }
}

fn series() -> Vec<ValueSeries> {
    let l = |name: &str| Labels::from_pairs([("__name__", name.to_string())]);
    let hv = |h: Histogram| Value::Histogram(Arc::new(h));
    vec![
        (l("hist_counter"), (0..400).map(|i| (T0 + i * STEP, hv(counter(i)))).collect()),
        (
            l("hist_gauge"),
            (0..300).map(|i| (T0 + i * STEP, Value::FloatHistogram(Arc::new(gauge(i))))).collect(),
        ),
        (
            l("mixed"),
            (0..90)
                .map(|i| {
                    let v =
                        if (30..60).contains(&i) { hv(counter(i)) } else { Value::Float(i as f64) };
                    (T0 + i * STEP, v)
                })
                .collect(),
        ),
        (l("nhcb"), (0..30).map(|i| (T0 + i * STEP, hv(nhcb(i)))).collect()),
    ]
}

/// Count, sum and non-empty buckets `(lower, upper, count)`: what a reader must agree on, whatever the spans.
type Essence = (f64, f64, Vec<(f64, f64, f64)>);

fn essence(v: &Value) -> Essence {
    let f = match v {
        Value::Histogram(h) => h.to_float(),
        Value::FloatHistogram(h) => (**h).clone(),
        Value::Float(x) => return (*x, 0.0, Vec::new()),
    };
    let buckets = f
        .all_buckets()
        .into_iter()
        .filter(|b| b.count != 0.0)
        .map(|b| (b.lower, b.upper, b.count))
        .collect();
    (f.count, f.sum, buckets)
}

fn read_back(block: &Block, name: &str) -> Vec<(i64, Value)> {
    let q = block.querier(i64::MIN, i64::MAX).expect("querier");
    let m = Matcher::new(MatchType::Equal, "__name__", name).expect("matcher");
    let mut set = q.select(true, None, &[m]);
    let s = set.next().expect("series");
    let mut c = s.cursor();
    let mut out = Vec::new();
    loop {
        match c.next() {
            ValueKind::Float => {
                let (t, v) = c.at();
                out.push((t, Value::Float(v)));
            }
            ValueKind::Histogram => {
                let (t, h) = c.at_histogram();
                out.push((t, Value::Histogram(h)));
            }
            ValueKind::FloatHistogram => {
                let (t, h) = c.at_float_histogram();
                out.push((t, Value::FloatHistogram(h)));
            }
            ValueKind::None => break,
        }
    }
    assert!(c.err().is_none(), "{:?}", c.err());
    out
}

#[test]
fn histogram_series_round_trip_through_a_block() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = series();
    let ulid = write_block_from_series(tmp.path(), input.clone()).expect("write block");
    let block = Block::open(&tmp.path().join(ulid.to_string())).expect("open block");
    let total: usize = input.iter().map(|(_, s)| s.len()).sum();
    assert_eq!(block.meta().stats.num_samples, total as u64);
    for (labels, samples) in &input {
        let name = labels.get("__name__").to_string();
        let got = read_back(&block, &name);
        assert_eq!(got.len(), samples.len(), "{name}");
        for ((t, v), (gt, gv)) in samples.iter().zip(&got) {
            assert_eq!(t, gt, "{name}");
            assert_eq!(std::mem::discriminant(v), std::mem::discriminant(gv), "{name} at {t}");
            assert_eq!(essence(v), essence(gv), "{name} at {t}");
        }
        // Hints as Prometheus's chunks give them.
        let hints: Vec<CounterResetHint> = got
            .iter()
            .filter_map(|(_, v)| match v {
                Value::Histogram(h) => Some(h.counter_reset_hint),
                Value::FloatHistogram(h) => Some(h.counter_reset_hint),
                Value::Float(_) => None,
            })
            .collect();
        if name == "hist_gauge" {
            assert!(hints.iter().all(|h| *h == CounterResetHint::Gauge));
        }
        if name == "hist_counter" {
            assert_eq!(hints[0], CounterResetHint::Unknown);
            assert_eq!(hints[1], CounterResetHint::NotCounterReset);
            // The reset at sample 120 starts a chunk, whose first sample reads as unknown.
            assert_eq!(hints[120], CounterResetHint::Unknown);
        }
        if name == "nhcb" {
            let Value::Histogram(h) = &got[5].1 else { panic!("histogram") };
            assert_eq!(h.custom_values, vec![0.25, 1.0]);
        }
    }
    // The counter series' chunks: one per reset or size cut, each at least 10 samples, the first cut after the
    // bucket change recoded rather than split.
    let ix = block.index();
    let r = ix.postings("__name__", "hist_counter").expect("postings")[0];
    let chunks = ix.series(r).expect("series").chunks;
    assert!(chunks.len() >= 2, "{chunks:?}");
    for c in &chunks {
        let raw = block.chunks().chunk_verified(c.chunk_ref).expect("chunk");
        assert_eq!(raw.encoding, ChunkEncoding::Histogram as u8);
        assert!(raw.data.len() <= 2 * crate::chunkenc::TARGET_BYTES_PER_HISTOGRAM_CHUNK + 200);
    }
}

#[test]
fn histogram_chunk_cutting_follows_prometheus_size_rules() {
    let samples: Vec<(i64, Histogram)> =
        (0..2000).map(|i| (T0 + i * STEP, counter(i % 100))).collect();
    let chunks = cut_histogram_chunks(&samples, DEFAULT_BLOCK_DURATION).expect("cut");
    for w in chunks.windows(2) {
        assert!(w[0].max_time < w[1].min_time);
    }
    for c in &chunks {
        assert!(c.data.len() < 2 * crate::chunkenc::TARGET_BYTES_PER_HISTOGRAM_CHUNK + 100);
        // Resets every 100 samples; otherwise at least 10 samples per chunk.
        assert!(c.num_samples() >= 10 || c.max_time - c.min_time < 10 * STEP, "{c:?}");
    }
    let n: u64 = chunks.iter().map(Chunk::num_samples).sum();
    assert_eq!(n, 2000);
    // No chunk crosses a 2h boundary.
    for c in &chunks {
        assert_eq!(c.min_time / DEFAULT_BLOCK_DURATION, c.max_time / DEFAULT_BLOCK_DURATION);
    }
}

#[test]
fn damaged_histogram_chunks_are_reported_as_corruption() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ulid = write_block_from_series(tmp.path(), series()).expect("write block");
    let dir = tmp.path().join(ulid.to_string());
    let block = Block::open(&dir).expect("open");
    let ix = block.index();
    let r = ix.postings("__name__", "hist_gauge").expect("postings")[0];
    let c = ix.series(r).expect("series").chunks[0];
    drop(block);
    // Rewrite the chunk's sample count upwards and fix its CRC: the data runs out.
    let seg = dir.join("chunks/000001");
    let mut bytes = std::fs::read(&seg).expect("read segment");
    let off = (c.chunk_ref & 0xffff_ffff) as usize;
    let mut len = 0usize;
    let mut shift = 0;
    let mut p = off;
    loop {
        let b = bytes[p];
        len |= usize::from(b & 0x7f) << shift;
        p += 1;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    bytes[p + 1] = 0xff;
    let crc = crc32c::crc32c(&bytes[p..p + 1 + len]);
    bytes[p + 1 + len..p + 5 + len].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&seg, &bytes).expect("write segment");
    let block = Block::open(&dir).expect("open");
    let q = block.querier(i64::MIN, i64::MAX).expect("querier");
    let m = Matcher::new(MatchType::Equal, "__name__", "hist_gauge").expect("matcher");
    let mut set = q.select(true, None, &[m]);
    let mut cur = set.next().expect("series").cursor();
    while cur.next() != ValueKind::None {}
    let err = cur.err().expect("corruption reported").to_string();
    assert!(err.contains("float histogram"), "{err}");
}

fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    Some((status, body))
}

/// Kills the Prometheus we started when the test ends, pass or fail.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// Prometheus 2.42 opens our block and its query API returns the histograms we wrote (integer counter, float
/// gauge, and histograms after floats in one series). NHCB is left out: 2.42 predates schema -53.
#[test]
fn prometheus_2_42_reads_our_histogram_chunks() {
    let prom = std::path::Path::new("/usr/bin/prometheus");
    if !prom.exists() {
        crate::test_peers::missing_peer("/usr/bin/prometheus (Debian's 2.42)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let input: Vec<ValueSeries> =
        series().into_iter().filter(|(l, _)| l.get("__name__") != "nhcb").collect();
    write_block_from_series(&data, input.clone()).expect("write block");
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(tmp.path().join("prometheus.log")).expect("log");
    let child = Command::new(prom)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--enable-feature=native-histograms")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn();
    let _child = match child {
        Ok(c) => Child(c),
        Err(e) => {
            crate::test_peers::missing_peer(&format!("a runnable prometheus ({e})"));
            return;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(&addr, "/-/ready").map(|r| r.0) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "prometheus not ready: {}",
            std::fs::read_to_string(tmp.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut checked = 0;
    for (labels, samples) in &input {
        let name = labels.get("__name__");
        for (t, v) in samples.iter().step_by(7) {
            let path = format!("/api/v1/query?query={name}&time={}.{:03}", t / 1000, t % 1000);
            let (status, body) = http_get(&addr, &path).expect("query");
            assert_eq!(status, 200, "{body}");
            let json: serde_json::Value = serde_json::from_str(&body).expect("json");
            let result = &json["data"]["result"][0];
            let (want_count, want_sum, want_buckets) = essence(v);
            if let Value::Float(x) = v {
                assert_eq!(num(&result["value"][1]), *x, "{name} at {t}: {body}");
                continue;
            }
            let h = &result["histogram"][1];
            assert!(close(num(&h["count"]), want_count), "{name} at {t}: {body}");
            assert!(close(num(&h["sum"]), want_sum), "{name} at {t}: {body}");
            let got: Vec<(f64, f64, f64)> = h["buckets"]
                .as_array()
                .map(|b| b.iter().map(|b| (num(&b[1]), num(&b[2]), num(&b[3]))).collect())
                .unwrap_or_default();
            assert_eq!(got.len(), want_buckets.len(), "{name} at {t}: {body}");
            for (g, w) in got.iter().zip(&want_buckets) {
                assert!(
                    close(g.0, w.0) && close(g.1, w.1) && close(g.2, w.2),
                    "{name} at {t}: {g:?} vs {w:?}"
                );
            }
            checked += 1;
        }
    }
    println!("checked {checked} histogram samples against Prometheus 2.42");
    assert!(checked > 80, "{checked} histogram samples checked");
}
