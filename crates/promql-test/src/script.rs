//! Parsing of test scripts into commands.

use model::Labels;
use promql_syntax::{SequenceValue, parse_series_desc};

use crate::st;

/// Kinds of `expect` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectKind {
    /// `expect fail`
    Fail,
    /// `expect warn`
    Warn,
    /// `expect no_warn`
    NoWarn,
    /// `expect info`
    Info,
    /// `expect no_info`
    NoInfo,
    /// `expect ordered`
    Ordered,
}

/// One `expect` line.
#[derive(Debug, Clone)]
pub struct Expect {
    /// Kind.
    pub kind: ExpectKind,
    /// Exact message (`msg:`).
    pub msg: Option<String>,
    /// Pattern (`regex:`), unanchored as Go's `MatchString`.
    pub regex: Option<regex::Regex>,
}

impl Expect {
    /// Whether `s` satisfies this expectation.
    pub fn matches(&self, s: &str) -> bool {
        match (&self.msg, &self.regex) {
            (Some(m), _) => m == s,
            (None, Some(r)) => r.is_match(s),
            (None, None) => true,
        }
    }

    /// The message or pattern, for error texts.
    pub fn pattern_text(&self) -> String {
        match (&self.msg, &self.regex) {
            (Some(m), _) => m.clone(),
            (None, Some(r)) => r.as_str().to_string(),
            (None, None) => "^.*$".into(),
        }
    }
}

/// A `load` command.
#[derive(Debug, Clone)]
pub struct LoadCmd {
    /// Script line (1-based).
    pub line: usize,
    /// Interval between points (ms).
    pub gap: i64,
    /// `load_with_nhcb`.
    pub with_nhcb: bool,
    /// Series and their values.
    pub series: Vec<(Labels, Vec<SequenceValue>)>,
    /// Start-timestamp offsets (ms from each sample's time) of the series that had an `@st` line, one per
    /// position of the series' values.
    pub start_timestamps: Vec<(Labels, Vec<Option<i64>>)>,
}

/// An `eval` command.
#[derive(Debug, Clone)]
pub struct EvalCmd {
    /// Script line (1-based).
    pub line: usize,
    /// The query.
    pub expr: String,
    /// Range query.
    pub is_range: bool,
    /// Instant evaluation time (ms).
    pub eval_at: i64,
    /// Range start (ms).
    pub start: i64,
    /// Range end (ms).
    pub end: i64,
    /// Range step (ms).
    pub step: i64,
    /// Expectations.
    pub expects: Vec<Expect>,
    /// Legacy `eval_fail` / `eval_ordered` / `eval_warn` / `eval_info` modifiers.
    pub legacy_fail: bool,
    /// `eval_ordered`.
    pub legacy_ordered: bool,
    /// Expected series (labels, values) in order.
    pub expected: Vec<(Labels, Vec<SequenceValue>)>,
    /// Expected scalar.
    pub expected_scalar: Option<f64>,
    /// Expected string (`expect string`).
    pub expected_string: Option<String>,
    /// `expect range vector`: the instant query returns a matrix.
    pub range_vector: bool,
    /// Not re-run as a range query.
    pub exclude_from_range: bool,
}

impl EvalCmd {
    /// Whether a failure is expected.
    pub fn is_fail(&self) -> bool {
        self.legacy_fail || self.expects.iter().any(|e| e.kind == ExpectKind::Fail)
    }

    /// Whether the result order matters.
    pub fn ordered(&self) -> bool {
        self.legacy_ordered || self.expects.iter().any(|e| e.kind == ExpectKind::Ordered)
    }
}

/// A script command.
#[derive(Debug, Clone)]
pub enum Command {
    /// `clear`
    Clear,
    /// `load`
    Load(LoadCmd),
    /// `eval`
    Eval(EvalCmd),
}

fn dur(s: &str) -> Result<i64, String> {
    model::parse_duration(s.trim()).map_err(|e| e.to_string())
}

fn parse_expect(line: &str) -> Result<Expect, String> {
    let rest = line["expect".len()..].trim_start();
    let (kind_s, tail) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim_start()),
        None => (rest, ""),
    };
    let kind = match kind_s {
        "fail" => ExpectKind::Fail,
        "warn" => ExpectKind::Warn,
        "no_warn" => ExpectKind::NoWarn,
        "info" => ExpectKind::Info,
        "no_info" => ExpectKind::NoInfo,
        "ordered" => ExpectKind::Ordered,
        _ => return Err(
            "invalid expect statement, must match `expect <type> <match_type>: <string>` format"
                .into(),
        ),
    };
    let mut e = Expect { kind, msg: None, regex: None };
    if tail.is_empty() {
        return Ok(e);
    }
    if let Some(m) = tail.strip_prefix("msg:") {
        e.msg = Some(m.trim().to_string());
    } else if let Some(r) = tail.strip_prefix("regex:") {
        let p = r.trim();
        e.regex =
            Some(regex::Regex::new(p).map_err(|_| format!("invalid regex {p} for {kind_s}"))?);
    } else {
        return Err(
            "invalid expect statement, must match `expect <type> <match_type>: <string>` format"
                .into(),
        );
    }
    Ok(e)
}

/// Go's `strconv.Unquote` for the `expect string` value.
fn unquote_go(s: &str) -> Option<String> {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return Some(s[1..s.len() - 1].to_string());
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        let body = &s[1..s.len() - 1];
        let mut out = String::new();
        let mut it = body.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    other => out.push(other),
                }
            } else {
                out.push(c);
            }
        }
        return Some(out);
    }
    None
}

fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.contains(char::is_whitespace) || t.contains('{') {
        return None;
    }
    promql_syntax::parse_number(t)
}

/// Parses a script. Errors carry the 1-based line.
pub fn parse_script(text: &str) -> Result<Vec<Command>, (usize, String)> {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') { String::new() } else { t.to_string() }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let first = l.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        if first == "clear" {
            cmds.push(Command::Clear);
            i += 1;
        } else if first.starts_with("load") {
            let with_nhcb = first == "load_with_nhcb";
            let step = l.split_whitespace().nth(1).ok_or((
                i + 1,
                "invalid load command. (load[_with_nhcb] <step:duration>)".to_string(),
            ))?;
            let gap =
                dur(step).map_err(|e| (i + 1, format!("invalid step definition {step:?}: {e}")))?;
            let mut cmd = LoadCmd {
                line: i + 1,
                gap,
                with_nhcb,
                series: Vec::new(),
                start_timestamps: Vec::new(),
            };
            i += 1;
            // An `@st` line waiting for the sample line it belongs to: its line, series and offsets.
            let mut pending: Option<(usize, Labels, Vec<Option<i64>>)> = None;
            while i < lines.len() && !lines[i].is_empty() {
                let def = &lines[i];
                if st::is_st_line(def) {
                    if let Some((line, ..)) = pending {
                        return Err((line, "@st line has no following sample line".into()));
                    }
                    let (metric, offsets) = st::parse_st_line(def).map_err(|e| (i + 1, e))?;
                    let desc = format!("{metric} _");
                    let (labels, _) = parse_series_desc(&desc).map_err(|e| {
                        (i + 1, format!("invalid @st line metric {metric:?}: {}", e.render(&desc)))
                    })?;
                    pending = Some((i + 1, labels, offsets));
                    i += 1;
                    continue;
                }
                let (labels, vals) = parse_series_desc(def).map_err(|e| (i + 1, e.render(def)))?;
                let sts = match pending.take() {
                    Some((line, st_labels, offsets)) => {
                        if st_labels != labels {
                            return Err((
                                line,
                                "@st metric does not match the following sample line metric".into(),
                            ));
                        }
                        if offsets.len() != vals.len() {
                            return Err((
                                line,
                                format!(
                                    "@st line has {} values but sample line has {}",
                                    offsets.len(),
                                    vals.len()
                                ),
                            ));
                        }
                        Some(offsets)
                    }
                    None => None,
                };
                // A series defined again replaces its samples, and their start timestamps with them.
                cmd.start_timestamps.retain(|(l, _)| *l != labels);
                if let Some(sts) = sts {
                    cmd.start_timestamps.push((labels.clone(), sts));
                }
                match cmd.series.iter_mut().find(|(l, _)| *l == labels) {
                    Some(s) => s.1 = vals,
                    None => cmd.series.push((labels, vals)),
                }
                i += 1;
            }
            if let Some((line, ..)) = pending {
                return Err((line, "@st line has no following sample line".into()));
            }
            cmds.push(Command::Load(cmd));
        } else if first.starts_with("eval") {
            let line_no = i + 1;
            let (cmd, next) = parse_eval(&lines, i).map_err(|e| (line_no, e))?;
            cmds.push(Command::Eval(cmd));
            i = next;
        } else {
            return Err((i + 1, format!("invalid command {l:?}")));
        }
    }
    Ok(cmds)
}

fn parse_eval(lines: &[String], mut i: usize) -> Result<(EvalCmd, usize), String> {
    let l = &lines[i];
    let mut words = l.splitn(2, char::is_whitespace);
    let head = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("").trim_start();
    let modifier = head.strip_prefix("eval").unwrap_or("").trim_start_matches('_').to_string();
    let mut cmd = EvalCmd {
        line: i + 1,
        expr: String::new(),
        is_range: false,
        eval_at: 0,
        start: 0,
        end: 0,
        step: 0,
        expects: Vec::new(),
        legacy_fail: modifier == "fail",
        legacy_ordered: modifier == "ordered",
        expected: Vec::new(),
        expected_scalar: None,
        expected_string: None,
        range_vector: false,
        exclude_from_range: false,
    };
    if let Some(r) = rest.strip_prefix("instant") {
        let r = r.trim_start();
        let r = r.strip_prefix("at").ok_or("invalid evaluation command")?.trim_start();
        let (at, expr) = r.split_once(char::is_whitespace).ok_or("invalid evaluation command")?;
        cmd.eval_at = dur(at).map_err(|e| format!("invalid timestamp definition {at:?}: {e}"))?;
        cmd.expr = expr.trim().to_string();
    } else if let Some(r) = rest.strip_prefix("range") {
        // range from <start> to <end> step <step> <expr>
        let w: Vec<&str> = r.split_whitespace().collect();
        if w.len() < 7 || w[0] != "from" || w[2] != "to" || w[4] != "step" {
            return Err("invalid evaluation command".into());
        }
        cmd.is_range = true;
        cmd.start = dur(w[1])?;
        cmd.end = dur(w[3])?;
        cmd.step = dur(w[5])?;
        // The expression is everything after the step token.
        let mut rest_s = r;
        for _ in 0..6 {
            rest_s = rest_s.trim_start();
            let end = rest_s.find(char::is_whitespace).unwrap_or(rest_s.len());
            rest_s = &rest_s[end..];
        }
        cmd.expr = rest_s.trim().to_string();
        if cmd.end < cmd.start {
            return Err(format!(
                "invalid test definition, end timestamp ({}) is before start timestamp ({})",
                w[3], w[1]
            ));
        }
    } else {
        return Err("invalid evaluation command".into());
    }
    i += 1;
    while i < lines.len() && !lines[i].is_empty() {
        let def = &lines[i];
        if cmd.legacy_fail
            && (def.starts_with("expected_fail_message") || def.starts_with("expected_fail_regexp"))
        {
            if let Some(m) = def.strip_prefix("expected_fail_message") {
                cmd.expects.push(Expect {
                    kind: ExpectKind::Fail,
                    msg: Some(m.trim().to_string()),
                    regex: None,
                });
            } else if let Some(r) = def.strip_prefix("expected_fail_regexp") {
                let re = regex::Regex::new(r.trim()).map_err(|e| e.to_string())?;
                cmd.expects.push(Expect { kind: ExpectKind::Fail, msg: None, regex: Some(re) });
            }
            i += 1;
            break;
        }
        if let Some(r) = def.strip_prefix("expect range vector") {
            let w: Vec<&str> = r.split_whitespace().collect();
            if w.len() != 6 || w[0] != "from" || w[2] != "to" || w[4] != "step" {
                return Err(format!("invalid range vector definition {def:?}"));
            }
            cmd.start = dur(w[1])?;
            cmd.end = dur(w[3])?;
            cmd.step = dur(w[5])?;
            cmd.eval_at = cmd.end;
            cmd.range_vector = true;
            cmd.exclude_from_range = true;
            i += 1;
            continue;
        }
        if let Some(r) = def.strip_prefix("expect string") {
            let s = unquote_go(r.trim()).ok_or(
                "expected string literal not valid - check that the string is correctly quoted",
            )?;
            cmd.expected_string = Some(s);
            cmd.exclude_from_range = true;
            i += 1;
            continue;
        }
        if def.split(' ').next() == Some("expect") {
            cmd.expects.push(parse_expect(def)?);
            i += 1;
            continue;
        }
        if let Some(f) = parse_number(def) {
            cmd.expected_scalar = Some(f);
            i += 1;
            break;
        }
        let (labels, vals) = parse_series_desc(def).map_err(|e| e.render(def))?;
        if vals.len() > 1 && !cmd.is_range && !cmd.range_vector {
            return Err("expecting multiple values in instant evaluation not allowed. consider using 'expect range vector' directive to enable a range vector result for an instant query".into());
        }
        cmd.expected.push((labels, vals));
        i += 1;
    }
    Ok((cmd, i))
}
