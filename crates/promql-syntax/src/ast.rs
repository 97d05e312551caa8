//! The syntax tree. Every node knows its byte range in the query it was parsed from.

use model::Matcher;

use crate::functions::Function;

/// A byte range in the query text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PosRange {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl PosRange {
    /// A range.
    pub fn new(start: usize, end: usize) -> PosRange {
        PosRange { start, end }
    }
}

/// The four PromQL value types (plus `none` for invalid nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// No value.
    None,
    /// A single number.
    Scalar,
    /// A set of series with one sample each.
    Vector,
    /// A set of series with a range of samples each.
    Matrix,
    /// A string.
    String,
}

impl ValueType {
    /// Prometheus's name for the type in error messages.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }

    /// The name used in API responses (`resultType`).
    pub fn api_name(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `<`
    Lss,
    /// `<=`
    Lte,
    /// `>`
    Gtr,
    /// `>=`
    Gte,
    /// `</` (trim buckets above)
    TrimUpper,
    /// `>/` (trim buckets below)
    TrimLower,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Atan2 => "atan2",
            BinOp::Eql => "==",
            BinOp::Neq => "!=",
            BinOp::Lss => "<",
            BinOp::Lte => "<=",
            BinOp::Gtr => ">",
            BinOp::Gte => ">=",
            BinOp::TrimUpper => "</",
            BinOp::TrimLower => ">/",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
        }
    }

    /// Whether this is a comparison operator (`==`, `!=`, `<`, …).
    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eql | BinOp::Neq | BinOp::Lss | BinOp::Lte | BinOp::Gtr | BinOp::Gte)
    }

    /// Whether this is a set operator (`and`, `or`, `unless`).
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    /// Binding strength: higher binds tighter.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eql
            | BinOp::Neq
            | BinOp::Lss
            | BinOp::Lte
            | BinOp::Gtr
            | BinOp::Gte
            | BinOp::TrimUpper
            | BinOp::TrimLower => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Atan2 => 5,
            BinOp::Pow => 7,
        }
    }

    pub(crate) fn right_assoc(self) -> bool {
        self == BinOp::Pow
    }
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `count_values`
    CountValues,
    /// `quantile`
    Quantile,
    /// `limitk`
    Limitk,
    /// `limit_ratio`
    LimitRatio,
}

impl AggOp {
    /// The aggregation named `s` (case-insensitive).
    pub fn from_name(s: &str) -> Option<AggOp> {
        Some(match s.to_ascii_lowercase().as_str() {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "count" => AggOp::Count,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "group" => AggOp::Group,
            "stddev" => AggOp::Stddev,
            "stdvar" => AggOp::Stdvar,
            "topk" => AggOp::Topk,
            "bottomk" => AggOp::Bottomk,
            "count_values" => AggOp::CountValues,
            "quantile" => AggOp::Quantile,
            "limitk" => AggOp::Limitk,
            "limit_ratio" => AggOp::LimitRatio,
            _ => return None,
        })
    }

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Count => "count",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Group => "group",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Topk => "topk",
            AggOp::Bottomk => "bottomk",
            AggOp::CountValues => "count_values",
            AggOp::Quantile => "quantile",
            AggOp::Limitk => "limitk",
            AggOp::LimitRatio => "limit_ratio",
        }
    }

    /// Whether the aggregation takes a parameter before the expression.
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggOp::Topk
                | AggOp::Bottomk
                | AggOp::CountValues
                | AggOp::Quantile
                | AggOp::Limitk
                | AggOp::LimitRatio
        )
    }
}

/// `@ start()` / `@ end()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtModifier {
    /// `@ start()`
    Start,
    /// `@ end()`
    End,
}

/// Operators of duration expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `min_of(a, b)`
    MinOf,
    /// `max_of(a, b)`
    MaxOf,
}

/// A duration: a literal, or an expression evaluated when the query runs (it may use `step()` and `range()`).
#[derive(Debug, Clone, PartialEq)]
pub enum Duration {
    /// Milliseconds.
    Literal(i64),
    /// An expression.
    Expr(Box<DurationExpr>),
}

impl Duration {
    /// The literal value, if it is one.
    pub fn literal(&self) -> Option<i64> {
        match self {
            Duration::Literal(ms) => Some(*ms),
            Duration::Expr(_) => None,
        }
    }
}

/// A duration expression; values are seconds.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationExpr {
    /// A number of seconds (written as a number or a duration).
    Number {
        /// Seconds.
        secs: f64,
        /// The text as written.
        text: String,
    },
    /// `step()`
    Step,
    /// `range()`
    Range,
    /// `-x` or `+x`.
    Neg(Box<DurationExpr>),
    /// `(x)`
    Paren(Box<DurationExpr>),
    /// A binary operation.
    Binary(DurOp, Box<DurationExpr>, Box<DurationExpr>),
}

impl DurationExpr {
    /// Evaluates to seconds given the query's step and range (in seconds).
    pub fn eval(&self, step: f64, range: f64) -> f64 {
        match self {
            DurationExpr::Number { secs, .. } => *secs,
            DurationExpr::Step => step,
            DurationExpr::Range => range,
            DurationExpr::Neg(e) => -e.eval(step, range),
            DurationExpr::Paren(e) => e.eval(step, range),
            DurationExpr::Binary(op, a, b) => {
                let (a, b) = (a.eval(step, range), b.eval(step, range));
                match op {
                    DurOp::Add => a + b,
                    DurOp::Sub => a - b,
                    DurOp::Mul => a * b,
                    DurOp::Div => a / b,
                    DurOp::Mod => a % b,
                    DurOp::Pow => a.powf(b),
                    DurOp::MinOf => a.min(b),
                    DurOp::MaxOf => a.max(b),
                }
            }
        }
    }
}

/// A PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `sum by (a) (x)` and friends.
    Aggregate(AggregateExpr),
    /// `a + b` and friends.
    Binary(BinaryExpr),
    /// `f(args)`.
    Call(Call),
    /// `x[5m]`.
    MatrixSelector(MatrixSelector),
    /// `x[5m:1m]`.
    Subquery(SubqueryExpr),
    /// A number.
    Number(NumberLiteral),
    /// A string.
    String(StringLiteral),
    /// `(x)`.
    Paren(ParenExpr),
    /// `-x`.
    Unary(UnaryExpr),
    /// `x{a="b"}`.
    VectorSelector(VectorSelector),
}

/// An aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    /// The operator.
    pub op: AggOp,
    /// The aggregated expression.
    pub expr: Box<Expr>,
    /// The parameter (`k`, `φ`, the label name), if the operator takes one.
    pub param: Option<Box<Expr>>,
    /// The `by`/`without` labels.
    pub grouping: Vec<String>,
    /// `without` rather than `by`.
    pub without: bool,
    /// Whether a `by`/`without` clause was written.
    pub has_grouping: bool,
    /// Position.
    pub pos: PosRange,
}

/// How a binary operation matches series of its two sides.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    /// The cardinality.
    pub card: Cardinality,
    /// The `on`/`ignoring` labels.
    pub matching_labels: Vec<String>,
    /// `on` rather than `ignoring`.
    pub on: bool,
    /// The `group_left`/`group_right` labels.
    pub include: Vec<String>,
    /// `fill`/`fill_left` value.
    pub fill_lhs: Option<f64>,
    /// `fill`/`fill_right` value.
    pub fill_rhs: Option<f64>,
}

impl Default for VectorMatching {
    fn default() -> Self {
        VectorMatching {
            card: Cardinality::OneToOne,
            matching_labels: Vec::new(),
            on: false,
            include: Vec::new(),
            fill_lhs: None,
            fill_rhs: None,
        }
    }
}

/// Vector matching cardinality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cardinality {
    /// One to one.
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// A binary operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinOp,
    /// Left side.
    pub lhs: Box<Expr>,
    /// Right side.
    pub rhs: Box<Expr>,
    /// Matching rules (only meaningful when both sides are vectors).
    pub matching: VectorMatching,
    /// Whether a matching clause (`on`/`ignoring`) was written.
    pub has_matching: bool,
    /// `bool` modifier.
    pub return_bool: bool,
}

/// A function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function.
    pub func: &'static Function,
    /// Arguments.
    pub args: Vec<Expr>,
    /// Position.
    pub pos: PosRange,
}

/// Selection of series.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    /// The metric name as written before the braces (empty if none).
    pub name: String,
    /// All matchers, including one for the name.
    pub matchers: Vec<Matcher>,
    /// `offset`, in milliseconds (negative allowed).
    pub offset: Option<Duration>,
    /// `@ <timestamp>` in milliseconds.
    pub timestamp: Option<i64>,
    /// `@ start()` / `@ end()`.
    pub at: Option<AtModifier>,
    /// `anchored` (extended range selectors).
    pub anchored: bool,
    /// `smoothed` (extended range selectors).
    pub smoothed: bool,
    /// Position.
    pub pos: PosRange,
}

/// A range selector.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    /// The selector.
    pub vs: VectorSelector,
    /// The range.
    pub range: Duration,
    /// End of the closing bracket.
    pub end: usize,
}

/// A subquery.
#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    /// Inner expression.
    pub expr: Box<Expr>,
    /// Range.
    pub range: Duration,
    /// Step (`None` means the default evaluation interval).
    pub step: Option<Duration>,
    /// `offset`.
    pub offset: Option<Duration>,
    /// `@ <timestamp>` in milliseconds.
    pub timestamp: Option<i64>,
    /// `@ start()` / `@ end()`.
    pub at: Option<AtModifier>,
    /// End of the closing bracket.
    pub end: usize,
}

/// A number.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberLiteral {
    /// The value.
    pub val: f64,
    /// Written as a duration (`5m`): printed back as one.
    pub duration: bool,
    /// Position.
    pub pos: PosRange,
}

/// A string.
#[derive(Debug, Clone, PartialEq)]
pub struct StringLiteral {
    /// The unquoted value.
    pub val: String,
    /// Position.
    pub pos: PosRange,
}

/// Parentheses.
#[derive(Debug, Clone, PartialEq)]
pub struct ParenExpr {
    /// Inner expression.
    pub expr: Box<Expr>,
    /// Position.
    pub pos: PosRange,
}

/// Unary minus or plus.
#[derive(Debug, Clone, PartialEq)]
pub struct UnaryExpr {
    /// `true` for `-`.
    pub neg: bool,
    /// Operand.
    pub expr: Box<Expr>,
    /// Start of the operator.
    pub start: usize,
}

impl Expr {
    /// The expression's result type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Aggregate(_) => ValueType::Vector,
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.return_type,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::Unary(u) => u.expr.value_type(),
            Expr::VectorSelector(_) => ValueType::Vector,
        }
    }

    /// The node's position in the query.
    pub fn pos(&self) -> PosRange {
        match self {
            Expr::Aggregate(a) => a.pos,
            Expr::Binary(b) => PosRange::new(b.lhs.pos().start, b.rhs.pos().end),
            Expr::Call(c) => c.pos,
            Expr::MatrixSelector(m) => PosRange::new(m.vs.pos.start, m.end),
            Expr::Subquery(s) => PosRange::new(s.expr.pos().start, s.end),
            Expr::Number(n) => n.pos,
            Expr::String(s) => s.pos,
            Expr::Paren(p) => p.pos,
            Expr::Unary(u) => PosRange::new(u.start, u.expr.pos().end),
            Expr::VectorSelector(v) => v.pos,
        }
    }

    /// Strips any parentheses.
    pub fn unparen(&self) -> &Expr {
        match self {
            Expr::Paren(p) => p.expr.unparen(),
            e => e,
        }
    }

    /// Calls `f` on this node and every node below it, parents first; `f` returning `false` skips children.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr) -> bool) {
        if !f(self) {
            return;
        }
        match self {
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    p.walk(f);
                }
                a.expr.walk(f);
            }
            Expr::Binary(b) => {
                b.lhs.walk(f);
                b.rhs.walk(f);
            }
            Expr::Call(c) => c.args.iter().for_each(|a| a.walk(f)),
            Expr::Subquery(s) => s.expr.walk(f),
            Expr::Paren(p) => p.expr.walk(f),
            Expr::Unary(u) => u.expr.walk(f),
            Expr::MatrixSelector(_)
            | Expr::Number(_)
            | Expr::String(_)
            | Expr::VectorSelector(_) => {}
        }
    }

    /// Mutable pre-order walk; `f` returning `false` skips children.
    pub fn walk_mut(&mut self, f: &mut dyn FnMut(&mut Expr) -> bool) {
        if !f(self) {
            return;
        }
        match self {
            Expr::Aggregate(a) => {
                if let Some(p) = &mut a.param {
                    p.walk_mut(f);
                }
                a.expr.walk_mut(f);
            }
            Expr::Binary(b) => {
                b.lhs.walk_mut(f);
                b.rhs.walk_mut(f);
            }
            Expr::Call(c) => c.args.iter_mut().for_each(|a| a.walk_mut(f)),
            Expr::Subquery(s) => s.expr.walk_mut(f),
            Expr::Paren(p) => p.expr.walk_mut(f),
            Expr::Unary(u) => u.expr.walk_mut(f),
            Expr::MatrixSelector(_)
            | Expr::Number(_)
            | Expr::String(_)
            | Expr::VectorSelector(_) => {}
        }
    }
}
