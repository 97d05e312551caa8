//! Fuzzes the OpenMetrics parser: any input must parse or fail with an error, never panic, and every accessor
//! must be callable on every entry. The input is parsed again told each sample's series text in advance (right,
//! then shifted by one: wrong), as the scrape cache does; the results must be the same.
#![no_main]

use exposition::{Entry, Format, Parser, new_parser};
use libfuzzer_sys::fuzz_target;

/// Every entry as text (the error last, if any), and each sample's raw series text.
fn pass(data: &[u8], known: &dyn Fn(usize) -> Option<Vec<u8>>) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut p = new_parser(data, Format::OpenMetrics);
    let mut b = model::LabelsBuilder::new();
    let (mut rows, mut raws) = (Vec::new(), Vec::new());
    loop {
        match p.next_known(known(raws.len()).as_deref()) {
            Ok(None) => break,
            Err(e) => {
                rows.push(format!("{e:?}"));
                break;
            }
            Ok(Some(Entry::Series)) => {
                p.labels(&mut b);
                let (raw, ts, v) = p.series();
                raws.push(raw.to_vec());
                rows.push(format!("{} {:?} {ts:?} {:?}", b.labels(), v.to_bits(), p.exemplar()));
            }
            // Each accessor on the entry it is for.
            Ok(Some(Entry::Help)) => rows.push(format!("{:?}", p.help())),
            Ok(Some(Entry::Type)) => rows.push(format!("{:?}", p.metric_type())),
            Ok(Some(Entry::Unit)) => rows.push(format!("{:?}", p.unit())),
            Ok(Some(Entry::Comment)) => rows.push("comment".into()),
        }
    }
    (rows, raws)
}

fuzz_target!(|data: &[u8]| {
    let (plain, raws) = pass(data, &|_| None);
    for shift in [0, 1] {
        let (told, _) = pass(data, &|n| raws.get(n + shift).cloned());
        assert_eq!(told, plain, "told series texts, shift {shift}");
    }
});
