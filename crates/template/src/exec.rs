//! The executor: walks a parsed tree against a data value, as Go's `text/template` `state.walk` does.
//!
//! Errors name the node being evaluated when they happened. Go tracks that node in its state as evaluation
//! proceeds and some messages point at a surprising node (an argument already evaluated rather than the field
//! that failed); we update the current node at the same points so messages match.
//!
//! **Architecture Invariant:** execution never panics and is bounded: template-call depth, nesting, steps, output
//! size and the bytes of values created or copied all have limits (see `Limits`), each reported as an error.

use crate::Error;
use crate::ast::{Arg, Branch, BranchKind, Command, Node, Pipe, Tree};
use crate::builtins::builtin;
use crate::funcs::{ArgType, Func};
use crate::gofmt::{self, quote};
use crate::gotime;
use crate::template::{Limits, MissingKey, Template};
use crate::value::Value;

/// Where evaluation currently is, for error messages.
#[derive(Clone, Copy)]
enum At<'a> {
    Node(&'a Node),
    Pipe(&'a Pipe),
    Cmd(&'a Command),
    Arg(&'a Arg),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Node(n) => match n {
                Node::Text { pos, .. }
                | Node::Template { pos, .. }
                | Node::Break { pos }
                | Node::Continue { pos } => *pos,
                Node::Action(p) => p.pos,
                Node::Branch(b) => b.pos,
            },
            At::Pipe(p) => p.pos,
            At::Cmd(c) => c.pos,
            At::Arg(a) => a.pos(),
        }
    }

    fn context(&self) -> String {
        match self {
            At::Node(n) => n.to_string(),
            At::Pipe(p) => p.to_string(),
            At::Cmd(c) => c.to_string(),
            At::Arg(a) => a.to_string(),
        }
    }
}

/// How a list of nodes finished.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

type R<T> = Result<T, Error>;

/// Nesting of walk and evaluation frames allowed on the native stack.
const MAX_NESTING: usize = 300;

pub(crate) struct State<'a> {
    tmpl: &'a Template,
    tree: &'a Tree,
    at: Option<At<'a>>,
    vars: Vec<(String, Value)>,
    depth: usize,
    nesting: usize,
    steps: u64,
    charged: usize,
    limits: Limits,
    missing_key: MissingKey,
    out: String,
}

/// Executes `tree` of `tmpl` with `data` as dot and `$`.
pub(crate) fn execute(tmpl: &Template, tree: &Tree, data: &Value) -> R<String> {
    let mut s = State {
        tmpl,
        tree,
        at: None,
        vars: vec![("$".to_string(), data.clone())],
        depth: 0,
        nesting: 0,
        steps: 0,
        charged: 0,
        limits: tmpl.limits_ref(),
        missing_key: tmpl.missing_key_ref(),
        out: String::new(),
    };
    s.walk_list(data, &tree.root)?;
    Ok(s.out)
}

impl<'a> State<'a> {
    fn set_at(&mut self, at: At<'a>) {
        self.at = Some(at);
    }

    fn error(&self, message: impl Into<String>) -> Error {
        let message = message.into();
        match self.at {
            None => Error::ExecNoNode { template: self.tree.name.clone(), message },
            Some(at) => {
                let (line, column) = self.tree.location(at.pos());
                Error::Exec {
                    parse_name: self.tree.parse_name.clone(),
                    line,
                    column,
                    template: self.tree.name.clone(),
                    context: at.context(),
                    message,
                }
            }
        }
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return Err(self.error(format!(
                "exceeded maximum number of execution steps ({})",
                self.limits.max_steps
            )));
        }
        Ok(())
    }

    /// Accounts for a value created or copied; fails once the total exceeds the budget.
    fn charge(&mut self, v: &Value) -> R<()> {
        self.charged = self.charged.saturating_add(v.weight());
        if self.charged > self.limits.max_value_bytes {
            return Err(self.error(format!(
                "exceeded maximum size of values created by the template ({} bytes)",
                self.limits.max_value_bytes
            )));
        }
        Ok(())
    }

    fn enter(&mut self) -> R<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error(format!("exceeded maximum nesting of {MAX_NESTING} levels")));
        }
        Ok(())
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > self.limits.max_output_bytes {
            return Err(self.error(format!(
                "output exceeds maximum size of {} bytes",
                self.limits.max_output_bytes
            )));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'a [Node]) -> R<Flow> {
        for n in list {
            let flow = self.walk(dot, n)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'a Node) -> R<Flow> {
        self.step()?;
        self.set_at(At::Node(node));
        self.enter()?;
        let r = self.walk_inner(dot, node);
        self.nesting -= 1;
        r
    }

    fn walk_inner(&mut self, dot: &Value, node: &'a Node) -> R<Flow> {
        match node {
            Node::Action(pipe) => {
                let val = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.set_at(At::Node(node));
                    let text = if val.is_nil() {
                        "<no value>".to_string()
                    } else {
                        gofmt::sprint_action(&val)
                    };
                    self.write(&text)?;
                }
            }
            Node::Break { .. } => return Ok(Flow::Break),
            Node::Continue { .. } => return Ok(Flow::Continue),
            Node::Branch(b) if b.kind == BranchKind::Range => return self.walk_range(dot, node, b),
            Node::Branch(b) => return self.walk_if_or_with(dot, b),
            Node::Template { name, pipe, .. } => {
                self.walk_template(dot, node, name, pipe.as_ref())?
            }
            Node::Text { text, .. } => self.write(text)?,
        }
        Ok(Flow::Normal)
    }

    fn walk_if_or_with(&mut self, dot: &Value, b: &'a Branch) -> R<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let flow = if val.is_true() {
            if b.kind == BranchKind::With {
                self.walk_list(&val, &b.list)?
            } else {
                self.walk_list(dot, &b.list)?
            }
        } else if let Some(e) = &b.else_list {
            self.walk_list(dot, e)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, dot: &Value, node: &'a Node, b: &'a Branch) -> R<Flow> {
        self.set_at(At::Node(node));
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let inner = self.vars.len();
        let mut iterated = false;
        let items: Vec<(Value, Value)> = match &val {
            Value::List(l) => {
                l.iter().enumerate().map(|(i, v)| (Value::Int(i as i64), v.clone())).collect()
            }
            Value::Map(m) => m.iter().map(|(k, v)| (Value::String(k.clone()), v.clone())).collect(),
            Value::StringMap(m) => m
                .iter()
                .map(|(k, v)| (Value::String(k.clone()), Value::String(v.clone())))
                .collect(),
            Value::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(
                        self.error(format!("can't use {n} to iterate over more than one variable"))
                    );
                }
                if *n > 0 && *n as u64 > self.limits.max_steps {
                    return Err(self.error(format!(
                        "exceeded maximum number of execution steps ({})",
                        self.limits.max_steps
                    )));
                }
                (0..(*n).max(0)).map(|i| (Value::Int(i), Value::Int(i))).collect()
            }
            Value::Nil => Vec::new(),
            other => return Err(self.error(format!("range can't iterate over {other}"))),
        };
        for (index, elem) in items {
            iterated = true;
            self.charge(&elem)?;
            if !b.pipe.decl.is_empty() {
                self.vars[inner - 1].1 = elem.clone();
            }
            if b.pipe.decl.len() > 1 {
                self.vars[inner - 2].1 = index;
            }
            let flow = self.walk_list(&elem, &b.list)?;
            self.vars.truncate(inner);
            if flow == Flow::Break {
                break;
            }
        }
        if !iterated && let Some(e) = &b.else_list {
            self.walk_list(dot, e)?;
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn walk_template(
        &mut self,
        dot: &Value,
        node: &'a Node,
        name: &str,
        pipe: Option<&'a Pipe>,
    ) -> R<()> {
        self.set_at(At::Node(node));
        let Some(tree) = self.tmpl.tree(name) else {
            return Err(self.error(format!("template {} not defined", quote(name))));
        };
        if self.depth >= self.limits.max_depth {
            return Err(
                self.error(format!("exceeded maximum template depth ({})", self.limits.max_depth))
            );
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Nil,
        };
        let saved_tree = std::mem::replace(&mut self.tree, tree);
        let saved_vars =
            std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
        let saved_at = self.at;
        self.depth += 1;
        let r = self.walk_list(&new_dot, &tree.root);
        self.depth -= 1;
        if r.is_ok() {
            self.tree = saved_tree;
            self.vars = saved_vars;
            self.at = saved_at;
        }
        r.map(|_| ())
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> R<Value> {
        self.set_at(At::Pipe(pipe));
        self.enter()?;
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        self.nesting -= 1;
        let value = value.unwrap_or_default();
        for v in &pipe.decl {
            if pipe.is_assign {
                self.set_var(&v.name, value.clone())?;
            } else {
                self.vars.push((v.name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn set_var(&mut self, name: &str, value: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.error(format!("undefined variable: {name}"))),
        }
    }

    fn var_value(&mut self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => {
                let v = v.clone();
                self.charge(&v)?;
                Ok(v)
            }
            None => Err(self.error(format!("undefined variable: {name}"))),
        }
    }

    fn not_a_function(&self, args: &[Arg], has_final: bool) -> R<()> {
        if args.len() > 1 || has_final {
            let name = args.first().map(ToString::to_string).unwrap_or_default();
            return Err(self.error(format!("can't give argument to non-function {name}")));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'a Command, fin: Option<Value>) -> R<Value> {
        self.step()?;
        let first = &cmd.args[0];
        match first {
            Arg::Field { .. } => return self.eval_field_node(dot, first, &cmd.args, fin),
            Arg::Chain { .. } => return self.eval_chain_node(dot, first, &cmd.args, fin),
            Arg::Identifier { .. } => {
                return self.eval_function(dot, first, At::Cmd(cmd), &cmd.args, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, fin.is_some())?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable { .. } => return self.eval_variable_node(dot, first, &cmd.args, fin),
            _ => {}
        }
        self.set_at(At::Arg(first));
        self.not_a_function(&cmd.args, fin.is_some())?;
        match first {
            Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
            Arg::Dot { .. } => {
                self.charge(dot)?;
                Ok(dot.clone())
            }
            Arg::Nil { .. } => Err(self.error("nil is not a command")),
            Arg::Number { .. } => self.ideal_constant(first),
            Arg::String { text, .. } => Ok(Value::String(text.clone())),
            _ => Err(self.error(format!("can't evaluate command {}", quote(&first.to_string())))),
        }
    }

    fn ideal_constant(&mut self, arg: &'a Arg) -> R<Value> {
        self.set_at(At::Arg(arg));
        let Arg::Number { num, .. } = arg else {
            return Ok(Value::Nil);
        };
        let t = &num.text;
        let hex_int = t.len() > 2
            && t.starts_with('0')
            && t[1..].starts_with(['x', 'X'])
            && !t.contains(['p', 'P']);
        let rune = t.starts_with('\'');
        if let Some(f) = num.float
            && !hex_int
            && !rune
            && t.contains(['.', 'e', 'E', 'p', 'P'])
        {
            return Ok(Value::Float(f));
        }
        if let Some(i) = num.int {
            return Ok(Value::Int(i));
        }
        if num.uint.is_some() {
            return Err(self.error(format!("{t} overflows int")));
        }
        Ok(Value::Nil)
    }

    fn eval_field_node(
        &mut self,
        dot: &Value,
        field: &'a Arg,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.set_at(At::Arg(field));
        let Arg::Field { idents, .. } = field else {
            return Ok(Value::Nil);
        };
        self.eval_field_chain(dot, dot.clone(), field, idents, args, fin)
    }

    fn eval_chain_node(
        &mut self,
        dot: &Value,
        chain: &'a Arg,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.set_at(At::Arg(chain));
        let Arg::Chain { node, fields, .. } = chain else {
            return Ok(Value::Nil);
        };
        if matches!(node.as_ref(), Arg::Nil { .. }) {
            return Err(self.error(format!("indirection through explicit nil in {chain}")));
        }
        let recv = self.eval_arg(dot, None, node)?;
        self.eval_field_chain(dot, recv, chain, fields, args, fin)
    }

    fn eval_variable_node(
        &mut self,
        dot: &Value,
        var: &'a Arg,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.set_at(At::Arg(var));
        let Arg::Variable { idents, .. } = var else {
            return Ok(Value::Nil);
        };
        let value = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            self.not_a_function(args, fin.is_some())?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, var, &idents[1..], args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        node: &'a Arg,
        idents: &'a [String],
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let n = idents.len();
        let mut iface = false;
        for id in &idents[..n - 1] {
            let from_map = matches!(recv, Value::Map(_));
            recv = self.eval_field(dot, id, node, &[], None, (recv, iface))?;
            iface = from_map;
        }
        self.eval_field(dot, &idents[n - 1], node, args, fin, (recv, iface))
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        node: &'a Arg,
        args: &'a [Arg],
        fin: Option<Value>,
        (recv, iface): (Value, bool),
    ) -> R<Value> {
        if recv.is_nil() {
            if self.missing_key == MissingKey::Error {
                return Err(self.error(format!("nil data; no entry for key {}", quote(name))));
            }
            return Ok(Value::Nil);
        }
        if let Some(method) = method(&recv, name) {
            return self.eval_call(dot, &method, false, At::Arg(node), name, args, fin);
        }
        let has_args = args.len() > 1 || fin.is_some();
        let missing = |s: &Self, zero: Value| match s.missing_key {
            MissingKey::Default => Ok(Value::Nil),
            MissingKey::Zero => Ok(zero),
            MissingKey::Error => Err(s.error(format!("map has no entry for key {}", quote(name)))),
        };
        let found = match &recv {
            Value::Struct(st) => match st.field(name) {
                Some(v) if has_args => {
                    let _ = v;
                    return Err(self
                        .error(format!("{name} has arguments but cannot be invoked as function")));
                }
                Some(v) => Some(v.clone()),
                None => None,
            },
            Value::Map(m) => {
                if has_args {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                Some(match m.get(name) {
                    Some(v) => v.clone(),
                    None => missing(self, Value::Nil)?,
                })
            }
            Value::StringMap(m) => {
                if has_args {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                Some(match m.get(name) {
                    Some(v) => Value::String(v.clone()),
                    None => missing(self, Value::String(String::new()))?,
                })
            }
            _ => None,
        };
        match found {
            Some(v) => {
                self.charge(&v)?;
                Ok(v)
            }
            None => {
                // A value read from a `map[string]interface {}` still has the interface type in Go.
                let ty = if iface { "interface {}".to_string() } else { recv.go_type() };
                Err(self.error(format!("can't evaluate field {name} in type {ty}")))
            }
        }
    }

    fn lookup_func(&self, name: &str) -> Option<(Func, bool)> {
        if let Some(f) = self.tmpl.funcs_ref().get(name) {
            return Some((f.clone(), false));
        }
        builtin(name).map(|f| (f.clone(), true))
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        ident: &'a Arg,
        cmd: At<'a>,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.set_at(At::Arg(ident));
        let Arg::Identifier { name, .. } = ident else {
            return Ok(Value::Nil);
        };
        let Some((func, is_builtin)) = self.lookup_func(name) else {
            return Err(self.error(format!("{} is not a defined function", quote(name))));
        };
        self.eval_call(dot, &func, is_builtin, cmd, name, args, fin)
    }

    #[allow(clippy::too_many_arguments)] // mirrors Go's evalCall: every input decides a different error message
    fn eval_call(
        &mut self,
        dot: &Value,
        func: &Func,
        is_builtin: bool,
        node: At<'a>,
        name: &str,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let rest = if args.is_empty() { args } else { &args[1..] };
        let num_in = rest.len() + usize::from(fin.is_some());
        let variadic = func.variadic.is_some();
        let num_fixed = if variadic { func.num_fixed() } else { rest.len() };
        if variadic {
            if num_in < func.num_fixed() {
                return Err(self.error(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    func.num_fixed(),
                    rest.len()
                )));
            }
        } else if num_in != func.num_fixed() {
            return Err(self.error(format!(
                "wrong number of args for {name}: want {} got {num_in}",
                func.num_fixed()
            )));
        }
        if is_builtin && (name == "and" || name == "or") {
            let want = name == "or";
            let mut v = Value::Nil;
            for a in rest {
                v = self.eval_arg(dot, Some(ArgType::Any), a)?;
                if v.is_true() == want {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        let mut size = 0usize;
        for (i, a) in rest.iter().enumerate() {
            let t = if i < num_fixed {
                func.arg_type(i)
            } else {
                func.variadic.unwrap_or(ArgType::Any)
            };
            let v = self.eval_arg(dot, Some(t), a)?;
            size = size.saturating_add(v.weight());
            if size > self.limits.max_value_bytes {
                return Err(self.error(format!(
                    "arguments to {name} exceed {} bytes",
                    self.limits.max_value_bytes
                )));
            }
            argv.push(v);
        }
        if let Some(f) = fin {
            let t = func.arg_type(num_in - 1);
            argv.push(self.validate_type(f, t)?);
        }
        match (func.body)(&argv) {
            Ok(v) => {
                self.charge(&v)?;
                if v.weight() > self.limits.max_output_bytes {
                    return Err(self.error(format!(
                        "result of {name} exceeds maximum size of {} bytes",
                        self.limits.max_output_bytes
                    )));
                }
                Ok(v)
            }
            Err(e) => {
                self.set_at(node);
                Err(self.error(format!("error calling {name}: {e}")))
            }
        }
    }

    fn validate_type(&self, v: Value, t: ArgType) -> R<Value> {
        if v.is_nil() {
            if t.can_be_nil() {
                return Ok(Value::Nil);
            }
            return Err(self.error(format!("invalid value; expected {}", t.go_name())));
        }
        if !t.accepts(&v) {
            return Err(self.error(format!(
                "wrong type for value; expected {}; got {}",
                t.go_name(),
                v.go_type()
            )));
        }
        Ok(v)
    }

    /// Evaluates an argument for a parameter of type `t` (`None` for Go's nil type, used for chain receivers).
    fn eval_arg(&mut self, dot: &Value, t: Option<ArgType>, arg: &'a Arg) -> R<Value> {
        self.set_at(At::Arg(arg));
        let ty = t.unwrap_or(ArgType::Any);
        let v = match arg {
            Arg::Dot { .. } => {
                self.charge(dot)?;
                dot.clone()
            }
            Arg::Nil { .. } => {
                if ty.can_be_nil() {
                    return Ok(Value::Nil);
                }
                return Err(self.error(format!("cannot assign nil to {}", ty.go_name())));
            }
            Arg::Field { .. } => self.eval_field_node(dot, arg, std::slice::from_ref(arg), None)?,
            Arg::Variable { .. } => self.eval_variable_node(dot, arg, &[], None)?,
            Arg::Pipe(p) => self.eval_pipeline(dot, p)?,
            Arg::Identifier { .. } => self.eval_function(dot, arg, At::Arg(arg), &[], None)?,
            Arg::Chain { .. } => self.eval_chain_node(dot, arg, &[], None)?,
            _ => return self.eval_literal(dot, ty, arg),
        };
        if t.is_none() {
            return Ok(v);
        }
        self.validate_type(v, ty)
    }

    fn eval_literal(&mut self, dot: &Value, ty: ArgType, arg: &'a Arg) -> R<Value> {
        match (ty, arg) {
            (ArgType::Bool, Arg::Bool { val, .. }) => Ok(Value::Bool(*val)),
            (ArgType::Bool, _) => Err(self.error(format!("expected bool; found {arg}"))),
            (ArgType::String, Arg::String { text, .. }) => Ok(Value::String(text.clone())),
            (ArgType::String, _) => Err(self.error(format!("expected string; found {arg}"))),
            (ArgType::Int, Arg::Number { num, .. }) if num.int.is_some() => {
                Ok(Value::Int(num.int.unwrap_or(0)))
            }
            (ArgType::Int, _) => Err(self.error(format!("expected integer; found {arg}"))),
            (ArgType::Float, Arg::Number { num, .. }) if num.float.is_some() => {
                Ok(Value::Float(num.float.unwrap_or(0.0)))
            }
            (ArgType::Float, _) => Err(self.error(format!("expected float; found {arg}"))),
            (ArgType::Any, Arg::Bool { val, .. }) => Ok(Value::Bool(*val)),
            (ArgType::Any, Arg::Number { .. }) => self.ideal_constant(arg),
            (ArgType::Any, Arg::String { text, .. }) => Ok(Value::String(text.clone())),
            (ArgType::Any, Arg::Dot { .. }) => Ok(dot.clone()),
            _ => Err(self.error(format!("can't handle {arg} for arg of type {}", ty.go_name()))),
        }
    }
}

/// The niladic and other methods templates may call on times and durations (`.Format "2006"`, `.Seconds`).
fn method(recv: &Value, name: &str) -> Option<Func> {
    use ArgType::{Duration as D, String as S, Time as T};
    match *recv {
        Value::Time(t) => Some(match name {
            "Format" => Func::new(&[S], move |a| {
                Ok(Value::String(gotime::format(t, a[0].as_str().unwrap_or(""))))
            }),
            "String" => Func::new(&[], move |_| Ok(Value::String(gotime::time_string(t)))),
            "Add" => Func::new(&[D], move |a| match a[0] {
                Value::Duration(d) => Ok(Value::Time(t.saturating_add(d))),
                _ => Ok(Value::Time(t)),
            }),
            "Sub" => Func::new(&[T], move |a| match a[0] {
                Value::Time(u) => Ok(Value::Duration(t.saturating_sub(u))),
                _ => Ok(Value::Duration(0)),
            }),
            "Before" | "After" | "Equal" => {
                let name = name.to_string();
                Func::new(&[T], move |a| {
                    let u = match a[0] {
                        Value::Time(u) => u,
                        _ => 0,
                    };
                    Ok(Value::Bool(match name.as_str() {
                        "Before" => t < u,
                        "After" => t > u,
                        _ => t == u,
                    }))
                })
            }
            "Unix" => Func::new(&[], move |_| Ok(Value::Int(t.div_euclid(1_000_000_000)))),
            "UnixMilli" => Func::new(&[], move |_| Ok(Value::Int(t.div_euclid(1_000_000)))),
            "UnixMicro" => Func::new(&[], move |_| Ok(Value::Int(t.div_euclid(1_000)))),
            "UnixNano" => Func::new(&[], move |_| Ok(Value::Int(t))),
            "UTC" | "Local" => Func::new(&[], move |_| Ok(Value::Time(t))),
            "IsZero" => Func::new(&[], |_| Ok(Value::Bool(false))),
            _ => {
                let v = gotime::component(t, name)?;
                Func::new(&[], move |_| Ok(v.clone()))
            }
        }),
        Value::Duration(d) => Some(match name {
            "String" => Func::new(&[], move |_| Ok(Value::String(gotime::duration_string(d)))),
            "Seconds" => Func::new(&[], move |_| Ok(Value::Float(d as f64 / 1e9))),
            "Minutes" => Func::new(&[], move |_| Ok(Value::Float(d as f64 / 6e10))),
            "Hours" => Func::new(&[], move |_| Ok(Value::Float(d as f64 / 3.6e12))),
            "Milliseconds" => Func::new(&[], move |_| Ok(Value::Int(d / 1_000_000))),
            "Microseconds" => Func::new(&[], move |_| Ok(Value::Int(d / 1_000))),
            "Nanoseconds" => Func::new(&[], move |_| Ok(Value::Int(d))),
            "Abs" => Func::new(&[], move |_| Ok(Value::Duration(d.saturating_abs()))),
            _ => return None,
        }),
        _ => None,
    }
}
