//! Warnings about the data of the tasks: validation stimuli asked for beyond a task's set, and
//! data paths that do not exist here.

use super::factors::FactorObjects;
use crate::check::eval::{DefBody, Eval};
use crate::check::val::Obj;
use crate::diag::{Diag, codes};
use crate::source::Span;
use crate::syntax::ast::{Arg, ExprKind};
use crate::value::Value;

impl Eval<'_> {
    /// Warns when `stimuli` asks for more validation stimuli than a task has (every run then
    /// observes the whole validation set). Folder tasks are only counted when read.
    pub(super) fn check_stimuli(&mut self, stimuli: i64, span: Span, objects: &FactorObjects) {
        if stimuli <= 0 {
            return;
        }
        for (f, n) in &objects.objs {
            if *f != "task"
                || !matches!(
                    n.call.name.as_str(),
                    "synthetic_images" | "synthetic_audio" | "cifar10"
                )
            {
                continue;
            }
            let (_, val) = crate::registry::tasks::task_sizes(&n.call);
            if (stimuli as f64) > val {
                let val = val as i64;
                let mut d = Diag::warning(
                    codes::STIMULI_EXCEED_VAL,
                    format!(
                        "{stimuli} stimuli asked for, but the task `{}` has {val} validation stimuli",
                        n.label
                    ),
                )
                .at(span, "more than the validation set")
                .help(format!(
                    "every run observes all {val}; write `stimuli = val({val})`, or `val()` for the whole set"
                ));
                if let Some(o) = n.origin {
                    d = d.related(o, "this task");
                }
                self.err(d);
            }
        }
    }

    /// Warns about data paths (`path`, `val_path`) of the tasks that do not exist here
    /// (relative paths are relative to the working directory). A warning, not an error: a
    /// spec is often checked on one machine and run on another that has the data.
    pub(super) fn check_data_paths(&mut self, objects: &FactorObjects) {
        for (f, n) in &objects.objs {
            // IDX tasks are looked up file by file (`warn_missing_data`).
            if *f != "task" || matches!(n.call.name.as_str(), "fashion_mnist" | "idx_images") {
                continue;
            }
            for key in ["path", "val_path"] {
                let Some(Value::Str(p)) = n.call.params.get(key) else {
                    continue;
                };
                if p.is_empty() || std::path::Path::new(p).exists() {
                    continue;
                }
                let span = self.def_arg_span(&n.label, key).or(n.origin);
                let mut d = Diag::warning(
                    codes::DATA_MISSING,
                    format!("the data path `{p}` of the task `{}` does not exist", n.label),
                )
                .help(format!(
                    "`lrx run` will fail here without it; check the path (relative paths are relative to the directory lrx runs in){}",
                    if key == "path" { "" } else { ", or leave `val_path` empty to hold out part of `path`" }
                ));
                if let Some(s) = span {
                    d = d.at(s, "no such file or directory");
                }
                self.err(d);
            }
        }
    }

    /// The span of a named argument of a definition's call, e.g. `path = ...` in
    /// `task cifar = cifar10(path = ...)`, looked up in every loaded module.
    fn def_arg_span(&self, def: &str, arg: &str) -> Option<Span> {
        for m in &self.modules {
            let Some(d) = m.defs.get(def) else {
                continue;
            };
            let DefBody::Value { expr, .. } = &d.body else {
                continue;
            };
            let ExprKind::Call { args, .. } = &expr.kind else {
                continue;
            };
            for a in args {
                if let Arg::Named { name, value } = a {
                    if name.node == arg {
                        return Some(value.span);
                    }
                }
            }
        }
        None
    }

    /// A warning when a task's data is not where its call says (`idx::data_path_problem`;
    /// looked up once per distinct call, however many sweep points share it).
    pub(super) fn warn_missing_data(&mut self, task: &Obj, span: Span) {
        let key = format!("data:{}{:?}", task.builtin.name, task.params);
        if !self.warned_once.insert(key) {
            return;
        }
        if let Some(p) = crate::idx::data_path_problem(task.builtin.name, &task.params) {
            self.err(
                Diag::warning(codes::DATA_MISSING, p.message)
                    .at(span, format!("this task reads its data from `{}`", p.param))
                    .help(p.help),
            );
        }
    }
}
