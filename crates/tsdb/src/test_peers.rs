//! What a test does when a real peer it compares with (Debian's Prometheus 2.42 `prometheus` or `promtool`) is
//! missing: skip with a notice on stderr, or fail under `PROMETHIUM_REQUIRE_PEERS=1`, which `.ci/run` sets after
//! installing the peers.

/// Reports that `what` is missing; panics when the peers are required.
pub(crate) fn missing_peer(what: &str) {
    let required = std::env::var_os("PROMETHIUM_REQUIRE_PEERS").is_some_and(|v| v == "1");
    assert!(!required, "{what} missing, and PROMETHIUM_REQUIRE_PEERS=1 requires it");
    // Straight to the process's stderr: libtest captures `eprintln!` as well as `println!` for passing tests.
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!(
            "notice: skipping: {what} missing (PROMETHIUM_REQUIRE_PEERS=1 makes this a failure)\n"
        ),
    );
}
