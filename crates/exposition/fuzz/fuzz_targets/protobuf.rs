//! Fuzzes the delimited protobuf parser: any input must parse or fail with an error, never panic, with and without
//! the classic buckets of native histograms.
#![no_main]

use exposition::{ProtoOptions, parse_protobuf_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for keep_classic_histograms in [false, true] {
        if let Ok(families) = parse_protobuf_with(data, ProtoOptions { keep_classic_histograms }) {
            for f in &families {
                for m in &f.metrics {
                    let _ = (m.labels.len(), m.samples.len(), m.histogram.as_ref());
                }
            }
        }
    }
});
