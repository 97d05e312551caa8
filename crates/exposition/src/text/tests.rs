//! Tests of the text and OpenMetrics parser: table-driven good and bad inputs, the shared corpus, and encoder
//! round trips.

use model::{LabelsBuilder, MetricType};

use super::*;
use crate::{EncodeFormat, Family, encode_families};

/// Parses `input` into (kind, text) rows: samples as `labels value [ts]`, metadata as `KIND name text`.
///
/// Every input is parsed three times: plainly, then told the series text of each sample in advance (as a scrape
/// cache's prediction), then told the text of the sample after it (a wrong prediction). All three must agree,
/// errors included.
fn parse_all(input: &str, om: bool) -> Result<Vec<String>, ParseError> {
    let (plain, raws) = parse_pass(input, om, &|_| None);
    for shift in [0, 1] {
        let (told, _) = parse_pass(input, om, &|n| raws.get(n + shift).cloned());
        assert_eq!(format!("{told:?}"), format!("{plain:?}"), "told series texts (shift {shift})");
    }
    plain
}

/// One parse of `input`, telling the parser `known(n)` before the n-th sample; also returns each sample's raw
/// series text.
fn parse_pass(
    input: &str,
    om: bool,
    known: &dyn Fn(usize) -> Option<Vec<u8>>,
) -> (Result<Vec<String>, ParseError>, Vec<Vec<u8>>) {
    let mut p = TextParser::new(input.as_bytes(), om);
    let mut out = Vec::new();
    let mut raws = Vec::new();
    let mut b = LabelsBuilder::new();
    loop {
        let e = match p.next_known(known(raws.len()).as_deref()) {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => return (Err(e), raws),
        };
        match e {
            Entry::Series => {
                p.labels(&mut b);
                let (raw, ts, v) = p.series();
                raws.push(raw.to_vec());
                let mut row = format!("{} {v}", b.labels());
                if let Some(ts) = ts {
                    row.push_str(&format!(" @{ts}"));
                }
                if let Some(ex) = p.exemplar() {
                    row.push_str(&format!(" # {} {} {:?}", ex.labels, ex.value, ex.ts));
                }
                out.push(row);
            }
            Entry::Help => {
                let (n, h) = p.help();
                out.push(format!("HELP {n} {h}"));
            }
            Entry::Type => {
                let (n, t) = p.metric_type();
                out.push(format!("TYPE {n} {t}"));
            }
            Entry::Unit => {
                let (n, u) = p.unit();
                out.push(format!("UNIT {n} {u}"));
            }
            Entry::Comment => {}
        }
    }
    (Ok(out), raws)
}

#[test]
fn a_told_series_text_is_used_only_when_it_is_the_whole_series_text_of_the_line() {
    let parse = |line: &str, known: &str| {
        let mut p = TextParser::new(line.as_bytes(), false);
        let mut b = LabelsBuilder::new();
        let r = p.next_known(Some(known.as_bytes())).map(|_| {
            p.labels(&mut b);
            (p.deferred, b.labels().to_string(), p.series().2)
        });
        format!("{r:?}")
    };
    let ok = |deferred: bool, labels: &str, v: f64| {
        format!("{:?}", Ok::<_, ParseError>((deferred, labels.to_string(), v)))
    };
    assert_eq!(parse("foo 1\n", "foo"), ok(true, "{__name__=\"foo\"}", 1.0));
    assert_eq!(parse("foo_bar 1\n", "foo"), ok(false, "{__name__=\"foo_bar\"}", 1.0));
    assert_eq!(parse("m{a=\"1\"}\t2\n", "m{a=\"1\"}"), ok(true, "{__name__=\"m\", a=\"1\"}", 2.0));
    assert_eq!(parse("m{a=\"1\"} 2\n", "m{a=\"1\""), ok(false, "{__name__=\"m\", a=\"1\"}", 2.0));
    assert_eq!(
        parse("{\"my.m\",a=\"x\\\"y\"} 3\n", "{\"my.m\",a=\"x\\\"y\"}"),
        ok(true, "{__name__=\"my.m\", a=\"x\\\"y\"}", 3.0)
    );
    // A line that only starts like the told text is parsed, and rejected, as without it.
    let plain = |line: &str| {
        let mut p = TextParser::new(line.as_bytes(), false);
        format!("{:?}", p.next().map(|_| ()))
    };
    for (line, known) in
        [("m{a=\"1\"}x 1\n", "m{a=\"1\"}"), ("m 1 2 3\n", "m"), ("m{a=\"1\"}\n", "m{a=\"1\"}")]
    {
        let mut p = TextParser::new(line.as_bytes(), false);
        assert_eq!(
            format!("{:?}", p.next_known(Some(known.as_bytes())).map(|_| ())),
            plain(line),
            "{line}"
        );
        assert!(plain(line).starts_with("Err"), "{line}");
    }
}

#[test]
fn prometheus_text_good_inputs() {
    let cases: &[(&str, &[&str])] = &[
        ("go_goroutines 33 123\n", &["{__name__=\"go_goroutines\"} 33 @123"]),
        (
            "  metric{a=\"1\",b=\"x\\\"y\\\\z\\n\",} 1.5e3\n",
            &["{__name__=\"metric\", a=\"1\", b=\"x\\\"y\\\\z\\n\"} 1500"],
        ),
        (
            "# HELP m some \\\\ help\\n text\n# TYPE m counter\nm 1\n",
            &["HELP m some \\ help\n text", "TYPE m counter", "{__name__=\"m\"} 1"],
        ),
        (
            "# TYPE m untyped\n# just a comment\n#nospace\n\nm +Inf\n",
            &["TYPE m unknown", "{__name__=\"m\"} inf"],
        ),
        ("m -Inf\nn NaN\n", &["{__name__=\"m\"} -inf", "{__name__=\"n\"} NaN"]),
        ("{\"my.metric\", \"a.b\"=\"x\"} 2\n", &["{__name__=\"my.metric\", \"a.b\"=\"x\"} 2"]),
        ("m{} 1", &["{__name__=\"m\"} 1"]),
    ];
    for (input, want) in cases {
        let got = parse_all(input, false).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(&got, want, "{input:?}");
    }
}

#[test]
fn prometheus_text_bad_inputs() {
    let cases: &[(&str, &str)] = &[
        ("metric", "expected value after metric"),
        ("metric{a=\"1\" 1\n", "expected comma or '}'"),
        ("metric{a=1} 1\n", "expected label value"),
        ("metric 1 abc\n", "strconv.ParseInt: parsing \"abc\""),
        ("metric abc\n", "strconv.ParseFloat: parsing \"abc\""),
        ("0metric 1\n", "expected a valid start token"),
        ("metric{a=\"\\q\"} 1\n", "invalid escape sequence"),
        ("# TYPE m foo\n", "invalid metric type"),
        ("metric{a=\"1} 1\n", "expected closing quote"),
        ("\u{1}\u{2} garbage\n", "expected a valid start token"),
        ("m{\"a\" \"b\"} 1\n", "metric name already set"),
        ("{\"a\"=\"b\"} 1\n", "metric name not set"),
    ];
    for (input, want) in cases {
        let err = parse_all(input, false).expect_err(input);
        assert!(err.to_string().contains(want), "{input:?}: {err} lacks {want:?}");
    }
}

#[test]
fn invalid_start_tokens_are_reported_as_prometheus_does() {
    // Prometheus 3's lexers name the one offending character and its token type, and quote as Go's %q.
    // (Prometheus 2.42 said `"INVALID" is not a valid start token` for all of these.)
    let cases: &[(&str, &str)] = &[
        (
            "\u{1}\u{2} this is {{{ not metrics\n",
            r#"expected a valid start token, got "\x01" ("INVALID") while parsing: "\x01""#,
        ),
        ("0metric 1\n", r#"expected a valid start token, got "0" ("INVALID") while parsing: "0""#),
        ("m 1\n}x 2\n", r#"expected a valid start token, got "}" ("INVALID") while parsing: "}""#),
        ("é 1\n", r#"expected a valid start token, got "é" ("INVALID") while parsing: "é""#),
    ];
    for (input, want) in cases {
        for om in [false, true] {
            let err = parse_all(input, om).expect_err(input);
            assert_eq!(err.to_string(), *want, "{input:?} (OpenMetrics: {om})");
        }
    }
}

#[test]
fn openmetrics_inputs() {
    let om = "# TYPE foo counter\n# UNIT foo seconds\n# HELP foo help\nfoo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5\n# EOF\n";
    let got = parse_all(om, true).unwrap();
    assert_eq!(
        got,
        vec![
            "TYPE foo counter",
            "UNIT foo seconds",
            "HELP foo help",
            "{__name__=\"foo_total\"} 17 @1520879607789 # {id=\"counter-test\"} 5 None"
        ]
    );
    assert_eq!(parse_all("foo 1\n", true).unwrap_err(), ParseError::MissingEof);
    assert_eq!(parse_all("# EOF\nfoo 1\n", true).unwrap_err(), ParseError::DataAfterEof);
    assert!(parse_all("foo 1\n\n# EOF\n", true).is_err(), "empty lines are invalid in OpenMetrics");
    assert!(parse_all("# TYPE foo untyped\n# EOF\n", true).is_err());
}

#[test]
fn never_panics_on_arbitrary_bytes() {
    let mut seed = 0x1234_5678_u64;
    for len in 0..400 {
        let mut buf = Vec::with_capacity(len);
        for _ in 0..len {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let alphabet = b"ab_:{}=\",# \n\\0123456789.eE+-InfNa\t\xff\xc3";
            buf.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
        }
        for om in [false, true] {
            let mut p = TextParser::new(&buf, om);
            let mut b = LabelsBuilder::new();
            for _ in 0..1000 {
                match p.next() {
                    Ok(Some(Entry::Series)) => {
                        p.labels(&mut b);
                        let _ = p.exemplar();
                    }
                    Ok(Some(_)) => {
                        let _ = (p.help(), p.metric_type(), p.unit());
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}

#[test]
fn shared_corpus_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/exposition/testdata");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("notice: {} absent; skipping the shared exposition corpus", dir.display());
        return;
    };
    let mut checked = 0;
    for e in entries {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let om = name.contains(".om.");
        if !(name.ends_with(".txt")) {
            continue;
        }
        let body = std::fs::read_to_string(&path).unwrap();
        let rows = parse_all(&body, om).unwrap_or_else(|e| panic!("{name}: {e}"));
        let samples = rows.iter().filter(|r| r.starts_with('{')).count();
        let expected_lines =
            body.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).count();
        assert_eq!(samples, expected_lines, "{name}: every sample line becomes one sample");
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn encoder_output_reparses() {
    let fams = vec![
        Family {
            name: "http_requests_total".into(),
            metric_type: MetricType::Counter,
            help: "Requests.\nWith a \\ backslash".into(),
            samples: vec![
                (
                    model::Labels::from_pairs([
                        ("__name__", "http_requests_total"),
                        ("code", "200"),
                    ]),
                    1027.0,
                    None,
                ),
                (
                    model::Labels::from_pairs([
                        ("__name__", "http_requests_total"),
                        ("code", "a\"b\n"),
                    ]),
                    3e-7,
                    Some(1500),
                ),
            ],
        },
        Family {
            name: "weird".into(),
            metric_type: MetricType::Gauge,
            help: String::new(),
            samples: vec![(
                model::Labels::from_pairs([("__name__", "weird"), ("x.y", "1")]),
                f64::NEG_INFINITY,
                None,
            )],
        },
    ];
    for (fmt, om) in [(EncodeFormat::PrometheusText, false), (EncodeFormat::OpenMetrics, true)] {
        let text = encode_families(&fams, fmt);
        let rows = parse_all(&text, om).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(
            rows.contains(
                &"{__name__=\"http_requests_total\", code=\"a\\\"b\\n\"} 0.0000003 @1500"
                    .to_string()
            ),
            "{rows:?}"
        );
        assert!(rows.contains(&"{__name__=\"weird\", \"x.y\"=\"1\"} -inf".to_string()), "{rows:?}");
        assert!(
            rows.contains(&"HELP http_requests_total Requests.\nWith a \\ backslash".to_string()),
            "{rows:?}"
        );
    }
    assert_eq!(crate::encode::format_float(1e21), "1e+21");
    assert_eq!(crate::encode::format_float(0.1), "0.1");
}
