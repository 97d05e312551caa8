//! Fuzzes the PromQL parser with every experimental syntax enabled: any input must parse or fail with an error,
//! never panic or overflow the stack, and whatever parses must print to text that parses again. The text must also
//! print the same, except where an infinite literal is printed: like Prometheus we print it as `+Inf`, whose sign
//! re-parses as a unary plus (the same value, a different tree: `Inf ^ 2` prints as `+Inf ^ 2`, read as
//! `+(Inf ^ 2)`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use promql_syntax::{ParserOptions, parse_expr};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let opts = ParserOptions {
        experimental_functions: true,
        duration_expr: true,
        extended_range_selectors: true,
        fill_modifiers: true,
        ..ParserOptions::default()
    };
    let Ok(expr) = parse_expr(text, &opts) else { return };
    let printed = expr.to_string();
    match parse_expr(&printed, &opts) {
        Ok(again) => {
            if !printed.contains("Inf") {
                assert_eq!(again.to_string(), printed, "printing is not stable for {text:?}");
            }
        }
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    }
});
