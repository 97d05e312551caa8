//! Fuzzes the Prometheus text parser: any input must parse or fail with an error, never panic, and every accessor
//! must be callable on every entry.
#![no_main]

use exposition::{Entry, Format, Parser, new_parser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut p = new_parser(data, Format::PrometheusText);
    let mut b = model::LabelsBuilder::new();
    while let Ok(Some(e)) = p.next() {
        match e {
            Entry::Series => {
                p.labels(&mut b);
                let _ = b.labels();
                let _ = (p.series(), p.exemplar());
            }
            _ => {
                let _ = (p.help(), p.metric_type(), p.unit());
            }
        }
    }
});
