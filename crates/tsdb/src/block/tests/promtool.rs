//! Interoperability with the real Prometheus 2.42 `promtool` (Debian's package): it lists, analyzes and dumps a
//! block we wrote. Skipped with a notice when `promtool` is not installed (a failure under
//! `PROMETHIUM_REQUIRE_PEERS=1`).

use std::path::Path;
use std::process::Command;

use model::Labels;

use super::super::*;

fn promtool(args: &[&str], dir: &Path) -> Option<String> {
    let out = match Command::new("promtool").args(args).arg(dir).output() {
        Ok(o) => o,
        Err(e) => {
            crate::test_peers::missing_peer(&format!("a runnable promtool ({e})"));
            return None;
        }
    };
    assert!(
        out.status.success(),
        "promtool {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("promtool prints UTF-8"))
}

#[test]
fn promtool_2_42_lists_analyzes_and_dumps_our_block() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path();
    let mut series = Vec::new();
    for i in 0..300i64 {
        let labels = Labels::from_pairs([
            ("__name__", format!("metric_{}", i % 7)),
            ("instance", format!("host-{}:9100", i % 13)),
            ("series", i.to_string()),
            ("zone", if i % 3 == 0 { String::new() } else { format!("z{}", i % 3) }),
        ]);
        // Irregular intervals, 0–400 samples, values with long decimal expansions.
        let n = (i * 37) % 401;
        let samples: Vec<(i64, f64)> = (0..n)
            .map(|j| (1_700_000_000_000 + j * 15_000 + (j * i) % 7, (i * j) as f64 / 3.0 - 50.0))
            .collect();
        series.push((labels, samples));
    }
    let ulid = write_block_from_samples(data, series.clone()).expect("write block");
    let block = Block::open(&data.join(ulid.to_string())).expect("open block");
    let stats = block.meta().stats;

    let Some(list) = promtool(&["tsdb", "list"], data) else { return };
    let row = list.lines().find(|l| l.starts_with(&ulid.to_string())).expect("block listed");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], block.meta().min_time.to_string(), "{list}");
    assert_eq!(cols[2], block.meta().max_time.to_string(), "{list}");
    assert_eq!(
        cols[4..7],
        [stats.num_samples, stats.num_chunks, stats.num_series].map(|n| n.to_string()),
        "{list}"
    );

    let analyze = promtool(&["tsdb", "analyze"], data).expect("promtool ran before");
    assert!(analyze.contains(&format!("Block ID: {ulid}")), "{analyze}");
    assert!(analyze.contains(&format!("Series: {}", stats.num_series)), "{analyze}");
    assert!(analyze.contains("Label names: 4"), "{analyze}");

    std::fs::create_dir_all(data.join("wal")).expect("create wal dir");
    let dump = promtool(&["tsdb", "dump"], data).expect("promtool ran before");
    let mut got: Vec<(String, i64, u64)> = dump
        .lines()
        .map(|line| {
            let (labels, rest) = line.rsplit_once("} ").expect("labels then value and timestamp");
            let (value, ts) = rest.split_once(' ').expect("value and timestamp");
            let value: f64 = value.parse().expect("float value");
            (format!("{labels}}}"), ts.parse().expect("timestamp"), value.to_bits())
        })
        .collect();
    let mut want: Vec<(String, i64, u64)> = series
        .iter()
        .flat_map(|(l, s)| s.iter().map(move |(t, v)| (l.to_string(), *t, v.to_bits())))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got.len(), stats.num_samples as usize);
    assert!(got == want, "promtool tsdb dump differs from the samples written");
}
