//! Expression evaluation and name resolution for the checker: the evaluator's state (`Eval`),
//! modules and their definitions, and the small helpers the blocks share. The evaluation itself
//! is spread by concern: loading files and imports (`load`), names and definitions (`names`),
//! expressions and operators (`expr`), builtin calls (`call`) and helper functions (`helper`),
//! numbers (`number`), coercion to the type a key or parameter expects (`coerce`), and
//! observables blocks (`observables`). Errors are collected in `self.diags`; a failed
//! evaluation returns `None` and evaluation goes on elsewhere, so one run of the checker
//! reports every error. This is the checker's base layer: the blocks of a study
//! (`super::study`) build on it, never the other way round.

mod call;
mod coerce;
mod expr;
mod helper;
mod load;
mod names;
mod number;
mod observables;

use super::val::{Obj, SVal, Val};
use crate::diag::{Diag, Diags, codes};
use crate::source::{SourceId, SourceMap, Span, Spanned};
use crate::syntax::ast::{Block, Expr};
use crate::value::{Call, Value};
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

/// Helper functions usable in expressions.
pub const HELPERS: &[(&str, &str)] = &[
    (
        "seeds",
        "seeds(n, start = 0): the seeds start, …, start + n − 1",
    ),
    (
        "every",
        "every(k epochs): a checkpoint every k epochs, from epoch 0",
    ),
    (
        "range",
        "range(start, stop, step = 1): numbers from start up to (not including) stop",
    ),
    (
        "env",
        "env(\"NAME\", default = \"\"): an environment variable (for data paths)",
    ),
    (
        "zip",
        "zip(list1, list2, ...): tuples of corresponding items, for `(a, b) in zip(...)`",
    ),
    (
        "pairs",
        "pairs(factor): every pair of the factor's values as a binary task",
    ),
    (
        "curriculum",
        "curriculum(factor, ...): a composite factor for holdouts",
    ),
    ("val", "val(n): the first n validation stimuli; val() = all"),
];

/// A definition in a module.
#[derive(Debug, Clone)]
pub(crate) enum DefBody {
    Value { kind: Spanned<String>, expr: Expr },
    Observables(Block),
}

#[derive(Debug, Clone)]
pub(crate) struct Def {
    pub name: Spanned<String>,
    pub body: DefBody,
}

/// A loaded file: its definitions, its imports, and (for the main file) its blocks.
#[derive(Debug, Default)]
pub(crate) struct Module {
    pub source: Option<SourceId>,
    pub defs: IndexMap<String, Def>,
    pub imports: IndexMap<String, (usize, Span)>,
    pub blocks: Vec<Block>,
}

/// A sweep variable bound while expanding a sweep.
pub(crate) type Bindings = Vec<(String, SVal)>;

/// The evaluator's state.
pub(crate) struct Eval<'s> {
    pub sources: &'s mut SourceMap,
    pub modules: Vec<Module>,
    pub diags: Diags,
    memo: HashMap<(usize, String), Option<SVal>>,
    in_progress: HashSet<(usize, String)>,
    /// Errors already reported (code, span): a sweep evaluates one expression per point, and a
    /// bad expression must be reported once, not once per point.
    reported: HashSet<(&'static str, usize, usize, u32)>,
    /// Calls shared between sweep points (see [`Interned`]).
    pub(crate) interned: HashMap<(usize, usize), Interned>,
    /// The keys of the `train` block being expanded, with where each is declared. A key met
    /// while evaluating that is not bound yet is used before its declaration (a setting or
    /// axis below the use), unless it is poisoned: its own expression already failed and was
    /// reported, so a use of it is a follow-on and evaluates to nothing, silently.
    pub(crate) block_keys: HashMap<String, BlockKey>,
    /// Calls a once-per-call warning has already looked at, keyed by the warning's kind: task
    /// calls whose data location was looked up (`data:`, `study::warn_missing_data`) and rule
    /// calls checked by `study::warn_cap_outrun` (`rule:`). A sweep evaluates a call once per
    /// point; each distinct call warns once.
    pub(crate) warned_once: HashSet<String>,
    /// The stdlib definitions the spec reached, as `module.name` (for the pinned-stdlib check,
    /// [`crate::check::stdlib_pin_warnings`]).
    pub(crate) stdlib_used: std::collections::BTreeSet<String>,
    /// `study { stdlib = N }`: the pinned stdlib version and the span of its value.
    pub(crate) stdlib_pin: Option<(i64, Span)>,
}

/// A key of the `train` block being expanded (see [`Eval::block_keys`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockKey {
    /// The key where it is declared.
    pub declared: Span,
    /// The whole declaration (`lr = ...`), to tell a use inside it.
    pub entry: Span,
    pub poisoned: bool,
}

pub(crate) type Stdlib = fn(&str) -> Option<&'static str>;

impl<'s> Eval<'s> {
    pub(crate) fn new(sources: &'s mut SourceMap) -> Self {
        Eval {
            sources,
            modules: Vec::new(),
            diags: Diags::default(),
            memo: HashMap::new(),
            in_progress: HashSet::new(),
            reported: HashSet::new(),
            interned: HashMap::new(),
            block_keys: HashMap::new(),
            warned_once: HashSet::new(),
            stdlib_used: std::collections::BTreeSet::new(),
            stdlib_pin: None,
        }
    }

    pub(crate) fn err(&mut self, d: Diag) {
        if let Some(s) = d.span {
            if !self.reported.insert((d.code, s.start, s.end, s.source.0)) {
                return;
            }
        }
        self.diags.push(d);
    }

    pub(crate) fn type_err<T>(&mut self, span: Span, expected: &str, found: &Val) -> Option<T> {
        self.err(
            Diag::error(
                codes::TYPE_MISMATCH,
                format!("expected {expected}, found {}", found.describe()),
            )
            .at(span, format!("expected {expected}")),
        );
        None
    }
}

/// A resolved call shared by every point that uses the same object (keyed by the object's
/// address, which `_pins` keeps alive so it cannot be reused).
pub(crate) struct Interned {
    pub(crate) label: String,
    pub(crate) call: Arc<Call>,
    pub(crate) span: Option<Span>,
    pub(crate) _pins: [Option<Rc<Obj>>; 2],
}

pub(crate) fn value_to_val(v: &Value) -> Val {
    match v {
        Value::Bool(b) => Val::Bool(*b),
        Value::Int(i) => Val::int((*i).into()),
        Value::UInt(u) => Val::int((*u).into()),
        Value::Float(f) => Val::float(*f),
        Value::Str(s) => Val::Sym(s.clone()),
        Value::List(l) => Val::List(
            l.iter()
                .map(|x| SVal::new(value_to_val(x), Span::new(SourceId(0), 0, 0)))
                .collect(),
        ),
    }
}

fn key_display(v: &Val) -> String {
    match v {
        Val::Tuple(items) => format!(
            "({})",
            items
                .iter()
                .map(|i| key_display(&i.v))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Val::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| key_display(&i.v))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.key().unwrap_or_else(|| other.describe()),
    }
}

/// "a rule", "an architecture".
pub(crate) fn a(noun: &str) -> String {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {noun}")
    } else {
        format!("a {noun}")
    }
}
