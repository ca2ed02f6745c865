//! Names: definitions (evaluated lazily and memoised, cycles reported), paths through sweep
//! variables, definitions and imports, and attributes of builtin objects.

use super::{Bindings, BlockKey, DefBody, Eval, value_to_val};
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes, did_you_mean, suggest};
use crate::registry::Kind;
use crate::source::{Span, Spanned};

impl Eval<'_> {
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
        let obj = self.coerce_obj(v, k)?;
        let mut o = obj;
        o.label = name.node.clone();
        Some(SVal::new(Val::Obj(std::rc::Rc::new(o)), name.span))
    }

    /// Resolves a path: sweep variable, definition, import, literal or bare name.
    pub(crate) fn path(
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
            return self.import_path(head, rest, span, m);
        } else if let Some(k) = self.block_keys.get(head).copied() {
            self.used_before_declared(head, k, span);
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

    /// A path into an imported module `head` (module index `m`): the rest of the path names
    /// one of its definitions.
    fn import_path(&mut self, head: &str, rest: &[String], span: Span, m: usize) -> Option<SVal> {
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
        if !self.modules[m].defs.contains_key(next) && !self.modules[m].imports.contains_key(next) {
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
        self.path(rest, span, m, &Vec::new())
    }

    /// Reports the use of a key of the `train` block before (or in) its declaration, unless
    /// the key is poisoned (its own expression failed: the use is a follow-on).
    fn used_before_declared(&mut self, head: &str, k: BlockKey, span: Span) {
        if k.poisoned {
            return;
        }
        let own =
            k.entry.source == span.source && k.entry.start <= span.start && span.end <= k.entry.end;
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
}
