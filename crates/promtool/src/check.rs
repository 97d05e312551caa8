//! `check config` and `check rules`: load each file as the server would and report in promtool's words.

use std::fmt::Write as _;
use std::path::Path;

use crate::Outcome;

/// promtool's lint settings for rules (`--lint`, `--lint-fatal`, `--ignore-unknown-fields`).
#[derive(Debug, Clone)]
pub struct RulesLint {
    /// Report rules recording the same metric with the same labels (`--lint=duplicate-rules`, the default).
    pub duplicate_rules: bool,
    /// Lint problems exit with code 3 (`--lint-fatal`).
    pub fatal: bool,
    /// Accept unknown keys in rule files.
    pub ignore_unknown_fields: bool,
    /// Experimental PromQL accepted.
    pub parser: promql_syntax::ParserOptions,
}

impl Default for RulesLint {
    fn default() -> RulesLint {
        RulesLint {
            duplicate_rules: true,
            fatal: false,
            ignore_unknown_fields: false,
            parser: promql_syntax::ParserOptions::default(),
        }
    }
}

impl RulesLint {
    /// Applies a `--lint` value (`all`, `duplicate-rules`, `none`, comma-separated); unknown options are
    /// reported on stdout as promtool does.
    pub fn with_lint_option(mut self, value: &str, out: &mut Outcome) -> RulesLint {
        self.duplicate_rules = false;
        for opt in value.split(',').filter(|s| !s.is_empty()) {
            match opt {
                "all" | "duplicate-rules" => self.duplicate_rules = true,
                "none" => {}
                other => {
                    let _ = writeln!(out.stdout, "WARNING: unknown lint option: {other:?}");
                }
            }
        }
        self
    }

    fn exit_code(&self, failed: bool, has_errors: bool) -> i32 {
        match (failed, has_errors) {
            (true, true) => 1,
            (true, false) if self.fatal => 3,
            _ => 0,
        }
    }
}

/// Checks every configuration file and the rule files it names; exit code 1 when any fails.
pub fn config(files: &[&Path], lint: &RulesLint) -> Outcome {
    let mut out = Outcome::default();
    let (mut failed, mut has_errors) = (false, false);
    for f in files {
        let name = f.display().to_string();
        let _ = writeln!(out.stdout, "Checking {name}");
        let loaded = config::load_file(f).map_err(|e| e.to_string()).and_then(|cfg| {
            let base = f.parent().unwrap_or(Path::new(""));
            rules::expand_globs(base, &cfg.rule_files)
        });
        let mut rule_files = Vec::new();
        match loaded {
            Ok(rf) => {
                if !rf.is_empty() {
                    let _ = writeln!(out.stdout, "  SUCCESS: {} rule files found", rf.len());
                }
                let _ =
                    writeln!(out.stdout, " SUCCESS: {name} is valid prometheus config file syntax");
                rule_files = rf;
            }
            Err(e) => {
                let _ = writeln!(out.stderr, "  FAILED: {e}");
                failed = true;
                has_errors = true;
            }
        }
        out.stdout.push('\n');
        let paths: Vec<&Path> = rule_files.iter().map(Path::new).collect();
        let (f2, e2) = check_rule_files(&mut out, &paths, lint);
        failed |= f2;
        has_errors |= e2;
    }
    out.code = lint.exit_code(failed, has_errors);
    out
}

/// `check rules FILE…`.
pub fn rules(files: &[&Path], lint: &RulesLint) -> Outcome {
    let mut out = Outcome::default();
    let (failed, has_errors) = check_rule_files(&mut out, files, lint);
    out.code = lint.exit_code(failed, has_errors);
    out
}

/// `check rules` reading standard input.
pub fn rules_stdin(text: &str, lint: &RulesLint) -> Outcome {
    let mut out = Outcome::default();
    let _ = writeln!(out.stdout, "Checking standard input");
    let (failed, has_errors) =
        check_one(&mut out, rules::file::parse(text, &parse_opts(lint)), lint);
    out.code = lint.exit_code(failed, has_errors);
    out
}

fn parse_opts(lint: &RulesLint) -> rules::file::ParseOptions {
    rules::file::ParseOptions {
        ignore_unknown_fields: lint.ignore_unknown_fields,
        parser: lint.parser,
    }
}

fn check_rule_files(out: &mut Outcome, files: &[&Path], lint: &RulesLint) -> (bool, bool) {
    let (mut failed, mut has_errors) = (false, false);
    for f in files {
        let _ = writeln!(out.stdout, "Checking {}", f.display());
        let (f2, e2) = check_one(out, rules::file::parse_file(f, &parse_opts(lint)), lint);
        failed |= f2;
        has_errors |= e2;
    }
    (failed, has_errors)
}

fn check_one(
    out: &mut Outcome,
    parsed: Result<rules::file::RuleFile, Vec<String>>,
    lint: &RulesLint,
) -> (bool, bool) {
    let rf = match parsed {
        Ok(rf) => rf,
        Err(errs) => {
            let _ = writeln!(out.stderr, "  FAILED:");
            for e in errs {
                let _ = writeln!(out.stderr, "{e}");
            }
            return (true, true);
        }
    };
    let n: usize = rf.groups.iter().map(|g| g.rules.len()).sum();
    let dups = if lint.duplicate_rules { duplicates(&rf) } else { Vec::new() };
    let failed = !dups.is_empty();
    if failed {
        let mut msg = format!("lint error {} duplicate rule(s) found.\n", dups.len());
        for (metric, labels) in &dups {
            let _ = writeln!(msg, "Metric: {metric}\nLabel(s):");
            for (k, v) in labels {
                let _ = writeln!(msg, "\t{k}: {v}");
            }
        }
        msg.push_str("Might cause inconsistency while recording expressions");
        let _ = writeln!(out.stderr, "  FAILED:\n{msg}");
    } else {
        let _ = writeln!(out.stdout, "  SUCCESS: {n} rules found");
    }
    out.stdout.push('\n');
    (failed, false)
}

type RuleKey = (String, Vec<(String, String)>);

/// Rules writing the same metric with the same labels (group labels merged in), each reported once.
fn duplicates(rf: &rules::file::RuleFile) -> Vec<RuleKey> {
    let mut keys: Vec<RuleKey> = Vec::new();
    for g in &rf.groups {
        for r in &g.rules {
            let mut labels = g.labels.clone();
            labels.extend(r.labels.clone());
            keys.push((r.name().to_string(), labels.into_iter().collect()));
        }
    }
    keys.sort();
    let mut out: Vec<RuleKey> = Vec::new();
    for w in keys.windows(2) {
        if w[0] == w[1] && out.last() != Some(&w[1]) {
            out.push(w[1].clone());
        }
    }
    out
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
        let o = config(&[good.as_path()], &RulesLint::default());
        assert_eq!(o.code, 0);
        assert_eq!(
            o.stdout,
            format!(
                "Checking {0}\n  SUCCESS: 1 rule files found\n SUCCESS: {0} is valid prometheus config file syntax\n\nChecking {1}\n  SUCCESS: 0 rules found\n\n",
                good.display(),
                dir.join("x.rules.yml").display()
            )
        );
        let o = config(&[bad.as_path(), good.as_path()], &RulesLint::default());
        assert_eq!(o.code, 1);
        assert_eq!(
            o.stderr,
            format!("  FAILED: parsing YAML file {}: job_name is empty\n", bad.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
