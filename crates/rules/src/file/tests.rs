use super::*;

fn testdata(p: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(p)
}

/// Every `testdata/bad/X.yml` fails with exactly the messages in `X.err` (file name relative to `bad/`).
/// `BLESS=1` rewrites the golden files.
#[test]
fn invalid_files_give_prometheus_messages() {
    let dir = testdata("bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let got = match parse(&text, &ParseOptions::default()) {
            Ok(_) => "(no error)\n".to_string(),
            Err(errs) => errs.join("\n") + "\n",
        };
        let golden = f.with_extension("err");
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(&golden, &got).unwrap();
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if got != want {
            bad.push(format!("{}:\n  got:  {got}  want: {want}", f.display()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn prometheus_fixtures_load() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/rules/fixtures");
    if !dir.exists() {
        println!("skipping: {} is absent", dir.display());
        return;
    }
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let r = parse_file(&p, &ParseOptions::default());
        if name == "invalid_rules.yaml" {
            assert_eq!(
                r.unwrap_err(),
                vec![format!(
                    "{}: yaml: unmarshal errors:\n  line 6: field unexpected_field not found in type rulefmt.Rule",
                    p.display()
                )]
            );
        } else {
            let f = r.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(!f.groups.is_empty(), "{name}");
        }
    }
}

#[test]
fn defaults_and_merging() {
    let f = parse(
        "groups:\n- name: g\n  interval: 30s\n  query_offset: 1m\n  limit: 10\n  labels: {team: a}\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 2m\n    labels: {severity: page}\n    annotations: {summary: down}\n  - record: r\n    expr: 1\n",
        &ParseOptions::default(),
    )
    .unwrap();
    let g = &f.groups[0];
    assert_eq!((g.interval, g.query_offset, g.limit), (Some(30_000), Some(60_000), 10));
    assert_eq!(g.rules[0].for_ms, 300_000);
    assert_eq!(g.rules[0].keep_firing_for_ms, 120_000);
    assert_eq!(g.rules[1].expr, "1");
    assert_eq!(g.rules[1].name(), "r");
}

#[test]
fn multiple_documents_use_the_first() {
    let f = parse(
        "groups:\n- name: a\n  rules: []\n---\ngroups:\n- name: b\n  rules: []\n",
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(f.groups.len(), 1);
    assert_eq!(f.groups[0].name, "a");
    assert_eq!(parse("", &ParseOptions::default()).unwrap(), RuleFile::default());
}

#[test]
fn unknown_fields_can_be_ignored() {
    let text = std::fs::read_to_string(testdata("bad/unknown_group_field.yml")).unwrap();
    let opts = ParseOptions { ignore_unknown_fields: true, ..Default::default() };
    assert_eq!(parse(&text, &opts).unwrap().groups[0].rules.len(), 1);
}

#[test]
fn missing_file() {
    let e = parse_file(std::path::Path::new("/nonexistent/rules.yml"), &ParseOptions::default())
        .unwrap_err();
    assert_eq!(e, vec!["/nonexistent/rules.yml: open: no such file or directory".to_string()]);
}
