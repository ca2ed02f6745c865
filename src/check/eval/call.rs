//! Calls of builtins and presets, bound against the builtin's schema (positional and named
//! arguments, defaults, required parameters), and factor names.

use super::{Bindings, Eval, HELPERS, key_display};
use crate::check::val::{Obj, SVal, Val};
use crate::diag::{Diag, codes, did_you_mean, suggest};
use crate::registry::schema::{Default as D, Param};
use crate::registry::{self, Builtin};
use crate::source::{Span, Spanned};
use crate::syntax::ast::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The state of binding a call's arguments to the parameters of its builtin.
struct Binding {
    /// The parameters an argument can fill by position.
    positional: Vec<&'static Param>,
    /// The next positional parameter.
    pos_i: usize,
    ok: bool,
    seen: HashMap<&'static str, Span>,
    /// Parameters whose argument was given but failed (or was misspelled): their error is
    /// reported, so a "needs `x`" for them would only be a follow-on.
    failed: HashSet<&'static str>,
    /// `name=value` of the arguments given, for the label.
    shown: Vec<String>,
}

impl Eval<'_> {
    pub(super) fn call(
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
        let (builtin, base, label_base) = self.callee(callee, args, module, vars)?;
        let mut obj = match base {
            Some(o) => o,
            None => Obj {
                builtin,
                label: label_base.clone(),
                params: BTreeMap::new(),
                explicit: BTreeSet::new(),
            },
        };
        let mut b = Binding {
            positional: builtin
                .params()
                .filter(|p| p.default != D::FromTask)
                .collect(),
            pos_i: 0,
            ok: true,
            seen: HashMap::new(),
            failed: HashSet::new(),
            shown: Vec::new(),
        };
        for a in args {
            self.bind_arg(builtin, a, &mut obj, &mut b, module, vars);
        }
        b.ok &= self.fill_defaults(builtin, &mut obj, &b.failed, span);
        if !b.ok {
            return None;
        }
        if !b.shown.is_empty() {
            b.shown.sort();
            obj.label = format!("{label_base}({})", b.shown.join(","));
        }
        Some(SVal::new(Val::Obj(std::rc::Rc::new(obj)), span))
    }

    /// What a call calls: its builtin, the preset object it overrides (if any) and the label
    /// to start from. `None` (reported) when the callee is neither a builtin nor a preset.
    fn callee(
        &mut self,
        callee: &Spanned<Vec<String>>,
        args: &[Arg],
        module: usize,
        vars: &Bindings,
    ) -> Option<(&'static Builtin, Option<Obj>, String)> {
        let segs = &callee.node;
        // A preset (definition) called with overrides: `paper.sgdm(momentum = 0.5)`.
        // Inside `rule sgdm = sgdm(...)` the callee is the builtin, not the definition itself.
        let self_ref = self.in_progress.contains(&(module, segs[0].clone()));
        let is_def = !self_ref
            && (self.modules[module].defs.contains_key(&segs[0])
                || self.modules[module].imports.contains_key(&segs[0]));
        if is_def {
            let v = self.path(segs, callee.span, module, vars)?;
            return match v.v {
                Val::Obj(o) => Some((o.builtin, Some((*o).clone()), o.label.clone())),
                other => self.type_err(callee.span, "a builtin or preset to call", &other),
            };
        }
        if segs.len() != 1 {
            self.path(segs, callee.span, module, vars)?;
            return None;
        }
        if let Some(b) = registry::builtin(&segs[0]) {
            return Some((b, None, b.name.to_string()));
        }
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
        None
    }

    /// Binds one argument of a call to its parameter, checked and coerced to the parameter's
    /// type; what does not fit is reported and clears `b.ok`.
    fn bind_arg(
        &mut self,
        builtin: &'static Builtin,
        a: &Arg,
        obj: &mut Obj,
        b: &mut Binding,
        module: usize,
        vars: &Bindings,
    ) {
        let Some((param, value, is_axis, name_span)) = self.arg_param(builtin, a, b, module, vars)
        else {
            b.ok = false;
            return;
        };
        if let Some(first) = b.seen.insert(param.name, name_span) {
            self.err(
                Diag::error(
                    codes::DUPLICATE,
                    format!("parameter `{}` is given twice", param.name),
                )
                .at(name_span, "given again here")
                .related(first, "first given here"),
            );
            b.ok = false;
            return;
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
            b.ok = false;
            return;
        }
        if is_axis && !param.ty.is_list() {
            self.err(
                Diag::error(codes::AXIS_NOT_ALLOWED, format!("`{}` takes one value, not a grid", param.name))
                    .at(name_span, "`in` is only for grid parameters")
                    .help(format!("write `{} = value`; to sweep it, sweep the whole builtin: `x in [{}(...), {}(...)]`", param.name, builtin.name, builtin.name)),
            );
            b.ok = false;
            b.failed.insert(param.name);
            return;
        }
        let Some(v) = self.eval(value, module, vars) else {
            b.failed.insert(param.name);
            b.ok = false;
            return;
        };
        match self.coerce(&v, &param.ty, param.name) {
            Some(val) => {
                b.shown
                    .push(format!("{}={}", param.name, key_display(&v.v)));
                obj.params.insert(param.name.to_string(), val);
                obj.explicit.insert(param.name.to_string());
            }
            None => {
                b.failed.insert(param.name);
                b.ok = false;
            }
        }
    }

    /// The parameter an argument fills (by position or by name), its value, whether it is
    /// written as an axis (`name in ...`), and the span to report it at. `None` (reported) for
    /// an extra positional argument or an unknown name.
    fn arg_param<'a>(
        &mut self,
        builtin: &'static Builtin,
        a: &'a Arg,
        b: &mut Binding,
        module: usize,
        vars: &Bindings,
    ) -> Option<(&'static Param, &'a Expr, bool, Span)> {
        match a {
            Arg::Positional { value } => {
                let Some(&p) = b.positional.get(b.pos_i) else {
                    self.err(
                        Diag::error(
                            codes::BAD_ARGUMENT,
                            format!(
                                "`{}` takes at most {} positional arguments",
                                builtin.name,
                                b.positional.len()
                            ),
                        )
                        .at(value.span, "extra argument")
                        .help("name the parameter: `name = value`"),
                    );
                    return None;
                };
                b.pos_i += 1;
                Some((p, value, false, value.span))
            }
            Arg::Named { name, value }
            | Arg::Axis {
                name,
                values: value,
            } => {
                let is_axis = matches!(a, Arg::Axis { .. });
                if let Some(p) = builtin.param(&name.node) {
                    return Some((p, value, is_axis, name.span));
                }
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
                                b.failed.insert(p.name);
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
                None
            }
        }
    }

    /// Fills the defaults of the parameters not given, and reports the required ones missing
    /// (not those whose argument failed). Returns whether none was missing.
    fn fill_defaults(
        &mut self,
        builtin: &'static Builtin,
        obj: &mut Obj,
        failed: &HashSet<&'static str>,
        span: Span,
    ) -> bool {
        let mut ok = true;
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
        ok
    }

    pub(super) fn helper_usage<T>(&mut self, span: Span, usage: &str) -> Option<T> {
        self.err(
            Diag::error(codes::BAD_ARGUMENT, "wrong arguments")
                .at(span, "here")
                .help(format!("usage: {usage}")),
        );
        None
    }

    /// A factor name: a bare name among the run factors.
    pub(crate) fn factor_name(&mut self, v: &SVal) -> Option<crate::ir::Factor> {
        let name = match &v.v {
            Val::Sym(s) => s.clone(),
            Val::Obj(o) => {
                // `rule` may resolve to nothing else, but `task`/`arch` could be user definitions.
                o.label.clone()
            }
            o => return self.type_err(v.span, "a factor name", o),
        };
        let f = crate::ir::Factor::parse(&name);
        if f.is_none() {
            self.err(
                Diag::error(codes::UNKNOWN_NAME, format!("`{name}` is not a run factor"))
                    .at(v.span, "not a factor")
                    .help(suggest(&name, crate::ir::Factor::NAMES)),
            );
        }
        f
    }
}
