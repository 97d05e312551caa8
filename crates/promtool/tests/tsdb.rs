//! `tsdb` commands on real files: the golden block Prometheus 2.42 wrote, and blocks we write compared with what
//! Debian's promtool (2.42, where installed) writes and prints for the same input.

use std::path::{Path, PathBuf};
use std::process::Command;

use promtool::tsdb::{self, AnalyzeOptions, BackfillOptions, DumpFormat, DumpOptions};

const GOLDEN: &str = "/work/shared/tsdb/golden/block";
const GOLDEN_ULID: &str = "01M8812ZMGPXCKKXXPMKXJMWAY";

fn golden() -> Option<PathBuf> {
    let p = PathBuf::from(GOLDEN);
    if p.join("input.om.txt").exists() {
        Some(p)
    } else {
        eprintln!("notice: skipping: the golden block is not at {GOLDEN}");
        None
    }
}

fn promtool() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/promtool");
    if p.exists() {
        Some(p)
    } else {
        let required = std::env::var_os("PROMETHIUM_REQUIRE_PEERS").is_some_and(|v| v == "1");
        assert!(!required, "Debian's promtool missing, and PROMETHIUM_REQUIRE_PEERS=1 requires it");
        // Straight to stderr: libtest captures `eprintln!` for passing tests.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"notice: skipping the comparison: Debian's promtool is not installed\n",
        );
        None
    }
}

fn run_promtool(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("/usr/bin/promtool").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn backfill(input: &Path, out_dir: &Path, opts: &BackfillOptions) -> Result<String, String> {
    let mut out = Vec::new();
    tsdb::create_blocks_from_openmetrics(input, out_dir, opts, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).unwrap())
}

fn list(dir: &Path, human: bool) -> String {
    let mut out = Vec::new();
    tsdb::list(dir, human, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn analyze(dir: &Path, opts: &AnalyzeOptions) -> String {
    let mut out = Vec::new();
    tsdb::analyze(dir, opts, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn dump(dir: &Path, opts: &DumpOptions) -> Result<String, String> {
    let mut out = Vec::new();
    tsdb::dump(dir, opts, &mut out).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).unwrap())
}

/// Block directories of `dir`, ordered by their meta.json's minTime.
fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("meta.json").exists())
        .map(|e| {
            let meta: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path().join("meta.json")).unwrap())
                    .unwrap();
            (meta["minTime"].as_i64().unwrap(), e.path())
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}

/// Asserts two blocks hold the same bytes: index, chunks, tombstones, and meta.json apart from the ULID.
fn assert_same_block(ours: &Path, theirs: &Path) {
    for f in ["index", "chunks/000001", "tombstones"] {
        let a = std::fs::read(ours.join(f)).unwrap();
        let b = std::fs::read(theirs.join(f)).unwrap();
        assert!(a == b, "{f} differs: {} vs {}", ours.display(), theirs.display());
    }
    let meta =
        |p: &Path| std::fs::read_to_string(p.join("meta.json")).unwrap().replace(&name(p), "ULID");
    assert_eq!(meta(ours), meta(theirs));
}

#[test]
fn golden_input_gives_the_golden_block() {
    let Some(g) = golden() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = backfill(&g.join("input.om.txt"), tmp.path(), &BackfillOptions::default()).unwrap();
    let blocks = block_dirs(tmp.path());
    assert_eq!(blocks.len(), 1);
    assert_same_block(&blocks[0], &g.join(GOLDEN_ULID));
    let ulid = name(&blocks[0]);
    assert_eq!(
        out,
        format!(
            "BLOCK ULID                  MIN TIME       MAX TIME       DURATION     NUM SAMPLES  NUM CHUNKS   NUM SERIES   SIZE\n\
             {ulid}  1700000000000  1700000030001  30.001s      6            2            2            808\n"
        )
    );
    // Nothing else is left behind.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn list_analyze_dump_of_the_golden_block() {
    let Some(g) = golden() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let block = dir.join(GOLDEN_ULID);
    std::fs::create_dir_all(block.join("chunks")).unwrap();
    for f in ["index", "chunks/000001", "tombstones", "meta.json"] {
        std::fs::copy(g.join(GOLDEN_ULID).join(f), block.join(f)).unwrap();
    }
    assert_eq!(
        list(dir, true),
        "BLOCK ULID                  MIN TIME                       MAX TIME                       DURATION     NUM SAMPLES  NUM CHUNKS   NUM SERIES   SIZE\n\
         01M8812ZMGPXCKKXXPMKXJMWAY  2023-11-14 22:13:20 +0000 UTC  2023-11-14 22:13:50 +0000 UTC  30.001s      6            2            2            808B\n"
    );
    let want = "Block ID: 01M8812ZMGPXCKKXXPMKXJMWAY
Duration: 30.001s
Total Series: 2
Label names: 3
Postings (unique label pairs): 4
Postings entries (total label pairs): 6

Label pairs most involved in churning:
0 __name__=http_requests_total
0 code=200
0 code=500
0 job=api

Label names most involved in churning:
0 __name__
0 code
0 job

Most common label pairs:
2 __name__=http_requests_total
2 job=api
1 code=200
1 code=500

Label names with highest cumulative label value length:
19 __name__
6 code
3 job

Highest cardinality labels:
2 code
1 __name__
1 job

Highest cardinality metric names:
2 http_requests_total
";
    assert_eq!(analyze(dir, &AnalyzeOptions::default()), want);
    let extended = analyze(dir, &AnalyzeOptions { extended: true, ..Default::default() });
    assert!(
        extended.ends_with(&format!(
            "\nCompaction analysis:\n\nsamples per float chunk (min/avg/max): 3/3/3\n[ 1, 10]: 2 {}\n[11, 20]: 0 \n\n\
             bytes per float chunk (min/avg/max): 22/23/24\n[21, 30]: 2 {}\n[31, 40]: 0 \n\n\
             samples per histogram chunk: N/A\n\nbytes per histogram chunk: N/A\n\nbuckets per histogram chunk: N/A\n\n",
            "#".repeat(100),
            "#".repeat(100)
        )),
        "{extended}"
    );
    let matched = analyze(
        dir,
        &AnalyzeOptions { matchers: Some("{code=\"500\"}".into()), ..Default::default() },
    );
    assert!(matched.contains("Matcher: {code=\"500\"}\nLabel names: 3\nMatched series: 1\nPostings (unique label pairs): 3\n"), "{matched}");

    // Prometheus needs a WAL directory to dump.
    let err = dump(dir, &DumpOptions::default()).unwrap_err();
    assert_eq!(
        err,
        format!(
            "read WAL: find last checkpoint: open {}: no such file or directory",
            dir.join("wal").display()
        )
    );
    std::fs::create_dir(dir.join("wal")).unwrap();
    let l200 = "{__name__=\"http_requests_total\", code=\"200\", job=\"api\"}";
    let l500 = "{__name__=\"http_requests_total\", code=\"500\", job=\"api\"}";
    assert_eq!(
        dump(dir, &DumpOptions::default()).unwrap(),
        format!(
            "{l200} 1 1700000000000\n{l200} 5 1700000015000\n{l200} 9 1700000030000\n\
             {l500} 0 1700000000000\n{l500} 1 1700000015000\n{l500} 1 1700000030000\n"
        )
    );
    let some = DumpOptions {
        min_time: 1700000015000,
        max_time: 1700000015000,
        matchers: vec!["{code=\"500\"}".into(), "{code=\"404\"}".into()],
        ..Default::default()
    };
    assert_eq!(dump(dir, &some).unwrap(), format!("{l500} 1 1700000015000\n"));
    let json = DumpOptions { format: DumpFormat::SeriesJson, ..Default::default() };
    assert_eq!(
        dump(dir, &json).unwrap(),
        "{\"__name__\":\"http_requests_total\",\"code\":\"200\",\"job\":\"api\"}\n\
         {\"__name__\":\"http_requests_total\",\"code\":\"500\",\"job\":\"api\"}\n"
    );
    let om = DumpOptions { format: DumpFormat::OpenMetrics, ..some };
    assert_eq!(
        dump(dir, &om).unwrap(),
        "http_requests_total{code=\"500\",job=\"api\"} 1 1700000015.000\n# EOF\n"
    );

    let Some(p) = promtool() else { return };
    let d = dir.to_str().unwrap();
    for human in [false, true] {
        let args: &[&str] = if human { &["tsdb", "list", "-r", d] } else { &["tsdb", "list", d] };
        assert_eq!(run_promtool(args).1, list(dir, human));
    }
    let _ = p;
    assert_eq!(run_promtool(&["tsdb", "dump", d]).1, dump(dir, &DumpOptions::default()).unwrap());
    let (_, theirs, _) = run_promtool(&["tsdb", "analyze", d]);
    assert_same_analysis(&theirs, &analyze(dir, &AnalyzeOptions::default()));
}

/// Compares analyses line by line after 2.42's differences: its `Series:` headline, and the order of items
/// with equal figures (Go map order), so each list is compared as a set.
fn assert_same_analysis(theirs: &str, ours: &str) {
    let norm = |s: &str| {
        let s = s.replace("\nSeries: ", "\nTotal Series: ");
        let mut sections: Vec<Vec<String>> = Vec::new();
        for part in s.split("\n\n") {
            let mut lines: Vec<String> = part.lines().map(str::to_string).collect();
            if lines.len() > 1 && lines[0].ends_with(':') {
                lines[1..].sort();
            }
            sections.push(lines);
        }
        sections
    };
    assert_eq!(norm(theirs), norm(ours));
}

/// An OpenMetrics input over 3 two-hour windows: several series, some with more than 120 samples per window,
/// one starting late and one with a gap, so that chunk cutting and block ranges are exercised.
fn big_input() -> String {
    let mut s = String::from("# HELP m A metric.\n# TYPE m gauge\n");
    let start = 1_700_000_000i64;
    for (i, step) in [(0, 15), (1, 7), (2, 60), (3, 1)] {
        for k in 0..(5 * 3600 / step) {
            let t = start + k * step;
            if i == 3 && !(3600..5400).contains(&(t - start)) {
                continue;
            }
            if i == 2 && (4000..9000).contains(&(t - start)) {
                continue;
            }
            let v = if i == 1 { (k as f64 * 0.37).sin() * 1e6 } else { (k % 97) as f64 };
            s.push_str(&format!("m{{series=\"s{i}\",job=\"j\"}} {v} {t}\n"));
        }
    }
    s.push_str(
        "# TYPE other counter\nother_total 1 1700000001.5\nother_total 2 1700010000\n# EOF\n",
    );
    s
}

#[test]
fn backfill_agrees_with_promtool() {
    let Some(_) = promtool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    std::fs::write(&input, big_input()).unwrap();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    let out = backfill(&input, &ours, &BackfillOptions::default()).unwrap();
    let (code, their_out, err) = run_promtool(&[
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        input.to_str().unwrap(),
        theirs.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (a, b) = (block_dirs(&ours), block_dirs(&theirs));
    assert_eq!(a.len(), b.len());
    assert!(a.len() >= 3);
    let mut their_norm = their_out.clone();
    for (x, y) in a.iter().zip(&b) {
        assert_same_block(x, y);
        their_norm = their_norm.replace(&name(y), &name(x));
    }
    assert_eq!(out, their_norm);

    // Both directories read the same, by either tool.
    std::fs::create_dir(ours.join("wal")).unwrap();
    std::fs::create_dir(theirs.join("wal")).unwrap();
    let ours_dump = dump(&ours, &DumpOptions::default()).unwrap();
    assert_eq!(ours_dump, dump(&theirs, &DumpOptions::default()).unwrap());
    let (_, their_dump, _) = run_promtool(&["tsdb", "dump", ours.to_str().unwrap()]);
    assert_eq!(ours_dump, their_dump);
    let mut their_list = run_promtool(&["tsdb", "list", ours.to_str().unwrap()]).1;
    their_list = their_list.replace('\r', "");
    assert_eq!(list(&ours, false), their_list);
    for b in &a {
        let id = name(b);
        let (_, theirs, _) = run_promtool(&["tsdb", "analyze", ours.to_str().unwrap(), &id]);
        let opts = AnalyzeOptions { block_id: Some(id), ..Default::default() };
        let ours = analyze(&ours, &opts);
        assert_eq!(headline(&theirs), headline(&ours));
    }
}

/// The numbers before the ranked lists.
fn headline(s: &str) -> Vec<String> {
    s.split("\n\n")
        .next()
        .unwrap()
        .replace("\nSeries: ", "\nTotal Series: ")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn backfill_errors_in_prometheus_words() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, String)] = &[
        ("# TYPE a gauge\na 1 10\n# EOF\n# TYPE b gauge\n", String::new()),
        (
            "a 1\n# EOF\n",
            "getting min and max timestamp: expected timestamp for series got none".into(),
        ),
    ];
    for (i, (input, want)) in cases.iter().enumerate() {
        let f = tmp.path().join(format!("case{i}.om"));
        std::fs::write(&f, input).unwrap();
        let got = backfill(&f, &tmp.path().join(format!("out{i}")), &BackfillOptions::default());
        if want.is_empty() {
            assert!(got.is_err(), "case {i}: {got:?}");
        } else {
            assert_eq!(got.unwrap_err(), *want, "case {i}");
        }
    }

    // Out of order across a commit boundary (5000 samples) fails; within one batch it is dropped.
    let mut s = String::new();
    for k in 0..5000 {
        s.push_str(&format!("a {k} {}\n", 1_000 + k));
    }
    s.push_str("a 1 1000\n# EOF\n");
    let f = tmp.path().join("ooo.om");
    std::fs::write(&f, &s).unwrap();
    assert_eq!(
        backfill(&f, &tmp.path().join("ooo"), &BackfillOptions::default()).unwrap_err(),
        "block creation: process blocks: add sample: out of order sample"
    );
    let f2 = tmp.path().join("dup.om");
    std::fs::write(&f2, s.replace("a 1 1000\n# EOF", "a 7 5999\n# EOF")).unwrap();
    assert_eq!(
        backfill(&f2, &tmp.path().join("dup"), &BackfillOptions::default()).unwrap_err(),
        "block creation: process blocks: add sample: duplicate sample for timestamp 5999000; overrides not allowed: existing 4999, new value 7"
    );
    let f3 = tmp.path().join("inbatch.om");
    std::fs::write(&f3, "a 1 20\na 2 10\na 3 30\n# EOF\n").unwrap();
    backfill(
        &f3,
        &tmp.path().join("inbatch"),
        &BackfillOptions { quiet: true, ..Default::default() },
    )
    .unwrap();

    let Some(_) = promtool() else { return };
    for (f, dir) in [(&f, "ooo2"), (&f2, "dup2")] {
        let (code, _, err) = run_promtool(&[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            f.to_str().unwrap(),
            tmp.path().join(dir).to_str().unwrap(),
        ]);
        assert_eq!(code, 1);
        let ours = backfill(f, &tmp.path().join(format!("{dir}-ours")), &Default::default());
        // 2.42 leaves out the timestamp and values of a duplicate that 3.x adds.
        let ours = ours.unwrap_err();
        assert!(ours.starts_with(err.trim_end()), "{}: {ours} vs {err}", f.display());
    }
    std::fs::create_dir_all(tmp.path().join("inbatch/wal")).unwrap();
    let theirs = tmp.path().join("inbatch-theirs");
    run_promtool(&[
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        f3.to_str().unwrap(),
        theirs.to_str().unwrap(),
    ]);
    std::fs::create_dir_all(theirs.join("wal")).unwrap();
    assert_eq!(
        dump(&tmp.path().join("inbatch"), &DumpOptions::default()).unwrap(),
        run_promtool(&["tsdb", "dump", theirs.to_str().unwrap()]).1
    );
}

/// The head replayed from the WAL Prometheus 2.42 wrote, alone and with blocks: the same samples as 2.42's dump.
/// 2.42 sorts head-only output by labels; 3.x (and we) keep the head's reference order, so lines are compared
/// sorted.
#[test]
fn dump_replays_the_wal() {
    let segment = Path::new("/work/shared/tsdb/golden/wal/00000000");
    if !segment.exists() {
        eprintln!("notice: skipping: the golden WAL segment is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("wal")).unwrap();
    std::fs::copy(segment, dir.join("wal/00000000")).unwrap();
    let ours = dump(dir, &DumpOptions::default()).unwrap();
    assert!(ours.lines().count() > 1000, "{ours}");
    let first = ours.lines().next().unwrap().to_string();
    let t: i64 = first.rsplit(' ').next().unwrap().parse().unwrap();
    let only = DumpOptions { min_time: t, max_time: t, ..Default::default() };
    assert!(dump(dir, &only).unwrap().contains(&first));
    let Some(_) = promtool() else { return };
    let (code, theirs, err) = run_promtool(&["tsdb", "dump", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let sorted = |s: &str| {
        let mut v: Vec<&str> = s.lines().collect();
        v.sort();
        v.join("\n")
    };
    assert_eq!(sorted(&ours), sorted(&theirs));
}
