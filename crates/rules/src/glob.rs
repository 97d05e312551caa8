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

/// Matching of one path element as Go's `filepath.Match` does it (the configuration loader's matcher); a pattern
/// Go refuses matches nothing.
pub fn glob_match(pat: &str, s: &str) -> bool {
    config::glob_match(pat, s).unwrap_or(false)
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
            ("r[^0-9].yml", "r5.yml", false),
            // Go has no `!` negation: it is one more character of the class.
            ("r[!0-9].yml", "r5.yml", true),
            ("r[", "r", false),
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
