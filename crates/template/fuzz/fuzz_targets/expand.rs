//! Fuzzes template parsing and execution as alert rules use them: any text must expand or fail with an error,
//! never panic or run away (execution is bounded by the default limits).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let labels: BTreeMap<String, String> =
        [("instance".to_string(), "a:80".to_string()), ("job".to_string(), "api".to_string())].into();
    let alert = template::AlertData {
        labels,
        external_labels: BTreeMap::new(),
        external_url: "http://prom".to_string(),
        value: 0.5,
    };
    let e = template::Expander::for_alert("Fuzz", text, &alert);
    let _ = e.parse_test();
    let _ = e.expand();
});
