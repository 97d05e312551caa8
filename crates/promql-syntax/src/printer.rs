//! Prints a tree back as PromQL, in Prometheus's canonical form; the output parses to the same tree.

use std::fmt::{self, Display, Write};

use model::{MatchType, is_valid_legacy_label_name, is_valid_legacy_metric_name};

use crate::ast::*;
use crate::strings::quote;

/// Formats a float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` would, with `+Inf`/`-Inf`/`NaN`.
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    // Rust's Display prints the shortest round-tripping digits without an exponent, like Go's 'f' with -1.
    format!("{v}")
}

fn write_duration(f: &mut fmt::Formatter<'_>, d: &Duration) -> fmt::Result {
    match d {
        Duration::Literal(ms) => {
            if *ms < 0 {
                write!(f, "-{}", model::format_duration(-ms))
            } else {
                f.write_str(&model::format_duration(*ms))
            }
        }
        Duration::Expr(e) => write!(f, "{e}"),
    }
}

impl Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationExpr::Number { text, .. } if !text.is_empty() => f.write_str(text),
            DurationExpr::Number { secs, .. } => {
                let ms = secs * 1000.0;
                if ms.fract() == 0.0 && ms.abs() < 1e15 {
                    let ms = ms as i64;
                    if ms < 0 {
                        write!(f, "-{}", model::format_duration(-ms))
                    } else {
                        f.write_str(&model::format_duration(ms))
                    }
                } else {
                    f.write_str(&format_number(*secs))
                }
            }
            DurationExpr::Step => f.write_str("step()"),
            DurationExpr::Range => f.write_str("range()"),
            DurationExpr::Neg(e) => write!(f, "-{e}"),
            DurationExpr::Paren(e) => write!(f, "({e})"),
            DurationExpr::Binary(op, a, b) => match op {
                DurOp::MinOf => write!(f, "min_of({a}, {b})"),
                DurOp::MaxOf => write!(f, "max_of({a}, {b})"),
                _ => {
                    let o = match op {
                        DurOp::Add => "+",
                        DurOp::Sub => "-",
                        DurOp::Mul => "*",
                        DurOp::Div => "/",
                        DurOp::Mod => "%",
                        _ => "^",
                    };
                    write!(f, "{a} {o} {b}")
                }
            },
        }
    }
}

fn write_offset_at(
    f: &mut fmt::Formatter<'_>,
    offset: &Option<Duration>,
    ts: Option<i64>,
    at: Option<AtModifier>,
) -> fmt::Result {
    if let Some(d) = offset {
        f.write_str(" offset ")?;
        match d {
            Duration::Expr(e) if !matches!(e.as_ref(), DurationExpr::Paren(_)) => {
                write!(f, "({e})")?
            }
            _ => write_duration(f, d)?,
        }
    }
    if let Some(ts) = ts {
        write!(f, " @ {}.{:03}", ts.div_euclid(1000), ts.rem_euclid(1000))?;
    }
    match at {
        Some(AtModifier::Start) => f.write_str(" @ start()")?,
        Some(AtModifier::End) => f.write_str(" @ end()")?,
        None => {}
    }
    Ok(())
}

fn label_name(name: &str) -> String {
    if is_valid_legacy_label_name(name) { name.to_string() } else { quote(name) }
}

fn write_grouping(f: &mut fmt::Formatter<'_>, labels: &[String]) -> fmt::Result {
    f.write_char('(')?;
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(&label_name(l))?;
    }
    f.write_char(')')
}

impl Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut matchers: Vec<String> = Vec::new();
        let mut name_in_braces = false;
        for m in &self.matchers {
            if !self.name.is_empty()
                && m.name == model::METRIC_NAME_LABEL
                && m.match_type == MatchType::Equal
                && m.value == self.name
            {
                continue;
            }
            let _ = name_in_braces;
            matchers.push(format!(
                "{}{}{}",
                label_name(&m.name),
                m.match_type.as_str(),
                quote(&m.value)
            ));
        }
        if !self.name.is_empty() {
            if is_valid_legacy_metric_name(&self.name) {
                f.write_str(&self.name)?;
            } else {
                name_in_braces = true;
                matchers.insert(0, quote(&self.name));
            }
        }
        if !matchers.is_empty() || self.name.is_empty() || name_in_braces {
            write!(f, "{{{}}}", matchers.join(", "))?;
        }
        Ok(())
    }
}

fn write_vs_modifiers(f: &mut fmt::Formatter<'_>, vs: &VectorSelector) -> fmt::Result {
    write_offset_at(f, &vs.offset, vs.timestamp, vs.at)?;
    if vs.anchored {
        f.write_str(" anchored")?;
    }
    if vs.smoothed {
        f.write_str(" smoothed")?;
    }
    Ok(())
}

impl Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Aggregate(a) => {
                f.write_str(a.op.as_str())?;
                if a.has_grouping {
                    f.write_str(if a.without { " without " } else { " by " })?;
                    write_grouping(f, &a.grouping)?;
                    f.write_char(' ')?;
                }
                f.write_char('(')?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Binary(b) => {
                write!(f, "{} {}", b.lhs, b.op.as_str())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                let m = &b.matching;
                if b.has_matching {
                    f.write_str(if m.on { " on " } else { " ignoring " })?;
                    write_grouping(f, &m.matching_labels)?;
                    match m.card {
                        Cardinality::ManyToOne => {
                            f.write_str(" group_left ")?;
                            write_grouping(f, &m.include)?;
                        }
                        Cardinality::OneToMany => {
                            f.write_str(" group_right ")?;
                            write_grouping(f, &m.include)?;
                        }
                        _ => {}
                    }
                }
                match (m.fill_lhs, m.fill_rhs) {
                    (Some(l), Some(r)) if l.to_bits() == r.to_bits() => {
                        write!(f, " fill({})", format_number(l))?
                    }
                    (l, r) => {
                        if let Some(l) = l {
                            write!(f, " fill_left({})", format_number(l))?;
                        }
                        if let Some(r) = r {
                            write!(f, " fill_right({})", format_number(r))?;
                        }
                    }
                }
                write!(f, " {}", b.rhs)
            }
            Expr::Call(c) => {
                write!(f, "{}(", c.func.name)?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_char(')')
            }
            Expr::MatrixSelector(m) => {
                write!(f, "{}[", m.vs)?;
                write_duration(f, &m.range)?;
                f.write_char(']')?;
                write_vs_modifiers(f, &m.vs)
            }
            Expr::Subquery(s) => {
                write!(f, "{}[", s.expr)?;
                write_duration(f, &s.range)?;
                f.write_char(':')?;
                if let Some(step) = &s.step {
                    write_duration(f, step)?;
                }
                f.write_char(']')?;
                write_offset_at(f, &s.offset, s.timestamp, s.at)
            }
            Expr::Number(n) => {
                if n.duration && n.val.is_finite() {
                    let ms = (n.val * 1000.0).round() as i64;
                    if ms < 0 {
                        write!(f, "-{}", model::format_duration(-ms))
                    } else {
                        f.write_str(&model::format_duration(ms))
                    }
                } else {
                    f.write_str(&format_number(n.val))
                }
            }
            Expr::String(s) => f.write_str(&quote(&s.val)),
            Expr::Paren(p) => write!(f, "({})", p.expr),
            Expr::Unary(u) => write!(f, "{}{}", if u.neg { "-" } else { "+" }, u.expr),
            Expr::VectorSelector(vs) => {
                write!(f, "{vs}")?;
                write_vs_modifiers(f, vs)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{ParserOptions, parse_expr};

    fn round_trip(q: &str, want: &str) {
        let e = parse_expr(q, &ParserOptions::all()).unwrap();
        let printed = e.to_string();
        assert_eq!(printed, want, "printing {q}");
        let again = parse_expr(&printed, &ParserOptions::all()).unwrap();
        assert_eq!(again.to_string(), printed);
    }

    #[test]
    fn canonical_forms() {
        round_trip("sum(rate(foo{a='b'}[5m])) by (job)", r#"sum by (job) (rate(foo{a="b"}[5m]))"#);
        round_trip("a + on(x) group_left(y) b", "a + on (x) group_left (y) b");
        round_trip("foo offset 5m @ 100", "foo offset 5m @ 100.000");
        round_trip("rate(x[1h:5m] offset -1m)", "rate(x[1h:5m] offset -1m)");
        round_trip("-foo ^ 2", "-foo ^ 2");
        round_trip("{\"my.metric\", \"a.b\"=\"x\"}", "{__name__=\"my.metric\", \"a.b\"=\"x\"}");
        round_trip("topk(3, x) by (a)", "topk by (a) (3, x)");
        round_trip("x[step() * 2]", "x[step() * 2]");
        round_trip("1 > bool 2", "1 > bool 2");
    }
}
