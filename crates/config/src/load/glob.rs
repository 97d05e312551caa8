//! Go's `filepath.Glob` for `scrape_config_files`: `*`, `?`, `[…]` classes (ranges, `^` negation) and `\`
//! escapes per path element, matches sorted per directory, a pattern without metacharacters matching the path
//! itself when it exists, and no error for patterns that match nothing.

use std::path::{Path, PathBuf};

/// A pattern Go's matcher refuses (`filepath.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadPattern;

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

/// The existing paths `pattern` matches, in Go's order.
pub(super) fn glob(pattern: &Path) -> Result<Vec<PathBuf>, BadPattern> {
    let text = pattern.to_string_lossy();
    if !has_meta(&text) {
        return Ok(if std::fs::symlink_metadata(pattern).is_ok() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        });
    }
    let (dir, name) = match text.rfind('/') {
        Some(0) => ("/", &text[1..]),
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (".", &text[..]),
    };
    // The whole pattern's syntax is checked first, even when the directory does not exist.
    matches(&text, "")?;
    let dirs = if has_meta(dir) { glob(Path::new(dir))? } else { vec![PathBuf::from(dir)] };
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        let mut names: Vec<String> =
            entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for n in names {
            if matches(name, &n)? {
                out.push(if text.contains('/') { d.join(&n) } else { PathBuf::from(&n) });
            }
        }
    }
    Ok(out)
}

/// Whether one path element `name` matches `pattern` (Go's `filepath.Match`).
pub(super) fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_here(&p, &n)
}

fn match_here(p: &[char], n: &[char]) -> Result<bool, BadPattern> {
    let Some((&first, rest)) = p.split_first() else { return Ok(n.is_empty()) };
    match first {
        '*' => {
            // Validate what follows once, then try every split that keeps `*` within the element.
            let mut result = match_here(rest, n)?;
            let mut i = 0;
            while !result && i < n.len() && n[i] != '/' {
                i += 1;
                result = match_here(rest, &n[i..])?;
            }
            Ok(result)
        }
        '?' => match n.split_first() {
            Some((&c, tail)) if c != '/' => match_here(rest, tail),
            _ => skip_checked(rest),
        },
        '[' => {
            let (ok, used) = class(rest, n.first().copied())?;
            if ok { match_here(&rest[used..], &n[1..]) } else { skip_checked(&rest[used..]) }
        }
        '\\' => {
            let (&lit, tail) = rest.split_first().ok_or(BadPattern)?;
            match n.split_first() {
                Some((&c, ntail)) if c == lit => match_here(tail, ntail),
                _ => skip_checked(tail),
            }
        }
        c => match n.split_first() {
            Some((&d, ntail)) if d == c => match_here(rest, ntail),
            _ => skip_checked(rest),
        },
    }
}

/// A failed match that still reports a malformed remainder, as Go does.
fn skip_checked(p: &[char]) -> Result<bool, BadPattern> {
    match_here(p, &[]).map(|_| false)
}

/// Matches `c` against the class body `p` (after `[`); returns the result and the characters used, `]` included.
fn class(p: &[char], c: Option<char>) -> Result<(bool, usize), BadPattern> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        match p.get(i) {
            None => return Err(BadPattern),
            Some(']') if !first => break,
            _ => {}
        }
        first = false;
        let lo = element(p, &mut i)?;
        let hi = if p.get(i) == Some(&'-') {
            i += 1;
            element(p, &mut i)?
        } else {
            lo
        };
        if lo > hi {
            return Err(BadPattern);
        }
        if c.is_some_and(|c| lo <= c && c <= hi) {
            matched = true;
        }
    }
    let ok = c.is_some_and(|c| c != '/') && matched != negated;
    Ok((ok, i + 1))
}

fn element(p: &[char], i: &mut usize) -> Result<char, BadPattern> {
    let c = match p.get(*i) {
        Some('\\') => {
            *i += 1;
            *p.get(*i).ok_or(BadPattern)?
        }
        Some('-' | ']') | None => return Err(BadPattern),
        Some(&c) => c,
    };
    *i += 1;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_match_as_in_go() {
        let cases = [
            ("*.yml", "a.yml", true),
            ("*.yml", "a.yaml", false),
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("\\*", "*", true),
            ("*", ".hidden", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(matches(p, n), Ok(want), "{p} ~ {n}");
        }
        assert_eq!(matches("[a-", "a"), Err(BadPattern));
        assert_eq!(
            matches("x[", "y"),
            Err(BadPattern),
            "a bad pattern is reported without a match"
        );
    }

    #[test]
    fn globs_list_sorted_existing_files() {
        let dir = std::env::temp_dir().join(format!("config-glob-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["b.yml", "a.yml", "c.txt"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let got = glob(&dir.join("*.yml")).unwrap();
        assert_eq!(got, vec![dir.join("a.yml"), dir.join("b.yml")]);
        assert_eq!(glob(&dir.join("c.txt")).unwrap(), vec![dir.join("c.txt")]);
        assert!(glob(&dir.join("missing.yml")).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
