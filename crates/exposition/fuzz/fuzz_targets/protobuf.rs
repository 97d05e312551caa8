//! Fuzzes the delimited protobuf parser: any input must parse or fail with an error, never panic, with and without
//! the classic buckets of native histograms, and with native histograms read as classic ones.
#![no_main]

use exposition::{ProtoOptions, parse_protobuf_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (keep_classic_histograms, ignore_native_histograms) in [(false, false), (true, false), (false, true)] {
        let opts = ProtoOptions { keep_classic_histograms, ignore_native_histograms };
        if let Ok(families) = parse_protobuf_with(data, opts) {
            for f in &families {
                for m in &f.metrics {
                    let _ = (m.labels.len(), m.samples.len(), m.histogram.as_ref());
                }
            }
        }
    }
});
