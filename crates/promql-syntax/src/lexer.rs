//! Splits a query into tokens. Like Prometheus's lexer it tracks whether it is inside `{…}` (where keywords are
//! plain label names) or `[…]` (where only duration expressions may appear), so the token stream is fully
//! determined before parsing starts.

use crate::error::ParseError;

/// Token kinds. Identifiers carry no keyword meaning here: the parser decides from context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident,
    Number,
    Duration,
    Str,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Eql,
    EqlRegex,
    NeqRegex,
    Eqlc,
    Neq,
    Lss,
    Lte,
    Gtr,
    Gte,
    TrimUpper,
    TrimLower,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    At,
    Eof,
}

impl Tok {
    /// How Prometheus names the token in "unexpected …" errors.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Tok::Ident => "identifier",
            Tok::Number => "number",
            Tok::Duration => "duration",
            Tok::Str => "string",
            Tok::LParen => "\"(\"",
            Tok::RParen => "\")\"",
            Tok::LBrace => "\"{\"",
            Tok::RBrace => "\"}\"",
            Tok::LBracket => "\"[\"",
            Tok::RBracket => "\"]\"",
            Tok::Comma => "\",\"",
            Tok::Colon => "\":\"",
            Tok::Eql => "\"=\"",
            Tok::EqlRegex => "\"=~\"",
            Tok::NeqRegex => "\"!~\"",
            Tok::Eqlc => "\"==\"",
            Tok::Neq => "\"!=\"",
            Tok::Lss => "\"<\"",
            Tok::Lte => "\"<=\"",
            Tok::Gtr => "\">\"",
            Tok::Gte => "\">=\"",
            Tok::TrimUpper => "\"</\"",
            Tok::TrimLower => "\">/\"",
            Tok::Add => "\"+\"",
            Tok::Sub => "\"-\"",
            Tok::Mul => "\"*\"",
            Tok::Div => "\"/\"",
            Tok::Mod => "\"%\"",
            Tok::Pow => "\"^\"",
            Tok::At => "\"@\"",
            Tok::Eof => "end of input",
        }
    }
}

/// One token: its kind and byte range in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

fn is_alpha(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn is_alnum(c: u8) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
    out: Vec<Token>,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    paren_depth: i64,
}

/// Tokenizes `input`; the last token is always [`Tok::Eof`].
pub(crate) fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    let mut l = Lexer {
        s: input.as_bytes(),
        pos: 0,
        out: Vec::new(),
        brace_open: false,
        bracket_open: false,
        got_colon: false,
        paren_depth: 0,
    };
    l.run()?;
    Ok(l.out)
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<u8> {
        self.s.get(self.pos + off).copied()
    }

    fn emit(&mut self, tok: Tok, start: usize) {
        self.out.push(Token { tok, start, end: self.pos });
    }

    fn err(&self, start: usize, msg: String) -> ParseError {
        ParseError::new(start, self.pos.max(start), msg)
    }

    fn run(&mut self) -> Result<(), ParseError> {
        loop {
            let start = self.pos;
            let Some(c) = self.peek() else {
                if self.brace_open {
                    return Err(self.err(start, "unexpected end of input inside braces".into()));
                }
                if self.paren_depth != 0 {
                    return Err(self.err(start, "unclosed left parenthesis".into()));
                }
                if self.bracket_open {
                    return Err(self.err(start, "unclosed left bracket".into()));
                }
                self.emit(Tok::Eof, start);
                return Ok(());
            };
            if c == b'#' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
                continue;
            }
            if is_space(c) {
                self.pos += 1;
                continue;
            }
            if self.brace_open {
                self.inside_braces(c, start)?;
            } else if self.bracket_open {
                self.inside_brackets(c, start)?;
            } else {
                self.statements(c, start)?;
            }
        }
    }

    fn statements(&mut self, c: u8, start: usize) -> Result<(), ParseError> {
        self.pos += 1;
        let tok = match c {
            b',' => Tok::Comma,
            b'*' => Tok::Mul,
            b'/' => Tok::Div,
            b'%' => Tok::Mod,
            b'+' => Tok::Add,
            b'-' => Tok::Sub,
            b'^' => Tok::Pow,
            b'@' => Tok::At,
            b'=' => match self.peek() {
                Some(b'=') => {
                    self.pos += 1;
                    Tok::Eqlc
                }
                Some(b'~') => {
                    return Err(self.err(start, "unexpected character after '=': '~'".into()));
                }
                _ => Tok::Eql,
            },
            b'!' => match self.peek() {
                Some(b'=') => {
                    self.pos += 1;
                    Tok::Neq
                }
                other => {
                    return Err(self.err(
                        start,
                        format!("unexpected character after '!': {}", quote_char(other)),
                    ));
                }
            },
            b'<' => match self.peek() {
                Some(b'=') => {
                    self.pos += 1;
                    Tok::Lte
                }
                Some(b'/') => {
                    self.pos += 1;
                    Tok::TrimUpper
                }
                _ => Tok::Lss,
            },
            b'>' => match self.peek() {
                Some(b'=') => {
                    self.pos += 1;
                    Tok::Gte
                }
                Some(b'/') => {
                    self.pos += 1;
                    Tok::TrimLower
                }
                _ => Tok::Gtr,
            },
            b'(' => {
                self.paren_depth += 1;
                Tok::LParen
            }
            b')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return Err(self.err(start, "unexpected right parenthesis ')'".into()));
                }
                Tok::RParen
            }
            b'{' => {
                self.brace_open = true;
                Tok::LBrace
            }
            b'}' => return Err(self.err(start, "unexpected right brace '}'".into())),
            b'[' => {
                self.bracket_open = true;
                self.got_colon = false;
                Tok::LBracket
            }
            b']' => return Err(self.err(start, "unexpected right bracket ']'".into())),
            b'"' | b'\'' => return self.string(c, start),
            b'`' => return self.raw_string(start),
            c if c.is_ascii_digit()
                || (c == b'.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos = start;
                return self.number_or_duration(start);
            }
            c if is_alpha(c) || c == b':' => {
                while self.peek().is_some_and(|c| is_alnum(c) || c == b':') {
                    self.pos += 1;
                }
                Tok::Ident
            }
            _ => return Err(self.unexpected_char(start, "")),
        };
        self.emit(tok, start);
        Ok(())
    }

    /// "unexpected character{context}: 'c'" for the (possibly multi-byte) character at `start`.
    fn unexpected_char(&mut self, start: usize, context: &str) -> ParseError {
        self.pos = start;
        let ch = self.current_char();
        self.err(start, format!("unexpected character{context}: {}", quote_rune(ch)))
    }

    fn current_char(&self) -> char {
        std::str::from_utf8(&self.s[self.pos..])
            .ok()
            .and_then(|s| s.chars().next())
            .or_else(|| {
                let end = (self.pos + 4).min(self.s.len());
                (self.pos + 1..=end).find_map(|e| {
                    std::str::from_utf8(&self.s[self.pos..e]).ok().and_then(|s| s.chars().next())
                })
            })
            .unwrap_or('\u{FFFD}')
    }

    fn inside_braces(&mut self, c: u8, start: usize) -> Result<(), ParseError> {
        self.pos += 1;
        let tok = match c {
            b',' => Tok::Comma,
            b'"' | b'\'' => return self.string(c, start),
            b'`' => return self.raw_string(start),
            b'=' => {
                if self.peek() == Some(b'~') {
                    self.pos += 1;
                    Tok::EqlRegex
                } else {
                    Tok::Eql
                }
            }
            b'!' => match self.peek() {
                Some(b'~') => {
                    self.pos += 1;
                    Tok::NeqRegex
                }
                Some(b'=') => {
                    self.pos += 1;
                    Tok::Neq
                }
                other => {
                    return Err(self.err(
                        start,
                        format!(
                            "unexpected character after '!' inside braces: {}",
                            quote_char(other)
                        ),
                    ));
                }
            },
            b'{' => return Err(self.err(start, "unexpected left brace '{'".into())),
            b'}' => {
                self.brace_open = false;
                Tok::RBrace
            }
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alnum) {
                    self.pos += 1;
                }
                Tok::Ident
            }
            _ => return Err(self.unexpected_char(start, " inside braces")),
        };
        self.emit(tok, start);
        Ok(())
    }

    fn inside_brackets(&mut self, c: u8, start: usize) -> Result<(), ParseError> {
        self.pos += 1;
        let tok = match c {
            b']' => {
                self.bracket_open = false;
                self.got_colon = false;
                Tok::RBracket
            }
            b':' => {
                if self.got_colon {
                    return Err(
                        self.err(start, "unexpected repeated colon in duration expression".into())
                    );
                }
                self.got_colon = true;
                Tok::Colon
            }
            b'(' => {
                self.paren_depth += 1;
                Tok::LParen
            }
            b')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return Err(self.err(start, "unexpected right parenthesis ')'".into()));
                }
                Tok::RParen
            }
            b'+' => Tok::Add,
            b'-' => Tok::Sub,
            b'*' => Tok::Mul,
            b'/' => Tok::Div,
            b'%' => Tok::Mod,
            b'^' => Tok::Pow,
            b',' => Tok::Comma,
            b'[' => return Err(self.err(start, "unexpected left bracket '['".into())),
            c if c.is_ascii_digit()
                || (c == b'.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos = start;
                return self.number_or_duration(start);
            }
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alnum) {
                    self.pos += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.pos])
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if !matches!(word.as_str(), "step" | "range" | "min_of" | "max_of") {
                    return Err(self.err(
                        start,
                        format!(
                            "unexpected character in duration expression: {}",
                            quote_rune(c as char)
                        ),
                    ));
                }
                Tok::Ident
            }
            _ => return Err(self.unexpected_char(start, " in duration expression")),
        };
        self.emit(tok, start);
        Ok(())
    }

    fn string(&mut self, quote: u8, start: usize) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                None | Some(b'\n') => {
                    return Err(self.err(start, "unterminated quoted string".into()));
                }
                Some(b'\\') => {
                    self.pos += 2;
                    if self.pos > self.s.len() {
                        return Err(self.err(start, "escape sequence not terminated".into()));
                    }
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        // Validate escapes now so errors carry the string's position.
        crate::strings::unquote(&String::from_utf8_lossy(&self.s[start..self.pos]))
            .map_err(|m| self.err(start, m))?;
        self.emit(Tok::Str, start);
        Ok(())
    }

    fn raw_string(&mut self, start: usize) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                None => return Err(self.err(start, "unterminated raw string".into())),
                Some(b'`') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        self.emit(Tok::Str, start);
        Ok(())
    }

    fn accept(&mut self, set: &[u8]) -> bool {
        if self.peek().is_some_and(|c| set.contains(&c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn number_or_duration(&mut self, start: usize) -> Result<(), ParseError> {
        if self.scan_number() {
            self.emit(Tok::Number, start);
            return Ok(());
        }
        // A duration: digits then unit, possibly repeated.
        self.pos = start;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos > start && self.accept_duration_rest() {
            self.emit(Tok::Duration, start);
            return Ok(());
        }
        while self.peek().is_some_and(|c| is_alnum(c) || c == b'.') {
            self.pos += 1;
        }
        let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        Err(self.err(start, format!("bad number or duration syntax: {text:?}")))
    }

    fn accept_duration_rest(&mut self) -> bool {
        if !self.accept(b"smhdwy") {
            return false;
        }
        self.accept(b"s");
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            if !self.accept(b"smhdw") {
                return false;
            }
            self.accept(b"s");
        }
        !self.peek().is_some_and(is_alnum)
    }

    /// Scans a number in any of Prometheus's forms; false if the text is not one (then it may be a duration).
    fn scan_number(&mut self) -> bool {
        let initial = self.pos;
        let mut hex = false;
        if self.peek() == Some(b'0') && matches!(self.peek_at(1), Some(b'x' | b'X')) {
            self.pos += 2;
            self.accept(b"_");
            hex = true;
        }
        let is_digit = |c: u8| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() };
        if self.peek() == Some(b'.') {
            self.pos += 1;
        }
        if self.peek().is_some_and(is_digit) {
            self.pos += 1;
        }
        let mut dot = false;
        let mut exp = false;
        while let Some(c) = self.peek() {
            if c == b'.' {
                if dot || hex {
                    self.pos += 1;
                    return false;
                }
                dot = true;
                self.pos += 1;
                if matches!(self.peek(), Some(b'_' | b'.')) {
                    return false;
                }
            } else if !hex && (c == b'e' || c == b'E') {
                if exp {
                    self.pos += 1;
                    return false;
                }
                exp = true;
                self.pos += 1;
                self.accept(b"+-");
                match self.peek() {
                    None | Some(b'.' | b'_' | b'e' | b'E') => return false,
                    _ => {}
                }
            } else if c == b'_' {
                self.pos += 1;
                match self.peek() {
                    None | Some(b'.' | b'_' | b'e' | b'E') => return false,
                    _ => {}
                }
            } else if is_digit(c) {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == initial {
            return false;
        }
        !self.peek().is_some_and(is_alnum)
    }
}

fn quote_char(c: Option<u8>) -> String {
    match c {
        Some(c) => quote_rune(c as char),
        None => "EOF".to_string(),
    }
}

/// Go's `%q` for a rune.
pub(crate) fn quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '\n' => "'\\n'".to_string(),
        '\t' => "'\\t'".to_string(),
        '\r' => "'\\r'".to_string(),
        '\\' => "'\\\\'".to_string(),
        c if c.is_control() => format!("'\\x{:02x}'", c as u32),
        c => format!("'{c}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            kinds("rate(foo{a=~\"b\"}[5m:1m]) >= 0x1F"),
            vec![
                Tok::Ident,
                Tok::LParen,
                Tok::Ident,
                Tok::LBrace,
                Tok::Ident,
                Tok::EqlRegex,
                Tok::Str,
                Tok::RBrace,
                Tok::LBracket,
                Tok::Duration,
                Tok::Colon,
                Tok::Duration,
                Tok::RBracket,
                Tok::RParen,
                Tok::Gte,
                Tok::Number,
                Tok::Eof
            ]
        );
        assert_eq!(
            kinds("1e3 .5 2. 1_000"),
            vec![Tok::Number; 4].into_iter().chain([Tok::Eof]).collect::<Vec<_>>()
        );
        assert_eq!(kinds("1h30m"), vec![Tok::Duration, Tok::Eof]);
    }

    #[test]
    fn errors() {
        assert!(lex("foo{").is_err());
        assert!(lex("(foo").is_err());
        assert!(lex("foo)").is_err());
        assert!(lex("\"abc").is_err());
        assert!(lex("1.2.3").is_err());
        assert!(lex("foo[5m").is_err());
    }
}
