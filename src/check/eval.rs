//! Expression evaluation and name resolution for the checker: modules and imports, definitions
//! (evaluated lazily, cycles reported), builtin calls bound against their schemas, helper
//! functions (`seeds`, `every`, `zip`, ...), operators, tables, and coercion to the type a key
//! or parameter expects. Errors are collected in `self.diags`; a failed evaluation returns
//! `None` and evaluation goes on elsewhere, so one run of the checker reports every error.

use super::ir::Observable;
use super::val::{INT_MAX, INT_MIN, Num, Obj, SVal, Val};
use crate::diag::{Diag, Diags, codes, did_you_mean, one_of, suggest};
use crate::registry::schema::{Default as D, Param, Ty};
use crate::registry::{self, Builtin, Kind};
use crate::source::{SourceId, SourceMap, Span};
use crate::syntax::ast::*;
use crate::value::Value;
use indexmap::IndexMap;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

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
pub enum DefBody {
    Value { kind: Spanned<String>, expr: Expr },
    Observables(Block),
}

#[derive(Debug, Clone)]
pub struct Def {
    pub name: Spanned<String>,
    pub body: DefBody,
}

/// A loaded file: its definitions, its imports, and (for the main file) its blocks.
#[derive(Debug, Default)]
pub struct Module {
    pub source: Option<SourceId>,
    pub defs: IndexMap<String, Def>,
    pub imports: IndexMap<String, (usize, Span)>,
    pub blocks: Vec<Block>,
}

/// A sweep variable bound while expanding a sweep.
pub type Bindings = Vec<(String, SVal)>;

use crate::source::Spanned;

/// The evaluator's state.
pub struct Eval<'s> {
    pub sources: &'s mut SourceMap,
    pub modules: Vec<Module>,
    pub diags: Diags,
    memo: HashMap<(usize, String), Option<SVal>>,
    in_progress: HashSet<(usize, String)>,
    /// Errors already reported (code, span): a sweep evaluates one expression per point, and a
    /// bad expression must be reported once, not once per point.
    reported: HashSet<(&'static str, usize, usize, u32)>,
    /// Calls shared between sweep points (see `study::Interned`).
    pub(crate) interned: HashMap<(usize, usize), super::study::Interned>,
    /// The keys of the `train` block being expanded, with where each is declared. A key met
    /// while evaluating that is not bound yet is used before its declaration (a setting or
    /// axis below the use), unless it is poisoned: its own expression already failed and was
    /// reported, so a use of it is a follow-on and evaluates to nothing, silently.
    pub(crate) block_keys: HashMap<String, BlockKey>,
    /// Task calls whose data location was looked up (`study::warn_missing_data`).
    pub(crate) data_checked: HashSet<String>,
    /// The stdlib definitions the spec reached, as `module.name` (for the pinned-stdlib check,
    /// [`super::stdlib_pin_warnings`]).
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

pub type Stdlib = fn(&str) -> Option<&'static str>;

impl<'s> Eval<'s> {
    pub fn new(sources: &'s mut SourceMap) -> Self {
        Eval {
            sources,
            modules: Vec::new(),
            diags: Diags::default(),
            memo: HashMap::new(),
            in_progress: HashSet::new(),
            reported: HashSet::new(),
            interned: HashMap::new(),
            block_keys: HashMap::new(),
            data_checked: HashSet::new(),
            stdlib_used: std::collections::BTreeSet::new(),
            stdlib_pin: None,
        }
    }

    pub fn err(&mut self, d: Diag) {
        if let Some(s) = d.span {
            if !self.reported.insert((d.code, s.start, s.end, s.source.0)) {
                return;
            }
        }
        self.diags.push(d);
    }

    // --------------------------------------------------------------------------------------
    // Loading

    /// Loads a file and, recursively, its imports. Returns the module index.
    pub fn load(
        &mut self,
        source: SourceId,
        stdlib: Stdlib,
        stack: &mut Vec<(SourceId, Option<Span>)>,
        main: bool,
    ) -> Option<usize> {
        let file = match crate::syntax::parse_source(self.sources, source) {
            Ok(f) => f,
            Err(d) => {
                self.err(d);
                return None;
            }
        };
        let idx = self.modules.len();
        self.modules.push(Module {
            source: Some(source),
            ..Module::default()
        });
        let mut defs: IndexMap<String, Def> = IndexMap::new();
        let mut imports = IndexMap::new();
        let mut blocks = Vec::new();
        for item in file.items {
            match item {
                Item::Import(imp) => {
                    let alias = match (&imp.alias, &imp.target.node) {
                        (Some(a), _) => a.node.clone(),
                        (None, ImportTarget::Stdlib(n)) => n.clone(),
                        (None, ImportTarget::File(p)) => std::path::Path::new(p)
                            .file_stem()
                            .map(|s| s.to_string_lossy().to_string())
                            .unwrap_or_default(),
                    };
                    if let Some((_, first)) = imports.get(&alias) {
                        let first: &Span = first;
                        self.err(
                            Diag::error(codes::DUPLICATE, format!("`{alias}` is imported twice"))
                                .at(imp.span, "imported again here")
                                .related(*first, "first imported here")
                                .help("give one of them another name with `as`"),
                        );
                        continue;
                    }
                    if let Some(m) = self.import(source, &imp, stdlib, stack) {
                        imports.insert(alias, (m, imp.span));
                    }
                }
                Item::Definition(d) => {
                    let name = d.name.clone();
                    let def = Def { name: name.clone(), body: DefBody::Value { kind: d.kind, expr: d.value } };
                    self.add_def(&mut defs, def);
                }
                Item::Block(b) if b.kind.node == "observables" => match &b.head {
                    Some(h) if h.node.len() == 1 => {
                        let name = Spanned::new(h.node[0].clone(), h.span);
                        self.add_def(&mut defs, Def { name, body: DefBody::Observables(b) });
                    }
                    _ => self.err(
                        Diag::error(codes::MISSING_KEY, "an `observables` block needs a name")
                            .at(b.kind.span, "no name")
                            .help("write `observables my_set { ... }` and use it as `observe my_set { ... }`"),
                    ),
                },
                Item::Block(b) => {
                    if main {
                        blocks.push(b);
                    } else {
                        self.err(
                            Diag::error(
                                codes::UNKNOWN_KIND,
                                format!("an imported file cannot contain a `{}` block", b.kind.node),
                            )
                            .at(b.kind.span, "only definitions are allowed in an imported file")
                            .help("move this block into the study file that imports this one"),
                        );
                    }
                }
            }
        }
        let m = &mut self.modules[idx];
        m.defs = defs;
        m.imports = imports;
        m.blocks = blocks;
        Some(idx)
    }

    fn add_def(&mut self, defs: &mut IndexMap<String, Def>, def: Def) {
        if let Some(first) = defs.get(&def.name.node) {
            self.err(
                Diag::error(
                    codes::DUPLICATE,
                    format!("`{}` is defined twice", def.name.node),
                )
                .at(def.name.span, "defined again here")
                .related(first.name.span, "first defined here")
                .help("rename one of the definitions"),
            );
            return;
        }
        defs.insert(def.name.node.clone(), def);
    }

    fn import(
        &mut self,
        from: SourceId,
        imp: &Import,
        stdlib: Stdlib,
        stack: &mut Vec<(SourceId, Option<Span>)>,
    ) -> Option<usize> {
        let (name, path, text) = match &imp.target.node {
            ImportTarget::Stdlib(n) => match stdlib(n) {
                Some(t) => (crate::stdlib::source_name(n), None, t.as_bytes().to_vec()),
                None => {
                    let names: Vec<&str> = crate::stdlib::MODULES.iter().map(|(n, _)| *n).collect();
                    self.err(
                        Diag::error(
                            codes::IMPORT_NOT_FOUND,
                            format!("there is no stdlib module `{n}`"),
                        )
                        .at(imp.target.span, "not in the standard library")
                        .help(format!(
                            "{}; to import a local file write `import \"{n}.lrx\"`",
                            suggest(n, &names)
                        )),
                    );
                    return None;
                }
            },
            ImportTarget::File(p) => {
                let base = self
                    .sources
                    .get(from)
                    .path
                    .as_ref()
                    .and_then(|f| f.parent().map(|d| d.to_path_buf()))
                    .unwrap_or_else(|| PathBuf::from("."));
                let full = base.join(p);
                let canon = full.canonicalize().unwrap_or(full.clone());
                match std::fs::read(&canon) {
                    // Named as written (relative stays relative, so messages do not depend
                    // on where the repository lives); cycles compare canonical paths.
                    Ok(t) => (full.display().to_string(), Some(full.clone()), t),
                    Err(e) => {
                        self.err(
                            Diag::error(
                                codes::IMPORT_NOT_FOUND,
                                format!("cannot read `{}`: {e}", full.display()),
                            )
                            .at(imp.target.span, "imported here")
                            .help("import paths are relative to the importing file"),
                        );
                        return None;
                    }
                }
            }
        };
        // Cycle: the same file is already on the import stack.
        let existing = match &path {
            Some(p) => self
                .sources
                .find_path(&p.canonicalize().unwrap_or(p.clone())),
            None => self.sources.find_name(&name),
        };
        if let Some(id) = existing {
            if stack.iter().any(|(s, _)| *s == id) {
                let chain: Vec<String> = stack
                    .iter()
                    .skip_while(|(s, _)| *s != id)
                    .map(|(s, _)| self.sources.get(*s).name.clone())
                    .chain(std::iter::once(name.clone()))
                    .collect();
                self.err(
                    Diag::error(
                        codes::IMPORT_CYCLE,
                        format!("import cycle: {}", chain.join(" → ")),
                    )
                    .at(imp.span, "this import closes the cycle")
                    .help("move the shared definitions into a third file that both import"),
                );
                return None;
            }
            if let Some(m) = self.modules.iter().position(|m| m.source == Some(id)) {
                return Some(m);
            }
        }
        let id = self.sources.add_bytes(name, path, text);
        stack.push((id, Some(imp.span)));
        let m = self.load(id, stdlib, stack, false);
        stack.pop();
        m
    }

    // --------------------------------------------------------------------------------------
    // Names

    fn def_names(&self, module: usize) -> Vec<&str> {
        let m = &self.modules[module];
        m.defs
            .keys()
            .map(String::as_str)
            .chain(m.imports.keys().map(String::as_str))
            .collect()
    }

    /// Evaluates a definition (memoised; cycles are errors).
    fn def_value(&mut self, module: usize, name: &str) -> Option<SVal> {
        let key = (module, name.to_string());
        if let Some(v) = self.memo.get(&key) {
            return v.clone();
        }
        let def = self.modules[module].defs.get(name)?.clone();
        if !self.in_progress.insert(key.clone()) {
            self.err(
                Diag::error(
                    codes::EVAL,
                    format!("`{name}` is defined in terms of itself"),
                )
                .at(def.name.span, "this definition refers back to itself"),
            );
            return None;
        }
        // A definition sees the module's names, not the keys of a `train` block that happens
        // to be expanding when it is first used.
        let keys = std::mem::take(&mut self.block_keys);
        let v = match &def.body {
            DefBody::Value { kind, expr } => {
                let v = self.eval(expr, module, &Vec::new());
                v.and_then(|v| self.check_def_kind(kind, &def.name, v))
            }
            DefBody::Observables(b) => self
                .observables_block(b, module)
                .map(|o| SVal::new(Val::Observables(o), def.name.span)),
        };
        self.block_keys = keys;
        self.in_progress.remove(&key);
        self.memo.insert(key, v.clone());
        v
    }

    /// `rule x = ...` must be a rule, `let x = ...` anything; an object takes the definition's
    /// name as its label.
    fn check_def_kind(
        &mut self,
        kind: &Spanned<String>,
        name: &Spanned<String>,
        v: SVal,
    ) -> Option<SVal> {
        if kind.node == "let" {
            return Some(v);
        }
        let Some(k) = Kind::ALL.iter().copied().find(|k| k.keyword() == kind.node) else {
            let mut kws: Vec<&str> = Kind::ALL.iter().map(|k| k.keyword()).collect();
            kws.push("let");
            self.err(
                Diag::error(
                    codes::UNKNOWN_KIND,
                    format!("unknown definition kind `{}`", kind.node),
                )
                .at(kind.span, "not a kind of definition")
                .help(suggest(&kind.node, &kws)),
            );
            return None;
        };
        let obj = self.to_obj(v, k)?;
        let mut o = obj;
        o.label = name.node.clone();
        Some(SVal::new(Val::Obj(std::rc::Rc::new(o)), name.span))
    }

    /// Resolves a path: sweep variable, definition, import, literal or bare name.
    pub fn path(
        &mut self,
        segs: &[String],
        span: Span,
        module: usize,
        vars: &Bindings,
    ) -> Option<SVal> {
        let head = &segs[0];
        let mut cur: SVal;
        let mut rest = &segs[1..];
        if let Some((_, v)) = vars.iter().rev().find(|(n, _)| n == head) {
            cur = SVal::new(v.v.clone(), span);
        } else if self.modules[module].defs.contains_key(head) {
            cur = self.def_value(module, head)?;
            cur.span = span;
        } else if let Some(&(m, _)) = self.modules[module].imports.get(head) {
            // Walk into the imported module.
            let Some(next) = rest.first() else {
                self.err(
                    Diag::error(
                        codes::TYPE_MISMATCH,
                        format!("`{head}` is a module, not a value"),
                    )
                    .at(span, "a module")
                    .help(format!(
                        "use one of its definitions, e.g. `{head}.{}`",
                        self.def_names(m).first().copied().unwrap_or("name")
                    )),
                );
                return None;
            };
            if !self.modules[m].defs.contains_key(next)
                && !self.modules[m].imports.contains_key(next)
            {
                let names = self.def_names(m);
                let help = match did_you_mean(next, names.iter().copied()) {
                    Some(c) => format!("did you mean `{head}.{c}`?"),
                    None => format!("`{head}` defines: {}", names.join(", ")),
                };
                self.err(
                    Diag::error(
                        codes::UNKNOWN_NAME,
                        format!("`{head}` has no definition `{next}`"),
                    )
                    .at(span, "not defined in this module")
                    .help(help),
                );
                return None;
            }
            if let Some(module) = self.modules[m]
                .source
                .and_then(|id| crate::stdlib::module_of_source(&self.sources.get(id).name))
            {
                self.stdlib_used.insert(format!("{module}.{next}"));
            }
            return self.path(rest, span, m, &Vec::new());
        } else if let Some(k) = self.block_keys.get(head).copied() {
            if k.poisoned {
                return None;
            }
            let own = k.entry.source == span.source
                && k.entry.start <= span.start
                && span.end <= k.entry.end;
            let d = if own {
                Diag::error(
                    codes::USED_BEFORE_DECLARED,
                    format!("`{head}` is used in its own declaration"),
                )
                .at(span, "not defined yet here")
                .help(format!(
                    "give `{head}` a value that does not refer to `{head}`"
                ))
            } else {
                Diag::error(
                    codes::USED_BEFORE_DECLARED,
                    format!("`{head}` is used before it is declared"),
                )
                .at(span, "used here")
                .related(k.declared, "declared later here")
                .help(format!(
                    "move `{head}` above this line: axes are bound in the order written, and settings after every axis, each seeing the settings above it"
                ))
            };
            self.err(d);
            return None;
        } else {
            match head.as_str() {
                "true" => cur = SVal::new(Val::Bool(true), span),
                "false" => cur = SVal::new(Val::Bool(false), span),
                "none" => cur = SVal::new(Val::None, span),
                _ if rest.is_empty() => return Some(SVal::new(Val::Sym(head.clone()), span)),
                _ => {
                    let mut names = self.def_names(module);
                    names.extend(vars.iter().map(|(n, _)| n.as_str()));
                    self.err(
                        Diag::error(codes::UNKNOWN_NAME, format!("unknown name `{head}`"))
                            .at(span, "not defined or imported")
                            .help(match did_you_mean(head, names.iter().copied()) {
                                Some(c) => format!("did you mean `{c}`?"),
                                None => {
                                    "define it, or `import` the module that defines it".to_string()
                                }
                            }),
                    );
                    return None;
                }
            }
        }
        // Attributes.
        while let Some(attr) = rest.first() {
            cur = self.attr(cur, attr, span)?;
            rest = &rest[1..];
        }
        Some(cur)
    }

    fn attr(&mut self, v: SVal, attr: &str, span: Span) -> Option<SVal> {
        let out = match &v.v {
            Val::Obj(o) => match attr {
                "family" => Some(Val::Sym(o.builtin.family.to_string())),
                "builtin" => Some(Val::Sym(o.builtin.name.to_string())),
                "label" => Some(Val::Str(o.label.clone())),
                a => o.params.get(a).map(value_to_val),
            },
            _ => None,
        };
        match out {
            Some(x) => Some(SVal::new(x, span)),
            None => {
                let mut avail = vec!["family", "builtin", "label"];
                if let Val::Obj(o) = &v.v {
                    avail.extend(o.builtin.params().map(|p| p.name));
                }
                self.err(
                    Diag::error(codes::UNKNOWN_NAME, format!("{} has no attribute `{attr}`", v.v.describe()))
                        .at(span, "unknown attribute")
                        .help(if matches!(v.v, Val::Obj(_)) { suggest(attr, &avail) } else { "only learning rules, architectures, tasks and other builtins have attributes".into() }),
                );
                None
            }
        }
    }

    // --------------------------------------------------------------------------------------
    // Expressions

    pub fn eval(&mut self, e: &Expr, module: usize, vars: &Bindings) -> Option<SVal> {
        let span = e.span;
        let v = match &e.kind {
            ExprKind::Number { value, text, unit } => {
                let n = self.literal(*value, text, span)?;
                let unit = match unit {
                    None => None,
                    Some(u) => Some(self.unit(u)?),
                };
                Val::Num { n, unit }
            }
            ExprKind::Str { value } => Val::Str(value.clone()),
            ExprKind::Path { segments } => return self.path(segments, span, module, vars),
            ExprKind::List { items } => Val::List(self.eval_all(items, module, vars)?),
            ExprKind::Tuple { items } => Val::Tuple(self.eval_all(items, module, vars)?),
            ExprKind::Map { entries } => {
                let mut out = Vec::new();
                let mut ok = true;
                for (k, v) in entries {
                    let k = self.eval(k, module, vars);
                    let v = self.eval(v, module, vars);
                    match (k, v) {
                        (Some(k), Some(v)) => out.push((k, v)),
                        _ => ok = false,
                    }
                }
                // Keys that match have the same bucket, so only keys within a bucket are
                // compared (a pairwise check over a generated 300 000-entry table would not
                // finish).
                let mut buckets: HashMap<String, Vec<usize>> = HashMap::new();
                for i in 0..out.len() {
                    let bucket = buckets.entry(out[i].0.v.match_bucket()).or_default();
                    let earlier = std::mem::take(bucket);
                    for &j in &earlier {
                        if out[i].0.v.matches(&out[j].0.v) {
                            let d = Diag::error(codes::DUPLICATE, "duplicate key in table")
                                .at(out[i].0.span, "this key appears twice")
                                .related(out[j].0.span, "first here");
                            self.err(d);
                        }
                    }
                    let bucket = buckets.entry(out[i].0.v.match_bucket()).or_default();
                    *bucket = earlier;
                    bucket.push(i);
                }
                if !ok {
                    return None;
                }
                Val::Map(std::rc::Rc::new(out))
            }
            ExprKind::Call { callee, args } => return self.call(callee, args, span, module, vars),
            ExprKind::Index { base, keys } => {
                let b = self.eval(base, module, vars)?;
                let ks = self.eval_all(keys, module, vars)?;
                return self.index(b, ks, span);
            }
            ExprKind::Unary { op, expr } => {
                let v = self.eval(expr, module, vars)?;
                match (op, &v.v) {
                    (UnOp::Not, Val::Bool(b)) => Val::Bool(!b),
                    (UnOp::Neg, Val::Num { n, unit }) => Val::Num {
                        n: match n {
                            Num::Int(i) => self.int_result(-i, span, "`-`")?,
                            Num::Float(x) => Num::Float(-x),
                        },
                        unit: unit.clone(),
                    },
                    (UnOp::Not, other) => return self.type_err(span, "`true` or `false`", other),
                    (UnOp::Neg, other) => return self.type_err(span, "a number", other),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.eval(lhs, module, vars);
                let b = self.eval(rhs, module, vars);
                let (a, b) = (a?, b?);
                return self.binary(*op, a, b, span);
            }
        };
        Some(SVal::new(v, span))
    }

    fn eval_all(&mut self, items: &[Expr], module: usize, vars: &Bindings) -> Option<Vec<SVal>> {
        let vs: Vec<Option<SVal>> = items.iter().map(|i| self.eval(i, module, vars)).collect();
        vs.into_iter().collect()
    }

    fn type_err<T>(&mut self, span: Span, expected: &str, found: &Val) -> Option<T> {
        self.err(
            Diag::error(
                codes::TYPE_MISMATCH,
                format!("expected {expected}, found {}", found.describe()),
            )
            .at(span, format!("expected {expected}")),
        );
        None
    }

    fn unit(&mut self, u: &Spanned<String>) -> Option<String> {
        const UNITS: &[&str] = &[
            "%",
            "epochs",
            "epoch",
            "cpu_hours",
            "gpu_hours",
            "pixels",
            "px",
        ];
        let canon = match u.node.as_str() {
            "epoch" => "epochs",
            "px" => "pixels",
            "cpu_hour" => "cpu_hours",
            "gpu_hour" => "gpu_hours",
            s => s,
        };
        if UNITS.contains(&canon) {
            return Some(canon.to_string());
        }
        self.err(
            Diag::error(codes::UNKNOWN_UNIT, format!("unknown unit `{}`", u.node))
                .at(u.span, "not a unit")
                .help(format!(
                    "{}; if `{}` starts the next entry, put it on its own line or add a comma before it",
                    suggest(&u.node, &["%", "epochs", "cpu_hours", "gpu_hours", "pixels"]),
                    u.node
                )),
        );
        None
    }

    fn binary(&mut self, op: BinOp, a: SVal, b: SVal, span: Span) -> Option<SVal> {
        let v = match op {
            BinOp::And | BinOp::Or => match (&a.v, &b.v) {
                (Val::Bool(x), Val::Bool(y)) => {
                    Val::Bool(if op == BinOp::And { *x && *y } else { *x || *y })
                }
                (Val::Bool(_), o) => return self.type_err(b.span, "`true` or `false`", o),
                (o, _) => return self.type_err(a.span, "`true` or `false`", o),
            },
            BinOp::Eq => Val::Bool(a.v.matches(&b.v)),
            BinOp::Ne => Val::Bool(!a.v.matches(&b.v)),
            BinOp::In => match &b.v {
                Val::List(items) | Val::Tuple(items) => {
                    Val::Bool(items.iter().any(|i| a.v.matches(&i.v)))
                }
                o => return self.type_err(b.span, "a list after `in`", o),
            },
            BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::Add
            | BinOp::Sub
            | BinOp::Mul
            | BinOp::Div => {
                let (x, xu) = match &a.v {
                    Val::Num { n, unit } => (*n, unit.clone()),
                    o => return self.type_err(a.span, "a number", o),
                };
                let (y, yu) = match &b.v {
                    Val::Num { n, unit } => (*n, unit.clone()),
                    o => return self.type_err(b.span, "a number", o),
                };
                let unit = xu.or(yu);
                use std::cmp::Ordering::*;
                let n = match op {
                    BinOp::Lt => return Some(SVal::new(Val::Bool(x.cmp_exact(y) == Less), span)),
                    BinOp::Le => {
                        return Some(SVal::new(Val::Bool(x.cmp_exact(y) != Greater), span));
                    }
                    BinOp::Gt => {
                        return Some(SVal::new(Val::Bool(x.cmp_exact(y) == Greater), span));
                    }
                    BinOp::Ge => return Some(SVal::new(Val::Bool(x.cmp_exact(y) != Less), span)),
                    BinOp::Div if y.f64() == 0.0 => {
                        self.err(
                            Diag::error(codes::EVAL, "division by zero")
                                .at(b.span, "this is zero")
                                .help("divide by a number other than 0"),
                        );
                        return None;
                    }
                    _ => match (x, y) {
                        // Integer arithmetic is exact (in i128, so no step can wrap) and
                        // refused when the result leaves the language's integer range.
                        (Num::Int(p), Num::Int(q)) => {
                            let r = match op {
                                BinOp::Add => p.checked_add(q),
                                BinOp::Sub => p.checked_sub(q),
                                BinOp::Mul => p.checked_mul(q),
                                // `/` always gives a float (docs/reference/expressions.md).
                                _ => {
                                    let f = p as f64 / q as f64;
                                    return Some(SVal::new(
                                        Val::Num {
                                            n: self.float_result(f, span, op)?,
                                            unit,
                                        },
                                        span,
                                    ));
                                }
                            };
                            match r {
                                Some(r) => {
                                    self.int_result(r, span, &format!("`{}`", op.symbol()))?
                                }
                                None => {
                                    self.int_overflow(span, &format!("`{}`", op.symbol()));
                                    return None;
                                }
                            }
                        }
                        _ => {
                            let (p, q) = (x.f64(), y.f64());
                            let f = match op {
                                BinOp::Add => p + q,
                                BinOp::Sub => p - q,
                                BinOp::Mul => p * q,
                                _ => p / q,
                            };
                            self.float_result(f, span, op)?
                        }
                    },
                };
                Val::Num { n, unit }
            }
        };
        Some(SVal::new(v, span))
    }

    fn index(&mut self, base: SVal, keys: Vec<SVal>, span: Span) -> Option<SVal> {
        let Val::Map(entries) = &base.v else {
            return self.type_err(base.span, "a table `{ key: value }` to index", &base.v);
        };
        // A tuple key `t[a, b]` matches a tuple entry `(a, b): v`; otherwise index step by step.
        if keys.len() > 1 && entries.iter().any(|(k, _)| matches!(k.v, Val::Tuple(_))) {
            let key = SVal::new(Val::Tuple(keys.clone()), span);
            return self.lookup(entries, &key, span, base.span);
        }
        let mut cur = base;
        for k in keys {
            let Val::Map(es) = &cur.v else {
                return self.type_err(cur.span, "a table for the next index", &cur.v);
            };
            let next = self.lookup(es, &k, span, cur.span)?;
            cur = next;
        }
        Some(cur)
    }

    fn lookup(
        &mut self,
        entries: &[(SVal, SVal)],
        key: &SVal,
        span: Span,
        table: Span,
    ) -> Option<SVal> {
        if let Some((_, v)) = entries.iter().find(|(k, _)| k.v.matches(&key.v)) {
            return Some(v.clone());
        }
        if let Some((_, v)) = entries.iter().find(|(k, _)| k.v == Val::Sym("_".into())) {
            return Some(v.clone());
        }
        let keys: Vec<String> = entries.iter().filter_map(|(k, _)| k.v.key()).collect();
        let shown = key_display(&key.v);
        self.err(
            Diag::error(
                codes::TABLE_MISSING_KEY,
                format!("the table has no entry for `{shown}`"),
            )
            .at(span, format!("no entry for `{shown}`"))
            .related(table, "the table")
            .help(format!(
                "add `{shown}: ...` or a fallback `_: ...` to the table (it has: {})",
                keys.join(", ")
            )),
        );
        None
    }

    // --------------------------------------------------------------------------------------
    // Calls

    fn call(
        &mut self,
        callee: &Spanned<Vec<String>>,
        args: &[Arg],
        span: Span,
        module: usize,
        vars: &Bindings,
    ) -> Option<SVal> {
        let segs = &callee.node;
        if segs.len() == 1
            && HELPERS.iter().any(|(h, _)| *h == segs[0])
            && !self.modules[module].defs.contains_key(&segs[0])
        {
            return self.helper(&segs[0], args, span, module, vars);
        }
        // A preset (definition) called with overrides: `paper.sgdm(momentum = 0.5)`.
        // Inside `rule sgdm = sgdm(...)` the callee is the builtin, not the definition itself.
        let self_ref = self.in_progress.contains(&(module, segs[0].clone()));
        let is_def = !self_ref
            && (self.modules[module].defs.contains_key(&segs[0])
                || self.modules[module].imports.contains_key(&segs[0]));
        let (builtin, base, label_base): (&'static Builtin, Option<Obj>, String) = if is_def {
            let v = self.path(segs, callee.span, module, vars)?;
            match v.v {
                Val::Obj(o) => (o.builtin, Some((*o).clone()), o.label.clone()),
                other => return self.type_err(callee.span, "a builtin or preset to call", &other),
            }
        } else if segs.len() == 1 {
            match registry::builtin(&segs[0]) {
                Some(b) => (b, None, b.name.to_string()),
                None => {
                    let mut names: Vec<&str> = registry::BUILTINS.iter().map(|b| b.name).collect();
                    names.extend(HELPERS.iter().map(|(h, _)| *h));
                    let help = match did_you_mean(&segs[0], names.iter().copied()) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => "see `lrx doc` for the list of builtins".to_string(),
                    };
                    self.err(
                        Diag::error(
                            codes::UNKNOWN_BUILTIN,
                            format!("unknown builtin `{}`", segs[0]),
                        )
                        .at(callee.span, "not a builtin, preset or helper")
                        .help(help),
                    );
                    // Still check the arguments for errors of their own.
                    for a in args {
                        let _ = match a {
                            Arg::Positional { value }
                            | Arg::Named { value, .. }
                            | Arg::Axis { values: value, .. } => self.eval(value, module, vars),
                        };
                    }
                    return None;
                }
            }
        } else {
            self.path(segs, callee.span, module, vars)?;
            return None;
        };
        let mut obj = match base {
            Some(o) => o,
            None => Obj {
                builtin,
                label: label_base.clone(),
                params: BTreeMap::new(),
                explicit: BTreeSet::new(),
            },
        };
        let positional: Vec<&'static Param> = builtin
            .params()
            .filter(|p| p.default != D::FromTask)
            .collect();
        let mut pos_i = 0;
        let mut ok = true;
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        // Parameters whose argument was given but failed (or was misspelled): their error is
        // reported, so a "needs `x`" for them would only be a follow-on.
        let mut failed: HashSet<&'static str> = HashSet::new();
        let mut shown = Vec::new();
        for a in args {
            let (param, value, is_axis, name_span) = match a {
                Arg::Positional { value } => {
                    let Some(p) = positional.get(pos_i) else {
                        self.err(
                            Diag::error(
                                codes::BAD_ARGUMENT,
                                format!(
                                    "`{}` takes at most {} positional arguments",
                                    builtin.name,
                                    positional.len()
                                ),
                            )
                            .at(value.span, "extra argument")
                            .help("name the parameter: `name = value`"),
                        );
                        ok = false;
                        continue;
                    };
                    pos_i += 1;
                    (*p, value, false, value.span)
                }
                Arg::Named { name, value }
                | Arg::Axis {
                    name,
                    values: value,
                } => {
                    let is_axis = matches!(a, Arg::Axis { .. });
                    match builtin.param(&name.node) {
                        Some(p) => (p, value, is_axis, name.span),
                        None => {
                            let names: Vec<&str> = builtin
                                .params()
                                .filter(|p| p.default != D::FromTask)
                                .map(|p| p.name)
                                .collect();
                            let help = if names.is_empty() {
                                format!("`{}` takes no parameters", builtin.name)
                            } else {
                                match did_you_mean(&name.node, names.iter().copied()) {
                                    Some(c) => {
                                        if let Some(p) = builtin.param(c) {
                                            failed.insert(p.name);
                                        }
                                        format!("did you mean `{c}`?")
                                    }
                                    None => {
                                        format!("`{}` takes: {}", builtin.name, names.join(", "))
                                    }
                                }
                            };
                            self.err(
                                Diag::error(
                                    codes::UNKNOWN_PARAM,
                                    format!("`{}` has no parameter `{}`", builtin.name, name.node),
                                )
                                .at(name.span, "unknown parameter")
                                .help(help),
                            );
                            let _ = self.eval(value, module, vars);
                            ok = false;
                            continue;
                        }
                    }
                }
            };
            if let Some(first) = seen.insert(param.name, name_span) {
                self.err(
                    Diag::error(
                        codes::DUPLICATE,
                        format!("parameter `{}` is given twice", param.name),
                    )
                    .at(name_span, "given again here")
                    .related(first, "first given here"),
                );
                ok = false;
                continue;
            }
            if param.default == D::FromTask {
                self.err(
                    Diag::error(
                        codes::BAD_ARGUMENT,
                        format!("`{}` is set from the task", param.name),
                    )
                    .at(name_span, "cannot be set here")
                    .help("the plan fills input size, channels and classes from the run's task"),
                );
                ok = false;
                continue;
            }
            if is_axis && !param.ty.is_list() {
                self.err(
                    Diag::error(codes::AXIS_NOT_ALLOWED, format!("`{}` takes one value, not a grid", param.name))
                        .at(name_span, "`in` is only for grid parameters")
                        .help(format!("write `{} = value`; to sweep it, sweep the whole builtin: `x in [{}(...), {}(...)]`", param.name, builtin.name, builtin.name)),
                );
                ok = false;
                failed.insert(param.name);
                continue;
            }
            let Some(v) = self.eval(value, module, vars) else {
                failed.insert(param.name);
                ok = false;
                continue;
            };
            match self.coerce(&v, &param.ty, param.name) {
                Some(val) => {
                    shown.push(format!("{}={}", param.name, key_display(&v.v)));
                    obj.params.insert(param.name.to_string(), val);
                    obj.explicit.insert(param.name.to_string());
                }
                None => {
                    failed.insert(param.name);
                    ok = false;
                }
            }
        }
        // Defaults and required parameters.
        for p in builtin.params() {
            if obj.params.contains_key(p.name) || failed.contains(p.name) {
                continue;
            }
            match p.default {
                D::Required => {
                    self.err(
                        Diag::error(
                            codes::MISSING_PARAM,
                            format!("`{}` needs `{}`", builtin.name, p.name),
                        )
                        .at(span, format!("`{}` is missing", p.name))
                        .help(format!("add `{} = ...`: {}", p.name, p.doc)),
                    );
                    ok = false;
                }
                D::FromTask => {}
                d => {
                    if let Some(v) = d.to_value() {
                        obj.params.insert(p.name.to_string(), v);
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        if !shown.is_empty() {
            shown.sort();
            obj.label = format!("{label_base}({})", shown.join(","));
        }
        Some(SVal::new(Val::Obj(std::rc::Rc::new(obj)), span))
    }

    fn helper(
        &mut self,
        name: &str,
        args: &[Arg],
        span: Span,
        module: usize,
        vars: &Bindings,
    ) -> Option<SVal> {
        let mut pos = Vec::new();
        let mut named: BTreeMap<String, SVal> = BTreeMap::new();
        for a in args {
            match a {
                Arg::Positional { value } => pos.push(self.eval(value, module, vars)?),
                Arg::Named { name: n, value } => {
                    let v = self.eval(value, module, vars)?;
                    named.insert(n.node.clone(), v);
                }
                Arg::Axis { name: n, .. } => {
                    self.err(
                        Diag::error(codes::AXIS_NOT_ALLOWED, format!("`{name}` takes no grid"))
                            .at(n.span, "`in` not allowed here"),
                    );
                    return None;
                }
            }
        }
        let allowed: &[&str] = match name {
            "seeds" => &["start"],
            "range" => &["step"],
            "env" => &["default"],
            _ => &[],
        };
        for (k, v) in &named {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    Diag::error(
                        codes::UNKNOWN_PARAM,
                        format!("`{name}` has no parameter `{k}`"),
                    )
                    .at(v.span, "unknown parameter")
                    .help(
                        HELPERS
                            .iter()
                            .find(|(h, _)| *h == name)
                            .map(|(_, d)| d.to_string())
                            .unwrap_or_default(),
                    ),
                );
                return None;
            }
        }
        let usage = HELPERS
            .iter()
            .find(|(h, _)| *h == name)
            .map(|(_, d)| *d)
            .unwrap_or("");
        let arity = |s: &mut Self, lo: usize, hi: usize| -> bool {
            if pos.len() < lo || pos.len() > hi {
                s.err(
                    Diag::error(
                        codes::BAD_ARGUMENT,
                        format!("wrong number of arguments to `{name}`"),
                    )
                    .at(span, "here")
                    .help(format!("usage: {usage}")),
                );
                false
            } else {
                true
            }
        };
        let v = match name {
            "seeds" => {
                if !arity(self, 1, 1) {
                    return None;
                }
                let n = self.int(&pos[0], 1, 1_000_000)?;
                let start = match named.get("start") {
                    Some(s) => self.exact_int(s, 0, INT_MAX, "`start`", &Ty::Seed.describe())?,
                    None => 0,
                };
                // Seeds are exact up to 2^64 − 1: the last one must not pass it.
                let last = start + i128::from(n) - 1;
                if last > INT_MAX {
                    self.err(
                        Diag::error(
                            codes::INT_OVERFLOW,
                            format!("`seeds({n}, start = {start})` would end at {last}, past the largest seed 18446744073709551615 (2⁶⁴ − 1)"),
                        )
                        .at(span, "the last seeds do not fit 64 bits")
                        .help(format!("start at {} or lower", INT_MAX - i128::from(n) + 1)),
                    );
                    return None;
                }
                Val::List(
                    (start..=last)
                        .map(|i| SVal::new(Val::int(i), span))
                        .collect(),
                )
            }
            "every" => {
                if !arity(self, 1, 1) {
                    return None;
                }
                let k = match &pos[0].v {
                    Val::Num { n, unit } if unit.is_none() || unit.as_deref() == Some("epochs") => {
                        match n.exact_int().and_then(|k| i64::try_from(k).ok()) {
                            Some(k) if k >= 1 => k,
                            _ => {
                                self.range_err(
                                    pos[0].span,
                                    &format!("the period of `every` = {}", n.key()),
                                    "a whole number of epochs ≥ 1",
                                );
                                return None;
                            }
                        }
                    }
                    o => return self.type_err(pos[0].span, "a whole number of epochs ≥ 1", o),
                };
                Val::Every(k)
            }
            "range" => {
                if !arity(self, 2, 2) {
                    return None;
                }
                let (a, b) = (self.number(&pos[0])?, self.number(&pos[1])?);
                let step = match named.get("step") {
                    Some(s) => self.number(s)?,
                    None => Num::Int(1),
                };
                if step.f64() <= 0.0 {
                    self.err(
                        Diag::error(
                            codes::OUT_OF_RANGE,
                            format!(
                                "`step` = {} is out of range: expected a number > 0",
                                step.key()
                            ),
                        )
                        .at(named.get("step").map_or(span, |s| s.span), "not positive")
                        .help("`range` counts up from `start` to `stop`; give a positive `step`"),
                    );
                    return None;
                }
                let too_long = |s: &mut Self, n: String| {
                    s.err(
                        Diag::error(
                            codes::OUT_OF_RANGE,
                            format!("range of {n} values is too long: at most 10000000"),
                        )
                        .at(span, "too many values")
                        .help("use a larger `step` or a shorter interval"),
                    );
                };
                match (a, b, step) {
                    // All integers: exact items.
                    (Num::Int(a), Num::Int(b), Num::Int(st)) => {
                        let n = if b > a { (b - a + st - 1) / st } else { 0 };
                        if n > 10_000_000 {
                            too_long(self, n.to_string());
                            return None;
                        }
                        Val::List(
                            (0..n)
                                .map(|i| SVal::new(Val::int(a + i * st), span))
                                .collect(),
                        )
                    }
                    _ => {
                        let (a, b, st) = (a.f64(), b.f64(), step.f64());
                        let n = ((b - a) / st).ceil().max(0.0);
                        if n > 10_000_000.0 {
                            too_long(self, super::ir::fmt_num(n));
                            return None;
                        }
                        Val::List(
                            (0..n as usize)
                                .map(|i| SVal::new(Val::float(a + i as f64 * st), span))
                                .collect(),
                        )
                    }
                }
            }
            "env" => {
                if !arity(self, 1, 1) {
                    return None;
                }
                let Val::Str(var) = &pos[0].v else {
                    return self.type_err(pos[0].span, "a string", &pos[0].v);
                };
                let default = match named.get("default") {
                    Some(SVal { v: Val::Str(s), .. }) => s.clone(),
                    Some(o) => return self.type_err(o.span, "a string", &o.v),
                    None => String::new(),
                };
                Val::Str(std::env::var(var).unwrap_or(default))
            }
            "zip" => {
                if pos.len() < 2 {
                    return self.helper_usage(span, usage);
                }
                let mut lists = Vec::new();
                for p in &pos {
                    match &p.v {
                        Val::List(l) => lists.push(l.clone()),
                        o => return self.type_err(p.span, "a list", o),
                    }
                }
                let n = lists[0].len();
                if let Some((i, l)) = lists.iter().enumerate().find(|(_, l)| l.len() != n) {
                    self.err(
                        Diag::error(codes::ZIP_LENGTH, format!("`zip` needs lists of equal length: the first has {n} items, this one {}", l.len()))
                            .at(pos[i].span, "different length")
                            .related(pos[0].span, format!("{n} items")),
                    );
                    return None;
                }
                Val::List(
                    (0..n)
                        .map(|i| {
                            SVal::new(
                                Val::Tuple(lists.iter().map(|l| l[i].clone()).collect()),
                                span,
                            )
                        })
                        .collect(),
                )
            }
            "pairs" => {
                if !arity(self, 1, 1) {
                    return None;
                }
                Val::Pairs(self.factor_name(&pos[0])?)
            }
            "curriculum" => {
                if pos.is_empty() {
                    return self.helper_usage(span, usage);
                }
                let mut fs = Vec::new();
                for p in &pos {
                    fs.push(self.factor_name(p)?);
                }
                Val::Composite("curriculum".into(), fs)
            }
            "val" => {
                if !arity(self, 0, 1) {
                    return None;
                }
                let n = match pos.first() {
                    Some(p) => self.int(p, 1, i64::MAX)?,
                    None => 0,
                };
                Val::Stimuli(n)
            }
            _ => return self.helper_usage(span, usage),
        };
        Some(SVal::new(v, span))
    }

    fn helper_usage<T>(&mut self, span: Span, usage: &str) -> Option<T> {
        self.err(
            Diag::error(codes::BAD_ARGUMENT, "wrong arguments")
                .at(span, "here")
                .help(format!("usage: {usage}")),
        );
        None
    }

    /// A factor name: a bare name among the run factors.
    pub fn factor_name(&mut self, v: &SVal) -> Option<String> {
        let name = match &v.v {
            Val::Sym(s) => s.clone(),
            Val::Obj(o) => {
                // `rule` may resolve to nothing else, but `task`/`arch` could be user definitions.
                o.label.clone()
            }
            o => return self.type_err(v.span, "a factor name", o),
        };
        if !FACTORS.contains(&name.as_str()) {
            self.err(
                Diag::error(codes::UNKNOWN_NAME, format!("`{name}` is not a run factor"))
                    .at(v.span, "not a factor")
                    .help(suggest(&name, FACTORS)),
            );
            return None;
        }
        Some(name)
    }

    // --------------------------------------------------------------------------------------
    // Coercion

    pub fn num(&mut self, v: &SVal) -> Option<f64> {
        self.number(v).map(Num::f64)
    }

    /// A number without a unit.
    pub fn number(&mut self, v: &SVal) -> Option<Num> {
        match &v.v {
            Val::Num { n, unit: None } => Some(*n),
            o => self.type_err(v.span, "a number", o),
        }
    }

    pub fn int(&mut self, v: &SVal, min: i64, max: i64) -> Option<i64> {
        let ty = Ty::Int { min, max };
        let i = self.exact_int(v, min.into(), max.into(), "", &ty.describe())?;
        Some(i64::try_from(i).expect("checked against i64 bounds"))
    }

    /// An exact integer in `[min, max]` (`what` names the parameter in the message, `expected`
    /// says the range). A unit other than `epochs` or `pixels` is refused; a float is accepted
    /// when whole and exact (|x| ≤ 2⁵³): a larger one may not be the integer that was written.
    pub fn exact_int(
        &mut self,
        v: &SVal,
        min: i128,
        max: i128,
        what: &str,
        expected: &str,
    ) -> Option<i128> {
        let Val::Num { n, unit } = &v.v else {
            return self.type_err(v.span, "an integer", &v.v);
        };
        if let Some(u) = unit {
            if u != "epochs" && u != "pixels" {
                return self.bad_unit(v.span, u, "an integer");
            }
        }
        let i = match n.exact_int() {
            Some(i) => i,
            None if n.f64().fract() != 0.0 => return self.type_err(v.span, "an integer", &v.v),
            None => {
                let shown = format!("{:e}", n.f64());
                self.err(
                    Diag::error(
                        codes::INEXACT_NUMBER,
                        format!("{shown} is written as a float, which holds integers exactly only up to 2⁵³ = 9007199254740992"),
                    )
                    .at(v.span, "not an exact integer")
                    .help("write the integer with all its digits, without `.` or an exponent (integers are exact up to 2⁶⁴ − 1)"),
                );
                return None;
            }
        };
        if i < min || i > max {
            let found = if what.is_empty() {
                i.to_string()
            } else {
                format!("{what} = {i}")
            };
            self.range_err(v.span, &found, expected);
            return None;
        }
        Some(i)
    }

    /// A literal: an integer written without `.` or an exponent is read exactly (never
    /// through `f64`); a float must not have overflowed (the parser refuses that) or
    /// underflowed to 0.
    fn literal(&mut self, value: f64, text: &str, span: Span) -> Option<Num> {
        if !text.contains(['.', 'e', 'E']) {
            return match text.parse::<u128>().ok().filter(|i| *i <= INT_MAX as u128) {
                Some(i) => Some(Num::Int(i as i128)),
                None => {
                    self.err(
                        Diag::error(
                            codes::INT_OVERFLOW,
                            format!("the integer {text} is too large: integers are at most 18446744073709551615 (2⁶⁴ − 1)"),
                        )
                        .at(span, "does not fit 64 bits")
                        .help("seeds and counts must lie in [0, 2⁶⁴ − 1]; for a real number, write it as a float (`1e20`)"),
                    );
                    None
                }
            };
        }
        let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
        if value == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            self.err(
                Diag::error(
                    codes::INEXACT_NUMBER,
                    format!("`{text}` is too small for a 64-bit float: it would become 0"),
                )
                .at(span, "rounds to 0")
                .help("the smallest positive 64-bit float is about 5e-324; write 0 if 0 is meant"),
            );
            return None;
        }
        Some(Num::Float(value))
    }

    /// The result of integer arithmetic, refused outside [−2⁶³, 2⁶⁴ − 1].
    fn int_result(&mut self, r: i128, span: Span, op: &str) -> Option<Num> {
        if (INT_MIN..=INT_MAX).contains(&r) {
            Some(Num::Int(r))
        } else {
            self.int_overflow(span, op);
            None
        }
    }

    fn int_overflow(&mut self, span: Span, op: &str) {
        self.err(
            Diag::error(
                codes::INT_OVERFLOW,
                format!("integer overflow: the result of {op} lies outside [−2⁶³, 2⁶⁴ − 1]"),
            )
            .at(span, "overflows")
            .help("integers are exact and at most 18446744073709551615 (2⁶⁴ − 1); for real numbers write a float operand (`2.0`)"),
        );
    }

    /// The result of float arithmetic, refused when infinite or NaN.
    fn float_result(&mut self, f: f64, span: Span, op: BinOp) -> Option<Num> {
        if f.is_finite() {
            return Some(Num::Float(f));
        }
        self.err(
            Diag::error(
                codes::NOT_FINITE,
                format!(
                    "the result of `{}` is {}: not a finite 64-bit float",
                    op.symbol(),
                    if f.is_nan() {
                        "not a number (NaN)"
                    } else {
                        "infinite"
                    }
                ),
            )
            .at(span, "not finite")
            .help("every number must be finite (at most about 1.8e308 in magnitude)"),
        );
        None
    }

    fn bad_unit<T>(&mut self, span: Span, unit: &str, expected: &str) -> Option<T> {
        self.err(
            Diag::error(
                codes::BAD_UNIT,
                format!("`{unit}` is not a unit for this value"),
            )
            .at(span, format!("expected {expected}")),
        );
        None
    }

    fn range_err(&mut self, span: Span, found: &str, expected: &str) {
        self.err(
            Diag::error(
                codes::OUT_OF_RANGE,
                format!("{found} is out of range: expected {expected}"),
            )
            .at(span, "out of range")
            .help(format!(
                "use {expected}; `lrx doc` lists every parameter's range"
            )),
        );
    }

    /// Converts a value to a parameter of type `ty` (checking type, unit and range).
    pub fn coerce(&mut self, v: &SVal, ty: &Ty, what: &str) -> Option<Value> {
        let span = v.span;
        match ty {
            Ty::Bool => match &v.v {
                Val::Bool(b) => Some(Value::Bool(*b)),
                o => self.type_err(span, "`true` or `false`", o),
            },
            Ty::Int { min, max } => {
                let i = self.exact_int(
                    v,
                    (*min).into(),
                    (*max).into(),
                    &format!("`{what}`"),
                    &ty.describe(),
                )?;
                Some(Value::Int(
                    i64::try_from(i).expect("checked against i64 bounds"),
                ))
            }
            Ty::Seed => {
                let i = self.exact_int(v, 0, INT_MAX, &format!("`{what}`"), &ty.describe())?;
                Value::from_i128(i)
            }
            Ty::Epochs { .. } => match &v.v {
                Val::Num { n, unit } if unit.is_none() || unit.as_deref() == Some("epochs") => {
                    match n.exact_int().and_then(|i| i64::try_from(i).ok()) {
                        Some(i) if ty.admits(&Value::Int(i)) => Some(Value::Int(i)),
                        _ => {
                            self.range_err(
                                span,
                                &format!("`{what}` = {}", n.key()),
                                &ty.describe(),
                            );
                            None
                        }
                    }
                }
                Val::Num { unit: Some(u), .. } => self.bad_unit(span, u, "epochs"),
                o => self.type_err(span, "a number of epochs", o),
            },
            Ty::Float { .. } | Ty::PosFloat { .. } => match &v.v {
                Val::Num { n, unit: None } => {
                    let x = Value::Float(n.f64());
                    if !ty.admits(&x) {
                        self.range_err(span, &format!("`{what}` = {}", n.key()), &ty.describe());
                        return None;
                    }
                    Some(x)
                }
                Val::Num { unit: Some(u), .. } => self.bad_unit(span, u, &ty.describe()),
                o => self.type_err(span, &ty.describe(), o),
            },
            Ty::Fraction => match &v.v {
                Val::Num { n, unit } => {
                    let f = match unit.as_deref() {
                        None => n.f64(),
                        Some("%") => n.f64() / 100.0,
                        Some(u) => return self.bad_unit(span, u, "a fraction or a percentage"),
                    };
                    if !ty.admits(&Value::Float(f)) {
                        let shown = match unit.as_deref() {
                            Some("%") => format!("{}%", n.key()),
                            _ => n.key(),
                        };
                        self.range_err(
                            span,
                            &format!("`{what}` = {shown}"),
                            "a fraction in [0, 1] (0% to 100%)",
                        );
                        return None;
                    }
                    Some(Value::Float(f))
                }
                o => self.type_err(span, "a fraction or a percentage", o),
            },
            Ty::Str => match &v.v {
                Val::Str(s) => Some(Value::Str(s.clone())),
                o => self.type_err(span, "a string in double quotes", o),
            },
            Ty::Enum(vals) => match &v.v {
                Val::Sym(s) | Val::Str(s) if vals.contains(&s.as_str()) => {
                    Some(Value::Str(s.clone()))
                }
                Val::None if vals.contains(&"none") => Some(Value::Str("none".into())),
                Val::Sym(s) | Val::Str(s) => {
                    self.err(
                        Diag::error(
                            codes::UNKNOWN_NAME,
                            format!("`{s}` is not a valid `{what}`"),
                        )
                        .at(span, "unknown value")
                        .help(suggest(s, vals)),
                    );
                    None
                }
                Val::Obj(o) if vals.contains(&o.label.as_str()) => {
                    Some(Value::Str(o.label.clone()))
                }
                Val::Obj(o) if vals.contains(&o.builtin.name) => {
                    Some(Value::Str(o.builtin.name.into()))
                }
                o => self.type_err(span, &one_of(vals), o),
            },
            Ty::IntList { min, max } => self.list(
                v,
                &Ty::Int {
                    min: *min,
                    max: *max,
                },
                what,
            ),
            Ty::FloatList { min, max } => self.list(
                v,
                &Ty::Float {
                    min: *min,
                    max: *max,
                },
                what,
            ),
            Ty::EnumList(vals) => self.list(v, &Ty::Enum(vals), what),
            Ty::OptIntList => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                let mut out = Vec::new();
                for i in &items {
                    match &i.v {
                        Val::None => out.push(Value::Str("none".into())),
                        _ => out.push(Value::Int(self.int(i, 1, i64::MAX)?)),
                    }
                }
                Some(Value::List(out))
            }
        }
    }

    fn list(&mut self, v: &SVal, item: &Ty, what: &str) -> Option<Value> {
        let items = match &v.v {
            Val::List(l) => l.clone(),
            _ => vec![v.clone()],
        };
        if items.is_empty() {
            self.err(
                Diag::error(codes::EMPTY_SWEEP, format!("`{what}` is an empty list"))
                    .at(v.span, "nothing to try")
                    .help("give at least one value"),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for i in &items {
            match self.coerce(i, item, what) {
                Some(x) => out.push(x),
                None => ok = false,
            }
        }
        ok.then_some(Value::List(out))
    }

    /// Converts a value to a builtin object of a kind (a bare name means the builtin with its
    /// default parameters).
    pub fn to_obj(&mut self, v: SVal, kind: Kind) -> Option<Obj> {
        match v.v {
            Val::Obj(o) if o.builtin.kind == kind => Some(std::rc::Rc::unwrap_or_clone(o)),
            Val::Obj(o) => {
                self.err(
                    Diag::error(
                        codes::TYPE_MISMATCH,
                        format!(
                            "expected {}, found the {} `{}`",
                            a(kind.name()),
                            o.builtin.kind.name(),
                            o.label
                        ),
                    )
                    .at(v.span, format!("not {}", a(kind.name())))
                    .help(format!(
                        "{} builtins: {}",
                        kind.name(),
                        registry::names_of(kind).join(", ")
                    )),
                );
                None
            }
            Val::Sym(s) => match registry::builtin(&s) {
                Some(b) if b.kind == kind => {
                    let mut params = BTreeMap::new();
                    let mut ok = true;
                    for p in b.params() {
                        match p.default {
                            D::Required => {
                                self.err(
                                    Diag::error(
                                        codes::MISSING_PARAM,
                                        format!("`{s}` needs `{}`", p.name),
                                    )
                                    .at(v.span, format!("`{}` is missing", p.name))
                                    .help(format!("write `{s}({} = ...)`: {}", p.name, p.doc)),
                                );
                                ok = false;
                            }
                            d => {
                                if let Some(x) = d.to_value() {
                                    params.insert(p.name.to_string(), x);
                                }
                            }
                        }
                    }
                    ok.then(|| Obj {
                        builtin: b,
                        label: s.clone(),
                        params,
                        explicit: BTreeSet::new(),
                    })
                }
                Some(b) => {
                    self.err(
                        Diag::error(
                            codes::TYPE_MISMATCH,
                            format!("`{s}` is {}, not {}", a(b.kind.name()), a(kind.name())),
                        )
                        .at(v.span, format!("expected {}", a(kind.name())))
                        .help(format!(
                            "{} builtins: {}",
                            kind.name(),
                            registry::names_of(kind).join(", ")
                        )),
                    );
                    None
                }
                None => {
                    let names = registry::names_of(kind);
                    self.err(
                        Diag::error(
                            codes::UNKNOWN_BUILTIN,
                            format!("unknown {} `{s}`", kind.name()),
                        )
                        .at(v.span, format!("not {}", a(kind.name())))
                        .help(suggest(&s, &names)),
                    );
                    None
                }
            },
            other => self.type_err(v.span, &a(kind.name()), &other),
        }
    }

    // --------------------------------------------------------------------------------------
    // Observables blocks

    /// `observables name { weight { functions = [...], statistics = [...] } ... }` or the
    /// same entries inline in `observe`.
    pub fn observables_block(&mut self, b: &Block, module: usize) -> Option<Vec<Observable>> {
        let mut out = Vec::new();
        let mut ok = true;
        for e in &b.entries {
            match e {
                Entry::Nested(m) => match self.measure_block(m, module) {
                    Some(v) => out.extend(v),
                    None => ok = false,
                },
                other => {
                    self.err(
                        Diag::error(
                            codes::UNKNOWN_KEY,
                            "an `observables` block holds one block per measure",
                        )
                        .at(other.span(), "not a measure block")
                        .help(
                            "write `weight { functions = [raw, abs], statistics = [mean, norm] }`",
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    pub fn measure_block(&mut self, m: &Block, module: usize) -> Option<Vec<Observable>> {
        let Some(measure) = registry::measure(&m.kind.node) else {
            self.err(
                Diag::error(
                    codes::UNKNOWN_NAME,
                    format!("unknown measure `{}`", m.kind.node),
                )
                .at(m.kind.span, "not a measure")
                .help(suggest(
                    &m.kind.node,
                    &["weight", "act", "gradavg", "activation", "activity_change"],
                )),
            );
            return None;
        };
        let stats_allowed: &[&str] = if measure == "gradavg" {
            registry::GRADAVG_STATISTICS
        } else {
            registry::STATISTICS
        };
        let mut functions: Vec<String> =
            registry::FUNCTIONS.iter().map(|s| s.to_string()).collect();
        let mut statistics: Vec<String> = stats_allowed.iter().map(|s| s.to_string()).collect();
        let mut ok = true;
        for e in &m.entries {
            let Entry::Setting { targets, value, .. } = e else {
                self.err(
                    Diag::error(
                        codes::UNKNOWN_KEY,
                        "expected `functions = [...]` or `statistics = [...]`",
                    )
                    .at(e.span(), "here"),
                );
                ok = false;
                continue;
            };
            let key = &targets[0];
            let allowed = match key.node.as_str() {
                "functions" => registry::FUNCTIONS,
                "statistics" => stats_allowed,
                _ => {
                    self.err(
                        Diag::error(
                            codes::UNKNOWN_KEY,
                            format!("unknown key `{}` in a measure block", key.node),
                        )
                        .at(key.span, "unknown key")
                        .help(suggest(&key.node, &["functions", "statistics"])),
                    );
                    ok = false;
                    continue;
                }
            };
            let Some(v) = self.eval(value, module, &Vec::new()) else {
                ok = false;
                continue;
            };
            match self.coerce(&v, &Ty::EnumList(allowed), &key.node) {
                Some(Value::List(l)) => {
                    let l: Vec<String> = l
                        .iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect();
                    if key.node == "functions" {
                        functions = l;
                    } else {
                        statistics = l;
                    }
                }
                _ => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let mut out = Vec::new();
        for f in &functions {
            for s in &statistics {
                out.push(Observable {
                    measure: measure.into(),
                    function: f.clone(),
                    statistic: s.clone(),
                });
            }
        }
        Some(out)
    }
}

/// The run factors a filter, holdout or target may name.
pub const FACTORS: &[&str] = &[
    "task",
    "arch",
    "rule",
    "lr",
    "batch",
    "epochs",
    "weight_decay",
    "model_seed",
    "data_seed",
];

pub fn value_to_val(v: &Value) -> Val {
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
pub fn a(noun: &str) -> String {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {noun}")
    } else {
        format!("a {noun}")
    }
}
