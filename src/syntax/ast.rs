//! The syntax tree: what was written, with spans. Names are plain strings here; the checker
//! resolves them.

use crate::source::{Span, Spanned};
use serde::Serialize;

/// A parsed file.
#[derive(Debug, Clone, Serialize)]
pub struct File {
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    Import(Import),
    Definition(Definition),
    Block(Block),
}

/// `import paper` / `import "file.lrx" as name`.
#[derive(Debug, Clone, Serialize)]
pub struct Import {
    pub target: Spanned<ImportTarget>,
    pub alias: Option<Spanned<String>>,
    pub span: Span,
}

/// What an import names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportTarget {
    /// A module of the embedded standard library (`stdlib/<name>.lrx`).
    Stdlib(String),
    /// A file path relative to the importing file.
    File(String),
}

/// `kind name = value`.
#[derive(Debug, Clone, Serialize)]
pub struct Definition {
    pub kind: Spanned<String>,
    pub name: Spanned<String>,
    pub value: Expr,
    pub span: Span,
}

/// `kind [head] { entries }`.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    pub kind: Spanned<String>,
    pub head: Option<Spanned<Vec<String>>>,
    pub entries: Vec<Entry>,
    pub span: Span,
}

/// An entry inside a block.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    /// `key = value` or `(a, b) = value`.
    Setting {
        targets: Vec<Spanned<String>>,
        value: Expr,
        span: Span,
    },
    /// `key in values` or `(a, b) in values`.
    Axis {
        targets: Vec<Spanned<String>>,
        values: Expr,
        span: Span,
    },
    /// `where condition`.
    Filter { condition: Expr, span: Span },
    /// A nested block.
    Nested(Block),
}

impl Entry {
    pub fn span(&self) -> Span {
        match self {
            Entry::Setting { span, .. } | Entry::Axis { span, .. } | Entry::Filter { span, .. } => {
                *span
            }
            Entry::Nested(b) => b.span,
        }
    }
}

/// An expression with its span.
#[derive(Debug, Clone, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnOp {
    Not,
    Neg,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

/// The kinds of expression.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExprKind {
    /// A number with an optional unit (`%` is a unit too).
    Number {
        value: f64,
        text: String,
        unit: Option<Spanned<String>>,
    },
    Str {
        value: String,
    },
    /// A name or dotted path (`paper.sgdm`, `sqrt`, `true`).
    Path {
        segments: Vec<String>,
    },
    List {
        items: Vec<Expr>,
    },
    Tuple {
        items: Vec<Expr>,
    },
    Map {
        entries: Vec<(Expr, Expr)>,
    },
    Call {
        callee: Spanned<Vec<String>>,
        args: Vec<Arg>,
    },
    Index {
        base: Box<Expr>,
        keys: Vec<Expr>,
    },
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

/// A call argument.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "arg", rename_all = "snake_case")]
pub enum Arg {
    Positional {
        value: Expr,
    },
    Named {
        name: Spanned<String>,
        value: Expr,
    },
    /// `name in values`: a grid over a parameter.
    Axis {
        name: Spanned<String>,
        values: Expr,
    },
}

impl Arg {
    pub fn span(&self) -> Span {
        match self {
            Arg::Positional { value } => value.span,
            Arg::Named { name, value } => name.span.join(value.span),
            Arg::Axis { name, values } => name.span.join(values.span),
        }
    }
}
