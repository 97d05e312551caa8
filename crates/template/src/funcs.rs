//! Template functions: their typed signatures and the map templates look them up in.
//!
//! Go checks every argument against the function's parameter types through reflection and reports mismatches
//! (`wrong type for value; expected string; got int`). A [`Func`] carries the same information as a list of
//! [`ArgType`]s, so the executor can convert and check arguments before the body runs and report what Go reports.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::value::{SAMPLE_TYPE, Value};

/// The Go type of a function parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArgType {
    /// `interface{}` (or `reflect.Value`): anything, including nil.
    Any,
    /// `string`.
    String,
    /// `int`.
    Int,
    /// `float64`.
    Float,
    /// `bool`.
    Bool,
    /// `time.Time`.
    Time,
    /// `time.Duration`.
    Duration,
    /// `*template.sample`: one query result sample (nil allowed).
    Sample,
    /// `template.queryResult`: a list of samples (nil allowed).
    SampleList,
}

impl ArgType {
    /// The Go type name used in error messages.
    pub fn go_name(self) -> &'static str {
        match self {
            ArgType::Any => "interface {}",
            ArgType::String => "string",
            ArgType::Int => "int",
            ArgType::Float => "float64",
            ArgType::Bool => "bool",
            ArgType::Time => "time.Time",
            ArgType::Duration => "time.Duration",
            ArgType::Sample => SAMPLE_TYPE,
            ArgType::SampleList => "template.queryResult",
        }
    }

    /// Whether a Go value of this type may be nil.
    pub(crate) fn can_be_nil(self) -> bool {
        matches!(self, ArgType::Any | ArgType::Sample | ArgType::SampleList)
    }

    /// Whether `v` is assignable to this type (Go's `AssignableTo`, after indirection).
    pub(crate) fn accepts(self, v: &Value) -> bool {
        match (self, v) {
            (ArgType::Any, _) => true,
            (ArgType::String, Value::String(_))
            | (ArgType::Int, Value::Int(_))
            | (ArgType::Float, Value::Float(_))
            | (ArgType::Bool, Value::Bool(_))
            | (ArgType::Time, Value::Time(_))
            | (ArgType::Duration, Value::Duration(_)) => true,
            (ArgType::Sample, Value::Struct(s)) => s.type_name == SAMPLE_TYPE,
            (ArgType::SampleList, Value::List(l)) => {
                l.iter().all(|v| matches!(v, Value::Struct(s) if s.type_name == SAMPLE_TYPE))
            }
            _ => false,
        }
    }
}

type FuncImpl = dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync;

/// A function callable from templates: a typed signature and a body.
///
/// The body receives arguments already checked against the signature (nil only where the type allows it) and
/// returns the result or an error message, which the executor reports as `error calling NAME: MESSAGE`.
#[derive(Clone)]
pub struct Func {
    pub(crate) params: Vec<ArgType>,
    pub(crate) variadic: Option<ArgType>,
    pub(crate) body: Arc<FuncImpl>,
}

impl fmt::Debug for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Func")
            .field("params", &self.params)
            .field("variadic", &self.variadic)
            .finish()
    }
}

impl Func {
    /// A function with fixed parameters.
    pub fn new(
        params: &[ArgType],
        body: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Func {
        Func { params: params.to_vec(), variadic: None, body: Arc::new(body) }
    }

    /// A function whose trailing parameters, after `params`, are any number of `rest`.
    pub fn variadic(
        params: &[ArgType],
        rest: ArgType,
        body: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Func {
        Func { params: params.to_vec(), variadic: Some(rest), body: Arc::new(body) }
    }

    /// The type of the `i`th argument.
    pub(crate) fn arg_type(&self, i: usize) -> ArgType {
        self.params.get(i).copied().or(self.variadic).unwrap_or(ArgType::Any)
    }

    /// Number of fixed parameters.
    pub(crate) fn num_fixed(&self) -> usize {
        self.params.len()
    }
}

/// Named functions available to templates, in addition to the builtins (which a same-named entry overrides).
#[derive(Debug, Clone, Default)]
pub struct FuncMap {
    funcs: BTreeMap<String, Func>,
}

impl FuncMap {
    /// An empty map.
    pub fn new() -> FuncMap {
        FuncMap::default()
    }

    /// Adds or replaces `name`.
    pub fn insert(&mut self, name: impl Into<String>, f: Func) {
        self.funcs.insert(name.into(), f);
    }

    /// Adds every function of `other`, replacing same-named ones (Go's `Funcs`).
    pub fn extend(&mut self, other: &FuncMap) {
        for (k, v) in &other.funcs {
            self.funcs.insert(k.clone(), v.clone());
        }
    }

    /// The function called `name`.
    pub fn get(&self, name: &str) -> Option<&Func> {
        self.funcs.get(name)
    }

    /// Whether `name` is defined here.
    pub fn contains(&self, name: &str) -> bool {
        self.funcs.contains_key(name)
    }

    /// Function names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.funcs.keys().map(String::as_str)
    }
}
