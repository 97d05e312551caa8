//! Hostile and random input: every template either expands or returns an error, within the limits.

use proptest::prelude::*;
use template::{Expander, Limits, Template, Value};

fn expand(text: &str) -> Result<String, String> {
    crate::cases::expand(text, crate::cases::fixture("map"))
}

fn assert_err_contains(text: &str, needle: &str) {
    match expand(text) {
        Ok(out) => panic!("{text:?} expanded to {} bytes", out.len()),
        Err(e) => assert!(e.contains(needle), "{text:?}: {e}"),
    }
}

#[test]
fn limits_stop_hostile_templates() {
    assert_err_contains(
        r#"{{ define "a" }}{{ template "a" . }}{{ end }}{{ template "a" . }}"#,
        "exceeded maximum template depth (100)",
    );
    assert_err_contains(
        "{{ range 1000000000 }}{{ end }}",
        "exceeded maximum number of execution steps",
    );
    assert_err_contains(
        "{{ range 900000 }}{{ $x := . }}{{ end }}",
        "exceeded maximum number of execution steps",
    );
    assert_err_contains(
        r#"{{ $x := printf "%0999999d" 0 }}{{ $x }}{{ $x }}"#,
        "output exceeds maximum size",
    );
    assert_err_contains(
        r#"{{ $x := printf "%0999999d" 0 }}{{ range 100 }}{{ $x = printf "%s%s" $x $x }}{{ end }}"#,
        "exceeds maximum size",
    );
    assert_err_contains(
        r#"{{ $x := printf "%0999999d" 0 }}{{ range 200 }}{{ $y := args $x $x $x $x $x $x $x $x }}{{ end }}"#,
        "exceeds maximum size",
    );
    assert_err_contains(
        r#"{{ $x := printf "%0999999d" 0 }}{{ range 200 }}{{ $y := $x }}{{ end }}"#,
        "maximum size of values",
    );
    assert_err_contains(
        r#"{{ reReplaceAll "" "0123456789abcdef0123456789abcdef" (printf "%0100000d" 0) }}"#,
        "exceeds",
    );
    let deep_parens = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
    assert_err_contains(&deep_parens, "nesting");
    let deep_ifs = format!("{}x{}", "{{ if true }}".repeat(500), "{{ end }}".repeat(500));
    assert_err_contains(&deep_ifs, "nesting");
}

#[test]
fn deep_recursion_within_limits_does_not_overflow_the_stack() {
    // Nested structures inside a recursive template, executed on a test thread's small stack.
    let body = format!(
        "{}{{{{ template \"a\" . }}}}{}",
        "{{ if true }}{{ with . }}".repeat(20),
        "{{ end }}{{ end }}".repeat(20)
    );
    let text = [r#"{{ define "a" }}"#, &body, r#"{{ end }}{{ template "a" . }}"#].concat();
    let e = Expander::new(text, "deep", Value::Int(1))
        .limits(Limits { max_depth: 1000, ..Limits::default() });
    let err = e.expand().unwrap_err().to_string();
    assert!(err.contains("nesting") || err.contains("depth"), "{err}");
}

/// Fragments that combine into mostly well-formed templates, so the random inputs reach the executor.
const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "x",
    ".",
    ".a",
    ".l",
    ".m.x",
    "$",
    "$x := ",
    "$x",
    "|",
    "(",
    ")",
    "\"s\"",
    "`r`",
    "1",
    "-2.5e3",
    "'c'",
    "nil",
    "true",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define \"d\"",
    "template \"d\"",
    "block \"b\" .",
    "break",
    "continue",
    "printf \"%v %d %5.2f %q\"",
    "print",
    "len",
    "index",
    "slice",
    "eq",
    "lt",
    "and",
    "or",
    "not",
    "html",
    "js",
    "humanize",
    "humanizeDuration",
    "reReplaceAll \"a(\" \"$1\"",
    "match",
    "query \"m\"",
    "first",
    "label \"x\"",
    "toTime",
    "toDuration",
    "title",
    "args",
    "/*",
    "*/",
    ",",
    "=",
    ":=",
    "\n",
    "\\",
    "é",
    "\u{a0}",
];

fn arb_template() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![prop::sample::select(FRAGMENTS).prop_map(str::to_string), ".{0,3}"],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_templates_never_panic(text in arb_template()) {
        let _ = expand(&text);
        let mut t = Template::new("p");
        if t.parse(&text).is_ok() {
            let _ = t.execute(&Value::Nil);
        }
    }

    #[test]
    fn random_printf_formats_never_panic(format in "[%a-z0-9.*#+ \\-\\[\\]]{0,12}", n in any::<i64>(), f in any::<f64>(), s in ".{0,4}") {
        let _ = template::sprintf(&format, &[n.into(), f.into(), s.into(), Value::Nil]);
    }
}
