//! The pure expansion of a spec's `classify` block (no file I/O): `ir::Classify` × the study's
//! [`StudyShape`] → the list of evaluations ([`EvalSpec`]), their count and their model fits.
//! `lrx plan` counts and lists evaluations with these functions, so the plan and the stage
//! agree.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub(crate) use super::grids::model_grid;

use crate::classify::data::MeasureSubset;
use crate::classify::eval::{Classifier, EvalConfig, FeatureLayout, SplitScheme, TimeSpec};
use crate::classify::grid::ModelSpec;
use crate::classify::performance::{PERF_STATS, matched_factor};
use crate::classify::splits::{FactorFilter, SplitSize, portions};
use crate::ir::{self, Factor, RealismCondition};

/// The name of the table factor a holdout uses (a composite gets its own combined factor).
pub(crate) fn holdout_factor(h: &ir::Holdout) -> String {
    if h.factors.len() == 1 {
        h.factors[0].name().to_string()
    } else {
        h.name.clone()
    }
}

/// What the evaluation list depends on besides the spec: the values of the factors (for targets
/// and holdouts), the number of checkpoints and the realism conditions.
#[derive(Debug, Clone, Default)]
pub(crate) struct StudyShape {
    /// Sorted distinct values of each target factor and of each holdout (keyed by the holdout's
    /// table factor: the factor itself, or the composite's name with values joined by `|`).
    pub values: BTreeMap<String, Vec<String>>,
    /// Checkpoints per example (T).
    pub n_times: usize,
    /// Realism conditions (σ, ρ, seed) present.
    pub realism: Vec<RealismCondition>,
}

/// `"holdout": {"factor": .., "value": ..}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct HoldoutRef {
    pub factor: String,
    pub value: String,
}

/// `"trajectory": {"period": .., "samples": ..}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct TrajectoryRef {
    pub period: usize,
    pub samples: usize,
}

/// `"portion": {"name": "thirds", "train": a, "test": b}` (0-based portion indices).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct PortionRef {
    pub name: String,
    pub train: usize,
    pub test: usize,
}

/// One evaluation of the stage (a classifier × setting, all its outer splits).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct EvalSpec {
    pub id: String,
    /// `rule` (all classes of the factor) or `pair:adam-sgdm` (`pair(<factor>):a-b` for a factor
    /// other than `rule`).
    pub target: String,
    /// The factor whose values are the classes.
    pub target_factor: String,
    pub measure: String,
    /// `random_forest` | `linear_svm`.
    pub classifier: String,
    /// The model's label in the spec.
    pub model: String,
    /// `balanced` | `holdout`.
    pub split: String,
    pub holdout: Option<HoldoutRef>,
    pub trajectory: Option<TrajectoryRef>,
    /// `flat` | `trajectory_average`.
    pub layout: String,
    pub portion: Option<PortionRef>,
    /// The realism condition classified (`"realism": {"sigma": .., "fraction": .., "seed": ..}`).
    pub realism: Option<RealismCondition>,
    /// The matched-performance control's tolerance (`classify { matched = … }`).
    pub matched: Option<f64>,
    pub config: EvalConfig,
}

fn measure_subset(m: &str) -> Option<MeasureSubset> {
    Some(match m {
        "weight" => MeasureSubset::Weight,
        "act" => MeasureSubset::Act,
        "gradavg" => MeasureSubset::Grad,
        "all" => MeasureSubset::All,
        "perf" => MeasureSubset::Stats(PERF_STATS.iter().map(|s| s.to_string()).collect()),
        _ => return None,
    })
}

/// Replaces every byte outside `[A-Za-z0-9._-]` by `_` (ids are file names).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Expands a `classify` block over a study's shape: targets × measures × models × split schemes
/// (balanced; each holdout value; each fitting trajectory setting; the trajectory average; each
/// portion pair) plus, for the 4-way targets, each realism condition with balanced splits.
/// Returns the evaluations (ids unique and stable) and notes on what was skipped.
pub(crate) fn evaluation_specs(
    c: &ir::Classify,
    shape: &StudyShape,
) -> (Vec<EvalSpec>, Vec<String>) {
    let mut out = Vec::new();
    let notes = visit_evaluations(c, shape, &mut |_, make| out.push(make()));
    // Unique, file-safe ids.
    let mut used = BTreeSet::new();
    for s in &mut out {
        let b = sanitize(&s.id);
        let mut id = b.clone();
        let mut k = 2;
        while !used.insert(id.clone()) {
            id = format!("{b}-{k}");
            k += 1;
        }
        s.id = id;
    }
    (out, notes)
}

/// The number of evaluations [`evaluation_specs`] makes and of the model fits they need
/// (`fits_of` summed), counted without building them: `lrx check`/`lrx plan` report these for
/// studies with thousands of evaluations, and building each one's config (grid, time indices,
/// strings) cost a front-end process most of its memory (55 of 67 MB on specs/paper.lrx).
pub(crate) fn evaluation_counts(c: &ir::Classify, shape: &StudyShape) -> (usize, usize) {
    let (mut n, mut fits) = (0usize, 0usize);
    visit_evaluations(c, shape, &mut |f, _| {
        n += 1;
        fits = fits.saturating_add(f);
    });
    (n, fits)
}

/// An evaluation as [`visit_evaluations`] hands it on: its model fits and how to build it.
type Emit<'a> = dyn FnMut(usize, &dyn Fn() -> EvalSpec) + 'a;

/// The block's split settings shared by every evaluation.
struct Splits {
    n_splits: usize,
    /// The test fraction of the balanced splits.
    test: f64,
    balanced: SplitScheme,
    cv_folds: usize,
    seed: u64,
}

impl Splits {
    fn of(c: &ir::Classify) -> Splits {
        let n_splits = c.splits.i64("n").unwrap_or(10).max(1) as usize;
        let test = c.splits.f64("test").unwrap_or(0.25);
        Splits {
            n_splits,
            test,
            balanced: SplitScheme::Balanced {
                n_splits,
                n_test: SplitSize::Fraction(test),
                n_train: SplitSize::Fraction(1.0 - test),
                train_filter: vec![],
                test_filter: vec![],
            },
            cv_folds: c.cv.i64("k").unwrap_or(5).max(2) as usize,
            seed: c.seed,
        }
    }
}

/// A model this build can run: its spec entry, classifier, grid and id part.
struct Model<'a> {
    named: &'a ir::Named,
    classifier: Classifier,
    grid: Vec<ModelSpec>,
    mid: String,
}

/// The block's models this build can run, with their ids (`<builtin>-<k>` when a builtin is
/// used more than once); the others are noted.
fn runnable_models<'a>(c: &'a ir::Classify, notes: &mut Vec<String>) -> Vec<Model<'a>> {
    let mut models = Vec::new();
    let mut per_builtin: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &c.models {
        *per_builtin.entry(m.call.name.as_str()).or_default() += 1;
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &c.models {
        let name = m.call.name.as_str();
        let k = seen.entry(name).or_default();
        *k += 1;
        let mid = if per_builtin[name] > 1 {
            format!("{name}-{k}")
        } else {
            name.to_string()
        };
        match model_grid(m) {
            Ok((classifier, grid)) if !grid.is_empty() => models.push(Model {
                named: m,
                classifier,
                grid,
                mid,
            }),
            Ok(_) => notes.push(format!("`{}`: empty grid; skipped", m.label)),
            Err(e) => notes.push(e),
        }
    }
    models
}

/// A split-scheme variant of the evaluations (balanced, a holdout value, a trajectory setting,
/// the trajectory average, a portion pair, the matched control, a realism condition).
struct Variant {
    sid: String,
    split: SplitScheme,
    holdout: Option<HoldoutRef>,
    holdout_factors: Vec<Factor>,
    trajectory: Option<TrajectoryRef>,
    layout: FeatureLayout,
    portion: Option<PortionRef>,
    time: TimeSpec,
    test_time: Option<TimeSpec>,
    permutation_repeats: usize,
}

/// A flat, whole-trajectory variant with the id part `sid`.
fn base(sid: String, split: SplitScheme) -> Variant {
    Variant {
        sid,
        split,
        holdout: None,
        holdout_factors: vec![],
        trajectory: None,
        layout: FeatureLayout::Flat,
        portion: None,
        time: TimeSpec::All,
        test_time: None,
        permutation_repeats: 0,
    }
}

/// Every split-scheme variant of the block, in order: balanced, holdouts, trajectory settings,
/// the average, portions (unfit ones noted).
fn variants(
    c: &ir::Classify,
    shape: &StudyShape,
    sp: &Splits,
    notes: &mut Vec<String>,
) -> Vec<Variant> {
    let mut variants = vec![Variant {
        permutation_repeats: 5,
        ..base("balanced".into(), sp.balanced.clone())
    }];
    holdout_variants(c, shape, &mut variants);
    trajectory_variants(c, shape, sp, &mut variants, notes);
    if c.average {
        variants.push(Variant {
            layout: FeatureLayout::TrajectoryAverage,
            ..base("average".into(), sp.balanced.clone())
        });
    }
    portion_variants(c, shape, sp, &mut variants, notes);
    variants
}

/// One variant per held-out value of each holdout.
fn holdout_variants(c: &ir::Classify, shape: &StudyShape, variants: &mut Vec<Variant>) {
    for h in &c.holdouts {
        let f = holdout_factor(h);
        for v in shape.values.get(&f).map(Vec::as_slice).unwrap_or(&[]) {
            variants.push(Variant {
                holdout: Some(HoldoutRef {
                    factor: f.clone(),
                    value: v.clone(),
                }),
                holdout_factors: h.factors.clone(),
                ..base(
                    format!("holdout-{}-{v}", h.name),
                    // One split per held-out value (method.md §4: train on ≠ v, test on = v).
                    SplitScheme::Holdout {
                        factor: f.clone(),
                        value: v.clone(),
                        n_splits: 1,
                    },
                )
            });
        }
    }
}

/// One variant per trajectory period × samples that fits in the checkpoints.
fn trajectory_variants(
    c: &ir::Classify,
    shape: &StudyShape,
    sp: &Splits,
    variants: &mut Vec<Variant>,
    notes: &mut Vec<String>,
) {
    let Some(tr) = &c.trajectory else {
        return;
    };
    for &p in &tr.periods {
        for &s in &tr.samples {
            let (p, s) = (p.max(1) as usize, s.max(1) as usize);
            if (s - 1) * p + 1 > shape.n_times {
                notes.push(format!(
                    "trajectory period {p}, {s} samples: does not fit in {} checkpoints; skipped",
                    shape.n_times
                ));
                continue;
            }
            variants.push(Variant {
                trajectory: Some(TrajectoryRef {
                    period: p,
                    samples: s,
                }),
                time: TimeSpec::Subsample {
                    stride: p,
                    n: s,
                    seed: sp.seed,
                },
                ..base(format!("traj-p{p}-n{s}"), sp.balanced.clone())
            });
        }
    }
}

/// One variant per (train portion, test portion) pair of each portioning.
fn portion_variants(
    c: &ir::Classify,
    shape: &StudyShape,
    sp: &Splits,
    variants: &mut Vec<Variant>,
    notes: &mut Vec<String>,
) {
    for name in &c.portions {
        let n = if name == "thirds" { 3 } else { 7 };
        match portions(shape.n_times, n) {
            Ok(mut parts) => {
                // Cross-portion tests need equal widths: when T does not divide evenly, every
                // portion keeps its first m checkpoints (m = the shortest portion), aligned by
                // position within the window (method.md §4).
                let m = parts.iter().map(Vec::len).min().unwrap_or(0);
                if parts.iter().any(|p| p.len() != m) {
                    notes.push(format!(
                        "portions `{name}`: {} checkpoints do not divide into {n} equal portions; each keeps its first {m}",
                        shape.n_times
                    ));
                    for p in &mut parts {
                        p.truncate(m);
                    }
                }
                for (a, pa) in parts.iter().enumerate() {
                    for (b, pb) in parts.iter().enumerate() {
                        variants.push(Variant {
                            portion: Some(PortionRef {
                                name: name.clone(),
                                train: a,
                                test: b,
                            }),
                            time: TimeSpec::Indices(pa.clone()),
                            test_time: (a != b).then(|| TimeSpec::Indices(pb.clone())),
                            ..base(format!("{name}-{a}-{b}"), sp.balanced.clone())
                        });
                    }
                }
            }
            Err(e) => notes.push(format!("portions `{name}`: {e}; skipped")),
        }
    }
}

/// A classification target.
struct Target {
    /// The target string (`rule`, `pair:a-b`, `pair(<factor>):a-b`).
    target: String,
    /// The factor whose values are the classes.
    factor: Factor,
    /// The classes restriction of a pairwise target.
    classes: Option<Vec<String>>,
    /// The id part.
    tid: String,
    /// Whether the realism conditions are evaluated too.
    with_realism: bool,
}

/// The block's targets: each `all` target, and each pair of values of each `pairs` target.
fn targets(c: &ir::Classify, shape: &StudyShape) -> Vec<Target> {
    let mut targets = Vec::new();
    for t in &c.targets {
        match *t {
            ir::Target::All { factor } => targets.push(Target {
                target: factor.name().to_string(),
                factor,
                classes: None,
                tid: factor.name().to_string(),
                with_realism: true,
            }),
            ir::Target::Pairs { factor } => {
                let vals = shape.values.get(factor.name()).cloned().unwrap_or_default();
                for (i, a) in vals.iter().enumerate() {
                    for b in &vals[i + 1..] {
                        let target = if factor == Factor::Rule {
                            format!("pair:{a}-{b}")
                        } else {
                            format!("pair({factor}):{a}-{b}")
                        };
                        let tid = if factor == Factor::Rule {
                            format!("pair-{a}-{b}")
                        } else {
                            format!("pair-{factor}-{a}-{b}")
                        };
                        targets.push(Target {
                            target,
                            factor,
                            classes: Some(vec![a.clone(), b.clone()]),
                            tid,
                            with_realism: false,
                        });
                    }
                }
            }
        }
    }
    targets
}

/// The expansion behind [`evaluation_specs`] and [`evaluation_counts`]: calls `emit` once per
/// evaluation, in order (ids not yet made unique), and returns the notes.
fn visit_evaluations(c: &ir::Classify, shape: &StudyShape, emit: &mut Emit) -> Vec<String> {
    let mut notes = Vec::new();
    let sp = Splits::of(c);
    let models = runnable_models(c, &mut notes);
    let variants = variants(c, shape, &sp, &mut notes);
    for t in &targets(c, shape) {
        if let Some(h) = c.holdouts.iter().find(|h| h.factors.contains(&t.factor)) {
            notes.push(format!(
                "target `{}`: holdout `{}` holds out the target factor itself; its holdout evaluations are skipped",
                t.target, h.name
            ));
        }
        for meas in &c.measures {
            let Some(subset) = measure_subset(meas) else {
                notes.push(format!("unknown measure `{meas}`; skipped"));
                continue;
            };
            for m in &models {
                let one = One {
                    c,
                    sp: &sp,
                    t,
                    meas,
                    subset: &subset,
                    m,
                };
                one.emit_variants(&variants, emit);
                one.emit_matched(emit);
                one.emit_realism(shape, emit);
            }
        }
    }
    notes
}

/// The evaluations of one target × measure × model.
struct One<'a> {
    c: &'a ir::Classify,
    sp: &'a Splits,
    t: &'a Target,
    meas: &'a String,
    subset: &'a MeasureSubset,
    m: &'a Model<'a>,
}

impl One<'_> {
    /// The performance-only baseline runs in the main setting and the matched control.
    fn is_perf(&self) -> bool {
        self.meas == "perf"
    }

    /// Models outside `analysis_models` run the main setting only.
    fn in_analyses(&self) -> bool {
        self.c
            .analysis_models
            .as_ref()
            .is_none_or(|a| a.iter().any(|n| *n == self.m.named.call.name))
    }

    fn cfg(&self, v: &Variant) -> EvalConfig {
        EvalConfig {
            classifier: self.m.classifier,
            grid: Some(self.m.grid.clone()),
            measure: self.subset.clone(),
            layout: v.layout,
            time: v.time.clone(),
            test_time: v.test_time.clone(),
            classes: self.t.classes.clone(),
            split: v.split.clone(),
            cv_folds: self.sp.cv_folds,
            zscore: self.c.zscore,
            seed: self.sp.seed,
            permutation_repeats: v.permutation_repeats,
            keep_tree_importances: true,
        }
    }

    /// One evaluation per variant that applies to this target, measure and model.
    fn emit_variants(&self, variants: &[Variant], emit: &mut Emit) {
        let in_analyses = self.in_analyses();
        let (t, m) = (self.t, self.m);
        for v in variants {
            if v.holdout_factors.contains(&t.factor) {
                continue;
            }
            if !in_analyses && v.sid != "balanced" {
                continue;
            }
            // Pairwise targets are the paper's confusion analysis (Fig. S1): main
            // setting only.
            if (t.classes.is_some() || self.is_perf()) && v.sid != "balanced" {
                continue;
            }
            let n_fits = fits(split_count(&v.split), m.grid.len(), self.sp.cv_folds);
            emit(n_fits, &|| EvalSpec {
                id: format!("{}.{}.{}.{}", t.tid, self.meas, m.mid, v.sid),
                target: t.target.clone(),
                target_factor: t.factor.name().to_string(),
                measure: self.meas.clone(),
                classifier: m.named.call.name.clone(),
                model: m.named.label.clone(),
                split: if v.holdout.is_some() {
                    "holdout".into()
                } else {
                    "balanced".into()
                },
                holdout: v.holdout.clone(),
                trajectory: v.trajectory,
                layout: match v.layout {
                    FeatureLayout::Flat => "flat".into(),
                    FeatureLayout::TrajectoryAverage => "trajectory_average".into(),
                },
                portion: v.portion.clone(),
                realism: None,
                matched: None,
                config: self.cfg(v),
            });
        }
    }

    /// A balanced, flat, whole-trajectory evaluation beside the variants (the matched control
    /// and the realism conditions).
    fn balanced_flat(
        &self,
        sid: String,
        realism: Option<RealismCondition>,
        matched: Option<f64>,
        config: EvalConfig,
    ) -> EvalSpec {
        EvalSpec {
            id: format!("{}.{}.{}.{sid}", self.t.tid, self.meas, self.m.mid),
            target: self.t.target.clone(),
            target_factor: self.t.factor.name().to_string(),
            measure: self.meas.clone(),
            classifier: self.m.named.call.name.clone(),
            model: self.m.named.label.clone(),
            split: "balanced".into(),
            holdout: None,
            trajectory: None,
            layout: "flat".into(),
            portion: None,
            realism,
            matched,
            config,
        }
    }

    /// The matched-performance control (balanced splits within the matched runs).
    fn emit_matched(&self, emit: &mut Emit) {
        let Some(tol) = self.c.matched.filter(|_| self.in_analyses()) else {
            return;
        };
        let sp = self.sp;
        let keep = vec![FactorFilter {
            factor: matched_factor(&self.t.tid),
            values: vec!["yes".into()],
            exclude: false,
        }];
        let split = SplitScheme::Balanced {
            n_splits: sp.n_splits,
            n_test: SplitSize::Fraction(sp.test),
            n_train: SplitSize::Fraction(1.0 - sp.test),
            train_filter: keep.clone(),
            test_filter: keep,
        };
        let n_fits = fits(sp.n_splits, self.m.grid.len(), sp.cv_folds);
        emit(n_fits, &|| {
            self.balanced_flat(
                "matched".into(),
                None,
                Some(tol),
                self.cfg(&base("matched".into(), split.clone())),
            )
        });
    }

    /// One evaluation per realism condition (4-way targets, outside `perf`).
    fn emit_realism(&self, shape: &StudyShape, emit: &mut Emit) {
        if !(self.t.with_realism && self.c.realism && self.in_analyses() && !self.is_perf()) {
            return;
        }
        let sp = self.sp;
        for &c in &shape.realism {
            let n_fits = fits(sp.n_splits, self.m.grid.len(), sp.cv_folds);
            let (sigma, fraction, rseed) = (c.sigma, c.fraction, c.seed);
            // Gaussian conditions keep their names; a measurement model's condition is named by
            // the model's kind and the first 8 hex digits of SHA-256 of its canonical text.
            let name = if c.model.is_awgn() {
                format!("realism-s{sigma}-f{fraction}-r{rseed}")
            } else {
                use sha2::{Digest, Sha256};
                let text = c.model.canonical();
                let kind = text.split('(').next().unwrap_or("model");
                let h = Sha256::digest(text.as_bytes());
                let hex: String = h[..4].iter().map(|b| format!("{b:02x}")).collect();
                format!("realism-{kind}-{hex}-f{fraction}-r{rseed}")
            };
            emit(n_fits, &|| {
                self.balanced_flat(
                    name.clone(),
                    Some(c),
                    None,
                    self.cfg(&base(String::new(), sp.balanced.clone())),
                )
            });
        }
    }
}

/// Model fits of an evaluation: per outer split, the grid × CV folds (skipped for a single grid
/// point) plus the refit. (The tests' reference for [`evaluation_counts`].)
#[cfg(test)]
pub(crate) fn fits_of(spec: &EvalSpec) -> usize {
    let g = spec.config.grid.as_ref().map_or(1, Vec::len);
    fits(split_count(&spec.config.split), g, spec.config.cv_folds)
}

fn split_count(split: &SplitScheme) -> usize {
    match split {
        SplitScheme::Balanced { n_splits, .. } | SplitScheme::Holdout { n_splits, .. } => *n_splits,
    }
}

/// Fits of `n_splits` outer splits with a grid of `g` points and `cv_folds` inner folds.
fn fits(n_splits: usize, g: usize, cv_folds: usize) -> usize {
    // Saturating: `balanced(n = ...)` may be any count the schema allows.
    let cv = if g > 1 { g.saturating_mul(cv_folds) } else { 0 };
    n_splits.saturating_mul(cv.saturating_add(1))
}
