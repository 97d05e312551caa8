//! A recursive-descent parser with precedence climbing for binary operators, producing the tree in [`crate::ast`]
//! and checking types the way Prometheus does.

use model::{MatchType, Matcher};

use crate::ast::*;
use crate::error::ParseError;
use crate::functions::get_function;
use crate::lexer::{Tok, Token, lex};
use crate::strings::unquote;

/// Which experimental syntax the parser accepts (each mirrors an `--enable-feature` flag of Prometheus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserOptions {
    /// `promql-experimental-functions`.
    pub experimental_functions: bool,
    /// `promql-duration-expr`.
    pub duration_expr: bool,
    /// `promql-extended-range-selectors`.
    pub extended_range_selectors: bool,
    /// `promql-binop-fill-modifiers`.
    pub fill_modifiers: bool,
    /// Maximum nesting depth; deeper queries are rejected instead of overflowing the stack.
    pub max_depth: usize,
}

impl Default for ParserOptions {
    fn default() -> Self {
        ParserOptions {
            experimental_functions: false,
            duration_expr: false,
            extended_range_selectors: false,
            fill_modifiers: false,
            max_depth: 500,
        }
    }
}

impl ParserOptions {
    /// Every experimental feature on (as Prometheus's test harness runs).
    pub fn all() -> ParserOptions {
        ParserOptions {
            experimental_functions: true,
            duration_expr: true,
            extended_range_selectors: true,
            fill_modifiers: true,
            ..ParserOptions::default()
        }
    }
}

/// Parses a PromQL expression and type-checks it.
pub fn parse_expr(input: &str, opts: &ParserOptions) -> Result<Expr, ParseError> {
    let tokens = lex(input)?;
    let mut p = Parser { input, tokens, i: 0, opts: *opts, depth: 0 };
    if p.peek().tok == Tok::Eof {
        return Err(ParseError::new(0, 0, "no expression found in input"));
    }
    let expr = p.expr(0)?;
    if p.peek().tok != Tok::Eof {
        return Err(p.unexpected("", ""));
    }
    check(input, &expr)?;
    Ok(expr)
}

/// Parses a series selector such as `foo{a="b"}` (as used by `match[]` parameters).
pub fn parse_metric_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    let tokens = lex(input)?;
    let mut p = Parser { input, tokens, i: 0, opts: ParserOptions::default(), depth: 0 };
    let e = p.primary()?;
    if p.peek().tok != Tok::Eof {
        return Err(p.unexpected("", ""));
    }
    match e {
        Expr::VectorSelector(vs) => {
            // As Prometheus's `ParseMetricSelector`: the metric name may be given once, but a selector
            // matching the empty string everywhere (`{__name__=~".*"}`) is accepted; callers that need a
            // non-empty matcher check for one themselves.
            check_metric_name_once(&vs)?;
            Ok(vs.matchers)
        }
        other => {
            Err(ParseError::new(other.pos().start, other.pos().end, "expected vector selector"))
        }
    }
}

pub(crate) struct Parser<'a> {
    pub(crate) input: &'a str,
    pub(crate) tokens: Vec<Token>,
    pub(crate) i: usize,
    pub(crate) opts: ParserOptions,
    depth: usize,
}

/// Parses Go's number syntax: integers in any base (`0x`, `0o`, leading-zero octal), floats, `Inf`, `NaN`.
pub fn parse_number(s: &str) -> Option<f64> {
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let v = if let Some(hex) = lower.strip_prefix("0x") {
        if let Some(idx) = hex.find('p') {
            let mant = u64::from_str_radix(&hex[..idx], 16).ok()? as f64;
            let exp: i32 = hex[idx + 1..].parse().ok()?;
            mant * 2f64.powi(exp)
        } else {
            u64::from_str_radix(hex, 16).ok()? as f64
        }
    } else if let Some(oct) = lower.strip_prefix("0o") {
        u64::from_str_radix(oct, 8).ok()? as f64
    } else if let Some(bin) = lower.strip_prefix("0b") {
        u64::from_str_radix(bin, 2).ok()? as f64
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        match u64::from_str_radix(&lower[1..], 8) {
            Ok(v) => v as f64,
            Err(_) => lower.parse::<f64>().ok()?,
        }
    } else {
        match lower.as_str() {
            "inf" | "infinity" => f64::INFINITY,
            "nan" => f64::NAN,
            _ => {
                if lower.starts_with(['i', 'n']) {
                    return None;
                }
                lower.parse::<f64>().ok()?
            }
        }
    };
    Some(if neg { -v } else { v })
}

fn is_agg_keyword(s: &str) -> bool {
    AggOp::from_name(s).is_some()
}

impl<'a> Parser<'a> {
    pub(crate) fn peek(&self) -> Token {
        self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn peek_n(&self, n: usize) -> Token {
        self.tokens[(self.i + n).min(self.tokens.len() - 1)]
    }

    pub(crate) fn bump(&mut self) -> Token {
        let t = self.peek();
        if self.i < self.tokens.len() - 1 {
            self.i += 1;
        }
        t
    }

    pub(crate) fn text(&self, t: Token) -> &'a str {
        &self.input[t.start..t.end]
    }

    fn ident_is(&self, t: Token, kw: &str) -> bool {
        t.tok == Tok::Ident && self.text(t).eq_ignore_ascii_case(kw)
    }

    fn describe(&self, t: Token) -> String {
        match t.tok {
            Tok::Ident => {
                let s = self.text(t);
                let lower = s.to_ascii_lowercase();
                if is_agg_keyword(&lower)
                    || matches!(
                        lower.as_str(),
                        "and"
                            | "or"
                            | "unless"
                            | "atan2"
                            | "by"
                            | "without"
                            | "on"
                            | "ignoring"
                            | "group_left"
                            | "group_right"
                            | "bool"
                            | "offset"
                            | "start"
                            | "end"
                            | "step"
                            | "range"
                            | "anchored"
                            | "smoothed"
                    )
                {
                    format!("<{lower}>")
                } else if s.contains(':') {
                    format!("metric identifier {s:?}")
                } else {
                    format!("identifier {s:?}")
                }
            }
            Tok::Number => format!("number {:?}", self.text(t)),
            Tok::Duration => format!("duration {:?}", self.text(t)),
            Tok::Str => format!("string {:?}", self.text(t)),
            other => other.describe().to_string(),
        }
    }

    pub(crate) fn unexpected(&self, context: &str, expected: &str) -> ParseError {
        let t = self.peek();
        let mut msg = format!("unexpected {}", self.describe(t));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        ParseError::new(t.start, t.end, msg)
    }

    fn expect(&mut self, tok: Tok, context: &str, expected: &str) -> Result<Token, ParseError> {
        if self.peek().tok == tok {
            Ok(self.bump())
        } else {
            Err(self.unexpected(context, expected))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.opts.max_depth {
            let t = self.peek();
            return Err(ParseError::new(
                t.start,
                t.end,
                format!("query is nested too deeply (more than {} levels)", self.opts.max_depth),
            ));
        }
        Ok(())
    }

    /// The binary operator at the cursor, if any.
    fn peek_binop(&self) -> Option<BinOp> {
        let t = self.peek();
        Some(match t.tok {
            Tok::Add => BinOp::Add,
            Tok::Sub => BinOp::Sub,
            Tok::Mul => BinOp::Mul,
            Tok::Div => BinOp::Div,
            Tok::Mod => BinOp::Mod,
            Tok::Pow => BinOp::Pow,
            Tok::Eqlc => BinOp::Eql,
            Tok::Neq => BinOp::Neq,
            Tok::Lss => BinOp::Lss,
            Tok::Lte => BinOp::Lte,
            Tok::Gtr => BinOp::Gtr,
            Tok::Gte => BinOp::Gte,
            Tok::TrimUpper => BinOp::TrimUpper,
            Tok::TrimLower => BinOp::TrimLower,
            Tok::Ident => match self.text(t).to_ascii_lowercase().as_str() {
                "and" => BinOp::And,
                "or" => BinOp::Or,
                "unless" => BinOp::Unless,
                "atan2" => BinOp::Atan2,
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Parses an expression whose binary operators all bind at least as tightly as `min_prec`.
    pub(crate) fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut lhs = self.unary()?;
        while let Some(op) = self.peek_binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_tok = self.bump();
            let mut be = BinaryExpr {
                op,
                lhs: Box::new(Expr::Number(NumberLiteral {
                    val: 0.0,
                    duration: false,
                    pos: PosRange::default(),
                })),
                rhs: Box::new(Expr::Number(NumberLiteral {
                    val: 0.0,
                    duration: false,
                    pos: PosRange::default(),
                })),
                matching: VectorMatching::default(),
                has_matching: false,
                return_bool: false,
            };
            self.bin_modifiers(&mut be, op_tok)?;
            let next_min = if op.right_assoc() { prec } else { prec + 1 };
            let rhs = self.expr(next_min)?;
            be.lhs = Box::new(lhs);
            be.rhs = Box::new(rhs);
            lhs = Expr::Binary(be);
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn bin_modifiers(&mut self, be: &mut BinaryExpr, op_tok: Token) -> Result<(), ParseError> {
        if self.ident_is(self.peek(), "bool") {
            self.bump();
            be.return_bool = true;
        }
        let t = self.peek();
        if self.ident_is(t, "on") || self.ident_is(t, "ignoring") {
            self.bump();
            be.matching.on = self.ident_is(t, "on");
            be.matching.matching_labels = self.grouping_labels()?;
            be.has_matching = true;
            let g = self.peek();
            if self.ident_is(g, "group_left") || self.ident_is(g, "group_right") {
                self.bump();
                be.matching.card = if self.ident_is(g, "group_left") {
                    Cardinality::ManyToOne
                } else {
                    Cardinality::OneToMany
                };
                if self.peek().tok == Tok::LParen {
                    be.matching.include = self.grouping_labels()?;
                }
            }
        }
        // Fill modifiers: only keywords when followed by "(".
        let mut seen_left = false;
        let mut seen_right = false;
        loop {
            let t = self.peek();
            if t.tok != Tok::Ident || self.peek_n(1).tok != Tok::LParen {
                break;
            }
            let word = self.text(t).to_ascii_lowercase();
            let (l, r) = match word.as_str() {
                "fill" if !seen_left && !seen_right => (true, true),
                "fill_left" if !seen_left => (true, false),
                "fill_right" if !seen_right => (false, true),
                _ => break,
            };
            self.bump();
            let v = self.fill_value()?;
            if !self.opts.fill_modifiers {
                return Err(ParseError::new(
                    op_tok.start,
                    self.peek().start,
                    "binop fill modifiers are experimental and not enabled",
                ));
            }
            if l {
                be.matching.fill_lhs = Some(v);
                seen_left = true;
            }
            if r {
                be.matching.fill_rhs = Some(v);
                seen_right = true;
            }
            if word == "fill" {
                break;
            }
        }
        Ok(())
    }

    fn fill_value(&mut self) -> Result<f64, ParseError> {
        self.expect(Tok::LParen, "fill value", "\"(\"")?;
        let mut sign = 1.0;
        match self.peek().tok {
            Tok::Sub => {
                self.bump();
                sign = -1.0;
            }
            Tok::Add => {
                self.bump();
            }
            _ => {}
        }
        let t = self.peek();
        let v = match t.tok {
            Tok::Number => self.number_value(t)?,
            Tok::Duration => self.duration_secs(t)?,
            Tok::Ident if matches!(self.text(t).to_ascii_lowercase().as_str(), "inf" | "nan") => {
                self.number_value(t)?
            }
            _ => return Err(self.unexpected("fill value", "number")),
        };
        self.bump();
        self.expect(Tok::RParen, "fill value", "\")\"")?;
        Ok(sign * v)
    }

    fn number_value(&self, t: Token) -> Result<f64, ParseError> {
        let s = self.text(t);
        parse_number(s).ok_or_else(|| {
            ParseError::new(
                t.start,
                t.end,
                format!("error parsing number: strconv.ParseFloat: parsing {s:?}: invalid syntax"),
            )
        })
    }

    fn duration_secs(&self, t: Token) -> Result<f64, ParseError> {
        let s = self.text(t);
        model::parse_duration(s).map(|ms| ms as f64 / 1000.0).map_err(|_| {
            ParseError::new(t.start, t.end, format!("not a valid duration string: {s:?}"))
        })
    }

    fn grouping_labels(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(Tok::LParen, "grouping opts", "\"(\"")?;
        let mut out = Vec::new();
        loop {
            let t = self.peek();
            match t.tok {
                Tok::RParen => {
                    self.bump();
                    return Ok(out);
                }
                Tok::Ident => {
                    let s = self.text(t);
                    if s.contains(':') || s.starts_with(|c: char| c.is_ascii_digit()) {
                        return Err(ParseError::new(
                            t.start,
                            t.end,
                            format!("invalid label name for grouping: {s:?}"),
                        ));
                    }
                    out.push(s.to_string());
                    self.bump();
                }
                Tok::Str => {
                    let v =
                        unquote(self.text(t)).map_err(|e| ParseError::new(t.start, t.end, e))?;
                    if !model::is_valid_label_name(&v) {
                        return Err(ParseError::new(
                            t.start,
                            t.end,
                            format!("invalid label name for grouping: {v:?}"),
                        ));
                    }
                    out.push(v);
                    self.bump();
                }
                _ => return Err(self.unexpected("grouping opts", "label")),
            }
            match self.peek().tok {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {}
                _ => return Err(self.unexpected("grouping opts", "\",\" or \")\"")),
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let t = self.peek();
        if t.tok == Tok::Add || t.tok == Tok::Sub {
            self.bump();
            self.enter()?;
            // Unary operators bind like multiplication: only `^` binds tighter.
            let operand = self.expr(BinOp::Pow.precedence())?;
            self.depth -= 1;
            let neg = t.tok == Tok::Sub;
            if let Expr::Number(mut n) = operand {
                if neg {
                    n.val = -n.val;
                }
                n.pos.start = t.start;
                return Ok(Expr::Number(n));
            }
            return Ok(Expr::Unary(UnaryExpr { neg, expr: Box::new(operand), start: t.start }));
        }
        let e = self.primary()?;
        self.postfix(e)
    }

    pub(crate) fn primary(&mut self) -> Result<Expr, ParseError> {
        let t = self.peek();
        match t.tok {
            Tok::Number => {
                self.bump();
                let val = self.number_value(t)?;
                Ok(Expr::Number(NumberLiteral {
                    val,
                    duration: false,
                    pos: PosRange::new(t.start, t.end),
                }))
            }
            Tok::Duration => {
                self.bump();
                let val = self.duration_secs(t)?;
                Ok(Expr::Number(NumberLiteral {
                    val,
                    duration: true,
                    pos: PosRange::new(t.start, t.end),
                }))
            }
            Tok::Str => {
                self.bump();
                let val = unquote(self.text(t)).map_err(|e| ParseError::new(t.start, t.end, e))?;
                Ok(Expr::String(StringLiteral { val, pos: PosRange::new(t.start, t.end) }))
            }
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let inner = self.expr(0)?;
                self.depth -= 1;
                let close = self.expect(Tok::RParen, "paren expression", "\")\"")?;
                Ok(Expr::Paren(ParenExpr {
                    expr: Box::new(inner),
                    pos: PosRange::new(t.start, close.end),
                }))
            }
            Tok::LBrace => self.vector_selector(None),
            Tok::Ident => self.ident_expr(t),
            Tok::Eof => Err(self.unexpected("", "")),
            _ => Err(self.unexpected("", "")),
        }
    }

    fn ident_expr(&mut self, t: Token) -> Result<Expr, ParseError> {
        let text = self.text(t);
        let lower = text.to_ascii_lowercase();
        let next = self.peek_n(1);
        if let Some(op) = AggOp::from_name(&lower)
            && (next.tok == Tok::LParen
                || self.ident_is(next, "by")
                || self.ident_is(next, "without"))
        {
            return self.aggregation(op, t);
        }
        if lower == "inf" || lower == "nan" {
            self.bump();
            let val = if lower == "inf" { f64::INFINITY } else { f64::NAN };
            return Ok(Expr::Number(NumberLiteral {
                val,
                duration: false,
                pos: PosRange::new(t.start, t.end),
            }));
        }
        if next.tok == Tok::LParen {
            return self.call(t);
        }
        if matches!(
            lower.as_str(),
            "on" | "ignoring" | "group_left" | "group_right" | "bool" | "atan2"
        ) || ((lower == "and" || lower == "or" || lower == "unless") && self.i > 0)
        {
            return Err(self.unexpected("", ""));
        }
        self.vector_selector(Some(t))
    }

    fn call(&mut self, name_tok: Token) -> Result<Expr, ParseError> {
        let name = self.text(name_tok);
        let lookup = match name.to_ascii_lowercase().as_str() {
            l @ ("start" | "end" | "step" | "range" | "min_of" | "max_of") => l.to_string(),
            _ => name.to_string(),
        };
        let Some(func) = get_function(&lookup) else {
            return Err(ParseError::new(
                name_tok.start,
                name_tok.end,
                format!("unknown function with name {name:?}"),
            ));
        };
        if func.experimental && !self.opts.experimental_functions {
            return Err(ParseError::new(
                name_tok.start,
                name_tok.end,
                format!("function {name:?} is not enabled"),
            ));
        }
        self.bump();
        let (args, end) = self.call_args()?;
        Ok(Expr::Call(Call { func, args, pos: PosRange::new(name_tok.start, end) }))
    }

    fn call_args(&mut self) -> Result<(Vec<Expr>, usize), ParseError> {
        self.expect(Tok::LParen, "function call", "\"(\"")?;
        let mut args = Vec::new();
        if self.peek().tok == Tok::RParen {
            let close = self.bump();
            return Ok((args, close.end));
        }
        self.enter()?;
        loop {
            args.push(self.expr(0)?);
            match self.peek().tok {
                Tok::Comma => {
                    let comma = self.bump();
                    if self.peek().tok == Tok::RParen {
                        return Err(ParseError::new(
                            comma.start,
                            comma.end,
                            "trailing commas not allowed in function call args",
                        ));
                    }
                }
                Tok::RParen => {
                    let close = self.bump();
                    self.depth -= 1;
                    return Ok((args, close.end));
                }
                _ => return Err(self.unexpected("function call", "\",\" or \")\"")),
            }
        }
    }

    fn aggregation(&mut self, op: AggOp, t: Token) -> Result<Expr, ParseError> {
        self.bump();
        let mut grouping = Vec::new();
        let mut without = false;
        let mut has_grouping = false;
        let m = self.peek();
        if self.ident_is(m, "by") || self.ident_is(m, "without") {
            self.bump();
            without = self.ident_is(m, "without");
            grouping = self.grouping_labels()?;
            has_grouping = true;
        }
        if self.peek().tok != Tok::LParen {
            return Err(self.unexpected("aggregation", ""));
        }
        let (mut args, mut end) = self.call_args()?;
        let m = self.peek();
        if !has_grouping && (self.ident_is(m, "by") || self.ident_is(m, "without")) {
            self.bump();
            without = self.ident_is(m, "without");
            grouping = self.grouping_labels()?;
            has_grouping = true;
            end = self.tokens[self.i - 1].end;
        }
        let pos = PosRange::new(t.start, end);
        if args.is_empty() {
            return Err(ParseError::new(
                pos.start,
                pos.end,
                "no arguments for aggregate expression provided",
            ));
        }
        let want = if op.has_param() { 2 } else { 1 };
        if matches!(op, AggOp::Limitk | AggOp::LimitRatio) && !self.opts.experimental_functions {
            return Err(ParseError::new(
                pos.start,
                pos.end,
                format!(
                    "{}() is experimental and must be enabled with --enable-feature=promql-experimental-functions",
                    op.as_str()
                ),
            ));
        }
        if args.len() != want {
            return Err(ParseError::new(
                pos.start,
                pos.end,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
                    args.len()
                ),
            ));
        }
        let expr = args.pop().map(Box::new).unwrap_or_else(unreachable_number);
        let param = args.pop().map(Box::new);
        Ok(Expr::Aggregate(AggregateExpr { op, expr, param, grouping, without, has_grouping, pos }))
    }

    fn vector_selector(&mut self, name: Option<Token>) -> Result<Expr, ParseError> {
        let mut matchers = Vec::new();
        let mut name_str = String::new();
        let start = name.map(|t| t.start).unwrap_or(self.peek().start);
        let mut end = name.map(|t| t.end).unwrap_or(start);
        if let Some(t) = name {
            self.bump();
            name_str = self.text(t).to_string();
        }
        if self.peek().tok == Tok::LBrace {
            self.bump();
            loop {
                let t = self.peek();
                match t.tok {
                    Tok::RBrace => {
                        end = self.bump().end;
                        break;
                    }
                    Tok::Ident | Tok::Str => {
                        let label = if t.tok == Tok::Ident {
                            self.text(t).to_string()
                        } else {
                            unquote(self.text(t)).map_err(|e| ParseError::new(t.start, t.end, e))?
                        };
                        self.bump();
                        let op_tok = self.peek();
                        let mt = match op_tok.tok {
                            Tok::Eql => MatchType::Equal,
                            Tok::Neq => MatchType::NotEqual,
                            Tok::EqlRegex => MatchType::Regexp,
                            Tok::NeqRegex => MatchType::NotRegexp,
                            Tok::Comma | Tok::RBrace if t.tok == Tok::Str => {
                                // A quoted metric name inside the braces.
                                matchers.push(Matcher::equal(model::METRIC_NAME_LABEL, label));
                                if op_tok.tok == Tok::Comma {
                                    self.bump();
                                }
                                continue;
                            }
                            _ => {
                                return Err(
                                    self.unexpected("label matching", "label matching operator")
                                );
                            }
                        };
                        self.bump();
                        let v = self.peek();
                        if v.tok != Tok::Str {
                            return Err(self.unexpected("label matching", "string"));
                        }
                        self.bump();
                        let value = unquote(self.text(v))
                            .map_err(|e| ParseError::new(v.start, v.end, e))?;
                        let m = Matcher::new(mt, label, value)
                            .map_err(|e| ParseError::new(t.start, v.end, e.to_string()))?;
                        matchers.push(m);
                        match self.peek().tok {
                            Tok::Comma => {
                                self.bump();
                            }
                            Tok::RBrace => {}
                            _ => return Err(self.unexpected("label matching", "\",\" or \"}\"")),
                        }
                    }
                    _ => return Err(self.unexpected("label matching", "identifier or \"}\"")),
                }
            }
        }
        if !name_str.is_empty() {
            matchers.push(Matcher::equal(model::METRIC_NAME_LABEL, name_str.clone()));
        }
        Ok(Expr::VectorSelector(VectorSelector {
            name: name_str,
            matchers,
            offset: None,
            timestamp: None,
            at: None,
            anchored: false,
            smoothed: false,
            pos: PosRange::new(start, end),
        }))
    }

    /// Applies `[range]`, `[range:step]`, `offset`, `@`, `anchored` and `smoothed`.
    fn postfix(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        loop {
            let t = self.peek();
            match t.tok {
                Tok::LBracket => e = self.range_or_subquery(e)?,
                Tok::At => e = self.at_modifier(e)?,
                Tok::Ident if self.ident_is(t, "offset") => e = self.offset_modifier(e)?,
                Tok::Ident if self.ident_is(t, "anchored") || self.ident_is(t, "smoothed") => {
                    e = self.extended_modifier(e, self.ident_is(t, "anchored"))?;
                }
                _ => return Ok(e),
            }
        }
    }

    fn extended_modifier(&mut self, mut e: Expr, anchored: bool) -> Result<Expr, ParseError> {
        let t = self.bump();
        let name = if anchored { "anchored" } else { "smoothed" };
        let pos = e.pos();
        let err = |m: String| Err(ParseError::new(pos.start, pos.end, m));
        if !self.opts.extended_range_selectors {
            return err(format!("{name} modifier is experimental and not enabled"));
        }
        let vs = match &mut e {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &mut ms.vs,
            Expr::Subquery(_) => {
                return err(format!("{name} modifier is not supported for subqueries"));
            }
            _ => return err(format!("{name} modifier not implemented")),
        };
        if anchored {
            vs.anchored = true;
        } else {
            vs.smoothed = true;
        }
        if vs.anchored && vs.smoothed {
            return err("anchored and smoothed modifiers cannot be used together".into());
        }
        if let Expr::VectorSelector(vs) = &mut e {
            vs.pos.end = t.end;
        }
        Ok(e)
    }

    fn range_or_subquery(&mut self, e: Expr) -> Result<Expr, ParseError> {
        let open = self.bump();
        if !matches!(
            self.peek().tok,
            Tok::Number | Tok::Duration | Tok::Ident | Tok::LParen | Tok::Sub | Tok::Add
        ) {
            return Err(self
                .unexpected("subquery or range selector", "number, duration, step(), or range()"));
        }
        let range = self.positive_duration()?;
        match self.peek().tok {
            Tok::RBracket => {
                let close = self.bump();
                let vs = match e {
                    Expr::VectorSelector(vs) => vs,
                    _ => {
                        return Err(ParseError::new(
                            open.start,
                            close.end,
                            "ranges only allowed for vector selectors",
                        ));
                    }
                };
                if vs.offset.is_some() {
                    return Err(ParseError::new(
                        open.start,
                        close.end,
                        "no offset modifiers allowed before range",
                    ));
                }
                if vs.timestamp.is_some() || vs.at.is_some() {
                    return Err(ParseError::new(
                        open.start,
                        close.end,
                        "no @ modifiers allowed before range",
                    ));
                }
                Ok(Expr::MatrixSelector(MatrixSelector { vs, range, end: close.end }))
            }
            Tok::Colon => {
                self.bump();
                let step = if self.peek().tok == Tok::RBracket {
                    None
                } else {
                    if !matches!(
                        self.peek().tok,
                        Tok::Number
                            | Tok::Duration
                            | Tok::Ident
                            | Tok::LParen
                            | Tok::Sub
                            | Tok::Add
                    ) {
                        return Err(self.unexpected(
                            "subquery selector",
                            "number, duration, step(), range(), or \"]\"",
                        ));
                    }
                    Some(self.positive_duration()?)
                };
                let close = self.expect(Tok::RBracket, "subquery selector", "\"]\"")?;
                Ok(Expr::Subquery(SubqueryExpr {
                    expr: Box::new(e),
                    range,
                    step,
                    offset: None,
                    timestamp: None,
                    at: None,
                    end: close.end,
                }))
            }
            _ => Err(self.unexpected("subquery or range", "\":\" or \"]\"")),
        }
    }

    fn positive_duration(&mut self) -> Result<Duration, ParseError> {
        let start = self.peek().start;
        let d = self.duration_expr(0)?;
        let end = self.tokens[self.i.saturating_sub(1)].end;
        self.finish_duration(d, start, end, true)
    }

    fn finish_duration(
        &self,
        d: DurationExpr,
        start: usize,
        end: usize,
        positive: bool,
    ) -> Result<Duration, ParseError> {
        match d {
            DurationExpr::Number { secs, .. } => {
                if positive && secs <= 0.0 {
                    return Err(ParseError::new(start, end, "duration must be greater than 0"));
                }
                if !secs.is_finite() || secs.abs() * 1000.0 >= i64::MAX as f64 {
                    return Err(ParseError::new(start, end, "duration out of range"));
                }
                Ok(Duration::Literal((secs * 1000.0).round() as i64))
            }
            other => {
                if !self.opts.duration_expr {
                    return Err(ParseError::new(
                        start,
                        end,
                        "experimental duration expression is not enabled",
                    ));
                }
                Ok(Duration::Expr(Box::new(other)))
            }
        }
    }

    /// Duration expression with precedence climbing: `+ -` < `* / %` < unary < `^`.
    fn duration_expr(&mut self, min_prec: u8) -> Result<DurationExpr, ParseError> {
        self.enter()?;
        let mut lhs = self.duration_unary()?;
        loop {
            let t = self.peek();
            let (op, prec) = match t.tok {
                Tok::Add => (DurOp::Add, 1),
                Tok::Sub => (DurOp::Sub, 1),
                Tok::Mul => (DurOp::Mul, 2),
                Tok::Div => (DurOp::Div, 2),
                Tok::Mod => (DurOp::Mod, 2),
                Tok::Pow => (DurOp::Pow, 4),
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            self.bump();
            let rhs = self.duration_expr(if op == DurOp::Pow { prec } else { prec + 1 })?;
            if let DurationExpr::Number { secs, .. } = &rhs {
                if *secs == 0.0 && op == DurOp::Div {
                    return Err(ParseError::new(t.start, t.end, "division by zero"));
                }
                if *secs == 0.0 && op == DurOp::Mod {
                    return Err(ParseError::new(t.start, t.end, "modulo by zero"));
                }
            }
            lhs = fold(DurationExpr::Binary(op, Box::new(lhs), Box::new(rhs)));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn duration_unary(&mut self) -> Result<DurationExpr, ParseError> {
        let t = self.peek();
        if t.tok == Tok::Add || t.tok == Tok::Sub {
            self.bump();
            self.enter()?;
            let inner = self.duration_expr(3)?;
            self.depth -= 1;
            if t.tok == Tok::Add {
                return Ok(inner);
            }
            return Ok(match inner {
                DurationExpr::Number { secs, text } => {
                    DurationExpr::Number { secs: -secs, text: format!("-{text}") }
                }
                other => DurationExpr::Neg(Box::new(other)),
            });
        }
        self.duration_atom()
    }

    fn duration_atom(&mut self) -> Result<DurationExpr, ParseError> {
        let t = self.peek();
        match t.tok {
            Tok::Number => {
                self.bump();
                Ok(DurationExpr::Number {
                    secs: self.number_value(t)?,
                    text: self.text(t).to_string(),
                })
            }
            Tok::Duration => {
                self.bump();
                Ok(DurationExpr::Number {
                    secs: self.duration_secs(t)?,
                    text: self.text(t).to_string(),
                })
            }
            Tok::LParen => {
                self.bump();
                let inner = self.duration_expr(0)?;
                self.expect(Tok::RParen, "duration expression", "\")\"")?;
                Ok(match inner {
                    n @ DurationExpr::Number { .. } => n,
                    other => DurationExpr::Paren(Box::new(other)),
                })
            }
            Tok::Ident => {
                let word = self.text(t).to_ascii_lowercase();
                match word.as_str() {
                    "step" | "range" => {
                        self.bump();
                        self.expect(Tok::LParen, "duration expression", "\"(\"")?;
                        self.expect(Tok::RParen, "duration expression", "\")\"")?;
                        Ok(if word == "step" { DurationExpr::Step } else { DurationExpr::Range })
                    }
                    "min_of" | "max_of" => {
                        self.bump();
                        self.expect(Tok::LParen, "duration expression", "\"(\"")?;
                        let a = self.duration_expr(0)?;
                        self.expect(Tok::Comma, "duration expression", "\",\"")?;
                        let b = self.duration_expr(0)?;
                        self.expect(Tok::RParen, "duration expression", "\")\"")?;
                        let op = if word == "min_of" { DurOp::MinOf } else { DurOp::MaxOf };
                        Ok(fold(DurationExpr::Binary(op, Box::new(a), Box::new(b))))
                    }
                    _ => Err(self
                        .unexpected("duration expression", "number, duration, step(), or range()")),
                }
            }
            _ => {
                Err(self.unexpected("duration expression", "number, duration, step(), or range()"))
            }
        }
    }

    /// `offset` takes one term: a (signed) number or duration, `step()`, `range()`, `min_of`/`max_of`, or a
    /// parenthesised duration expression, so that `x offset 1m + 1` adds 1 to the offset selector.
    fn offset_duration(&mut self) -> Result<Duration, ParseError> {
        let start = self.peek().start;
        let mut neg = false;
        let t = self.peek();
        if t.tok == Tok::Sub || t.tok == Tok::Add {
            neg = t.tok == Tok::Sub;
            self.bump();
        }
        if !matches!(self.peek().tok, Tok::Number | Tok::Duration | Tok::Ident | Tok::LParen) {
            return Err(self.unexpected("offset", "number, duration, step(), or range()"));
        }
        if self.peek().tok == Tok::Ident {
            let w = self.text(self.peek()).to_ascii_lowercase();
            if !matches!(w.as_str(), "step" | "range" | "min_of" | "max_of" | "inf" | "nan") {
                return Err(self.unexpected("offset", "number, duration, step(), or range()"));
            }
        }
        let atom = self.duration_atom()?;
        let end = self.tokens[self.i.saturating_sub(1)].end;
        let d = if neg {
            match atom {
                DurationExpr::Number { secs, text } => {
                    DurationExpr::Number { secs: -secs, text: format!("-{text}") }
                }
                other => DurationExpr::Neg(Box::new(other)),
            }
        } else {
            atom
        };
        self.finish_duration(d, start, end, false)
    }

    fn offset_modifier(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        let pos = e.pos();
        self.bump();
        let d = self.offset_duration()?;
        let end = self.tokens[self.i.saturating_sub(1)].end;
        let slot = match &mut e {
            Expr::VectorSelector(vs) => {
                vs.pos.end = end;
                &mut vs.offset
            }
            Expr::MatrixSelector(ms) => {
                ms.end = end;
                &mut ms.vs.offset
            }
            Expr::Subquery(sq) => {
                sq.end = end;
                &mut sq.offset
            }
            _ => {
                return Err(ParseError::new(
                    pos.start,
                    pos.end,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if slot.is_some() {
            return Err(ParseError::new(
                pos.start,
                pos.end,
                "offset may not be set multiple times",
            ));
        }
        *slot = Some(d);
        Ok(e)
    }

    fn at_modifier(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        let pos = e.pos();
        self.bump();
        let t = self.peek();
        let mut ts = None;
        let mut at = None;
        match t.tok {
            Tok::Ident if self.ident_is(t, "start") || self.ident_is(t, "end") => {
                self.bump();
                self.expect(Tok::LParen, "@", "\"(\"")?;
                self.expect(Tok::RParen, "@", "\")\"")?;
                at = Some(if self.ident_is(t, "start") {
                    AtModifier::Start
                } else {
                    AtModifier::End
                });
            }
            Tok::Number | Tok::Duration | Tok::Add | Tok::Sub | Tok::Ident => {
                let mut sign = 1.0;
                if t.tok == Tok::Add || t.tok == Tok::Sub {
                    self.bump();
                    if t.tok == Tok::Sub {
                        sign = -1.0;
                    }
                }
                let n = self.peek();
                let v = match n.tok {
                    Tok::Number => self.number_value(n)?,
                    Tok::Duration => self.duration_secs(n)?,
                    Tok::Ident
                        if matches!(self.text(n).to_ascii_lowercase().as_str(), "inf" | "nan") =>
                    {
                        self.number_value(n)?
                    }
                    _ => return Err(self.unexpected("@", "timestamp")),
                };
                self.bump();
                let v = v * sign;
                if !v.is_finite() || v >= i64::MAX as f64 || v <= i64::MIN as f64 {
                    return Err(ParseError::new(
                        pos.start,
                        pos.end,
                        format!("timestamp out of bounds for @ modifier: {}", go_float_f(v)),
                    ));
                }
                ts = Some((v * 1000.0).round() as i64);
            }
            _ => return Err(self.unexpected("@", "timestamp")),
        }
        let end = self.tokens[self.i.saturating_sub(1)].end;
        let (ts_slot, at_slot) = match &mut e {
            Expr::VectorSelector(vs) => {
                vs.pos.end = end;
                (&mut vs.timestamp, &mut vs.at)
            }
            Expr::MatrixSelector(ms) => {
                ms.end = end;
                (&mut ms.vs.timestamp, &mut ms.vs.at)
            }
            Expr::Subquery(sq) => {
                sq.end = end;
                (&mut sq.timestamp, &mut sq.at)
            }
            _ => {
                return Err(ParseError::new(
                    pos.start,
                    pos.end,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if ts_slot.is_some() || at_slot.is_some() {
            return Err(ParseError::new(
                pos.start,
                pos.end,
                "@ <timestamp> may not be set multiple times",
            ));
        }
        *ts_slot = ts;
        *at_slot = at;
        Ok(e)
    }
}

fn unreachable_number() -> Box<Expr> {
    Box::new(Expr::Number(NumberLiteral { val: 0.0, duration: false, pos: PosRange::default() }))
}

/// Folds constant duration arithmetic so literal-only expressions become plain durations.
fn fold(e: DurationExpr) -> DurationExpr {
    if let DurationExpr::Binary(_, a, b) = &e
        && let (DurationExpr::Number { .. }, DurationExpr::Number { .. }) = (a.as_ref(), b.as_ref())
    {
        let v = e.eval(0.0, 0.0);
        return DurationExpr::Number { secs: v, text: String::new() };
    }
    e
}

/// Go's `%f` formatting.
fn go_float_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v:.6}")
    }
}

/// Type checks after a successful parse, with Prometheus's messages.
fn check(input: &str, e: &Expr) -> Result<ValueType, ParseError> {
    let err = |p: PosRange, m: String| Err(ParseError::new(p.start, p.end, m));
    match e {
        Expr::Aggregate(a) => {
            let t = check(input, &a.expr)?;
            if t != ValueType::Vector {
                return err(
                    a.expr.pos(),
                    format!(
                        "expected type instant vector in aggregation expression, got {}",
                        t.name()
                    ),
                );
            }
            if let Some(p) = &a.param {
                let pt = check(input, p)?;
                let want =
                    if a.op == AggOp::CountValues { ValueType::String } else { ValueType::Scalar };
                if pt != want {
                    return err(
                        p.pos(),
                        format!(
                            "expected type {} in aggregation parameter, got {}",
                            want.name(),
                            pt.name()
                        ),
                    );
                }
            }
        }
        Expr::Binary(b) => {
            let lt = check(input, &b.lhs)?;
            let rt = check(input, &b.rhs)?;
            let op_range = || {
                let s = b.lhs.pos().end;
                let e = b.rhs.pos().start;
                let text = input.get(s..e).unwrap_or("");
                let lead = text.len() - text.trim_start().len();
                let trail = text.len() - text.trim_end().len();
                PosRange::new(s + lead, e.saturating_sub(trail).max(s + lead))
            };
            if b.return_bool && !b.op.is_comparison() {
                return err(
                    op_range(),
                    "bool modifier can only be used on comparison operators".into(),
                );
            }
            if b.op.is_comparison()
                && !b.return_bool
                && lt == ValueType::Scalar
                && rt == ValueType::Scalar
            {
                return err(
                    op_range(),
                    "comparisons between scalars must use BOOL modifier".into(),
                );
            }
            if b.matching.on {
                for l in &b.matching.matching_labels {
                    if b.matching.include.contains(l) {
                        return err(
                            op_range(),
                            format!("label {l:?} must not occur in ON and GROUP clause at once"),
                        );
                    }
                }
            }
            if lt != ValueType::Scalar && lt != ValueType::Vector {
                return err(
                    b.lhs.pos(),
                    "binary expression must contain only scalar and instant vector types".into(),
                );
            }
            if rt != ValueType::Scalar && rt != ValueType::Vector {
                return err(
                    b.rhs.pos(),
                    "binary expression must contain only scalar and instant vector types".into(),
                );
            }
            let pos = e.pos();
            if lt != ValueType::Vector || rt != ValueType::Vector {
                if !b.matching.matching_labels.is_empty() {
                    return err(pos, "vector matching only allowed between instant vectors".into());
                }
                if b.matching.fill_lhs.is_some() || b.matching.fill_rhs.is_some() {
                    return err(
                        pos,
                        "filling in missing series only allowed between instant vectors".into(),
                    );
                }
            } else if b.op.is_set() {
                if matches!(b.matching.card, Cardinality::OneToMany | Cardinality::ManyToOne) {
                    return err(
                        pos,
                        format!("no grouping allowed for {:?} operation", b.op.as_str()),
                    );
                }
                if b.matching.fill_lhs.is_some() || b.matching.fill_rhs.is_some() {
                    return err(
                        pos,
                        "filling in missing series not allowed for set operators".into(),
                    );
                }
            }
            if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set() {
                return err(
                    pos,
                    format!(
                        "set operator {:?} not allowed in binary scalar expression",
                        b.op.as_str()
                    ),
                );
            }
        }
        Expr::Call(c) => {
            let f = c.func;
            let nargs = f.arg_types.len();
            if f.variadic == 0 {
                if nargs != c.args.len() {
                    return err(
                        c.pos,
                        format!(
                            "expected {nargs} argument(s) in call to {:?}, got {}",
                            f.name,
                            c.args.len()
                        ),
                    );
                }
            } else {
                let na = nargs - 1;
                if na > c.args.len() {
                    return err(
                        c.pos,
                        format!(
                            "expected at least {na} argument(s) in call to {:?}, got {}",
                            f.name,
                            c.args.len()
                        ),
                    );
                }
                let max = na as i64 + f.variadic as i64;
                if f.variadic > 0 && (max as usize) < c.args.len() {
                    return err(
                        c.pos,
                        format!(
                            "expected at most {max} argument(s) in call to {:?}, got {}",
                            f.name,
                            c.args.len()
                        ),
                    );
                }
            }
            if f.name == "info" && c.args.len() > 1 {
                let a = &c.args[1];
                if a.value_type() != ValueType::Vector {
                    return err(
                        c.pos,
                        format!(
                            "expected type instant vector in call to function \"info\", got {}",
                            a.value_type().name()
                        ),
                    );
                }
                match a {
                    Expr::VectorSelector(vs) if !vs.name.is_empty() => {
                        return err(
                            a.pos(),
                            "expected label selectors only, got vector selector instead".into(),
                        );
                    }
                    Expr::VectorSelector(_) => {}
                    _ => return err(a.pos(), "expected label selectors only".into()),
                }
            }
            for (i, a) in c.args.iter().enumerate() {
                let idx = if i >= nargs {
                    if f.variadic == 0 {
                        break;
                    }
                    nargs - 1
                } else {
                    i
                };
                let t =
                    if f.name == "info" && i == 1 { ValueType::Vector } else { check(input, a)? };
                if t != f.arg_types[idx] {
                    return err(
                        a.pos(),
                        format!(
                            "expected type {} in call to function {:?}, got {}",
                            f.arg_types[idx].name(),
                            f.name,
                            t.name()
                        ),
                    );
                }
            }
        }
        Expr::Paren(p) => {
            check(input, &p.expr)?;
        }
        Expr::Unary(u) => {
            let t = check(input, &u.expr)?;
            if t != ValueType::Scalar && t != ValueType::Vector {
                return err(
                    e.pos(),
                    format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                        t.name()
                    ),
                );
            }
        }
        Expr::Subquery(s) => {
            let t = check(input, &s.expr)?;
            if t != ValueType::Vector {
                return err(
                    e.pos(),
                    format!(
                        "subquery is only allowed on instant vector, got {} instead",
                        t.api_name()
                    ),
                );
            }
        }
        Expr::MatrixSelector(m) => check_selector(&m.vs)?,
        Expr::VectorSelector(vs) => check_selector(vs)?,
        Expr::Number(_) | Expr::String(_) => {}
    }
    Ok(e.value_type())
}

fn check_selector(vs: &VectorSelector) -> Result<(), ParseError> {
    if !vs.name.is_empty() {
        return check_metric_name_once(vs);
    }
    if !vs.matchers.iter().any(|m| !m.matches("")) {
        return Err(ParseError::new(
            vs.pos.start,
            vs.pos.end,
            "vector selector must contain at least one non-empty matcher",
        ));
    }
    Ok(())
}

/// A selector with a metric name (`foo{…}`) must not also have a `__name__` matcher.
fn check_metric_name_once(vs: &VectorSelector) -> Result<(), ParseError> {
    if !vs.name.is_empty() {
        let n = vs.matchers.len();
        for m in &vs.matchers[..n.saturating_sub(1)] {
            if m.name == model::METRIC_NAME_LABEL {
                return Err(ParseError::new(
                    vs.pos.start,
                    vs.pos.end,
                    format!("metric name must not be set twice: {:?} or {:?}", vs.name, m.value),
                ));
            }
        }
    }
    Ok(())
}
