//! One concrete training point from the bound keys of a sweep: task, architecture and rule
//! (resolved once per shared object), numbers, schedule and checkpoints.

use crate::check::eval::{Bindings, Eval, Interned};
use crate::check::val::{Obj, SVal, Val};
use crate::diag::{Diag, codes};
use crate::ir::{self, Named};
use crate::registry::{self, Kind, schema::Ty};
use crate::source::Span;
use crate::value::{Call, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

/// Most training epochs a run may have (each one can be a checkpoint).
pub const MAX_EPOCHS: i64 = 100_000;

impl Eval<'_> {
    fn get<'a>(vars: &'a Bindings, k: &str) -> Option<&'a SVal> {
        vars.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v)
    }

    fn named(&mut self, vars: &Bindings, key: &str, kind: Kind) -> Option<(Obj, Span)> {
        let v = Self::get(vars, key)?.clone();
        let span = v.span;
        self.coerce_obj(v, kind).map(|o| (o, span))
    }

    /// A point's schedule, resolved once per schedule object (and once for the default,
    /// `constant`, under the key `(0, 1)`, which no object has).
    fn schedule(&mut self, v: Option<&SVal>) -> Option<Arc<Call>> {
        let rc = match v.map(|v| &v.v) {
            Some(Val::Obj(o)) => Some(o.clone()),
            _ => None,
        };
        let key = (rc.as_ref().map_or(0, |o| Rc::as_ptr(o) as usize), 1);
        if v.is_none() || rc.is_some() {
            if let Some(i) = self.interned.get(&key) {
                return Some(i.call.clone());
            }
        }
        let obj = match v {
            None => Obj {
                builtin: registry::builtin("constant")?,
                label: "constant".into(),
                params: BTreeMap::new(),
                explicit: BTreeSet::new(),
            },
            Some(v) => self.coerce_obj(v.clone(), Kind::Schedule)?,
        };
        let call = Arc::new(Call {
            name: obj.builtin.name.into(),
            params: obj.params,
        });
        if v.is_none() || rc.is_some() {
            self.interned.insert(
                key,
                Interned {
                    label: obj.label,
                    call: call.clone(),
                    span: v.map(|v| v.span),
                    _pins: [rc, None],
                },
            );
        }
        Some(call)
    }

    /// Builds one concrete training point from the bound keys.
    pub(super) fn point(&mut self, vars: &Bindings) -> Option<ir::Point> {
        // The same task, architecture and rule objects recur in many points: their resolved
        // calls are built once and shared (a 100,000-run sweep must stay fast).
        let rc = |k: &str| match Self::get(vars, k).map(|v| &v.v) {
            Some(Val::Obj(o)) => Some(o.clone()),
            _ => None,
        };
        let pins = [rc("task"), rc("arch"), rc("rule")];
        let cached = self.cached_factors(&pins);
        let objs = if cached.is_none() {
            let task = self.named(vars, "task", Kind::Task);
            let arch = self.named(vars, "arch", Kind::Arch);
            let rule = self.named(vars, "rule", Kind::Rule);
            Some((task, arch, rule))
        } else {
            None
        };
        let num = |s: &mut Self, k: &str, ty: Ty| -> Option<Option<Value>> {
            match Self::get(vars, k) {
                None => Some(None),
                Some(v) => {
                    let v = v.clone();
                    s.coerce(&v, &ty, k).map(Some)
                }
            }
        };
        let lr = num(self, "lr", Ty::PosFloat { max: 1e6 });
        let batch = num(
            self,
            "batch",
            Ty::Int {
                min: 1,
                max: 1 << 24,
            },
        );
        let epochs = num(self, "epochs", Ty::Epochs { min: 1 });
        let wd = num(self, "weight_decay", Ty::Float { min: 0.0, max: 1e3 });
        let ms = num(self, "model_seed", Ty::Seed);
        let ds = num(self, "data_seed", Ty::Seed);
        let schedule = self.schedule(Self::get(vars, "schedule"));
        let (lr, batch, epochs) = (lr??.as_f64()?, batch??.as_i64()?, epochs??.as_i64()?);
        // Every epoch is a checkpoint by default: an unbounded count would allocate that many.
        if epochs > MAX_EPOCHS {
            let s = Self::get(vars, "epochs").map(|v| v.span)?;
            self.err(
                Diag::error(
                    codes::OUT_OF_RANGE,
                    format!("{epochs} epochs is out of range: expected at most {MAX_EPOCHS}"),
                )
                .at(s, "too many epochs")
                .help(format!("train for 1 to {MAX_EPOCHS} epochs")),
            );
            return None;
        }
        let weight_decay = wd?.and_then(|v| v.as_f64()).unwrap_or(0.0);
        let model_seed = ms?.and_then(|v| v.as_u64()).unwrap_or(0);
        let data_seed = ds?.and_then(|v| v.as_u64()).unwrap_or(0);
        let schedule = schedule?;
        let checkpoints = self.checkpoints(vars, epochs)?;
        let [task, arch, rule] = match cached {
            Some(c) => c,
            None => {
                let (task, arch, rule) = objs?;
                self.resolve_factors((task?, arch?, rule?), &pins)?
            }
        };
        Some(ir::Point {
            hyper: ir::Hyper {
                task,
                arch,
                rule,
                lr,
                batch,
                epochs,
                checkpoints,
                weight_decay,
                schedule,
                model_seed,
                data_seed,
            },
        })
    }

    /// The task, architecture and rule of a point whose three objects (`pins`) were all
    /// resolved before, if they were.
    fn cached_factors(&self, pins: &[Option<Rc<Obj>>; 3]) -> Option<[Named; 3]> {
        let [rt, ra, rr] = pins;
        if rt.is_none() || ra.is_none() || rr.is_none() {
            return None;
        }
        let get = |k| {
            self.interned.get(&k).map(|e: &Interned| Named {
                label: e.label.clone(),
                call: e.call.clone(),
                origin: e.span,
            })
        };
        match (get(key(rt, &None)), get(key(ra, rt)), get(key(rr, &None))) {
            (Some(t), Some(a), Some(r)) => Some([t, a, r]),
            _ => None,
        }
    }

    /// A point's checkpoints: every epoch by default, `every(k)`, or a list of epochs.
    fn checkpoints(&mut self, vars: &Bindings, epochs: i64) -> Option<Vec<i64>> {
        Some(match Self::get(vars, "checkpoint").cloned() {
            None => (0..=epochs).collect(),
            Some(SVal {
                v: Val::Every(k),
                span,
            }) => {
                if k > epochs {
                    self.err(
                        Diag::warning(
                            codes::CHECKPOINT_PERIOD,
                            format!(
                                "a checkpoint every {k} epochs in a {epochs}-epoch run records only epoch 0"
                            ),
                        )
                        .at(span, "longer than training")
                        .help(format!(
                            "the features would be those of the untrained network; use a period of at most {epochs} epochs, e.g. `every(1 epoch)`"
                        )),
                    );
                }
                (0..=epochs).step_by(k as usize).collect()
            }
            Some(v) => {
                match self.coerce(
                    &v,
                    &Ty::IntList {
                        min: 0,
                        max: i64::MAX,
                    },
                    "checkpoint",
                ) {
                    Some(Value::List(l)) => {
                        let mut c: Vec<i64> = l.iter().filter_map(Value::as_i64).collect();
                        c.sort_unstable();
                        c.dedup();
                        if let Some(bad) = c.iter().find(|&&e| e > epochs) {
                            self.err(Diag::error(codes::OUT_OF_RANGE, format!("checkpoint at epoch {bad} is after the last epoch ({epochs})")).at(v.span, "here"));
                            return None;
                        }
                        c
                    }
                    _ => return None,
                }
            }
        })
    }

    /// Resolves a point's task, architecture (its inputs filled from the task) and rule, checks
    /// that they fit together, and interns their calls for the points that share the objects
    /// (`pins`).
    fn resolve_factors(
        &mut self,
        objs: ((Obj, Span), (Obj, Span), (Obj, Span)),
        pins: &[Option<Rc<Obj>>; 3],
    ) -> Option<[Named; 3]> {
        let ((task, tspan), (mut arch, aspan), (rule, rspan)) = objs;
        self.warn_missing_data(&task, tspan);
        self.arch_inputs(&task, &mut arch, tspan, aspan)?;
        self.check_top_feedback(&task, &arch, &rule, aspan, rspan)?;
        self.warn_cap_outrun(&rule, rspan);
        let named = |o: Obj, s: Span| Named {
            label: o.label.clone(),
            call: std::sync::Arc::new(Call {
                name: o.builtin.name.into(),
                params: o.params,
            }),
            origin: Some(s),
        };
        let (t, a, r) = (named(task, tspan), named(arch, aspan), named(rule, rspan));
        let [rt, ra, rr] = pins;
        for (k, n, pins) in [
            (key(rt, &None), &t, [rt.clone(), None]),
            (key(ra, rt), &a, [ra.clone(), rt.clone()]),
            (key(rr, &None), &r, [rr.clone(), None]),
        ] {
            if pins[0].is_some() {
                self.interned.insert(
                    k,
                    Interned {
                        label: n.label.clone(),
                        call: n.call.clone(),
                        span: n.origin,
                        _pins: pins,
                    },
                );
            }
        }
        Some([t, a, r])
    }

    /// Fills the architecture's inputs (size, channels, classes, width) from the task, and
    /// checks that the architecture takes inputs of that size.
    fn arch_inputs(&mut self, task: &Obj, arch: &mut Obj, tspan: Span, aspan: Span) -> Option<()> {
        // Architecture inputs come from the task.
        let audio = crate::registry::cochlea::is_audio_task(task.builtin.name);
        let int = |k: &str, d: i64| task.params.get(k).and_then(Value::as_i64).unwrap_or(d);
        let (size, channels, classes) = match task.builtin.name {
            "cifar10" => (32, 3, 10),
            "fashion_mnist" => (int("size", 28), 1, 10),
            "idx_images" => (int("size", 28), 1, int("classes", 10)),
            _ if audio => {
                let call = crate::value::Call {
                    name: task.builtin.name.to_string(),
                    params: task.params.clone(),
                };
                let p = crate::registry::cochlea::CochleaParams::from_call(&call);
                if let Some((param, msg)) = p.problems().into_iter().next() {
                    self.err(
                        Diag::error(
                            codes::OUT_OF_RANGE,
                            format!(
                                "the task `{}` has a bad cochleagram `{param}`: {msg}",
                                task.label
                            ),
                        )
                        .at(tspan, "this task"),
                    );
                    return None;
                }
                // Non-square inputs carry `input_width` (as `Task::fill_arch` does).
                let (rows, frames) = (p.n_filters() as i64, p.frames() as i64);
                if frames != rows {
                    arch.params.insert("input_width".into(), Value::Int(frames));
                }
                (rows, 1, call.i64("classes").unwrap_or(10))
            }
            _ => (
                task.params
                    .get("size")
                    .and_then(Value::as_i64)
                    .unwrap_or(32),
                task.params
                    .get("channels")
                    .and_then(Value::as_i64)
                    .unwrap_or(3),
                task.params
                    .get("classes")
                    .and_then(Value::as_i64)
                    .unwrap_or(10),
            ),
        };
        arch.params.insert("input_size".into(), Value::Int(size));
        arch.params
            .insert("in_channels".into(), Value::Int(channels));
        arch.params.insert("classes".into(), Value::Int(classes));
        let width = arch
            .params
            .get("input_width")
            .and_then(Value::as_i64)
            .unwrap_or(size);
        let min_side = width.min(size);
        let shape = if width == size {
            format!("{size}")
        } else {
            format!("{size}×{width}")
        };
        if arch.builtin.name == "alexnet" && min_side < 67 {
            self.err(
                Diag::error(
                    codes::OUT_OF_RANGE,
                    format!(
                        "AlexNet needs inputs of at least 67 pixels; the task `{}` has {shape}",
                        task.label
                    ),
                )
                .at(aspan, "too small an input for this architecture")
                .related(tspan, "the task"),
            );
            return None;
        }
        Some(())
    }

    /// A warning when IA's `b_step_cap` runs with W stepped by Adam and without
    /// `b_step_recheck`: Adam moves W at its own pace whatever the gradient's scale, so from a
    /// small init W (and the null term's curvature) can grow by orders of magnitude between two
    /// of the cap's scheduled estimates and B diverge unseen (docs/learning.md "Session 19").
    fn warn_cap_outrun(&mut self, rule: &Obj, rspan: Span) {
        let num = |k: &str| rule.params.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let adam_w = rule.params.get("optimizer").and_then(Value::as_str) == Some("adam");
        if rule.builtin.name != "ia"
            || num("b_step_cap") <= 0.0
            || num("b_step_recheck") > 0.0
            || !adam_w
        {
            return;
        }
        if !self.warned_once.insert(format!("rule:{:?}", rule.params)) {
            return;
        }
        self.err(
            Diag::warning(
                codes::CAP_OUTRUN,
                "`b_step_cap` with W stepped by Adam: W can outgrow the cap's curvature estimate between two of its 50-step re-estimates",
            )
            .at(rspan, "this rule")
            .help("add `b_step_recheck = 2` (re-estimate a layer whose output energy has doubled since its last estimate); without it B diverged in the paper's KNet4 setting (docs/learning.md, session 19)"),
        );
    }

    /// `top_feedback = shared` needs a classifier reading a flattened C×H×W map
    /// (`models::Model::with_backward`).
    fn check_top_feedback(
        &mut self,
        task: &Obj,
        arch: &Obj,
        rule: &Obj,
        aspan: Span,
        rspan: Span,
    ) -> Option<()> {
        if rule.params.get("top_feedback").and_then(Value::as_str) != Some("shared") {
            return Some(());
        }
        let why = if !matches!(arch.builtin.name, "knet4" | "knet5") {
            Some(format!(
                "`{}`'s classifier does not read a flattened C×H×W map (only knet4's and knet5's do)",
                arch.builtin.name
            ))
        } else if task.params.get("objective").and_then(Value::as_str) == Some("contrastive") {
            Some("the contrastive objective has no classifier".into())
        } else if rule.params.get("backward_init").and_then(Value::as_str) == Some("same_draws") {
            Some("`backward_init = same_draws` gives B W's draws, which are not shared over positions".into())
        } else {
            None
        };
        if let Some(why) = why {
            self.err(
                Diag::error(
                    codes::OUT_OF_RANGE,
                    format!("`top_feedback = shared` cannot be used here: {why}"),
                )
                .at(rspan, "this rule")
                .related(aspan, "the architecture")
                .help("use `top_feedback = random` (the default)"),
            );
            return None;
        }
        Some(())
    }
}

/// The key a shared object's resolved call is interned under: the object's address, and that
/// of the object it depends on (an architecture's task), 0 for none.
fn key(a: &Option<Rc<Obj>>, b: &Option<Rc<Obj>>) -> (usize, usize) {
    (
        a.as_ref().map_or(0, |x| Rc::as_ptr(x) as usize),
        b.as_ref().map_or(0, |x| Rc::as_ptr(x) as usize),
    )
}
