//! Go's predefined template functions: `and or not len index slice print printf println eq ne lt le gt ge html
//! js urlquery` (`call` is not provided). `and` and `or` short-circuit, so the executor evaluates them itself;
//! their entries here only carry the signature.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::funcs::{ArgType, Func};
use crate::gofmt;
use crate::value::Value;

use ArgType::Any;

/// The builtin called `name`.
pub(crate) fn builtin(name: &str) -> Option<&'static Func> {
    static TABLE: OnceLock<HashMap<&'static str, Func>> = OnceLock::new();
    TABLE.get_or_init(table).get(name)
}

fn table() -> HashMap<&'static str, Func> {
    let mut m = HashMap::new();
    let unreachable = |_: &[Value]| Err("evaluated by the executor".to_string());
    m.insert("and", Func::variadic(&[Any], Any, unreachable));
    m.insert("or", Func::variadic(&[Any], Any, unreachable));
    m.insert("not", Func::new(&[Any], |a| Ok(Value::Bool(!a[0].is_true()))));
    m.insert("len", Func::new(&[Any], |a| length(&a[0])));
    m.insert("index", Func::variadic(&[Any], Any, |a| index(&a[0], &a[1..])));
    m.insert("slice", Func::variadic(&[Any], Any, |a| slice(&a[0], &a[1..])));
    m.insert("print", Func::variadic(&[], Any, |a| Ok(Value::String(gofmt::sprint(a)))));
    m.insert("println", Func::variadic(&[], Any, |a| Ok(Value::String(gofmt::sprintln(a)))));
    m.insert(
        "printf",
        Func::variadic(&[ArgType::String], Any, |a| {
            Ok(Value::String(gofmt::sprintf(a[0].as_str().unwrap_or(""), &a[1..])))
        }),
    );
    m.insert("eq", Func::variadic(&[Any], Any, |a| eq(&a[0], &a[1..]).map(Value::Bool)));
    m.insert("ne", Func::new(&[Any, Any], |a| eq(&a[0], &a[1..]).map(|b| Value::Bool(!b))));
    m.insert("lt", Func::new(&[Any, Any], |a| lt(&a[0], &a[1]).map(Value::Bool)));
    m.insert("le", Func::new(&[Any, Any], |a| le(&a[0], &a[1]).map(Value::Bool)));
    m.insert("gt", Func::new(&[Any, Any], |a| le(&a[0], &a[1]).map(|b| Value::Bool(!b))));
    m.insert("ge", Func::new(&[Any, Any], |a| lt(&a[0], &a[1]).map(|b| Value::Bool(!b))));
    m.insert("html", Func::variadic(&[], Any, |a| Ok(Value::String(html_escape(&eval_args(a))))));
    m.insert("js", Func::variadic(&[], Any, |a| Ok(Value::String(js_escape(&eval_args(a))))));
    m.insert(
        "urlquery",
        Func::variadic(&[], Any, |a| Ok(Value::String(query_escape(&eval_args(a))))),
    );
    m
}

/// The text of the escaping functions' arguments: a lone string as is, otherwise `Sprint` with nil printed as
/// `<no value>`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.clone();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|a| if a.is_nil() { Value::String("<no value>".into()) } else { a.clone() })
        .collect();
    gofmt::sprint(&printable)
}

fn length(v: &Value) -> Result<Value, String> {
    let n = match v {
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::StringMap(m) => m.len(),
        Value::Nil => return Err("len of nil pointer".into()),
        other => return Err(format!("len of type {}", other.go_type())),
    };
    Ok(Value::Int(n as i64))
}

/// Go's index argument check: an integer in `0..=cap`.
fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) | Value::Duration(i) => *i,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => return Err(format!("cannot index slice/array with type {}", other.go_type())),
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn map_key(index: &Value) -> Result<&str, String> {
    match index {
        Value::String(s) => Ok(s),
        Value::Nil => Err("value is nil; should be of type string".into()),
        other => Err(format!("value has type {}; should be string", other.go_type())),
    }
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    let mut cur = item.clone();
    for idx in indexes {
        cur = match &cur {
            Value::Nil => return Err("index of nil pointer".into()),
            Value::List(l) => {
                let x = index_arg(idx, l.len())?;
                l.get(x).cloned().ok_or("reflect: slice index out of range")?
            }
            Value::String(s) => {
                let x = index_arg(idx, s.len())?;
                Value::Int(i64::from(
                    *s.as_bytes().get(x).ok_or("reflect: string index out of range")?,
                ))
            }
            Value::Map(m) => m.get(map_key(idx)?).cloned().unwrap_or(Value::Nil),
            Value::StringMap(m) => Value::String(m.get(map_key(idx)?).cloned().unwrap_or_default()),
            other => return Err(format!("can't index item of type {}", other.go_type())),
        };
    }
    Ok(cur)
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if item.is_nil() {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.go_type())),
    };
    let mut idx = [0, len, len];
    for (i, x) in indexes.iter().enumerate() {
        idx[i] = index_arg(x, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::String(s) => {
            Value::String(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned())
        }
        Value::List(l) => Value::List(l[idx[0]..idx[1]].to_vec()),
        _ => Value::Nil,
    })
}

/// Go's comparison kinds.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Duration(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

const BAD_TYPE: &str = "invalid type for comparison";
const INCOMPATIBLE: &str = "incompatible types for comparison";

fn comparable(v: &Value) -> bool {
    match v {
        Value::List(_) | Value::Map(_) | Value::StringMap(_) => false,
        Value::Struct(s) => s.is_pointer() || s.fields.iter().all(|(_, f)| comparable(f)),
        _ => true,
    }
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if !a.is_nil() && !b.is_nil() {
                return Err(INCOMPATIBLE.into());
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                _ if k1 == Kind::Int => int_of(a) == int_of(b),
                _ => {
                    if !a.is_nil() && !b.is_nil() && !same_kind(a, b) {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {b}",
                            gofmt::sprintf("%s", std::slice::from_ref(a)),
                            a.go_type(),
                            b.go_type()
                        ));
                    }
                    if a.is_nil() || b.is_nil() {
                        a.is_nil() == b.is_nil()
                    } else if !comparable(b) {
                        let shown = gofmt::sprintf("%s", std::slice::from_ref(b));
                        return Err(format!("non-comparable type {shown}: {}", b.go_type()));
                    } else {
                        a == b
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Duration(i) => *i,
        _ => 0,
    }
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err(BAD_TYPE.into());
    }
    if k1 != k2 {
        return Err(INCOMPATIBLE.into());
    }
    Ok(match (a, b) {
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::String(x), Value::String(y)) => x < y,
        _ if k1 == Kind::Int => int_of(a) < int_of(b),
        _ => return Err(BAD_TYPE.into()),
    })
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_ascii() || gofmt::is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, everything else `%XX`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons() {
        assert_eq!(eq(&1.into(), &[2.into(), 1.into()]), Ok(true));
        assert_eq!(eq(&1.into(), &["1".into()]), Err(INCOMPATIBLE.into()));
        assert_eq!(eq(&Value::Nil, &[Value::Nil]), Ok(true));
        assert_eq!(eq(&Value::Nil, &[1.into()]), Ok(false));
        assert_eq!(lt(&"a".into(), &"b".into()), Ok(true));
        assert_eq!(lt(&true.into(), &false.into()), Err(BAD_TYPE.into()));
        assert_eq!(lt(&1.into(), &1.5.into()), Err(INCOMPATIBLE.into()));
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"
        );
        assert_eq!(js_escape("a'b\"c<\n"), "a\\'b\\\"c\\u003C\\u000A");
        assert_eq!(query_escape("a b&c/é"), "a+b%26c%2F%C3%A9");
    }
}
