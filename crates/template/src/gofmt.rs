//! Go's `fmt` printing for template values: `Sprint`, `Sprintln`, `Sprintf` and the `%v` form of every value.
//!
//! Templates print values the way Go's `fmt.Fprint` does, and the `printf` builtin follows `fmt.Sprintf`,
//! including its in-band error forms (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA int=1)`). Floats follow
//! `strconv.FormatFloat` (see `float`); strings are quoted as `strconv.Quote` does.

use crate::float::{self, FloatFmt};
use crate::gotime;
use crate::value::{Struct, Value};

/// Go's `fmt.Sprint`: operands formatted with `%v`, with a space between two operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
        prev_string = is_string;
    }
    p.buf
}

/// How an action prints a value: `Sprint`, except that a pointer to a struct is printed as the struct (Go's
/// executor dereferences pointers before printing).
pub(crate) fn sprint_action(v: &Value) -> String {
    let mut p = Printer::default();
    match v {
        Value::Struct(s) if s.is_pointer() => p.print_struct(s, 'v', 0, false),
        v => p.print_arg(v, 'v'),
    }
    p.buf
}

/// Go's `fmt.Sprintln`: operands separated by spaces, followed by a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut p = Printer::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
    }
    p.buf.push('\n');
    p.buf
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::default();
    p.do_printf(format, args);
    p.buf
}

/// Formats with Go's `%.4g` (used by the humanize family).
pub(crate) fn g4(v: f64) -> String {
    sprintf("%.4g", &[Value::Float(v)])
}

/// The formatting flags of one verb.
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

#[derive(Debug, Default)]
struct Printer {
    buf: String,
    f: Flags,
    reordered: bool,
    good_arg_num: bool,
}

/// Go refuses widths and precisions above a million.
const TOO_LARGE: usize = 1_000_000;

fn parse_num(s: &[u8], mut i: usize, end: usize) -> (Option<usize>, usize) {
    if i >= end {
        return (None, end);
    }
    let mut num = 0usize;
    let mut any = false;
    while i < end && s[i].is_ascii_digit() {
        if num > TOO_LARGE {
            return (None, end);
        }
        num = num * 10 + usize::from(s[i] - b'0');
        any = true;
        i += 1;
    }
    (any.then_some(num), i)
}

impl Printer {
    fn pad(&mut self, s: &str) {
        let Some(wid) = self.f.wid.filter(|w| *w > 0) else {
            self.buf.push_str(s);
            return;
        };
        let n = wid.saturating_sub(s.chars().count());
        if self.f.minus {
            self.buf.push_str(s);
            self.padding(n);
        } else {
            self.padding(n);
            self.buf.push_str(s);
        }
    }

    fn padding(&mut self, n: usize) {
        let c = if self.f.zero { '0' } else { ' ' };
        self.buf.extend(std::iter::repeat_n(c, n));
    }

    fn do_printf(&mut self, format: &str, args: &[Value]) {
        let s = format.as_bytes();
        let end = s.len();
        let mut arg_num = 0usize;
        let mut i = 0usize;
        'outer: while i < end {
            self.good_arg_num = true;
            let last = i;
            while i < end && s[i] != b'%' {
                i += 1;
            }
            if i > last {
                self.buf.push_str(&format[last..i]);
            }
            if i >= end {
                break;
            }
            i += 1;
            self.f = Flags::default();
            while i < end {
                match s[i] {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = !self.f.minus,
                    b'+' => self.f.plus = true,
                    b'-' => {
                        self.f.minus = true;
                        self.f.zero = false;
                    }
                    b' ' => self.f.space = true,
                    c => {
                        if c.is_ascii_lowercase() && arg_num < args.len() {
                            if c == b'v' {
                                self.f.sharp_v = self.f.sharp;
                                self.f.sharp = false;
                                self.f.plus_v = self.f.plus;
                                self.f.plus = false;
                            }
                            self.print_arg(&args[arg_num], char::from(c));
                            arg_num += 1;
                            i += 1;
                            continue 'outer;
                        }
                        break;
                    }
                }
                i += 1;
            }
            let mut after_index;
            (arg_num, i, after_index) = self.arg_number(arg_num, s, i, args.len());
            if i < end && s[i] == b'*' {
                i += 1;
                let (n, new_arg) = int_from_arg(args, arg_num);
                arg_num = new_arg;
                match n {
                    Some(n) if n < 0 => {
                        self.f.wid = Some(n.unsigned_abs() as usize);
                        self.f.minus = true;
                        self.f.zero = false;
                    }
                    Some(n) => self.f.wid = Some(n as usize),
                    None => self.buf.push_str("%!(BADWIDTH)"),
                }
                after_index = false;
            } else {
                let (w, ni) = parse_num(s, i, end);
                self.f.wid = w;
                i = ni;
                if after_index && w.is_some() {
                    self.good_arg_num = false;
                }
            }
            if i + 1 < end && s[i] == b'.' {
                i += 1;
                if after_index {
                    self.good_arg_num = false;
                }
                (arg_num, i, after_index) = self.arg_number(arg_num, s, i, args.len());
                if i < end && s[i] == b'*' {
                    i += 1;
                    let (n, new_arg) = int_from_arg(args, arg_num);
                    arg_num = new_arg;
                    match n {
                        Some(n) if n < 0 => self.f.prec = None,
                        Some(n) => self.f.prec = Some(n as usize),
                        None => {}
                    }
                    if !matches!(n, Some(n) if n >= 0) {
                        self.buf.push_str("%!(BADPREC)");
                    }
                    after_index = false;
                } else {
                    let (p, ni) = parse_num(s, i, end);
                    i = ni;
                    self.f.prec = Some(p.unwrap_or(0));
                }
            }
            if !after_index {
                (arg_num, i, _) = self.arg_number(arg_num, s, i, args.len());
            }
            if i >= end {
                self.buf.push_str("%!(NOVERB)");
                break;
            }
            let verb = format[i..].chars().next().unwrap_or('?');
            i += verb.len_utf8();
            if verb == '%' {
                self.buf.push('%');
            } else if !self.good_arg_num {
                self.bad_arg("BADINDEX", verb);
            } else if arg_num >= args.len() {
                self.bad_arg("MISSING", verb);
            } else {
                if verb == 'v' {
                    self.f.sharp_v = self.f.sharp;
                    self.f.sharp = false;
                    self.f.plus_v = self.f.plus;
                    self.f.plus = false;
                }
                self.print_arg(&args[arg_num], verb);
                arg_num += 1;
            }
        }
        if !self.reordered && arg_num < args.len() {
            self.f = Flags::default();
            self.buf.push_str("%!(EXTRA ");
            for (k, a) in args[arg_num..].iter().enumerate() {
                if k > 0 {
                    self.buf.push_str(", ");
                }
                if a.is_nil() {
                    self.buf.push_str("<nil>");
                } else {
                    self.buf.push_str(&a.go_type());
                    self.buf.push('=');
                    self.print_arg(a, 'v');
                }
            }
            self.buf.push(')');
        }
    }

    fn bad_arg(&mut self, what: &str, verb: char) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        self.buf.push_str(what);
        self.buf.push(')');
    }

    /// Parses an explicit argument index `[n]` at `i`.
    fn arg_number(
        &mut self,
        arg_num: usize,
        s: &[u8],
        i: usize,
        nargs: usize,
    ) -> (usize, usize, bool) {
        if i >= s.len() || s[i] != b'[' {
            return (arg_num, i, false);
        }
        self.reordered = true;
        let rest = &s[i..];
        let mut parsed = None;
        let mut width = 1;
        if rest.len() >= 3
            && let Some(close) = rest.iter().skip(1).position(|&c| c == b']').map(|p| p + 1)
        {
            let (n, ni) = parse_num(rest, 1, close);
            width = close + 1;
            if let (Some(n), true) = (n, ni == close) {
                parsed = Some(n);
            }
        }
        match parsed {
            Some(n) if n >= 1 && n - 1 < nargs => (n - 1, i + width, true),
            Some(_) => {
                self.good_arg_num = false;
                (arg_num, i + width, true)
            }
            None => {
                self.good_arg_num = false;
                (arg_num, i + width, false)
            }
        }
    }

    fn bad_verb(&mut self, v: &Value, verb: char) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        if v.is_nil() {
            self.buf.push_str("<nil>");
        } else {
            self.buf.push_str(&v.go_type());
            self.buf.push('=');
            let saved = self.f;
            self.f.sharp_v = false;
            self.f.plus_v = false;
            self.print_value(v, 'v', 0);
            self.f = saved;
        }
        self.buf.push(')');
    }

    fn print_arg(&mut self, v: &Value, verb: char) {
        if v.is_nil() {
            match verb {
                'T' | 'v' => self.pad("<nil>"),
                _ => self.bad_verb(v, verb),
            }
            return;
        }
        if verb == 'T' {
            let t = v.go_type();
            self.fmt_s(&t);
            return;
        }
        if verb == 'p' {
            self.bad_verb(v, verb);
            return;
        }
        self.print_value(v, verb, 0);
    }

    fn print_value(&mut self, v: &Value, verb: char, depth: usize) {
        match v {
            Value::Nil => {
                if depth == 0 {
                    self.print_arg(v, verb);
                } else {
                    self.pad("<nil>");
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(v, verb),
            },
            Value::Int(i) => self.fmt_integer(*i, verb, v),
            Value::Float(x) => self.fmt_float_verb(*x, verb, v),
            Value::String(s) => self.fmt_string(s, verb, v),
            Value::Time(_) | Value::Duration(_) if matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') => {
                let s = match v {
                    Value::Time(t) => gotime::time_string(*t),
                    Value::Duration(d) => gotime::duration_string(*d),
                    _ => String::new(),
                };
                if self.f.sharp_v {
                    self.buf.push_str(&s);
                } else {
                    self.fmt_string(&s, verb, v);
                }
            }
            Value::Duration(d) => self.fmt_integer(*d, verb, v),
            Value::Time(_) => self.bad_verb(v, verb),
            Value::List(items) => {
                if self.f.sharp_v {
                    self.buf.push_str(&v.go_type());
                    self.buf.push('{');
                } else {
                    self.buf.push('[');
                }
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    self.print_value(item, verb, depth + 1);
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::Map(m) => {
                let entries: Vec<(&str, &Value)> = m.iter().map(|(k, v)| (k.as_str(), v)).collect();
                self.print_map(v, &entries, verb, depth);
            }
            Value::StringMap(m) => {
                let vals: Vec<Value> = m.values().map(|s| Value::String(s.clone())).collect();
                let entries: Vec<(&str, &Value)> =
                    m.keys().map(String::as_str).zip(vals.iter()).collect();
                self.print_map(v, &entries, verb, depth);
            }
            Value::Struct(st) => self.print_struct(st, verb, depth, st.is_pointer()),
        }
    }

    fn print_struct(&mut self, st: &Struct, verb: char, depth: usize, amp: bool) {
        {
            {
                if self.f.sharp_v {
                    self.buf.push_str(&st.type_name);
                } else if amp {
                    self.buf.push('&');
                }
                self.buf.push('{');
                for (i, (name, fv)) in st.fields.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    if self.f.plus_v || self.f.sharp_v {
                        self.buf.push_str(name);
                        self.buf.push(':');
                    }
                    self.print_value(fv, verb, depth + 1);
                }
                self.buf.push('}');
            }
        }
    }

    fn print_map(&mut self, v: &Value, entries: &[(&str, &Value)], verb: char, depth: usize) {
        if self.f.sharp_v {
            self.buf.push_str(&v.go_type());
            self.buf.push('{');
        } else {
            self.buf.push_str("map[");
        }
        for (i, (k, val)) in entries.iter().enumerate() {
            if i > 0 {
                self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
            }
            self.print_value(&Value::String((*k).to_string()), verb, depth + 1);
            self.buf.push(':');
            self.print_value(val, verb, depth + 1);
        }
        self.buf.push(if self.f.sharp_v { '}' } else { ']' });
    }

    fn fmt_string(&mut self, s: &str, verb: char, v: &Value) {
        match verb {
            'v' if self.f.sharp_v => self.fmt_q(s),
            'v' | 's' => self.fmt_s(s),
            'x' => self.fmt_sx(s, false),
            'X' => self.fmt_sx(s, true),
            'q' => self.fmt_q(s),
            _ => self.bad_verb(v, verb),
        }
    }

    fn truncate<'s>(&self, s: &'s str) -> &'s str {
        match self.f.prec {
            Some(p) => match s.char_indices().nth(p) {
                Some((i, _)) => &s[..i],
                None => s,
            },
            None => s,
        }
    }

    fn fmt_s(&mut self, s: &str) {
        let t = self.truncate(s);
        self.pad(t);
    }

    fn fmt_q(&mut self, s: &str) {
        let t = self.truncate(s);
        let q = if self.f.sharp && can_backquote(t) {
            format!("`{t}`")
        } else {
            quote_with(t, '"', self.f.plus)
        };
        self.pad(&q);
    }

    fn fmt_sx(&mut self, s: &str, upper: bool) {
        let bytes = s.as_bytes();
        let n = self.f.prec.map_or(bytes.len(), |p| p.min(bytes.len()));
        if n == 0 {
            if let Some(w) = self.f.wid {
                self.padding(w);
            }
            return;
        }
        let mut out = String::new();
        let x = if upper { "0X" } else { "0x" };
        for (i, b) in bytes[..n].iter().enumerate() {
            if self.f.space && i > 0 {
                out.push(' ');
            }
            if self.f.sharp && (self.f.space || i == 0) {
                out.push_str(x);
            }
            if upper {
                out.push_str(&format!("{b:02X}"));
            } else {
                out.push_str(&format!("{b:02x}"));
            }
        }
        let saved = self.f.zero;
        self.f.zero = false;
        self.pad(&out);
        self.f.zero = saved;
    }

    fn fmt_integer(&mut self, i: i64, verb: char, v: &Value) {
        match verb {
            'v' | 'd' => self.fmt_int_base(i, 10, verb, false),
            'b' => self.fmt_int_base(i, 2, verb, false),
            'o' | 'O' => self.fmt_int_base(i, 8, verb, false),
            'x' => self.fmt_int_base(i, 16, verb, false),
            'X' => self.fmt_int_base(i, 16, verb, true),
            'c' => {
                let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
                self.pad(&c.to_string());
            }
            'q' => {
                let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
                let q = if self.f.sharp && c != '\'' && c != '`' && is_print(c) {
                    format!("'{c}'")
                } else {
                    quote_with(&c.to_string(), '\'', self.f.plus)
                };
                self.pad(&q);
            }
            'U' => {
                let u = i as u64;
                let prec = self.f.prec.filter(|p| *p > 4).unwrap_or(4);
                let mut s = format!("U+{u:0prec$X}");
                if self.f.sharp
                    && let Some(c) =
                        u32::try_from(u).ok().and_then(char::from_u32).filter(|c| is_print(*c))
                {
                    s.push_str(&format!(" '{c}'"));
                }
                let saved = self.f.zero;
                self.f.zero = false;
                self.pad(&s);
                self.f.zero = saved;
            }
            _ => self.bad_verb(v, verb),
        }
    }

    fn fmt_int_base(&mut self, i: i64, base: u32, verb: char, upper: bool) {
        let negative = i < 0;
        let u = i.unsigned_abs();
        let mut prec = 0usize;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && u == 0 {
                let saved = self.f.zero;
                self.f.zero = false;
                let w = self.f.wid.unwrap_or(0);
                self.padding(w);
                self.f.zero = saved;
                return;
            }
        } else if let (true, Some(w)) = (self.f.zero, self.f.wid) {
            prec = w;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut digits = match base {
            2 => format!("{u:b}"),
            8 => format!("{u:o}"),
            16 if upper => format!("{u:X}"),
            16 => format!("{u:x}"),
            _ => u.to_string(),
        };
        if digits.len() < prec {
            digits = "0".repeat(prec - digits.len()) + &digits;
        }
        let mut prefix = String::new();
        if self.f.sharp {
            match base {
                2 => prefix.push_str("0b"),
                8 if !digits.starts_with('0') => prefix.push('0'),
                16 => prefix.push_str(if upper { "0X" } else { "0x" }),
                _ => {}
            }
        }
        if verb == 'O' {
            prefix = format!("0o{prefix}");
        }
        let sign = if negative {
            "-"
        } else if self.f.plus {
            "+"
        } else if self.f.space {
            " "
        } else {
            ""
        };
        let s = format!("{sign}{prefix}{digits}");
        let saved = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = saved;
    }

    fn fmt_float_verb(&mut self, x: f64, verb: char, v: &Value) {
        let (fmt, prec) = match verb {
            'v' => (FloatFmt::G, None),
            'g' => (FloatFmt::G, None),
            'G' => (FloatFmt::UpperG, None),
            'e' => (FloatFmt::E, Some(6)),
            'E' => (FloatFmt::UpperE, Some(6)),
            'f' | 'F' => (FloatFmt::F, Some(6)),
            _ => {
                self.bad_verb(v, verb);
                return;
            }
        };
        let prec = self.f.prec.or(prec);
        self.fmt_float(x, fmt, prec);
    }

    fn fmt_float(&mut self, x: f64, fmt: FloatFmt, prec: Option<usize>) {
        let body = float::format(x, fmt, prec);
        let mut num =
            if body.starts_with('-') || body.starts_with('+') { body } else { format!("+{body}") };
        if self.f.space && num.starts_with('+') && !self.f.plus {
            num.replace_range(0..1, " ");
        }
        let special = num[1..].starts_with('I') || num[1..].starts_with('N');
        if special {
            let saved = self.f.zero;
            self.f.zero = false;
            if num[1..].starts_with('N') && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            self.pad(&num);
            self.f.zero = saved;
            return;
        }
        if self.f.sharp {
            num = sharp_float(&num, fmt, prec);
        }
        if self.f.plus || !num.starts_with('+') {
            if let (true, Some(w)) = (self.f.zero, self.f.wid)
                && w > num.len()
            {
                let (sign, rest) = num.split_at(1);
                self.buf.push_str(sign);
                self.padding(w - num.len());
                self.buf.push_str(rest);
                return;
            }
            self.pad(&num);
            return;
        }
        let unsigned = num[1..].to_string();
        self.pad(&unsigned);
    }
}

/// The `#` flag on floats: always print a decimal point and, for `%g`, keep trailing zeros.
fn sharp_float(num: &str, fmt: FloatFmt, prec: Option<usize>) -> String {
    let mut digits: i64 = match fmt {
        FloatFmt::G | FloatFmt::UpperG => prec.map_or(6, |p| p as i64),
        _ => 0,
    };
    let (head, tail) = match num.find(['e', 'E']) {
        Some(i) => num.split_at(i),
        None => (num, ""),
    };
    let mut head = head.to_string();
    let mut saw_point = false;
    let mut saw_nonzero = false;
    for c in head[1..].chars() {
        if c == '.' {
            saw_point = true;
        } else {
            if c != '0' {
                saw_nonzero = true;
            }
            if saw_nonzero {
                digits -= 1;
            }
        }
    }
    if !saw_point {
        if head.len() == 2 && head.ends_with('0') {
            digits -= 1;
        }
        head.push('.');
    }
    while digits > 0 {
        head.push('0');
        digits -= 1;
    }
    head + tail
}

fn int_from_arg(args: &[Value], arg_num: usize) -> (Option<i64>, usize) {
    if arg_num >= args.len() {
        return (None, arg_num);
    }
    let n = match &args[arg_num] {
        Value::Int(i) if i.unsigned_abs() <= TOO_LARGE as u64 => Some(*i),
        _ => None,
    };
    (n, arg_num + 1)
}

pub(crate) use model::gostr::{is_print, quote, quote_with};

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars().all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !(c < ' ' || c == '\u{7f}')))
}

/// Formats a rune as Go's `%#U` does: `U+0041 'A'`, or just `U+00A0` when the rune is not printable.
pub(crate) fn unicode_hash(c: char) -> String {
    if is_print(c) { format!("U+{:04X} '{c}'", c as u32) } else { format!("U+{:04X}", c as u32) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(format: &str, args: &[Value]) -> String {
        sprintf(format, args)
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(sprint(&[1.into(), 2.into(), "a".into(), 3.into()]), "1 2a3");
        assert_eq!(sprintln(&[1.into(), "a".into()]), "1 a\n");
    }

    #[test]
    fn printf_errors() {
        assert_eq!(f("%d", &["x".into()]), "%!d(string=x)");
        assert_eq!(f("%d %d", &[1.into()]), "1 %!d(MISSING)");
        assert_eq!(f("%d", &[1.into(), "a".into()]), "1%!(EXTRA string=a)");
        assert_eq!(f("%", &[]), "%!(NOVERB)");
        assert_eq!(f("%[2]d %[1]d", &[1.into(), 2.into()]), "2 1");
        assert_eq!(f("%[3]d", &[1.into()]), "%!d(BADINDEX)");
        assert_eq!(f("%d", &[Value::Nil]), "%!d(<nil>)");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\n\u{1}é"), "\"a\\\"b\\n\\x01é\"");
        assert_eq!(f("%+q", &["é".into()]), "\"\\u00e9\"");
        assert_eq!(f("%#q", &["a".into()]), "`a`");
        assert_eq!(unicode_hash('\u{a0}'), "U+00A0");
        assert_eq!(unicode_hash('+'), "U+002B '+'");
    }
}
