//! `check config`: loads each configuration file as the server would and reports in promtool's words.

use std::fmt::Write as _;
use std::path::Path;

use crate::Outcome;

/// Checks every file; exit code 1 when any fails.
pub fn config(files: &[&Path]) -> Outcome {
    let mut out = Outcome::default();
    for f in files {
        let name = f.display().to_string();
        let _ = writeln!(out.stdout, "Checking {name}");
        match config::load_file(f) {
            Ok(cfg) => {
                let base = f.parent().unwrap_or(Path::new("."));
                let rule_files = expand_globs(base, &cfg.rule_files);
                if !rule_files.is_empty() {
                    let _ =
                        writeln!(out.stdout, "  SUCCESS: {} rule files found", rule_files.len());
                }
                let _ =
                    writeln!(out.stdout, " SUCCESS: {name} is valid prometheus config file syntax");
            }
            Err(e) => {
                let _ = writeln!(out.stderr, "  FAILED: {e}");
                out.code = 1;
            }
        }
        out.stdout.push('\n');
    }
    out
}

/// Files matched by `patterns` (relative to `base`), where `*` and `?` may appear in the last path element.
fn expand_globs(base: &Path, patterns: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for p in patterns {
        let full =
            if Path::new(p).is_absolute() { Path::new(p).to_path_buf() } else { base.join(p) };
        let name = full.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if !name.contains(['*', '?']) {
            if full.exists() {
                found.push(full.display().to_string());
            }
            continue;
        }
        let dir = full.parent().unwrap_or(base);
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if glob_match(&name, &n) {
                found.push(e.path().display().to_string());
            }
        }
    }
    found.sort();
    found
}

fn glob_match(pat: &str, s: &str) -> bool {
    match (pat.chars().next(), s.chars().next()) {
        (None, None) => true,
        (Some('*'), _) => {
            let rest = &pat[1..];
            glob_match(rest, s)
                || s.chars().next().is_some_and(|c| glob_match(pat, &s[c.len_utf8()..]))
        }
        (Some('?'), Some(c)) => glob_match(&pat[1..], &s[c.len_utf8()..]),
        (Some(p), Some(c)) if p == c => glob_match(&pat[p.len_utf8()..], &s[c.len_utf8()..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_configs() {
        let dir = std::env::temp_dir().join(format!("promtool-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.yml");
        std::fs::write(&good, "rule_files: ['*.rules.yml']\nscrape_configs:\n  - job_name: a\n")
            .unwrap();
        std::fs::write(dir.join("x.rules.yml"), "groups: []\n").unwrap();
        let bad = dir.join("bad.yml");
        std::fs::write(&bad, "scrape_configs:\n  - job_name: ''\n").unwrap();
        let o = config(&[good.as_path()]);
        assert_eq!(o.code, 0);
        assert_eq!(
            o.stdout,
            format!(
                "Checking {0}\n  SUCCESS: 1 rule files found\n SUCCESS: {0} is valid prometheus config file syntax\n\n",
                good.display()
            )
        );
        let o = config(&[bad.as_path(), good.as_path()]);
        assert_eq!(o.code, 1);
        assert_eq!(
            o.stderr,
            format!("  FAILED: parsing YAML file {}: job_name is empty\n", bad.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.yml", "a.yml"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(!glob_match("*.yml", "a.yaml"));
    }
}
