//! Runs the scripts named on the command line and prints every failure.
fn main() {
    for f in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let r = promql_test::run_script(&text, &f);
        for x in &r.failures {
            println!("{x}");
        }
        println!("{f}: {} passed, {} failed", r.passed, r.failed());
    }
}
