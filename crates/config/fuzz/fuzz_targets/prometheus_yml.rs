//! Fuzzes the `prometheus.yml` loader: any input must load or fail with an error, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = config::load_str(text, "fuzz.yml");
});
