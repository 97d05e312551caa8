//! The parse tree of a template, shaped like Go's `text/template/parse` nodes.
//!
//! Positions are byte offsets into the source text of the `parse` call that produced the tree. The `Display`
//! impls print nodes the way Go's `Node.String` does, because execution errors quote the node they failed at
//! (`executing "t" at <.Foo>: …`).

use std::fmt;

/// A byte offset into the template source.
pub(crate) type Pos = usize;

/// One parsed template: `{{define "name"}}…{{end}}`, a `block`, or the top-level text.
#[derive(Debug)]
pub(crate) struct Tree {
    /// The template's own name.
    pub(crate) name: String,
    /// The name of the top-level template being parsed when this tree was made (used in error locations).
    pub(crate) parse_name: String,
    /// The full source of that parse, for turning positions into line and column.
    pub(crate) text: std::sync::Arc<str>,
    pub(crate) root: Vec<Node>,
}

impl Tree {
    /// Whether the tree holds nothing but white space, so that a later definition may replace it.
    pub(crate) fn is_empty(&self) -> bool {
        self.root
            .iter()
            .all(|n| matches!(n, Node::Text { text, .. } if text.trim_ascii().is_empty()))
    }

    /// `name:line:col` of a position, as Go's `ErrorContext` reports it (column counted in bytes from 0).
    pub(crate) fn location(&self, pos: Pos) -> (usize, usize) {
        let pos = pos.min(self.text.len());
        let before = &self.text.as_bytes()[..pos];
        let line = 1 + before.iter().filter(|&&c| c == b'\n').count();
        let col = match before.iter().rposition(|&c| c == b'\n') {
            Some(nl) => pos - (nl + 1),
            None => pos,
        };
        (line, col)
    }
}

/// A statement-level node.
#[derive(Debug)]
pub(crate) enum Node {
    /// Plain text copied to the output.
    Text { pos: Pos, text: String },
    /// `{{pipeline}}`.
    Action(Pipe),
    /// `{{if}}`, `{{range}}` or `{{with}}`.
    Branch(Box<Branch>),
    /// `{{template "name" pipeline}}`.
    Template { pos: Pos, name: String, pipe: Option<Pipe> },
    /// `{{break}}`.
    Break { pos: Pos },
    /// `{{continue}}`.
    Continue { pos: Pos },
}

/// The kind of a [`Branch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchKind {
    If,
    Range,
    With,
}

/// `{{if|range|with pipe}} list {{else}} else_list {{end}}`.
#[derive(Debug)]
pub(crate) struct Branch {
    pub(crate) kind: BranchKind,
    pub(crate) pos: Pos,
    pub(crate) pipe: Pipe,
    pub(crate) list: Vec<Node>,
    pub(crate) else_list: Option<Vec<Node>>,
}

/// A pipeline, optionally declaring or assigning variables: `$x := a | b c`.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub(crate) pos: Pos,
    pub(crate) is_assign: bool,
    pub(crate) decl: Vec<Var>,
    pub(crate) cmds: Vec<Command>,
}

/// A declared variable.
#[derive(Debug)]
pub(crate) struct Var {
    pub(crate) name: String,
}

/// One pipeline stage: an operand followed by arguments.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) pos: Pos,
    pub(crate) args: Vec<Arg>,
}

/// A parsed numeric or character constant, with every interpretation Go's parser records.
#[derive(Debug, Clone)]
pub(crate) struct Number {
    pub(crate) text: String,
    pub(crate) int: Option<i64>,
    pub(crate) uint: Option<u64>,
    pub(crate) float: Option<f64>,
}

/// An operand.
#[derive(Debug)]
pub(crate) enum Arg {
    /// A function name.
    Identifier {
        pos: Pos,
        name: String,
    },
    /// `.`
    Dot {
        pos: Pos,
    },
    /// `nil`
    Nil {
        pos: Pos,
    },
    /// `.A.B`
    Field {
        pos: Pos,
        idents: Vec<String>,
    },
    /// `$x.A.B` (the first ident is the variable name, `$` included).
    Variable {
        pos: Pos,
        idents: Vec<String>,
    },
    /// `(pipe).A.B`
    Chain {
        pos: Pos,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    Bool {
        pos: Pos,
        val: bool,
    },
    Number {
        pos: Pos,
        num: Number,
    },
    /// A string constant: its source form (with quotes) and its value.
    String {
        pos: Pos,
        quoted: String,
        text: String,
    },
    /// A parenthesised pipeline.
    Pipe(Box<Pipe>),
}

impl Arg {
    pub(crate) fn pos(&self) -> Pos {
        match self {
            Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::String { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            for (i, v) in self.decl.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(&v.name)?;
            }
            f.write_str(" := ")?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match a {
                Arg::Pipe(p) => write!(f, "({p})")?,
                a => write!(f, "{a}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Field { idents, .. } => {
                for id in idents {
                    write!(f, ".{id}")?;
                }
                Ok(())
            }
            Arg::Variable { idents, .. } => f.write_str(&idents.join(".")),
            Arg::Chain { node, fields, .. } => {
                match node.as_ref() {
                    Arg::Pipe(p) => write!(f, "({p})")?,
                    n => write!(f, "{n}")?,
                }
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
            Arg::Bool { val, .. } => write!(f, "{val}"),
            Arg::Number { num, .. } => f.write_str(&num.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => write!(f, "{p}"),
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, list: &[Node]) -> fmt::Result {
    for n in list {
        write!(f, "{n}")?;
    }
    Ok(())
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Text { text, .. } => f.write_str(text),
            Node::Action(p) => write!(f, "{{{{{p}}}}}"),
            Node::Branch(b) => {
                let name = match b.kind {
                    BranchKind::If => "if",
                    BranchKind::Range => "range",
                    BranchKind::With => "with",
                };
                write!(f, "{{{{{name} {}}}}}", b.pipe)?;
                write_list(f, &b.list)?;
                if let Some(e) = &b.else_list {
                    f.write_str("{{else}}")?;
                    write_list(f, e)?;
                }
                f.write_str("{{end}}")
            }
            Node::Template { name, pipe, .. } => {
                write!(f, "{{{{template {}", crate::gofmt::quote(name))?;
                if let Some(p) = pipe {
                    write!(f, " {p}")?;
                }
                f.write_str("}}")
            }
            Node::Break { .. } => f.write_str("{{break}}"),
            Node::Continue { .. } => f.write_str("{{continue}}"),
        }
    }
}
