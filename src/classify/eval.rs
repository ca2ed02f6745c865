//! The evaluation driver: measure subset → features → outer splits → grid search → test metrics
//! (method.md §3, §4). [`EvalConfig`] and [`EvalResult`] are serde types (JSON) for the report stage.

use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

use super::data::{
    FeatureTable, FlatFeatures, MeasureSubset, TimeSelection, ZScore, average_features,
    flat_features, select_stats,
};
use super::error::{ClassifyError, Result, param};
use super::grid::{ModelSpec, grid_search, rf_paper_grid, svm_paper_grid};
use super::metrics::{
    MeanSem, accuracy, balanced_accuracy_per_class, chance_level, confusion_accuracy,
    confusion_matrix, dprime_per_class, group_importances, mean_sem, permutation_importance,
    to_f64,
};
use super::splits::{
    FactorFilter, Split, SplitSize, balanced_splits, filters_mask, holdout_splits,
    subsample_trajectories,
};

/// Which classifier family (its default grid is the paper's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Classifier {
    RandomForest,
    LinearSvm,
    Conv1d,
}

/// Flat trajectories, or the trajectory-average control (Fig. S2b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FeatureLayout {
    #[default]
    Flat,
    TrajectoryAverage,
}

/// Which checkpoints enter the features.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TimeSpec {
    #[default]
    All,
    /// The same indices for every example (a consecutive portion, for instance).
    Indices(Vec<usize>),
    /// Per-example random start, `n` samples `stride` apart (method.md §4).
    Subsample { stride: usize, n: usize, seed: u64 },
}

impl TimeSpec {
    fn resolve(&self, table: &FeatureTable) -> Result<TimeSelection> {
        match self {
            TimeSpec::All => Ok(TimeSelection::All),
            TimeSpec::Indices(v) => Ok(TimeSelection::Indices(v.clone())),
            TimeSpec::Subsample { stride, n, seed } => {
                subsample_trajectories(table.n_examples(), table.n_times(), *stride, *n, *seed)
            }
        }
    }
}

/// How the outer splits are formed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum SplitScheme {
    /// Category-balanced splits (method.md §3.1).
    Balanced {
        n_splits: usize,
        n_test: SplitSize,
        n_train: SplitSize,
        #[serde(default)]
        train_filter: Vec<FactorFilter>,
        #[serde(default)]
        test_filter: Vec<FactorFilter>,
    },
    /// Train on `factor` ≠ `value`, test on `factor` = `value` (method.md §4).
    Holdout {
        factor: String,
        value: String,
        n_splits: usize,
    },
}

impl Default for SplitScheme {
    fn default() -> Self {
        SplitScheme::Balanced {
            n_splits: 10,
            n_test: SplitSize::Fraction(0.25),
            n_train: SplitSize::Fraction(0.75),
            train_filter: vec![],
            test_filter: vec![],
        }
    }
}

/// Everything one evaluation needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct EvalConfig {
    pub classifier: Classifier,
    /// Overrides the paper grid of `classifier` (it may mix model kinds).
    pub grid: Option<Vec<ModelSpec>>,
    pub measure: MeasureSubset,
    pub layout: FeatureLayout,
    /// Checkpoints of the training features (and of the test features unless `test_time`).
    pub time: TimeSpec,
    /// Checkpoints of the test features, for cross-portion tests (same length as `time`).
    pub test_time: Option<TimeSpec>,
    /// Restrict to these classes (pairwise tasks); None = all labels of the table.
    pub classes: Option<Vec<String>>,
    pub split: SplitScheme,
    pub cv_folds: usize,
    /// Z-score the continuous columns with train statistics (method.md §3.2; off in the paper).
    pub zscore: bool,
    /// Seed of the splits (the model fits of split s use seed + 1 + s).
    pub seed: u64,
    /// Permutation importance repeats on the test part (0 = not computed).
    pub permutation_repeats: usize,
    /// Keep each split's per-tree Gini importances per feature group ([n_trees, n_groups]).
    pub keep_tree_importances: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            classifier: Classifier::RandomForest,
            grid: None,
            measure: MeasureSubset::All,
            layout: FeatureLayout::Flat,
            time: TimeSpec::All,
            test_time: None,
            classes: None,
            split: SplitScheme::default(),
            cv_folds: 5,
            zscore: false,
            seed: 0,
            permutation_repeats: 0,
            keep_tree_importances: true,
        }
    }
}

impl EvalConfig {
    /// The grid in force.
    pub(crate) fn effective_grid(&self) -> Vec<ModelSpec> {
        self.grid.clone().unwrap_or_else(|| match self.classifier {
            Classifier::RandomForest => rf_paper_grid(),
            Classifier::LinearSvm => svm_paper_grid(),
            Classifier::Conv1d => super::conv1d::paper_grid()
                .into_iter()
                .map(ModelSpec::Conv1d)
                .collect(),
        })
    }
}

/// The outcome of one outer split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SplitResult {
    pub n_train: usize,
    pub n_test: usize,
    pub best: ModelSpec,
    pub best_index: usize,
    pub cv_scores: Vec<Option<f64>>,
    pub train_confusion: Vec<Vec<u64>>,
    pub test_confusion: Vec<Vec<u64>>,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    /// Random forest only: per-tree Gini importance per feature group, [n_trees, n_groups].
    pub tree_group_importances: Option<Vec<Vec<f64>>>,
    /// Permutation importance per feature group on the test part.
    pub permutation_importance: Option<Vec<f64>>,
}

/// Summaries over splits (method.md §3.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    /// Trace / total of the split-averaged test confusion matrix.
    pub mean_accuracy: f64,
    /// Test accuracy mean ± s.e.m. over splits.
    pub accuracy: MeanSem,
    pub accuracy_by_split: Vec<f64>,
    pub chance: f64,
    /// Split-averaged test confusion matrix (rows actual, columns predicted).
    pub confusion_mean: Vec<Vec<f64>>,
    /// Per class, mean ± s.e.m. over splits.
    pub balanced_accuracy: Vec<MeanSem>,
    pub dprime: Vec<MeanSem>,
    /// Per feature group, Gini importance summed over its columns, mean ± s.e.m. over trees ×
    /// splits (random forest only).
    pub gini_importance: Option<Vec<MeanSem>>,
    /// Per feature group, mean ± s.e.m. over splits.
    pub permutation_importance: Option<Vec<MeanSem>>,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EvalResult {
    pub config: EvalConfig,
    pub classes: Vec<String>,
    pub feature_names: Vec<String>,
    /// Names of the feature groups (one-hot columns, then statistics).
    pub groups: Vec<String>,
    pub stats: Vec<String>,
    pub dropped_stats: Vec<String>,
    pub splits: Vec<SplitResult>,
    pub summary: Summary,
}

fn build(table: &FeatureTable, cfg: &EvalConfig, time: &TimeSpec) -> Result<FlatFeatures> {
    build_features(table, &cfg.measure, cfg.layout, time)
}

/// The features of a measure subset, layout and checkpoint selection (as [`evaluate`] builds
/// them; saved classifiers rebuild them from their schema).
pub(crate) fn build_features(
    table: &FeatureTable,
    measure: &MeasureSubset,
    layout: FeatureLayout,
    time: &TimeSpec,
) -> Result<FlatFeatures> {
    let sel = select_stats(table, measure)?;
    let t = time.resolve(table)?;
    match layout {
        FeatureLayout::Flat => flat_features(table, &sel, &t),
        FeatureLayout::TrajectoryAverage => average_features(table, &sel, &t),
    }
}

/// Outer splits for a table and scheme.
pub(crate) fn make_splits(
    table: &FeatureTable,
    y: &[usize],
    classes: &[String],
    scheme: &SplitScheme,
    seed: u64,
) -> Result<Vec<Split>> {
    match scheme {
        SplitScheme::Balanced {
            n_splits,
            n_test,
            n_train,
            train_filter,
            test_filter,
        } => {
            let tr = filters_mask(table, train_filter)?;
            let te = filters_mask(table, test_filter)?;
            balanced_splits(y, classes, *n_splits, *n_test, *n_train, &tr, &te, seed)
        }
        SplitScheme::Holdout {
            factor,
            value,
            n_splits,
        } => {
            let all = vec![true; y.len()];
            holdout_splits(table, y, classes, factor, value, *n_splits, &all, seed)
        }
    }
}

/// Runs one evaluation: measure subset → features → splits → grid search (inner stratified CV)
/// → refit → test metrics and importances.
pub(crate) fn evaluate(table: &FeatureTable, cfg: &EvalConfig) -> Result<EvalResult> {
    table.validate()?;
    if cfg.cv_folds < 2 {
        return Err(param("cv_folds", "must be at least 2"));
    }
    let restricted;
    let table = match &cfg.classes {
        Some(c) => {
            if c.len() < 2 {
                return Err(param("classes", "need at least two classes"));
            }
            restricted = table.restrict_classes(c)?;
            &restricted
        }
        None => table,
    };
    let classes = table.classes();
    if classes.len() < 2 {
        return Err(ClassifyError::InvalidTable(format!(
            "need at least two learning rules, found {classes:?}"
        )));
    }
    let k = classes.len();
    let y = table.class_indices(&classes)?;
    let fa = build(table, cfg, &cfg.time)?;
    let fb = match &cfg.test_time {
        Some(t) => {
            let fb = build(table, cfg, t)?;
            if fb.x.ncols() != fa.x.ncols() {
                return Err(param(
                    "test_time",
                    format!(
                        "{} test columns vs {} train columns",
                        fb.x.ncols(),
                        fa.x.ncols()
                    ),
                ));
            }
            Some(fb)
        }
        None => None,
    };
    let mut grid = cfg.effective_grid();
    // The Conv1D reads the flat columns as [channels, time]: tell it the time length.
    let n_times = (fa.x.ncols() - fa.n_onehot) / fa.stats.len().max(1);
    for g in &mut grid {
        if let ModelSpec::Conv1d(p) = g {
            p.n_times = n_times;
        }
    }
    let splits = make_splits(table, &y, &classes, &cfg.split, cfg.seed)?;
    let mut results = Vec::with_capacity(splits.len());
    for (si, sp) in splits.iter().enumerate() {
        results.push(evaluate_split(cfg, &fa, fb.as_ref(), &y, k, &grid, si, sp)?);
    }
    let summary = summarize(&results, k, fa.groups.len());
    Ok(EvalResult {
        config: cfg.clone(),
        classes,
        feature_names: fa.feature_names.clone(),
        groups: fa.groups.iter().map(|g| g.name.clone()).collect(),
        stats: fa.stats.clone(),
        dropped_stats: fa.dropped.clone(),
        splits: results,
        summary,
    })
}

/// One outer split of [`evaluate`] (the `si`-th, `sp`): z-scoring fitted on its training rows,
/// the grid search, the refit of the best model (seed `cfg.seed + 1 + si`), its train and test
/// metrics and the importances asked for. Test rows come from `fb` (the test-time features)
/// when given, else from `fa`.
#[allow(clippy::too_many_arguments)]
fn evaluate_split(
    cfg: &EvalConfig,
    fa: &FlatFeatures,
    fb: Option<&FlatFeatures>,
    y: &[usize],
    k: usize,
    grid: &[ModelSpec],
    si: usize,
    sp: &Split,
) -> Result<SplitResult> {
    let fit_seed = cfg.seed.wrapping_add(1 + si as u64);
    let mut xtr: Array2<f64> = fa.x.select(Axis(0), &sp.train);
    let mut xte: Array2<f64> = fb.unwrap_or(fa).x.select(Axis(0), &sp.test);
    let ytr: Vec<usize> = sp.train.iter().map(|&i| y[i]).collect();
    let yte: Vec<usize> = sp.test.iter().map(|&i| y[i]).collect();
    if cfg.zscore {
        let z = ZScore::fit(xtr.view(), fa.n_onehot)?;
        z.transform(&mut xtr)?;
        z.transform(&mut xte)?;
    }
    let gs = grid_search(
        xtr.view(),
        &ytr,
        k,
        fa.n_onehot,
        grid,
        cfg.cv_folds,
        fit_seed,
    )?;
    let model = gs.best.fit(xtr.view(), &ytr, k, fa.n_onehot, fit_seed)?;
    let ptr = model.predict(xtr.view())?;
    let pte = model.predict(xte.view())?;
    let tree_group_importances = match (model.forest(), cfg.keep_tree_importances) {
        (Some(f), true) => {
            let g = group_importances(f.tree_importances().view(), &fa.groups)?;
            Some(g.rows().into_iter().map(|r| r.to_vec()).collect())
        }
        _ => None,
    };
    let permutation_importance = if cfg.permutation_repeats > 0 {
        let pred = |x: ndarray::ArrayView2<f64>| model.predict(x);
        Some(permutation_importance(
            &pred,
            xte.view(),
            &yte,
            &fa.groups,
            cfg.permutation_repeats,
            fit_seed,
        )?)
    } else {
        None
    };
    Ok(SplitResult {
        n_train: ytr.len(),
        n_test: yte.len(),
        best: gs.best.clone(),
        best_index: gs.best_index,
        cv_scores: gs.cv_scores,
        train_confusion: confusion_matrix(&ytr, &ptr, k)?,
        test_confusion: confusion_matrix(&yte, &pte, k)?,
        train_accuracy: accuracy(&ytr, &ptr)?,
        test_accuracy: accuracy(&yte, &pte)?,
        tree_group_importances,
        permutation_importance,
    })
}

/// Runs [`evaluate`] once per value of `factor` (sorted), holding that value out each time
/// (method.md §4: architecture, curriculum, task holdouts); `base.split` is replaced by a
/// [`SplitScheme::Holdout`] with `n_splits`. Returns (value, result) pairs. (The stage runs
/// holdouts as evaluations of their own; this is the tests' reference.)
#[cfg(test)]
pub(crate) fn evaluate_holdouts(
    table: &FeatureTable,
    base: &EvalConfig,
    factor: &str,
    n_splits: usize,
) -> Result<Vec<(String, EvalResult)>> {
    super::splits::factor_values(table, factor)?
        .into_iter()
        .map(|v| {
            let cfg = EvalConfig {
                split: SplitScheme::Holdout {
                    factor: factor.to_string(),
                    value: v.clone(),
                    n_splits,
                },
                ..base.clone()
            };
            evaluate(table, &cfg).map(|r| (v, r))
        })
        .collect()
}

/// Summaries over split results (method.md §3.5).
pub(crate) fn summarize(results: &[SplitResult], k: usize, n_groups: usize) -> Summary {
    let ns = results.len().max(1) as f64;
    let mut cm_mean = vec![vec![0.0; k]; k];
    for r in results {
        for (a, row) in r.test_confusion.iter().enumerate() {
            for (b, &v) in row.iter().enumerate() {
                cm_mean[a][b] += v as f64 / ns;
            }
        }
    }
    let accs: Vec<f64> = results.iter().map(|r| r.test_accuracy).collect();
    let per_class = |f: &dyn Fn(&[Vec<f64>]) -> Vec<f64>| -> Vec<MeanSem> {
        let vals: Vec<Vec<f64>> = results
            .iter()
            .map(|r| f(&to_f64(&r.test_confusion)))
            .collect();
        (0..k)
            .map(|c| mean_sem(&vals.iter().map(|v| v[c]).collect::<Vec<_>>()))
            .collect()
    };
    let gini = if results.iter().all(|r| r.tree_group_importances.is_some()) && !results.is_empty()
    {
        Some(
            (0..n_groups)
                .map(|g| {
                    let v: Vec<f64> = results
                        .iter()
                        .flat_map(|r| r.tree_group_importances.as_ref().into_iter().flatten())
                        .map(|row| row[g])
                        .collect();
                    mean_sem(&v)
                })
                .collect(),
        )
    } else {
        None
    };
    let perm = if results.iter().all(|r| r.permutation_importance.is_some()) && !results.is_empty()
    {
        Some(
            (0..n_groups)
                .map(|g| {
                    let v: Vec<f64> = results
                        .iter()
                        .filter_map(|r| r.permutation_importance.as_ref().map(|p| p[g]))
                        .collect();
                    mean_sem(&v)
                })
                .collect(),
        )
    } else {
        None
    };
    Summary {
        mean_accuracy: confusion_accuracy(&cm_mean),
        accuracy: mean_sem(&accs),
        accuracy_by_split: accs,
        chance: chance_level(k),
        confusion_mean: cm_mean,
        balanced_accuracy: per_class(&balanced_accuracy_per_class),
        dprime: per_class(&dprime_per_class),
        gini_importance: gini,
        permutation_importance: perm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::forest::MaxFeatures;
    use crate::classify::testutil::synthetic_table;

    fn three_splits() -> SplitScheme {
        match SplitScheme::default() {
            SplitScheme::Balanced {
                n_test, n_train, ..
            } => SplitScheme::Balanced {
                n_splits: 3,
                n_test,
                n_train,
                train_filter: vec![],
                test_filter: vec![],
            },
            other => other,
        }
    }

    fn small_rf() -> Vec<ModelSpec> {
        vec![
            ModelSpec::RandomForest {
                n_trees: 8,
                max_features: MaxFeatures::Sqrt,
            },
            ModelSpec::RandomForest {
                n_trees: 8,
                max_features: MaxFeatures::All,
            },
        ]
    }

    #[test]
    fn evaluate_runs_end_to_end_and_serializes() {
        let t = synthetic_table(60, 6, 3);
        let cfg = EvalConfig {
            grid: Some(small_rf()),
            split: SplitScheme::Balanced {
                n_splits: 2,
                n_test: SplitSize::Fraction(0.25),
                n_train: SplitSize::Fraction(0.75),
                train_filter: vec![],
                test_filter: vec![],
            },
            permutation_repeats: 1,
            ..Default::default()
        };
        let r = evaluate(&t, &cfg).unwrap();
        assert_eq!(r.classes, vec!["adam", "feedback", "information", "sgdm"]);
        assert_eq!(r.dropped_stats, vec!["weightabs_skew"]);
        assert_eq!(r.feature_names.len(), 3 + 6 * 6);
        assert_eq!(r.groups.len(), 3 + 6);
        assert_eq!(r.splits.len(), 2);
        for s in &r.splits {
            assert_eq!((s.n_train, s.n_test), (180, 60));
            assert_eq!(s.test_confusion.iter().flatten().sum::<u64>(), 60);
            let tg = s.tree_group_importances.as_ref().unwrap();
            assert_eq!(tg.len(), 8);
            assert!(
                tg.iter()
                    .all(|row| (row.iter().sum::<f64>() - 1.0).abs() < 1e-9)
            );
            assert_eq!(s.cv_scores.len(), 2);
        }
        let sm = &r.summary;
        assert!(sm.accuracy.mean > 0.5, "accuracy {:?}", sm.accuracy);
        assert_eq!(sm.chance, 0.25);
        assert_eq!(sm.dprime.len(), 4);
        assert_eq!(sm.gini_importance.as_ref().unwrap().len(), 9);
        assert_eq!(sm.gini_importance.as_ref().unwrap()[0].n, 16);
        assert_eq!(sm.permutation_importance.as_ref().unwrap().len(), 9);
        let j = serde_json::to_string(&r).unwrap();
        let back: EvalResult = serde_json::from_str(&j).unwrap();
        assert_eq!(back.splits[0].test_confusion, r.splits[0].test_confusion);
        assert_eq!(
            evaluate(&t, &cfg).unwrap(),
            r,
            "deterministic from the seed"
        );
        let cj = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<EvalConfig>(&cj).unwrap(), cfg);
        let partial: EvalConfig = serde_json::from_str(r#"{"classifier":"linear_svm"}"#).unwrap();
        assert_eq!(partial.effective_grid().len(), 84);
    }

    #[test]
    fn holdouts_over_all_values_of_a_combined_factor() {
        let mut t = synthetic_table(36, 4, 5);
        t.add_combined_factor("curriculum", &["batch", "task"])
            .unwrap();
        assert_eq!(t.factor("curriculum").unwrap()[0], "128|t1");
        assert!(t.add_combined_factor("x", &["nope"]).is_err());
        let base = EvalConfig {
            grid: Some(small_rf()[..1].to_vec()),
            ..Default::default()
        };
        let r = evaluate_holdouts(&t, &base, "curriculum", 1).unwrap();
        let values: Vec<&str> = r.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(values, vec!["128|t1", "128|t2", "256|t1", "256|t2"]);
        let cur = t.factor("curriculum").unwrap();
        for (v, res) in &r {
            assert_eq!(res.splits.len(), 1);
            let n_held = cur.iter().filter(|c| *c == v).count();
            assert_eq!(res.splits[0].n_test, n_held);
            assert_eq!(res.splits[0].n_train, t.n_examples() - n_held);
        }
    }

    #[test]
    fn evaluate_variants_holdout_pairwise_portions_svm() {
        let t = synthetic_table(36, 9, 4);
        let base = EvalConfig {
            grid: Some(small_rf()),
            split: SplitScheme::Holdout {
                factor: "arch".into(),
                value: "b".into(),
                n_splits: 1,
            },
            measure: MeasureSubset::Weight,
            ..Default::default()
        };
        let r = evaluate(&t, &base).unwrap();
        assert_eq!(r.splits[0].n_test, 48);
        assert_eq!(r.stats.len(), 3);
        let pair = EvalConfig {
            classes: Some(vec!["feedback".into(), "information".into()]),
            classifier: Classifier::LinearSvm,
            grid: Some(vec![
                ModelSpec::LinearSvm {
                    c: 1.0,
                    pca_components: None,
                },
                ModelSpec::LinearSvm {
                    c: 50.0,
                    pca_components: Some(4),
                },
            ]),
            zscore: true,
            layout: FeatureLayout::TrajectoryAverage,
            ..base.clone()
        };
        let r = evaluate(&t, &pair).unwrap();
        assert_eq!(r.classes.len(), 2);
        assert_eq!(r.summary.chance, 0.5);
        assert!(r.splits[0].tree_group_importances.is_none());
        let cross = EvalConfig {
            time: TimeSpec::Indices(vec![0, 1, 2]),
            test_time: Some(TimeSpec::Indices(vec![6, 7, 8])),
            split: three_splits(),
            grid: Some(small_rf()[..1].to_vec()),
            ..base.clone()
        };
        let r = evaluate(&t, &cross).unwrap();
        assert_eq!(r.splits.len(), 3);
        assert_eq!(r.feature_names.len(), 3 + 3 * 3);
        let sub = EvalConfig {
            time: TimeSpec::Subsample {
                stride: 2,
                n: 3,
                seed: 1,
            },
            split: three_splits(),
            grid: Some(small_rf()[..1].to_vec()),
            ..base.clone()
        };
        assert_eq!(evaluate(&t, &sub).unwrap().feature_names.len(), 3 + 3 * 3);
        let bad = EvalConfig {
            test_time: Some(TimeSpec::Indices(vec![1])),
            ..cross
        };
        assert!(matches!(
            evaluate(&t, &bad),
            Err(ClassifyError::InvalidParam { .. })
        ));
        let bad = EvalConfig {
            split: SplitScheme::Holdout {
                factor: "nope".into(),
                value: "b".into(),
                n_splits: 1,
            },
            ..base
        };
        assert!(matches!(
            evaluate(&t, &bad),
            Err(ClassifyError::UnknownFactor(..))
        ));
    }
}
