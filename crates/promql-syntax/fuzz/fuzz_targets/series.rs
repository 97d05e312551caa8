//! Fuzzes the parsers of test-script series lines and metric texts (`promethium tool test`, `load` blocks): any
//! input must parse or fail with an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = promql_syntax::parse_series_desc(text);
    let _ = promql_syntax::parse_metric(text);
    let _ = promql_syntax::parse_metric_selector(text);
});
