//! `rule_files` patterns: relative paths resolve against the configuration file's directory, `*`, `?` and `[…]`
//! may appear in the last path element, and a pattern without wildcards must name an existing file.

use std::path::Path;

/// The files matched by `patterns`, sorted per pattern as Go's `filepath.Glob` returns them.
pub fn expand_globs(base: &Path, patterns: &[String]) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for p in patterns {
        let full =
            if Path::new(p).is_absolute() { Path::new(p).to_path_buf() } else { base.join(p) };
        let shown = full.display().to_string();
        let name = full.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if !name.contains(['*', '?', '[']) {
            if !full.is_file() {
                return Err(format!("{shown:?} does not point to an existing file"));
            }
            found.push(shown);
            continue;
        }
        let dir = match full.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => Path::new(".").to_path_buf(),
        };
        let mut matched: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| glob_match(&name, &e.file_name().to_string_lossy()))
            .map(|e| {
                let parent = full.parent().unwrap_or(Path::new(""));
                parent.join(e.file_name()).display().to_string()
            })
            .collect();
        matched.sort();
        found.extend(matched);
    }
    Ok(found)
}

/// Shell-style matching of one path element: `*`, `?`, and `[…]` classes with ranges and `^`/`!` negation.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    match_from(&p, &t)
}

fn match_from(p: &[char], t: &[char]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, next)) = class(&p[pi..], t[ti])
                        && ok
                    {
                        pi += next;
                        ti += 1;
                        continue;
                    }
                }
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class starting at `p[0] == '['`: (matched, length of the class).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some('^' | '!'));
    if negate {
        i += 1;
    }
    let mut ok = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((ok != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                ok = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                ok = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        for (p, s, want) in [
            ("*.yml", "a.yml", true),
            ("*.yml", "a.yaml", false),
            ("a?c*", "abcdef", true),
            ("r[0-9].yml", "r5.yml", true),
            ("r[!0-9].yml", "r5.yml", false),
            ("*a*b", "xxaxxb", true),
            ("*a*b", "xxaxxbc", false),
            ("", "", true),
        ] {
            assert_eq!(glob_match(p, s), want, "{p} {s}");
        }
    }

    #[test]
    fn expands_relative_to_base_and_requires_plain_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.rules.yml", "a.rules.yml", "other.txt"] {
            std::fs::write(dir.path().join(f), "groups: []\n").unwrap();
        }
        let got = expand_globs(dir.path(), &["*.rules.yml".into(), "other.txt".into()]).unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|p| Path::new(p).file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, ["a.rules.yml", "b.rules.yml", "other.txt"]);
        let err = expand_globs(Path::new(""), &["missing.yml".into()]).unwrap_err();
        assert_eq!(err, "\"missing.yml\" does not point to an existing file");
        assert!(expand_globs(dir.path(), &["none-*.yml".into()]).unwrap().is_empty());
    }
}
