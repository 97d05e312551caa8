//! Start-timestamp lines of `load` blocks: `metric{labels}@st <offsets>` gives, for each position of the sample
//! line that follows it, the start timestamp of that sample as an offset from the sample's own time.
//!
//! Items: `_` (no start timestamp), `_xN` (N positions without), `<dur>` (one position), `<dur>xN` (N+1 positions
//! with the same offset), `<dur>+<dur>xN` / `<dur>-<dur>xN` (N+1 positions, the offset stepping by the second
//! duration). Durations are single-unit Prometheus durations with an optional sign (`-30s`, `+1m`, `-0ms`).

/// Whether `line` is a start-timestamp line: its first word (the series) ends in `@st`.
pub(crate) fn is_st_line(line: &str) -> bool {
    line.split_whitespace().next().is_some_and(|w| w.ends_with("@st"))
        && line.split_whitespace().nth(1).is_some()
}

/// Splits a start-timestamp line into the series text (without `@st`) and its offsets (ms), one per position.
pub(crate) fn parse_st_line(line: &str) -> Result<(&str, Vec<Option<i64>>), String> {
    let line = line.trim();
    let Some(space) = line.find([' ', '\t']) else {
        return Err("invalid @st line: missing value sequence".into());
    };
    let metric = line[..space].strip_suffix("@st").unwrap_or(&line[..space]);
    let mut vals = Vec::new();
    for item in line[space..].split_whitespace() {
        parse_item(item, &mut vals)
            .map_err(|e| format!("invalid @st sequence: invalid ST item {item:?}: {e}"))?;
    }
    Ok((metric, vals))
}

fn parse_item(item: &str, out: &mut Vec<Option<i64>>) -> Result<(), String> {
    if item == "_" {
        out.push(None);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n = n.parse::<u64>().ok().filter(|n| *n > 0).ok_or("invalid repeat count")?;
        out.extend((0..n).map(|_| None));
        return Ok(());
    }
    let (base, rest) = duration_prefix(item)?;
    if rest.is_empty() {
        out.push(Some(base));
        return Ok(());
    }
    if let Some(n) = rest.strip_prefix('x') {
        let n = n.parse::<u64>().map_err(|_| "invalid repeat count")?;
        out.extend((0..=n).map(|_| Some(base)));
        return Ok(());
    }
    let negative = match rest.as_bytes()[0] {
        b'+' => false,
        b'-' => true,
        c => return Err(format!("unexpected character {:?} after duration", c as char)),
    };
    let (mut delta, rest) =
        duration_prefix(&rest[1..]).map_err(|e| format!("invalid step duration: {e}"))?;
    if negative {
        delta = -delta;
    }
    let n = rest
        .strip_prefix('x')
        .ok_or("expected 'x<count>' after step duration")?
        .parse::<u64>()
        .map_err(|e| format!("invalid repeat count: {e}"))?;
    let mut offset = base;
    for _ in 0..=n {
        out.push(Some(offset));
        offset += delta;
    }
    Ok(())
}

/// A signed single-unit duration at the start of `s` (ms) and the rest of `s`.
fn duration_prefix(s: &str) -> Result<(i64, &str), String> {
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let b = s.as_bytes();
    let (negative, start) = match b[0] {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut i = start;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return Err(format!("expected digits in duration {s:?}"));
    }
    // The unit: letters up to the `x` that separates a repeat count.
    while i < b.len() && b[i].is_ascii_alphabetic() && b[i] != b'x' {
        i += 1;
    }
    let text = &s[start..i];
    let ms = model::parse_duration(text).map_err(|e| format!("invalid duration {text:?}: {e}"))?;
    Ok((if negative { -ms } else { ms }, &s[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(items: &str) -> Vec<Option<i64>> {
        parse_st_line(&format!("m@st {items}")).unwrap().1
    }

    #[test]
    fn every_item_form() {
        assert_eq!(offsets("_ _x2"), vec![None, None, None]);
        assert_eq!(offsets("-30s-1mx2"), vec![Some(-30_000), Some(-90_000), Some(-150_000)]);
        assert_eq!(offsets("-1mx2"), vec![Some(-60_000); 3]);
        assert_eq!(offsets("0-1mx1 1ms"), vec![Some(0), Some(-60_000), Some(1)]);
        assert_eq!(offsets("+1m -0ms -59999ms"), vec![Some(60_000), Some(0), Some(-59_999)]);
        assert_eq!(offsets("-1s+10msx1"), vec![Some(-1000), Some(-990)]);
    }

    #[test]
    fn series_and_errors() {
        let (m, v) = parse_st_line(r#"c{type="a"}@st  _ -1m"#).unwrap();
        assert_eq!((m, v), (r#"c{type="a"}"#, vec![None, Some(-60_000)]));
        assert!(is_st_line("m{a=\"b\"}@st _ 1s"));
        assert!(!is_st_line("m 1 2 3"));
        assert!(!is_st_line("m@st"), "an @st line needs a sequence");
        // The series ends at the first blank, as in Prometheus's harness, so a blank inside a label value breaks
        // the line.
        assert!(parse_st_line(r#"c{type="a b"}@st _"#).is_err());
        for bad in ["m@st x", "m@st -1m+", "m@st 1mx", "m@st _x0", "m@st 5", "m@st 1m*2"] {
            assert!(parse_st_line(bad).is_err(), "{bad} must be rejected");
        }
    }
}
