//! Runs Prometheus's PromQL conformance corpus (`../shared/promqltest`, when present) and the repository's own
//! `.test` files.

use std::path::{Path, PathBuf};

fn run_dir(dir: &Path) -> (usize, usize, Vec<String>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let (mut passed, mut failed, mut failures) = (0, 0, Vec::new());
    for f in files {
        let text =
            std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let r = promql_test::run_script(&text, &name);
        println!("{name}: {} passed, {} failed", r.passed, r.failed());
        passed += r.passed;
        failed += r.failed();
        failures.extend(r.failures);
    }
    (passed, failed, failures)
}

/// The repository's own scripts must all pass.
#[test]
fn own_scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let (passed, failed, failures) = run_dir(&dir);
    for f in &failures {
        println!("{f}");
    }
    assert!(passed > 0, "no evals found in {}", dir.display());
    assert_eq!(failed, 0, "{failures:#?}");
}

/// Prometheus's corpus: every eval must pass.
#[test]
fn prometheus_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/promqltest");
    if !dir.is_dir() {
        println!(
            "skipping: {} is absent (Prometheus's PromQL corpus is provided by CI)",
            dir.display()
        );
        return;
    }
    let (passed, failed, failures) = run_dir(&dir);
    if std::env::var_os("PROMQL_TEST_VERBOSE").is_some() {
        for f in &failures {
            println!("{f}");
        }
    }
    println!("total: {passed} passed, {failed} failed");
    // 2,214 evals in the corpus at Prometheus 3.14; a newer corpus may hold more.
    assert!(passed >= 2214, "only {passed} evals passed");
    assert_eq!(failed, 0, "{failures:#?}");
}
