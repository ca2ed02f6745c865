//! The `classify` block: targets, measures, classifiers, splits, holdouts, the trajectory grid,
//! portions and the options of the classification stage.

use super::factors::varies;
use super::keys::{CLASSIFY_KEYS, TRAJECTORY_KEYS};
use super::settings::Settings;
use crate::check::eval::Eval;
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes, suggest};
use crate::ir::{self, Named};
use crate::registry::{self, Kind, schema::Ty};
use crate::syntax::ast::Block;
use crate::value::{Call, Value};

impl Eval<'_> {
    pub(super) fn classify(
        &mut self,
        b: &Block,
        module: usize,
        points: &[&ir::Point],
        observe: Option<&ir::Observe>,
        has_realism: bool,
        study_seed: u64,
    ) -> Option<ir::Classify> {
        let s = self.settings(b, module, CLASSIFY_KEYS, &["trajectory"], false);
        let mut ok = true;
        let targets = self.targets(&s, b, points, &mut ok);
        let measures = self.measures(&s, &mut ok);
        let models = self.models(&s, b, &mut ok);
        let obj_or = |s2: &mut Self, key: &str, default: &str, kind: Kind| -> Option<Call> {
            let v = s2
                .scalar(&s, key)
                .unwrap_or_else(|| SVal::new(Val::Sym(default.into()), b.kind.span));
            s2.coerce_obj(v, kind).map(|o| Call {
                name: o.builtin.name.into(),
                params: o.params,
            })
        };
        let splits = obj_or(self, "splits", "balanced", Kind::Split);
        let cv = obj_or(self, "cv", "stratified_kfold", Kind::Cv);
        let holdouts = self.holdouts(&s, points, &targets, &mut ok);
        // trajectory
        let t_min = points
            .iter()
            .map(|p| p.checkpoints.len() as i64)
            .min()
            .unwrap_or(0);
        let trajectory = self.trajectory(&s, module, t_min, &mut ok);
        let portions = self.portions(&s, b, t_min, &mut ok);
        let boolean = |s2: &mut Self, k: &str, d: bool| match s2.typed(&s, k, Ty::Bool) {
            Some(Value::Bool(x)) => x,
            _ => d,
        };
        let average = boolean(self, "average", false);
        let zscore = boolean(self, "zscore", false);
        let realism = boolean(self, "realism", has_realism);
        if realism && !has_realism {
            let span = s.values.get("realism").map_or(b.kind.span, |x| x.1);
            self.err(
                Diag::error(
                    codes::MISSING_BLOCK,
                    "`realism = true` needs a `realism` block",
                )
                .at(span, "here")
                .help("add `realism { noise = awgn(sigma in [0, 1]) units in [10%, 100%] }`"),
            );
            ok = false;
        }
        // matched: the matched-performance control's tolerance on final validation accuracy.
        let matched = match self.typed(&s, "matched", Ty::Fraction) {
            Some(Value::Float(x)) => Some(x),
            _ => None,
        };
        let save = matches!(self.typed(&s, "save", Ty::Bool), Some(Value::Bool(true)));
        let seed = match self.typed(&s, "seed", Ty::Seed).and_then(|v| v.as_u64()) {
            Some(x) => x,
            // Defaults to the study's seed, so `study { seed = ... }` moves the splits.
            None => study_seed,
        };
        if let Some(obs) = observe {
            self.check_pca(obs, &models, &measures, t_min, b, &mut ok);
        }
        let analysis_models = self.analysis_models(&s, &models, &mut ok);
        if !ok {
            return None;
        }
        Some(ir::Classify {
            analysis_models,
            matched,
            targets,
            measures,
            models,
            splits: splits?,
            cv: cv?,
            holdouts,
            trajectory,
            portions,
            average,
            zscore,
            seed,
            realism,
            save,
        })
    }

    /// `targets`: the factors to classify (`rule` by default), each of which must vary.
    fn targets(
        &mut self,
        s: &Settings,
        b: &Block,
        points: &[&ir::Point],
        ok: &mut bool,
    ) -> Vec<ir::Target> {
        let mut targets = Vec::new();
        let mut target_spans = Vec::new();
        match s.values.get("targets").map(|x| x.0.clone()) {
            None => {
                targets.push(ir::Target::All {
                    factor: ir::Factor::Rule,
                });
                target_spans.push(b.kind.span);
            }
            Some(v) => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                *ok &= self.non_empty(&items, "targets", v.span, "targets = [rule, pairs(rule)]");
                for i in items {
                    match &i.v {
                        Val::Pairs(f) => {
                            targets.push(ir::Target::Pairs { factor: *f });
                            target_spans.push(i.span);
                        }
                        _ => match self.factor_name(&i) {
                            Some(f) => {
                                targets.push(ir::Target::All { factor: f });
                                target_spans.push(i.span);
                            }
                            None => *ok = false,
                        },
                    }
                }
            }
        }
        // A target needs two classes.
        for (t, span) in targets.iter().zip(&target_spans) {
            let (ir::Target::All { factor } | ir::Target::Pairs { factor }) = t;
            if points.is_empty() || varies(points, std::slice::from_ref(factor)) {
                continue;
            }
            let value = points[0].factor(*factor);
            self.err(
                Diag::error(
                    codes::TARGET_NOT_VARIED,
                    format!("cannot classify `{factor}`: every run has `{factor}` = `{value}`"),
                )
                .at(*span, "only one class")
                .help(format!(
                    "a target needs at least two values; sweep it (`{factor} in [...]`) or classify a factor the sweeps vary"
                )),
            );
            *ok = false;
        }
        targets
    }

    /// `measures`: the measure subsets to classify by (`all` by default).
    fn measures(&mut self, s: &Settings, ok: &mut bool) -> Vec<String> {
        match s.values.get("measures").map(|x| x.0.clone()) {
            None => vec!["all".into()],
            Some(v) => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                *ok &= self.non_empty(
                    &items,
                    "measures",
                    v.span,
                    "measures in [weight, act, gradavg, all]",
                );
                let mut out = Vec::new();
                for i in items {
                    let name = match &i.v {
                        Val::Sym(x) | Val::Str(x) => x.clone(),
                        o => {
                            self.type_err::<()>(i.span, "a measure subset", o);
                            *ok = false;
                            continue;
                        }
                    };
                    match (name.as_str(), registry::measure(&name)) {
                        ("all", _) => out.push("all".to_string()),
                        // Task performance alone (validation accuracy and loss at each
                        // checkpoint): the performance-only baseline (docs/classify.md).
                        ("perf", _) => out.push("perf".to_string()),
                        (_, Some(m)) => out.push(m.to_string()),
                        _ => {
                            self.err(
                                Diag::error(
                                    codes::UNKNOWN_NAME,
                                    format!("unknown measure subset `{name}`"),
                                )
                                .at(i.span, "not a measure")
                                .help(suggest(
                                    &name,
                                    &[
                                        "weight",
                                        "act",
                                        "gradavg",
                                        "all",
                                        "perf",
                                        "activation",
                                        "activity_change",
                                    ],
                                )),
                            );
                            *ok = false;
                        }
                    }
                }
                out
            }
        }
    }

    /// `models`: the classifiers (a random forest and a linear SVM by default).
    fn models(&mut self, s: &Settings, b: &Block, ok: &mut bool) -> Vec<Named> {
        let mut models = Vec::new();
        match s.values.get("models").map(|x| x.0.clone()) {
            None => {
                for n in ["random_forest", "linear_svm"] {
                    if let Some(o) = self
                        .coerce_obj(SVal::new(Val::Sym(n.into()), b.kind.span), Kind::Classifier)
                    {
                        models.push(Named {
                            label: o.label.clone(),
                            call: std::sync::Arc::new(Call {
                                name: n.into(),
                                params: o.params,
                            }),
                            origin: Some(b.kind.span),
                        });
                    }
                }
            }
            Some(v) => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                *ok &= self.non_empty(
                    &items,
                    "models",
                    v.span,
                    "models = [random_forest(), linear_svm()]",
                );
                for i in items {
                    let span = i.span;
                    match self.coerce_obj(i, Kind::Classifier) {
                        Some(o) => models.push(Named {
                            label: o.label.clone(),
                            call: std::sync::Arc::new(Call {
                                name: o.builtin.name.into(),
                                params: o.params,
                            }),
                            origin: Some(span),
                        }),
                        None => *ok = false,
                    }
                }
            }
        }
        models
    }

    /// `holdout`: the factors (or composite factors) held out, each of which must vary.
    fn holdouts(
        &mut self,
        s: &Settings,
        points: &[&ir::Point],
        targets: &[ir::Target],
        ok: &mut bool,
    ) -> Vec<ir::Holdout> {
        let mut holdouts = Vec::new();
        if let Some((v, _, _)) = s.values.get("holdout").cloned() {
            let items = match &v.v {
                Val::List(l) => l.clone(),
                _ => vec![v.clone()],
            };
            for i in items {
                let h = match &i.v {
                    Val::Composite(n, fs) => Some(ir::Holdout {
                        name: format!(
                            "{n}({})",
                            fs.iter().map(|f| f.name()).collect::<Vec<_>>().join(",")
                        ),
                        factors: fs.clone(),
                    }),
                    _ => self.factor_name(&i).map(|f| ir::Holdout {
                        name: f.name().to_string(),
                        factors: vec![f],
                    }),
                };
                let Some(h) = h else {
                    *ok = false;
                    continue;
                };
                // The holdout must vary in the sweep.
                if !points.is_empty() && !varies(points, &h.factors) {
                    self.err(
                        Diag::error(
                            codes::HOLDOUT_NOT_VARIED,
                            format!(
                                "cannot hold out `{}`: the sweep has only one value of it",
                                h.name
                            ),
                        )
                        .at(i.span, "this factor does not vary")
                        .help(format!(
                            "sweep it (`{} in [...]`) or remove this holdout",
                            h.factors[0]
                        )),
                    );
                    *ok = false;
                    continue;
                }
                // Holding out the target factor leaves a test class that is never trained on.
                if let Some(t) = targets.iter().find_map(|t| {
                    let (ir::Target::All { factor } | ir::Target::Pairs { factor }) = t;
                    h.factors.contains(factor).then_some(factor)
                }) {
                    self.err(
                        Diag::warning(
                            codes::HOLDOUT_ON_TARGET,
                            format!("the holdout `{}` holds out the target `{t}` itself", h.name),
                        )
                        .at(i.span, "holds out the target factor")
                        .help(format!(
                            "a held-out `{t}` is a class the classifier never trains on, so these evaluations are skipped for the target `{t}`; hold out a factor that is not a target (e.g. `arch`)"
                        )),
                    );
                }
                holdouts.push(h);
            }
        }
        holdouts
    }

    /// The nested `trajectory` block: periods and sample counts that must fit in `t_min`
    /// checkpoints.
    fn trajectory(
        &mut self,
        s: &Settings,
        module: usize,
        t_min: i64,
        ok: &mut bool,
    ) -> Option<ir::Trajectory> {
        let mut trajectory = None;
        for n in &s.nested {
            let ts = self.settings(n, module, TRAJECTORY_KEYS, &[], false);
            let periods: Vec<i64> = match self.typed(
                &ts,
                "period",
                Ty::IntList {
                    min: 1,
                    max: 1_000_000,
                },
            ) {
                Some(Value::List(l)) => l.iter().filter_map(Value::as_i64).collect(),
                _ => vec![1],
            };
            let samples: Vec<i64> = match self.typed(
                &ts,
                "samples",
                Ty::IntList {
                    min: 1,
                    max: 1_000_000,
                },
            ) {
                Some(Value::List(l)) => l.iter().filter_map(Value::as_i64).collect(),
                // Written but wrong: already reported.
                _ if ts.written.contains("samples") => {
                    *ok = false;
                    vec![]
                }
                _ => {
                    self.err(
                        Diag::error(codes::MISSING_KEY, "`trajectory` needs `samples`")
                            .at(n.kind.span, "here")
                            .help("write `samples in [2, 4, 6]`"),
                    );
                    *ok = false;
                    vec![]
                }
            };
            let max_fit = periods
                .iter()
                .map(|p| (t_min - 1) / p + 1)
                .max()
                .unwrap_or(0);
            if let Some(bad) = samples.iter().find(|&&n| n > max_fit) {
                let span = ts.values.get("samples").map_or(n.kind.span, |x| x.1);
                self.err(
                    Diag::error(codes::GRID_CANNOT_FIT, format!("{bad} samples do not fit in {t_min} checkpoints at any of the periods"))
                        .at(span, "too many samples")
                        .help(format!("at most {max_fit} samples fit; record more checkpoints or ask for fewer samples")),
                );
                *ok = false;
            }
            trajectory = Some(ir::Trajectory { periods, samples });
        }
        trajectory
    }

    /// `portions`: the portions of training, each of which needs enough checkpoints.
    fn portions(&mut self, s: &Settings, b: &Block, t_min: i64, ok: &mut bool) -> Vec<String> {
        let portions: Vec<String> =
            match self.typed(s, "portions", Ty::EnumList(registry::PORTIONS)) {
                Some(Value::List(l)) => l
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => vec![],
            };
        for p in &portions {
            let need = if p == "thirds" { 3 } else { 7 };
            if t_min < need {
                let span = s.values.get("portions").map_or(b.kind.span, |x| x.1);
                self.err(
                    Diag::error(
                        codes::GRID_CANNOT_FIT,
                        format!(
                            "`{p}` needs at least {need} checkpoints; the sweep records {t_min}"
                        ),
                    )
                    .at(span, "too few checkpoints"),
                );
                *ok = false;
            }
        }
        portions
    }

    // PCA grids that cannot fit (method.md §3.2: failed fits are skipped, so some
    // components above the feature count are fine; none fitting is an error).
    fn check_pca(
        &mut self,
        obs: &ir::Observe,
        models: &[Named],
        measures: &[String],
        t_min: i64,
        b: &Block,
        ok: &mut bool,
    ) {
        for m in models {
            if m.call.name != "linear_svm" {
                continue;
            }
            let pcas: Vec<Option<i64>> = m
                .call
                .get("pca")
                .and_then(Value::as_list)
                .map(|l| l.iter().map(Value::as_i64).collect())
                .unwrap_or_default();
            if pcas.iter().any(Option::is_none) {
                continue;
            }
            for meas in measures {
                let features = if meas == "perf" {
                    // Accuracy and loss at every checkpoint after epoch 0.
                    2 * (t_min - 1).max(0)
                } else {
                    obs.observables
                        .iter()
                        .filter(|o| meas == "all" || &o.measure == meas)
                        .count() as i64
                        * t_min
                };
                if pcas.iter().all(|p| p.is_some_and(|c| c > features)) {
                    self.err(
                        Diag::error(codes::GRID_CANNOT_FIT, format!("no PCA setting of `{}` fits the `{meas}` features ({features} columns)", m.label))
                            .at(m.origin.unwrap_or(b.kind.span), "every `pca` value exceeds the feature count")
                            .help(format!("add `none` or a value ≤ {features} to `pca`")),
                    );
                    *ok = false;
                }
            }
        }
    }

    // analysis_models: names of classifier builtins among `models`.
    fn analysis_models(
        &mut self,
        s: &Settings,
        models: &[Named],
        ok: &mut bool,
    ) -> Option<Vec<String>> {
        match s.values.get("analysis_models").map(|x| x.0.clone()) {
            None => None,
            Some(v) => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                let used: Vec<String> = models.iter().map(|m| m.call.name.clone()).collect();
                let mut out = Vec::new();
                for i in items {
                    let name = match &i.v {
                        Val::Sym(x) | Val::Str(x) => x.clone(),
                        Val::Obj(o) => o.builtin.name.to_string(),
                        o => {
                            self.type_err::<()>(i.span, "a classifier name", o);
                            *ok = false;
                            continue;
                        }
                    };
                    if used.contains(&name) {
                        out.push(name);
                    } else {
                        let cands: Vec<&str> = used.iter().map(String::as_str).collect();
                        self.err(
                            Diag::error(
                                codes::UNKNOWN_NAME,
                                format!("`{name}` is not one of this block's `models`"),
                            )
                            .at(i.span, "not in `models`")
                            .help(suggest(&name, &cands)),
                        );
                        *ok = false;
                    }
                }
                Some(out)
            }
        }
    }
}
