//! `promethium tool …` against Debian's promtool where installed.

use std::process::Command;

use crate::harness::{missing_peer, system_bin};
use crate::server::bin;

fn run(program: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(program).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_agrees_with_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['x:1']\n").unwrap();
    let dup = dir.path().join("dup.yml");
    std::fs::write(&dup, "scrape_configs:\n  - job_name: a\n  - job_name: a\n").unwrap();
    let timeout = dir.path().join("timeout.yml");
    std::fs::write(
        &timeout,
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
    )
    .unwrap();
    let files = [&good, &dup, &timeout];
    let ours: Vec<(i32, String, String)> = files
        .iter()
        .map(|f| run(&bin(), &["tool", "check", "config", f.to_str().unwrap()]))
        .collect();
    assert_eq!(ours[0].0, 0, "{:?}", ours[0]);
    assert!(ours[0].1.contains("is valid prometheus config file syntax"));
    assert_eq!(ours[1].0, 1);
    assert!(
        ours[1].2.contains("found multiple scrape configs with job name \"a\""),
        "{:?}",
        ours[1]
    );
    assert_eq!(ours[2].0, 1);
    let Some(promtool) = system_bin("promtool") else {
        missing_peer("Debian's promtool");
        return;
    };
    for (f, o) in files.iter().zip(&ours) {
        let theirs = run(&promtool, &["check", "config", f.to_str().unwrap()]);
        assert_eq!(o.0, theirs.0, "exit code for {}: ours {o:?}, promtool {theirs:?}", f.display());
        assert_eq!(o.1, theirs.1, "stdout for {}", f.display());
        if o.0 != 0 {
            assert_eq!(o.2, theirs.2, "stderr for {}", f.display());
        }
    }
}

#[test]
fn test_promql_reports_failures_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.test");
    std::fs::write(&good, "load 1m\n  x{a=\"b\"} 1+1x5\n\neval instant at 5m sum(x)\n  {} 6\n")
        .unwrap();
    let bad = dir.path().join("bad.test");
    std::fs::write(&bad, "load 1m\n  x 1\n\neval instant at 0m x\n  x 2\n").unwrap();
    let (code, out, _) = run(&bin(), &["tool", "test", "promql", good.to_str().unwrap()]);
    assert_eq!((code, out.trim()), (0, "1 passed, 0 failed"));
    let (code, out, _) =
        run(&bin(), &["tool", "test", "promql", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&"1 passed, 1 failed"));
    assert!(
        lines[0].starts_with(&format!("{}:4: expected 2 for x{{}} but got 1", bad.display())),
        "{out}"
    );
}

#[test]
fn tsdb_commands_through_the_binary() {
    let golden = std::path::Path::new("/work/shared/tsdb/golden/block/input.om.txt");
    if !golden.exists() {
        eprintln!("notice: skipping: the golden block input is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let d = db.to_str().unwrap();
    let (code, out, err) = run(
        &bin(),
        &["tool", "tsdb", "create-blocks-from", "openmetrics", golden.to_str().unwrap(), d],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("BLOCK ULID  "), "{out}");
    assert!(out.contains(
        "  1700000000000  1700000030001  30.001s      6            2            2            808\n"
    ));
    let (code, _, err) = run(&bin(), &["tool", "tsdb", "dump", d]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!("read WAL: find last checkpoint: open {d}/wal: no such file or directory\n")
    );
    std::fs::create_dir(db.join("wal")).unwrap();
    let (code, dump, _) = run(&bin(), &["tool", "tsdb", "dump", "--match", "{code=\"500\"}", d]);
    assert_eq!(code, 0);
    assert_eq!(dump.lines().count(), 3);
    let (code, _, err) = run(&bin(), &["tool", "tsdb", "analyze", d, "01M8812ZMGPXCKKXXPMKXJMWAY"]);
    assert_eq!((code, err.as_str()), (1, "invalid block ID 01M8812ZMGPXCKKXXPMKXJMWAY\n"));
    let Some(promtool) = system_bin("promtool") else {
        missing_peer("Debian's promtool");
        return;
    };
    for args in [&["tsdb", "list", d][..], &["tsdb", "list", "-r", d], &["tsdb", "dump", d]] {
        let ours = run(&bin(), &[&["tool"][..], args].concat());
        let theirs = run(&promtool, args);
        assert_eq!(ours, theirs, "{args:?}");
    }
    let (_, ours, _) = run(&bin(), &["tool", "tsdb", "analyze", d]);
    let (_, theirs, _) = run(&promtool, &["tsdb", "analyze", d]);
    let head = |s: &str| s.split("\n\n").next().unwrap().replace("\nSeries: ", "\nTotal Series: ");
    assert_eq!(head(&ours), head(&theirs));
    let (code, _, err) =
        run(&bin(), &["tool", "tsdb", "list", dir.path().join("nope").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("opening the db dir: stat ")
            && err.ends_with("nope: no such file or directory\n"),
        "{err}"
    );
}
