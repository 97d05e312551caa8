//! [`Template`]: a named set of parsed templates with their functions and options, Go's `*template.Template`.
//!
//! **API Boundary:** this is the Go `text/template` layer; it knows nothing of Prometheus. The Prometheus functions
//! and the alert-expansion conventions live in `prometheus` and `expander`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::Error;
use crate::ast::Tree;
use crate::builtins::builtin;
use crate::funcs::FuncMap;
use crate::value::Value;

/// What a missing map key yields, Go's `missingkey=` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `missingkey=default`/`invalid`: an invalid value, printed `<no value>`.
    #[default]
    Default,
    /// `missingkey=zero`: the zero value of the map's element type (`""` for label maps, `<no value>` for
    /// `map[string]interface {}`). This is what Prometheus uses.
    Zero,
    /// `missingkey=error`: execution stops with an error.
    Error,
}

/// Bounds on one execution, so a hostile template yields an error instead of exhausting the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting of `{{template}}` calls.
    pub max_depth: usize,
    /// Maximum number of nodes and commands evaluated.
    pub max_steps: u64,
    /// Maximum size of the output, and of any single value a function returns.
    pub max_output_bytes: usize,
    /// Maximum total bytes of values created or copied during the execution.
    pub max_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 100,
            max_steps: 1_000_000,
            max_output_bytes: 1 << 20,
            max_value_bytes: 64 << 20,
        }
    }
}

/// A named set of associated templates: the top-level one plus every `define` and `block`.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    trees: HashMap<String, Arc<Tree>>,
    funcs: FuncMap,
    missing_key: MissingKey,
    limits: Limits,
}

impl Template {
    /// An empty template set called `name`.
    pub fn new(name: impl Into<String>) -> Template {
        Template {
            name: name.into(),
            trees: HashMap::new(),
            funcs: FuncMap::new(),
            missing_key: MissingKey::Default,
            limits: Limits::default(),
        }
    }

    /// Adds functions (replacing same-named ones). Must happen before parsing, which checks function names.
    pub fn funcs(mut self, funcs: &FuncMap) -> Template {
        self.funcs.extend(funcs);
        self
    }

    /// Sets the `missingkey` option.
    pub fn missing_key(mut self, mk: MissingKey) -> Template {
        self.missing_key = mk;
        self
    }

    /// Sets the execution limits.
    pub fn limits(mut self, limits: Limits) -> Template {
        self.limits = limits;
        self
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Parses `text` as the body of this template, adding the templates it defines.
    pub fn parse(&mut self, text: &str) -> Result<(), Error> {
        let name = self.name.clone();
        self.parse_named(&name, text)
    }

    /// Parses `text` as the template `name` of this set (Go's `New(name).Parse` on an associated template, as
    /// `ParseFiles` does for each file). A definition replaces an earlier one of the same name unless it is empty.
    pub fn parse_named(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let funcs = &self.funcs;
        let has_func = |n: &str| funcs.contains(n) || builtin(n).is_some();
        let trees = crate::parse::parse(name, text, &has_func)?;
        for (n, tree) in trees {
            if tree.is_empty() && self.trees.contains_key(&n) {
                continue;
            }
            self.trees.insert(n, Arc::new(tree));
        }
        Ok(())
    }

    /// Whether a template called `name` is defined.
    pub fn has_template(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// Names of the defined templates, sorted.
    pub fn template_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.trees.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Executes the set's own template with `data` as dot.
    pub fn execute(&self, data: &Value) -> Result<String, Error> {
        match self.trees.get(&self.name) {
            Some(tree) => crate::exec::execute(self, tree, data),
            None => Err(Error::ExecNoNode {
                template: self.name.clone(),
                message: format!(
                    "{} is an incomplete or empty template",
                    crate::gofmt::quote(&self.name)
                ),
            }),
        }
    }

    /// Executes the associated template `name` with `data` as dot.
    pub fn execute_template(&self, name: &str, data: &Value) -> Result<String, Error> {
        match self.trees.get(name) {
            Some(tree) => crate::exec::execute(self, tree, data),
            None => Err(Error::NoTemplate { name: name.to_string(), template: self.name.clone() }),
        }
    }

    pub(crate) fn tree(&self, name: &str) -> Option<&Tree> {
        self.trees.get(name).map(AsRef::as_ref)
    }

    pub(crate) fn funcs_ref(&self) -> &FuncMap {
        &self.funcs
    }

    pub(crate) fn limits_ref(&self) -> Limits {
        self.limits
    }

    pub(crate) fn missing_key_ref(&self) -> MissingKey {
        self.missing_key
    }
}
