//! The parser: turns tokens into [`Tree`]s, one per `define`/`block` plus the top-level template, following the
//! grammar and the error messages of Go's `text/template/parse`.
//!
//! Errors read `template: NAME:LINE: MESSAGE`, where LINE is that of the last token read, as in Go.

use std::collections::HashMap;
use std::sync::Arc;

use crate::Error;
use crate::ast::{Arg, Branch, BranchKind, Command, Node, Number, Pipe, Tree, Var};
use crate::lex::{Kind, Token, lex};

/// Nesting bound for parenthesised pipelines and control structures, so hostile input cannot exhaust the stack.
const MAX_NESTING: usize = 200;

/// What `textOrAction` can return: a node, or the `{{end}}`/`{{else}}` that closes a list.
enum Item {
    Node(Node),
    End,
    Else,
}

impl Item {
    fn describe(&self) -> String {
        match self {
            Item::Node(n) => n.to_string(),
            Item::End => "{{end}}".into(),
            Item::Else => "{{else}}".into(),
        }
    }
}

/// Parses `text` as the template `name`, returning every tree it defines (the top-level one under `name`).
/// `has_func` tells whether an identifier names a function.
pub(crate) fn parse(
    name: &str,
    text: &str,
    has_func: &dyn Fn(&str) -> bool,
) -> Result<HashMap<String, Tree>, Error> {
    let source: Arc<str> = Arc::from(text);
    let mut p = Parser {
        tokens: lex(text),
        idx: 0,
        seen: 0,
        parse_name: name.to_string(),
        source,
        vars: vec!["$".into()],
        has_func,
        trees: HashMap::new(),
        range_depth: 0,
        action_line: 0,
        nesting: 0,
    };
    p.parse_top(name)?;
    Ok(p.trees)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    idx: usize,
    /// Index of the furthest token read; its line is the one errors report.
    seen: usize,
    parse_name: String,
    source: Arc<str>,
    vars: Vec<String>,
    has_func: &'a dyn Fn(&str) -> bool,
    trees: HashMap<String, Tree>,
    range_depth: usize,
    action_line: usize,
    nesting: usize,
}

type PResult<T> = Result<T, Error>;

impl Parser<'_> {
    fn token(&self, i: usize) -> Token {
        let i = i.min(self.tokens.len().saturating_sub(1));
        self.tokens.get(i).cloned().unwrap_or(Token {
            kind: Kind::Eof,
            pos: 0,
            val: String::new(),
            line: 1,
        })
    }

    fn next(&mut self) -> Token {
        let t = self.token(self.idx);
        self.seen = self.seen.max(self.idx.min(self.tokens.len().saturating_sub(1)));
        self.idx += 1;
        t
    }

    fn backup(&mut self) {
        self.idx = self.idx.saturating_sub(1);
    }

    fn peek(&mut self) -> Token {
        self.seen = self.seen.max(self.idx.min(self.tokens.len().saturating_sub(1)));
        self.token(self.idx)
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn errorf(&self, msg: impl Into<String>) -> Error {
        let line = self.token(self.seen).line;
        Error::Parse { template: self.parse_name.clone(), line, message: msg.into() }
    }

    fn unexpected(&self, token: &Token, context: &str) -> Error {
        if token.kind == Kind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.parse_name, self.action_line);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{}{extra}", token.val));
        }
        self.errorf(format!("unexpected {} in {context}", token.describe()))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Token> {
        let t = self.next_non_space();
        if t.kind != kind {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn enter(&mut self) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.errorf(format!("template nesting exceeds {MAX_NESTING} levels")));
        }
        Ok(())
    }

    fn add_tree(&mut self, name: String, root: Vec<Node>) -> PResult<()> {
        let tree = Tree {
            name: name.clone(),
            parse_name: self.parse_name.clone(),
            text: self.source.clone(),
            root,
        };
        match self.trees.get(&name) {
            Some(old) if !old.is_empty() => {
                if !tree.is_empty() {
                    return Err(self.errorf(format!(
                        "template: multiple definition of template {}",
                        crate::gofmt::quote(&name)
                    )));
                }
            }
            _ => {
                self.trees.insert(name, tree);
            }
        }
        Ok(())
    }

    fn parse_top(&mut self, name: &str) -> PResult<()> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let mark = self.idx;
                self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.idx = mark;
            }
            match self.text_or_action()? {
                Item::Node(n) => root.push(n),
                other => return Err(self.errorf(format!("unexpected {}", other.describe()))),
            }
        }
        self.add_tree(name.to_string(), root)
    }

    /// Runs `f` as the parse of a separate tree: fresh variables and range depth.
    fn in_new_tree<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let depth = std::mem::replace(&mut self.range_depth, 0);
        let r = f(self);
        self.vars = vars;
        self.range_depth = depth;
        r
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let t = self.next_non_space();
        if !matches!(t.kind, Kind::String | Kind::RawString) {
            return Err(self.unexpected(&t, CONTEXT));
        }
        let name = unquote(&t.val).ok_or_else(|| self.errorf("invalid syntax"))?;
        self.expect(Kind::RightDelim, CONTEXT)?;
        let root = self.in_new_tree(|p| {
            let (root, end) = p.item_list()?;
            if !matches!(end, Item::End) {
                return Err(p.errorf(format!("unexpected {} in {CONTEXT}", end.describe())));
            }
            Ok(root)
        })?;
        self.add_tree(name, root)
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Item)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                end => return Ok((list, end)),
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Text => Ok(Item::Node(Node::Text { pos: t.pos, text: t.val })),
            Kind::LeftDelim => {
                self.action_line = t.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Block => return self.block_control().map(Item::Node),
            Kind::Break | Kind::Continue => {
                let what = if t.kind == Kind::Break { "break" } else { "continue" };
                let next = self.next_non_space();
                if next.kind != Kind::RightDelim {
                    return Err(self.unexpected(&next, &format!("{{{{{what}}}}}")));
                }
                if self.range_depth == 0 {
                    return Err(self.errorf(format!("{{{{{what}}}}} outside {{{{range}}}}")));
                }
                return Ok(Item::Node(if t.kind == Kind::Break {
                    Node::Break { pos: t.pos }
                } else {
                    Node::Continue { pos: t.pos }
                }));
            }
            Kind::Else => {
                let peek = self.peek_non_space();
                if !matches!(peek.kind, Kind::If | Kind::With) {
                    self.expect(Kind::RightDelim, "else")?;
                }
                return Ok(Item::Else);
            }
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Item::End);
            }
            Kind::If => return self.control(BranchKind::If).map(Item::Node),
            Kind::Range => return self.control(BranchKind::Range).map(Item::Node),
            Kind::With => return self.control(BranchKind::With).map(Item::Node),
            Kind::Template => return self.template_control().map(Item::Node),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    fn control(&mut self, kind: BranchKind) -> PResult<Node> {
        self.enter()?;
        let mark = self.vars.len();
        let r = self.control_inner(kind);
        self.vars.truncate(mark);
        self.nesting -= 1;
        r
    }

    fn control_inner(&mut self, kind: BranchKind) -> PResult<Node> {
        let context = match kind {
            BranchKind::If => "if",
            BranchKind::Range => "range",
            BranchKind::With => "with",
        };
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if kind == BranchKind::Range {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if kind == BranchKind::Range {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        if let Item::Else = next {
            let peek = self.peek().kind;
            if kind == BranchKind::If && peek == Kind::If {
                self.next();
                else_list = Some(vec![self.control(BranchKind::If)?]);
            } else if kind == BranchKind::With && peek == Kind::With {
                self.next();
                else_list = Some(vec![self.control(BranchKind::With)?]);
            } else {
                let (l, next) = self.item_list()?;
                if !matches!(next, Item::End) {
                    return Err(self.errorf(format!("expected end; found {}", next.describe())));
                }
                else_list = Some(l);
            }
        }
        Ok(Node::Branch(Box::new(Branch { kind, pos: pipe.pos, pipe, list, else_list })))
    }

    fn template_name(&mut self, t: &Token, context: &str) -> PResult<String> {
        match t.kind {
            Kind::String | Kind::RawString => {
                unquote(&t.val).ok_or_else(|| self.errorf("invalid syntax"))
            }
            _ => Err(self.unexpected(t, context)),
        }
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let t = self.next_non_space();
        let name = self.template_name(&t, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        self.enter()?;
        let root = self.in_new_tree(|p| {
            let (root, end) = p.item_list()?;
            if !matches!(end, Item::End) {
                return Err(p.errorf(format!("unexpected {} in {CONTEXT}", end.describe())));
            }
            Ok(root)
        })?;
        self.nesting -= 1;
        self.add_tree(name.clone(), root)?;
        Ok(Node::Template { pos: t.pos, name, pipe: Some(pipe) })
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let t = self.next_non_space();
        let name = self.template_name(&t, CONTEXT)?;
        let mut pipe = None;
        if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(CONTEXT, Kind::RightDelim)?);
        }
        Ok(Node::Template { pos: t.pos, name, pipe })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe =
            Pipe { pos: start.pos, is_assign: false, decl: Vec::new(), cmds: Vec::new() };
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let mark = self.idx;
            self.next();
            let next = self.peek_non_space();
            if matches!(next.kind, Kind::Assign | Kind::Declare) {
                pipe.is_assign = next.kind == Kind::Assign;
                self.next_non_space();
                pipe.decl.push(Var { name: v.val.clone() });
                self.vars.push(v.val);
                break;
            }
            if next.kind == Kind::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push(Var { name: v.val.clone() });
                self.vars.push(v.val);
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().kind {
                        Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                        _ => return Err(self.errorf("range can only initialize variables")),
                    }
                }
                return Err(self.errorf(format!("too many declarations in {context}")));
            }
            self.idx = mark;
            break;
        }
        loop {
            let t = self.next_non_space();
            if t.kind == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match t.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(
                    Arg::Bool { .. }
                        | Arg::Dot { .. }
                        | Arg::Nil { .. }
                        | Arg::Number { .. }
                        | Arg::String { .. }
                )
            ) {
                return Err(
                    self.errorf(format!("non executable command in pipeline stage {}", i + 1))
                );
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let mut cmd = Command { pos: self.peek_non_space().pos, args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let f = self.next().val;
            fields.push(f[1..].to_string());
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            Arg::Bool { .. }
            | Arg::String { .. }
            | Arg::Number { .. }
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                return Err(self.errorf(format!(
                    "unexpected . after term {}",
                    crate::gofmt::quote(&node.to_string())
                )));
            }
            node => Arg::Chain { pos, node: Box::new(node), fields },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.pos;
        Ok(Some(match t.kind {
            Kind::Identifier => {
                if !(self.has_func)(&t.val) {
                    return Err(self
                        .errorf(format!("function {} not defined", crate::gofmt::quote(&t.val))));
                }
                Arg::Identifier { pos, name: t.val }
            }
            Kind::Dot => Arg::Dot { pos },
            Kind::Nil => Arg::Nil { pos },
            Kind::Variable => {
                let idents: Vec<String> = t.val.split('.').map(str::to_string).collect();
                if !self.vars.iter().any(|v| *v == idents[0]) {
                    return Err(self.errorf(format!(
                        "undefined variable {}",
                        crate::gofmt::quote(&idents[0])
                    )));
                }
                Arg::Variable { pos, idents }
            }
            Kind::Field => {
                Arg::Field { pos, idents: t.val[1..].split('.').map(str::to_string).collect() }
            }
            Kind::Bool => Arg::Bool { pos, val: t.val == "true" },
            Kind::CharConstant | Kind::Complex | Kind::Number => {
                let num = parse_number(&t.val, t.kind).map_err(|e| self.errorf(e))?;
                Arg::Number { pos, num }
            }
            Kind::LeftParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                self.nesting -= 1;
                Arg::Pipe(Box::new(p))
            }
            Kind::String | Kind::RawString => {
                let text = unquote(&t.val).ok_or_else(|| self.errorf("invalid syntax"))?;
                Arg::String { pos, quoted: t.val, text }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// Go's `strconv.Unquote` for `"…"`, `` `…` `` and `'…'` literals. Invalid UTF-8 produced by `\x` escapes is
/// replaced by U+FFFD, since our strings are UTF-8.
pub(crate) fn unquote(s: &str) -> Option<String> {
    let q = s.chars().next()?;
    if s.len() < 2 || !s.ends_with(q) {
        return None;
    }
    let body = &s[1..s.len() - 1];
    match q {
        '`' => {
            if body.contains('`') {
                return None;
            }
            Some(body.replace('\r', ""))
        }
        '"' | '\'' => {
            if body.contains('\n') {
                return None;
            }
            let mut out: Vec<u8> = Vec::with_capacity(body.len());
            let mut rest = body;
            let mut count = 0;
            while !rest.is_empty() {
                if rest.starts_with(q) && q == '"' {
                    return None;
                }
                let (bytes, tail) = unquote_char(rest, q)?;
                out.extend_from_slice(&bytes);
                rest = tail;
                count += 1;
            }
            if q == '\'' && count != 1 {
                return None;
            }
            Some(String::from_utf8_lossy(&out).into_owned())
        }
        _ => None,
    }
}

/// Decodes one character or escape at the start of `s`: its bytes and the rest of `s`.
fn unquote_char(s: &str, quote: char) -> Option<(Vec<u8>, &str)> {
    let c = s.chars().next()?;
    if c == quote && (quote == '\'' || quote == '"') {
        return None;
    }
    if c != '\\' {
        return Some((c.to_string().into_bytes(), &s[c.len_utf8()..]));
    }
    let mut it = s[1..].chars();
    let e = it.next()?;
    let tail = &s[1 + e.len_utf8()..];
    let simple = |b: u8| Some((vec![b], tail));
    match e {
        'a' => simple(7),
        'b' => simple(8),
        'f' => simple(12),
        'n' => simple(b'\n'),
        'r' => simple(b'\r'),
        't' => simple(b'\t'),
        'v' => simple(11),
        '\\' => simple(b'\\'),
        '\'' | '"' if e == quote => simple(e as u8),
        'x' | 'u' | 'U' => {
            let n = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let digits = tail.get(..n)?;
            let v = u32::from_str_radix(digits, 16).ok()?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let rest = &tail[n..];
            if e == 'x' {
                return Some((vec![v as u8], rest));
            }
            let c = char::from_u32(v)?;
            Some((c.to_string().into_bytes(), rest))
        }
        '0'..='7' => {
            let digits = s.get(1..4)?;
            if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return None;
            }
            let v = u32::from_str_radix(digits, 8).ok()?;
            if v > 255 {
                return None;
            }
            Some((vec![v as u8], &s[4..]))
        }
        _ => None,
    }
}

/// Parses a number or character constant as Go's parser does, recording each interpretation that fits.
pub(crate) fn parse_number(text: &str, kind: Kind) -> Result<Number, String> {
    let mut n = Number { text: text.to_string(), int: None, uint: None, float: None };
    if kind == Kind::CharConstant {
        let (bytes, tail) =
            unquote_char(&text[1..], '\'').ok_or_else(|| "invalid syntax".to_string())?;
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        let v = match std::str::from_utf8(&bytes).ok().and_then(|s| s.chars().next()) {
            Some(c) => c as u32,
            None => u32::from(bytes.first().copied().unwrap_or(0)),
        };
        n.int = Some(i64::from(v));
        n.uint = Some(u64::from(v));
        n.float = Some(f64::from(v));
        return Ok(n);
    }
    if kind == Kind::Complex || text.ends_with('i') {
        return Err(format!("complex constants are not supported: {}", crate::gofmt::quote(text)));
    }
    n.uint = parse_go_uint(text);
    n.int = parse_go_int(text);
    if n.int == Some(0) {
        n.uint = Some(0);
    }
    if let Some(i) = n.int {
        n.float = Some(i as f64);
    } else if let Some(u) = n.uint {
        n.float = Some(u as f64);
    } else if let Some(f) = parse_go_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", crate::gofmt::quote(text)));
        }
        n.float = Some(f);
        if f.fract() == 0.0 && (i64::MIN as f64..i64::MAX as f64).contains(&f) {
            n.int = Some(f as i64);
        }
        if f.fract() == 0.0 && (0.0..u64::MAX as f64).contains(&f) {
            n.uint = Some(f as u64);
        }
    }
    if n.int.is_none() && n.uint.is_none() && n.float.is_none() {
        return Err(format!("illegal number syntax: {}", crate::gofmt::quote(text)));
    }
    Ok(n)
}

/// Checks Go's underscore rule: underscores only between digits, or between a base prefix and a digit.
fn underscores_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut saw = b'^';
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = b[i + 1] | 0x20 == b'x';
        i += 2;
        saw = b'0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Splits off a Go base prefix: (base, digits), with a bare leading `0` meaning octal.
fn base_digits(s: &str) -> (u32, &str) {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'0' {
        match b[1] | 0x20 {
            b'x' => return (16, &s[2..]),
            b'o' => return (8, &s[2..]),
            b'b' => return (2, &s[2..]),
            _ => return (8, &s[1..]),
        }
    }
    (10, s)
}

fn parse_go_uint(s: &str) -> Option<u64> {
    if s.starts_with(['+', '-']) || !underscores_ok(s) {
        return None;
    }
    let (base, digits) = base_digits(s);
    let digits = digits.replace('_', "");
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(&digits, base).ok()
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = parse_go_uint(body)?;
    if neg {
        if u <= 1 << 63 { Some((u as i64).wrapping_neg()) } else { None }
    } else {
        i64::try_from(u).ok()
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let is_hex = body.len() > 1 && body.as_bytes()[0] == b'0' && body.as_bytes()[1] | 0x20 == b'x';
    if s.contains('_') && (!is_hex || !underscores_ok(s)) {
        return None;
    }
    let clean = s.replace('_', "");
    if is_hex {
        return crate::float::parse_float(&clean).ok();
    }
    if !body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    clean.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<HashMap<String, Tree>, Error> {
        parse("t", text, &|name| name == "f")
    }

    #[test]
    fn errors_match_go() {
        let err = |t: &str| p(t).unwrap_err().to_string();
        assert_eq!(err("{{"), "template: t:1: unclosed action");
        assert_eq!(err("{{end}}"), "template: t:1: unexpected {{end}}");
        assert_eq!(err("{{if .}}"), "template: t:1: unexpected EOF");
        assert_eq!(err("{{g}}"), r#"template: t:1: function "g" not defined"#);
        assert_eq!(err("{{$x}}"), r#"template: t:1: undefined variable "$x""#);
        assert_eq!(err("{{break}}"), "template: t:1: {{break}} outside {{range}}");
        assert_eq!(err("{{f | 1}}"), "template: t:1: non executable command in pipeline stage 2");
        assert_eq!(
            err("\n{{define \"a\"}}x{{end}}{{define \"a\"}}y{{end}}"),
            "template: t:2: template: multiple definition of template \"a\""
        );
    }

    #[test]
    fn numbers() {
        let n = parse_number("0x1F", Kind::Number).unwrap();
        assert_eq!(n.int, Some(31));
        let n = parse_number("1e3", Kind::Number).unwrap();
        assert_eq!((n.int, n.float), (Some(1000), Some(1000.0)));
        assert_eq!(parse_number("'a'", Kind::CharConstant).unwrap().int, Some(97));
        assert_eq!(parse_number("089", Kind::Number).unwrap_err(), "integer overflow: \"089\"");
        assert_eq!(parse_number("1_000", Kind::Number).unwrap().int, Some(1000));
    }

    #[test]
    fn unquoting() {
        assert_eq!(unquote(r#""a\tb\u00e9\x41""#).as_deref(), Some("a\tbéA"));
        assert_eq!(unquote("`a\\n`").as_deref(), Some("a\\n"));
        assert_eq!(unquote(r#""\'""#), None);
        assert_eq!(unquote(r"'\''").as_deref(), Some("'"));
    }
}
