//! The task-performance controls of the classifier stage (issue 20): the `perf` measure's
//! run-level table (the performance-only baseline) and the matched-performance control (the
//! paper's Fig. S2a). docs/reference/classify.md "Task-performance controls" states the rules.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::data::FeatureTable;
use super::error::ClassifyError;
use super::eval::SplitScheme;
use super::stage::EvalSpec;
use crate::features;

/// The statistics of the `perf` measure (the performance-only baseline): validation accuracy
/// and loss at each checkpoint after epoch 0, one example per run (see [`perf_table`]).
pub(crate) const PERF_STATS: [&str; 2] = ["perf_val_acc", "perf_val_loss"];

/// The table factor marking (`yes`/`no`) the examples the matched-performance control keeps for
/// the target with id part `tid`.
pub(crate) fn matched_factor(tid: &str) -> String {
    format!("matched:{tid}")
}

/// The matched-performance control (the paper's Fig. S2a; docs/classify.md "Task
/// performance"): of `runs` (id, class, final validation accuracy), those of `classes` that
/// survive this rule, applied until nothing changes: a run is kept when, for every other class,
/// some kept run of that class has a final validation accuracy within `tolerance` of its own.
/// Runs without a final accuracy are never kept. Returns the kept run ids.
pub(crate) fn matched_runs(
    runs: &[(String, String, Option<f64>)],
    classes: &[String],
    tolerance: f64,
) -> BTreeSet<String> {
    let mut kept: Vec<(&String, &String, f64)> = runs
        .iter()
        .filter(|(_, c, _)| classes.contains(c))
        .filter_map(|(r, c, a)| a.filter(|a| a.is_finite()).map(|a| (r, c, a)))
        .collect();
    // Accuracies are fractions; 1e-12 absorbs the rounding of a difference at the boundary.
    let tol = tolerance + 1e-12;
    loop {
        let before = kept.len();
        let snapshot = kept.clone();
        kept.retain(|&(_, c, a)| {
            classes.iter().filter(|o| *o != c).all(|o| {
                snapshot
                    .iter()
                    .any(|&(_, c2, a2)| c2 == o && (a - a2).abs() <= tol)
            })
        });
        if kept.len() == before {
            break;
        }
    }
    kept.into_iter().map(|(r, _, _)| r.clone()).collect()
}

/// One class of [`MatchedInfo`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MatchedCount {
    pub runs: usize,
    pub runs_total: usize,
    pub examples: usize,
}

/// The factor of an evaluation's matched-control filter (`matched:<target id>`).
pub(super) fn matched_filter_factor(s: &EvalSpec) -> Option<String> {
    match &s.config.split {
        SplitScheme::Balanced { train_filter, .. } => train_filter
            .iter()
            .find(|f| f.factor.starts_with("matched:"))
            .map(|f| f.factor.clone()),
        _ => None,
    }
}

/// Adds the matched control's `yes`/`no` factor `name` to `t` (label = the target factor):
/// [`matched_runs`] over the runs of `classes` (all of the table's classes when `None`), `acc`
/// being each example's final validation accuracy.
pub(super) fn add_matched_factor(
    t: &mut FeatureTable,
    name: &str,
    classes: Option<&[String]>,
    acc: &[Option<f64>],
    tol: f64,
) -> std::result::Result<(), ClassifyError> {
    let classes: Vec<String> = classes.map_or_else(|| t.classes(), <[String]>::to_vec);
    let run_ids = t.factor("run_id")?.to_vec();
    let mut seen = BTreeSet::new();
    let mut runs = Vec::new();
    for (i, r) in run_ids.iter().enumerate() {
        if seen.insert(r.clone()) {
            runs.push((r.clone(), t.label[i].clone(), acc[i]));
        }
    }
    let kept = matched_runs(&runs, &classes, tol);
    let col = run_ids
        .iter()
        .map(|r| if kept.contains(r) { "yes" } else { "no" }.to_string())
        .collect();
    t.factors.insert(name.to_string(), col);
    Ok(())
}

/// What the matched control's factor `name` of `t` keeps, per class of `classes` (all of the
/// table's classes when `None`): runs kept, runs present, examples kept.
pub(super) fn matched_counts(
    t: &FeatureTable,
    name: &str,
    classes: Option<&[String]>,
) -> std::result::Result<BTreeMap<String, MatchedCount>, ClassifyError> {
    let classes: Vec<String> = classes.map_or_else(|| t.classes(), <[String]>::to_vec);
    let (runs, keep) = (t.factor("run_id")?, t.factor(name)?);
    let mut counts: BTreeMap<String, MatchedCount> = classes
        .iter()
        .map(|c| (c.clone(), MatchedCount::default()))
        .collect();
    let mut seen = BTreeSet::new();
    for ((r, c), k) in runs.iter().zip(&t.label).zip(keep) {
        let Some(n) = counts.get_mut(c) else { continue };
        let yes = k == "yes";
        n.examples += usize::from(yes);
        if seen.insert(r) {
            n.runs_total += 1;
            n.runs += usize::from(yes);
        }
    }
    Ok(counts)
}

/// The run-level table of the `perf` measure and the rows of `plain` it came from: one example
/// per run (its first layer's row, for the factors), [`PERF_STATS`] at every checkpoint after
/// epoch 0 where every run has a finite accuracy and loss. `None` when there is no such
/// checkpoint (no task performance recorded).
pub(super) fn perf_table(
    ft: &features::FeatureTable,
    plain: &FeatureTable,
) -> std::result::Result<Option<(FeatureTable, Vec<usize>)>, ClassifyError> {
    let mut seen = BTreeSet::new();
    let rows: Vec<usize> = (0..ft.run_ids.len())
        .filter(|&i| seen.insert(ft.run_ids[i].clone()))
        .collect();
    let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
    let epochs: Vec<i64> = ft
        .epochs
        .iter()
        .copied()
        .filter(|&e| {
            e >= 1
                && rows.iter().all(|&i| {
                    let p = &ft.performance[i];
                    finite(p.val_acc_at(e)).is_some() && finite(p.val_loss_at(e)).is_some()
                })
        })
        .collect();
    if epochs.is_empty() || rows.is_empty() {
        return Ok(None);
    }
    let mut x = ndarray::Array3::<f64>::zeros((rows.len(), epochs.len(), PERF_STATS.len()));
    for (n, &i) in rows.iter().enumerate() {
        let p = &ft.performance[i];
        for (t, &e) in epochs.iter().enumerate() {
            x[[n, t, 0]] = p.val_acc_at(e).unwrap_or(f64::NAN);
            x[[n, t, 1]] = p.val_loss_at(e).unwrap_or(f64::NAN);
        }
    }
    let sub = plain.select_rows(&rows)?;
    let t = FeatureTable::new(
        PERF_STATS.iter().map(|s| s.to_string()).collect(),
        x,
        sub.position,
        sub.label,
        sub.factors,
    )?;
    Ok(Some((t, rows)))
}
