//! Fuzzes rule file decoding and validation (YAML, PromQL expressions, templates): any input must give rule
//! groups or errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = rules::file::parse(text, &rules::file::ParseOptions::default());
});
