//! The dynamic value a template works on: Go's `interface{}` reduced to the types templates meet in practice.
//!
//! Go's text/template is driven by reflection over arbitrary Go values. We replace reflection with a closed enum
//! whose variants stand for the Go types Prometheus and Alertmanager pass to templates. Each variant knows its Go type
//! name (for error messages and `%T`) and its Go truthiness; formatting lives in `gofmt`.

use std::collections::BTreeMap;
use std::fmt;

/// A dynamically typed template value.
///
/// The Go type each variant stands for is given in brackets; it decides which functions accept the value and how
/// errors name it.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// Go's untyped `nil` (also a nil interface, pointer, map or slice). Prints as `<no value>` from an action.
    #[default]
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int` (64 bits, as on every platform Prometheus ships for).
    Int(i64),
    /// `float64`.
    Float(f64),
    /// `string`.
    String(String),
    /// `[]interface {}`.
    List(Vec<Value>),
    /// `map[string]interface {}`: a missing key yields [`Value::Nil`] (printed `<no value>`).
    Map(BTreeMap<String, Value>),
    /// `map[string]string`, the type of label sets: with `missingkey=zero` a missing key yields `""`.
    StringMap(BTreeMap<String, String>),
    /// A Go struct (or pointer to struct) with exported fields, such as an alert's template data or a query sample.
    Struct(Box<Struct>),
    /// `*time.Time` (what `toTime` returns) in UTC, as nanoseconds since the Unix epoch.
    Time(i64),
    /// `time.Duration`, in nanoseconds.
    Duration(i64),
}

/// A Go struct value: a type name and its exported fields in declaration order.
#[derive(Clone, Debug, PartialEq)]
pub struct Struct {
    /// The Go type as `%T` prints it, e.g. `*template.sample`. A leading `*` marks a pointer, which `%v` prints
    /// as `&{…}`.
    pub type_name: String,
    /// Field names and values in declaration order.
    pub fields: Vec<(String, Value)>,
}

/// The Go type name of query samples, as Prometheus's template package declares them.
pub(crate) const SAMPLE_TYPE: &str = "*template.sample";

impl Struct {
    /// A struct of the given Go type.
    pub fn new(type_name: impl Into<String>, fields: Vec<(String, Value)>) -> Struct {
        Struct { type_name: type_name.into(), fields }
    }

    /// The value of field `name`, if the struct has it.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Whether the Go type is a pointer to struct.
    pub fn is_pointer(&self) -> bool {
        self.type_name.starts_with('*')
    }
}

impl Value {
    /// The Go type name, as `%T` and the error messages print it.
    pub fn go_type(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(l) if !l.is_empty() && l.iter().all(Value::is_sample) => {
                "template.queryResult".into()
            }
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::StringMap(_) => "map[string]string".into(),
            Value::Struct(s) => s.type_name.clone(),
            Value::Time(_) => "*time.Time".into(),
            Value::Duration(_) => "time.Duration".into(),
        }
    }

    /// Go's template truth: false, 0, nil and empty strings, slices and maps are false; structs are true.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::StringMap(m) => !m.is_empty(),
            Value::Struct(_) | Value::Time(_) => true,
            Value::Duration(d) => *d != 0,
        }
    }

    /// Whether this is a query sample (`*template.sample`).
    pub(crate) fn is_sample(&self) -> bool {
        matches!(self, Value::Struct(s) if s.type_name == SAMPLE_TYPE)
    }

    /// Whether this is [`Value::Nil`].
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// A Go struct value.
    pub fn new_struct(type_name: impl Into<String>, fields: Vec<(&str, Value)>) -> Value {
        Value::Struct(Box::new(Struct::new(
            type_name,
            fields.into_iter().map(|(n, v)| (n.to_string(), v)).collect(),
        )))
    }

    /// The string, if this is a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Approximate heap bytes held, used to bound what a hostile template can build.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Value::String(s) => s.len(),
            Value::List(l) => l.iter().map(|v| v.weight() + 8).sum(),
            Value::Map(m) => m.iter().map(|(k, v)| k.len() + v.weight() + 8).sum(),
            Value::StringMap(m) => m.iter().map(|(k, v)| k.len() + v.len() + 8).sum(),
            Value::Struct(s) => s.fields.iter().map(|(k, v)| k.len() + v.weight() + 8).sum(),
            _ => 8,
        }
    }
}

impl fmt::Display for Value {
    /// Formats like Go's `fmt.Sprint` of the value (the `%v` verb).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::gofmt::sprint(std::slice::from_ref(self)))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::String(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::String(v)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::List(v)
    }
}

impl From<BTreeMap<String, Value>> for Value {
    fn from(v: BTreeMap<String, Value>) -> Value {
        Value::Map(v)
    }
}

impl From<BTreeMap<String, String>> for Value {
    fn from(v: BTreeMap<String, String>) -> Value {
        Value::StringMap(v)
    }
}

impl From<&model::Labels> for Value {
    /// A label set becomes a `map[string]string`, as Prometheus's `Labels.Map()`.
    fn from(v: &model::Labels) -> Value {
        Value::StringMap(v.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Nil, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthiness_follows_go() {
        let falsy = [
            Value::Nil,
            false.into(),
            0.into(),
            0.0.into(),
            "".into(),
            Value::List(vec![]),
            Value::Duration(0),
        ];
        for v in falsy {
            assert!(!v.is_true(), "{v:?}");
        }
        let truthy = [
            true.into(),
            (-1).into(),
            f64::NAN.into(),
            "x".into(),
            Value::Time(0),
            Value::new_struct("T", vec![]),
        ];
        for v in truthy {
            assert!(v.is_true(), "{v:?}");
        }
    }
}
