//! The sections of the report, built from [`StudyInputs`].

use std::collections::{BTreeMap, BTreeSet};

use super::ReportError;
use super::doc::{Block, Doc, Section, Table};
use super::inputs::{EvalEntry, EvalFile, MeanSem, RunStatus, StudyInputs};
use super::plot::{self, BarSeries, Bars, HBars, Heatmap, Line, Lines, Panel, Plot};

const EVALS: &str = "`results/evaluations.json`";

/// Most statistics shown in the importance ranking.
const TOP_IMPORTANCE: usize = 15;
/// Larger per-run / per-evaluation tables are cut to this many rows.
const MAX_ROWS: usize = 400;

fn render<P: Plot>(name: &str, p: &P) -> Result<plot::Rendered, ReportError> {
    plot::render(p).map_err(|message| ReportError::Plot {
        name: name.to_string(),
        message,
    })
}

pub(super) fn ms(m: &MeanSem) -> String {
    if m.mean.is_finite() {
        format!("{:.3} ± {:.3}", m.mean, m.sem)
    } else {
        "–".to_string()
    }
}

pub(super) fn f3(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "–".to_string()
    }
}

pub fn secs(s: f64) -> String {
    if !s.is_finite() {
        "–".to_string()
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.2} h", s / 3600.0)
    }
}

fn measure_rank(m: &str) -> (usize, String) {
    let r = match m {
        "weight" => 0,
        "act" => 1,
        "gradavg" => 2,
        "all" => 3,
        "perf" => 5,
        _ => 4,
    };
    (r, m.to_string())
}

fn classifier_rank(c: &str) -> (usize, String) {
    let r = match c {
        "random_forest" => 0,
        "linear_svm" => 1,
        "conv1d" | "conv1d_mlp" => 2,
        _ => 3,
    };
    (r, c.to_string())
}

pub(super) fn classifier_label(c: &str) -> String {
    match c {
        "random_forest" => "random forest".into(),
        "linear_svm" => "linear SVM".into(),
        other => other.replace('_', " "),
    }
}

fn sorted_measures<'a>(it: impl Iterator<Item = &'a EvalEntry>) -> Vec<String> {
    let mut v: Vec<String> = it
        .map(|e| e.measure.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    v.sort_by_key(|m| measure_rank(m));
    v
}

fn entries(inp: &StudyInputs) -> &[EvalEntry] {
    inp.evaluations
        .as_ref()
        .map(|e| e.evaluations.as_slice())
        .unwrap_or(&[])
}

/// The 4-way main entries (plain balanced split, flat features).
fn main_entries(inp: &StudyInputs) -> Vec<&EvalEntry> {
    entries(inp)
        .iter()
        .filter(|e| e.is_rule_target() && e.is_main())
        .collect()
}

/// The best main entry (highest mean accuracy) per measure.
fn best_per_measure(inp: &StudyInputs) -> Vec<&EvalEntry> {
    let main = main_entries(inp);
    sorted_measures(main.iter().copied())
        .into_iter()
        .filter_map(|m| {
            main.iter()
                .copied()
                .filter(|e| e.measure == m && e.accuracy.mean.is_finite())
                .max_by(|a, b| a.accuracy.mean.total_cmp(&b.accuracy.mean))
        })
        .collect()
}

fn chance_of<'a>(es: impl Iterator<Item = &'a EvalEntry>) -> Option<f64> {
    es.map(|e| e.chance).find(|c| c.is_finite() && *c > 0.0)
}

fn no_results(reads: &str) -> Block {
    Block::Note(format!(
        "No classifier results yet: {reads} is missing (run `lrx classify`)."
    ))
}

fn group_label(g: &str) -> String {
    match g {
        "grp_id0" => "layer position: early".into(),
        "grp_id1" => "layer position: middle".into(),
        "grp_id2" => "layer position: deep".into(),
        other => other.to_string(),
    }
}

/// Accuracy bars of the 4-way task: classifier × measure (plus the trajectory-average control).
pub fn accuracy(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "accuracy".into(),
        title: "Learning-rule classification: classifier × measure".into(),
        reads: EVALS.into(),
        blocks: vec![],
    };
    if inp.evaluations.is_none() {
        s.blocks.push(no_results(EVALS));
        return Ok(s);
    }
    let shown: Vec<&EvalEntry> = entries(inp)
        .iter()
        .filter(|e| e.is_rule_target() && (e.is_main() || e.is_average()))
        .collect();
    if shown.is_empty() {
        s.blocks.push(Block::Note(
            "No evaluation of the 4-way rule task with balanced splits in `results/evaluations.json`."
                .into(),
        ));
        return Ok(s);
    }
    let measures = sorted_measures(shown.iter().copied());
    let mut series_keys: Vec<(String, bool)> = shown
        .iter()
        .map(|e| (e.classifier.clone(), e.is_average()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    series_keys.sort_by_key(|(c, avg)| (*avg, classifier_rank(c)));
    let chance = chance_of(shown.iter().copied());
    let classes = shown
        .iter()
        .find(|e| !e.classes.is_empty())
        .map(|e| e.classes.len())
        .unwrap_or(0);
    let series: Vec<BarSeries> = series_keys
        .iter()
        .map(|(c, avg)| BarSeries {
            name: if *avg {
                format!("{} (trajectory average)", classifier_label(c))
            } else {
                classifier_label(c)
            },
            values: measures
                .iter()
                .map(|m| {
                    shown
                        .iter()
                        .find(|e| &e.classifier == c && e.is_average() == *avg && &e.measure == m)
                        .map(|e| (e.accuracy.mean, e.accuracy.sem))
                })
                .collect(),
        })
        .collect();
    let bars = Bars {
        title: format!(
            "Test accuracy, {}-way learning-rule classification",
            if classes > 0 {
                classes.to_string()
            } else {
                "k".into()
            }
        ),
        x_label: "observable measure".into(),
        y_label: "test accuracy".into(),
        categories: measures.clone(),
        series,
        hline: chance.map(|c| (c, format!("chance ({c:.2})"))),
        y_top: 1.0,
        y_axis_max: 1.3,
    };
    let r = render("accuracy", &bars)?;
    s.blocks.push(Block::Para(
        "Mean test accuracy over the outer category-balanced splits (error bars: s.e.m. over \
         splits) of classifying the learning rule from the observables of one layer, by \
         classifier and by measure (`weight`, `act`, `gradavg` or `all` three; `perf`, where \
         present, is each run's task performance alone, one example per run); the dashed line \
         is chance. Rows marked trajectory average are the control that averages each \
         statistic over the checkpoints."
            .into(),
    ));
    s.blocks.push(doc.figure(
        "accuracy",
        "Test accuracy by classifier and measure (mean ± s.e.m. over splits; dashed: chance).",
        r,
    ));
    let mut rows = Vec::new();
    for m in &measures {
        for (c, avg) in &series_keys {
            if let Some(e) = shown
                .iter()
                .find(|e| &e.classifier == c && e.is_average() == *avg && &e.measure == m)
            {
                rows.push(vec![
                    m.clone(),
                    classifier_label(c),
                    if *avg {
                        "trajectory average".into()
                    } else {
                        "flat".into()
                    },
                    ms(&e.accuracy.into()),
                    f3(e.chance),
                    format!("`{}`", e.id),
                ]);
            }
        }
    }
    s.blocks.push(Block::Table(Table {
        header: vec![
            "measure".into(),
            "classifier".into(),
            "features".into(),
            "accuracy (mean ± s.e.m.)".into(),
            "chance".into(),
            "evaluation".into(),
        ],
        rows,
    }));
    Ok(s)
}

/// Pairwise tasks: a rule × rule matrix of the best accuracy per pair, per measure.
pub fn pairwise(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "pairwise".into(),
        title: "Pairwise rule classification".into(),
        reads: EVALS.into(),
        blocks: vec![],
    };
    if inp.evaluations.is_none() {
        s.blocks.push(no_results(EVALS));
        return Ok(s);
    }
    let pairs: Vec<(&EvalEntry, (String, String))> = entries(inp)
        .iter()
        .filter(|e| e.is_main())
        .filter_map(|e| e.pair().map(|p| (e, p)))
        .collect();
    if pairs.is_empty() {
        s.blocks.push(Block::Note(
            "No pairwise evaluations (`targets = [pairs(rule)]`) in the results.".into(),
        ));
        return Ok(s);
    }
    s.blocks.push(Block::Para(
        "Each cell is the test accuracy (mean over splits) of the best classifier separating the \
         two rules of its row and column (chance 0.5); the matrix is symmetric."
            .into(),
    ));
    let mut rules: BTreeSet<String> = BTreeSet::new();
    for (_, (a, b)) in &pairs {
        rules.insert(a.clone());
        rules.insert(b.clone());
    }
    let rules: Vec<String> = rules.into_iter().collect();
    let measures = sorted_measures(pairs.iter().map(|(e, _)| *e));
    let mut rows = Vec::new();
    for m in &measures {
        // Best entry per unordered pair.
        let mut best: BTreeMap<(String, String), &EvalEntry> = BTreeMap::new();
        for (e, (a, b)) in pairs.iter().filter(|(e, _)| &e.measure == m) {
            let key = if a <= b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            let better = best
                .get(&key)
                .is_none_or(|o| e.accuracy.mean > o.accuracy.mean);
            if better {
                best.insert(key, e);
            }
        }
        let values: Vec<Vec<Option<f64>>> = rules
            .iter()
            .map(|r| {
                rules
                    .iter()
                    .map(|c| {
                        let key = if r <= c {
                            (r.clone(), c.clone())
                        } else {
                            (c.clone(), r.clone())
                        };
                        best.get(&key).map(|e| e.accuracy.mean)
                    })
                    .collect()
            })
            .collect();
        let hm = Heatmap {
            title: format!("Pairwise accuracy, measure {m}"),
            x_label: "rule".into(),
            y_label: "rule".into(),
            rows: rules.clone(),
            cols: rules.clone(),
            values,
            vmin: 0.5,
            vmax: 1.0,
            decimals: 2,
        };
        let r = render(&format!("pairwise-{m}"), &hm)?;
        s.blocks.push(doc.figure(
            &format!("pairwise-{m}"),
            format!("Pairwise test accuracy (best classifier per pair), measure `{m}`."),
            r,
        ));
        for ((a, b), e) in &best {
            rows.push(vec![
                format!("{a} vs {b}"),
                m.clone(),
                classifier_label(&e.classifier),
                ms(&e.accuracy.into()),
            ]);
        }
    }
    s.blocks.push(Block::Para(
        "Best classifier per pair and measure (all classifiers are in the last section's table):"
            .into(),
    ));
    s.blocks.push(Block::Table(Table {
        header: vec![
            "pair".into(),
            "measure".into(),
            "best classifier".into(),
            "accuracy (mean ± s.e.m.)".into(),
        ],
        rows,
    }));
    Ok(s)
}

/// Confusion matrices of the best classifier per measure.
pub fn confusion(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "confusion".into(),
        title: "Confusion matrices (best classifier per measure)".into(),
        reads: "`results/evaluations.json`, `results/eval/<id>.json` (`summary.confusion_mean`, \
                `balanced_accuracy`, `dprime`)"
            .into(),
        blocks: vec![],
    };
    if inp.evaluations.is_none() {
        s.blocks.push(no_results(EVALS));
        return Ok(s);
    }
    let best = best_per_measure(inp);
    if best.is_empty() {
        s.blocks.push(Block::Note(
            "No 4-way evaluation with balanced splits to show.".into(),
        ));
        return Ok(s);
    }
    s.blocks.push(Block::Para(
        "Rows are the true learning rule, columns the predicted one; each cell is the fraction of \
         the row's test examples (split-averaged confusion matrix, rows normalised). Balanced \
         accuracy and d′ per rule are mean ± s.e.m. over splits."
            .into(),
    ));
    for e in best {
        let Some(f) = inp.eval_files.get(&e.id) else {
            s.blocks.push(Block::Note(format!(
                "Measure `{}`: the result file of evaluation `{}` ({}) is missing, so its \
                 confusion matrix cannot be shown.",
                e.measure,
                e.id,
                Some(e.result_file.as_str())
                    .filter(|s| !s.is_empty())
                    .unwrap_or("no `result_file`")
            )));
            continue;
        };
        let cm = &f.summary.confusion_mean;
        let classes = if f.classes.is_empty() {
            e.classes.clone()
        } else {
            f.classes.clone()
        };
        if cm.is_empty() || cm.len() != classes.len() || cm.iter().any(|r| r.len() != classes.len())
        {
            s.blocks.push(Block::Note(format!(
                "Measure `{}`: evaluation `{}` has no confusion matrix of {} × {} classes.",
                e.measure,
                e.id,
                classes.len(),
                classes.len()
            )));
            continue;
        }
        let norm: Vec<Vec<Option<f64>>> = cm
            .iter()
            .map(|r| {
                let t: f64 = r.iter().sum();
                r.iter().map(|v| (t > 0.0).then(|| v / t)).collect()
            })
            .collect();
        let hm = Heatmap {
            title: format!(
                "{} on {} (accuracy {:.3})",
                classifier_label(&e.classifier),
                e.measure,
                e.accuracy.mean
            ),
            x_label: "predicted rule".into(),
            y_label: "true rule".into(),
            rows: classes.clone(),
            cols: classes.clone(),
            values: norm.clone(),
            vmin: 0.0,
            vmax: 1.0,
            decimals: 2,
        };
        let r = render(&format!("confusion-{}", e.measure), &hm)?;
        s.blocks.push(Block::Para(format!(
            "Measure `{}`: {} (evaluation `{}`), accuracy {}.",
            e.measure,
            classifier_label(&e.classifier),
            e.id,
            ms(&e.accuracy.into())
        )));
        s.blocks.push(doc.figure(
            &format!("confusion-{}", e.measure),
            format!(
                "Confusion matrix (row-normalised), measure `{}`, {}.",
                e.measure,
                classifier_label(&e.classifier)
            ),
            r,
        ));
        let mut header = vec!["true \\ predicted".to_string()];
        header.extend(classes.iter().cloned());
        header.push("balanced accuracy".into());
        header.push("d′".into());
        let rows = classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut row = vec![c.clone()];
                row.extend(norm[i].iter().map(|v| v.map(f3).unwrap_or("–".into())));
                row.push(
                    f.summary
                        .balanced_accuracy
                        .get(i)
                        .map(ms)
                        .unwrap_or("–".into()),
                );
                row.push(f.summary.dprime.get(i).map(ms).unwrap_or("–".into()));
                row
            })
            .collect();
        s.blocks.push(Block::Table(Table { header, rows }));
    }
    Ok(s)
}

/// The random-forest entry whose importances are shown: measure `all` if present, else the best.
fn importance_source(inp: &StudyInputs) -> Option<(&EvalEntry, &EvalFile)> {
    let mut cands: Vec<(&EvalEntry, &EvalFile)> = main_entries(inp)
        .into_iter()
        .filter_map(|e| {
            let f = inp.eval_files.get(&e.id)?;
            let g = f.summary.gini_importance.as_ref()?;
            (!g.is_empty() && g.len() == f.groups.len()).then_some((e, f))
        })
        .collect();
    cands.sort_by(|a, b| {
        (b.0.measure == "all")
            .cmp(&(a.0.measure == "all"))
            .then(b.0.accuracy.mean.total_cmp(&a.0.accuracy.mean))
    });
    cands.into_iter().next()
}

/// Gini importance of the feature groups (the top statistics).
pub fn importance(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "importance".into(),
        title: "Which statistics matter: Gini importance".into(),
        reads: "`results/eval/<id>.json` (`groups`, `summary.gini_importance`, \
                `summary.permutation_importance`)"
            .into(),
        blocks: vec![],
    };
    if inp.evaluations.is_none() {
        s.blocks.push(no_results(EVALS));
        return Ok(s);
    }
    let Some((e, f)) = importance_source(inp) else {
        s.blocks.push(Block::Note(
            "No random-forest result file with Gini importances (4-way task, balanced splits)."
                .into(),
        ));
        return Ok(s);
    };
    let gini = f.summary.gini_importance.as_ref().expect("checked");
    let perm = f
        .summary
        .permutation_importance
        .as_ref()
        .filter(|p| p.len() == f.groups.len());
    let mut order: Vec<usize> = (0..gini.len()).collect();
    order.sort_by(|&a, &b| gini[b].mean.total_cmp(&gini[a].mean));
    order.truncate(TOP_IMPORTANCE);
    let hb = HBars {
        title: format!(
            "Top {} feature groups by Gini importance ({}, {})",
            order.len(),
            classifier_label(&e.classifier),
            e.measure
        ),
        x_label: "mean decrease in impurity (sum over checkpoints)".into(),
        labels: order.iter().map(|&i| group_label(&f.groups[i])).collect(),
        values: order.iter().map(|&i| (gini[i].mean, gini[i].sem)).collect(),
    };
    let r = render("importance", &hb)?;
    s.blocks.push(Block::Para(format!(
        "Gini importance of each statistic (summed over its checkpoints) and of the three \
         layer-position indicators, mean ± s.e.m. over trees × splits, for {} on measure `{}` \
         (evaluation `{}`).",
        classifier_label(&e.classifier),
        e.measure,
        e.id
    )));
    s.blocks.push(doc.figure(
        "importance",
        format!(
            "Gini importance of the top {} feature groups (error bars: s.e.m.).",
            order.len()
        ),
        r,
    ));
    let mut header = vec![
        "rank".to_string(),
        "feature group".into(),
        "Gini importance".into(),
    ];
    if perm.is_some() {
        header.push("permutation importance".into());
    }
    let rows = order
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let mut row = vec![
                (k + 1).to_string(),
                group_label(&f.groups[i]),
                format!("{:.4} ± {:.4}", gini[i].mean, gini[i].sem),
            ];
            if let Some(p) = perm {
                row.push(format!("{:.4} ± {:.4}", p[i].mean, p[i].sem));
            }
            row
        })
        .collect();
    s.blocks.push(Block::Table(Table { header, rows }));
    Ok(s)
}

/// Holdout accuracies per factor value against the balanced baseline.
pub fn holdout(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "holdout".into(),
        title: "Generalisation to held-out conditions".into(),
        reads: EVALS.into(),
        blocks: vec![],
    };
    if inp.evaluations.is_none() {
        s.blocks.push(no_results(EVALS));
        return Ok(s);
    }
    let hs: Vec<&EvalEntry> = entries(inp)
        .iter()
        .filter(|e| e.is_rule_target() && e.is_holdout())
        .collect();
    if hs.is_empty() {
        s.blocks.push(Block::Note(
            "No holdout evaluations (`holdout in [...]`) in the results.".into(),
        ));
        return Ok(s);
    }
    s.blocks.push(Block::Para(
        "Train on every value of a factor but one, test on the held-out value (mean ± s.e.m. \
         over repeats). The first group, `balanced`, is the same classifier and measure with \
         category-balanced random splits."
            .into(),
    ));
    let main = main_entries(inp);
    let factors: BTreeSet<String> = hs
        .iter()
        .filter_map(|e| e.holdout.as_ref().map(|h| h.factor.clone()))
        .collect();
    let mut rows = Vec::new();
    for factor in &factors {
        let fe: Vec<&EvalEntry> = hs
            .iter()
            .copied()
            .filter(|e| e.holdout.as_ref().is_some_and(|h| &h.factor == factor))
            .collect();
        let values: Vec<String> = fe
            .iter()
            .filter_map(|e| e.holdout.as_ref().map(|h| h.value.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut keys: Vec<(String, String)> = fe
            .iter()
            .map(|e| (e.classifier.clone(), e.measure.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        keys.sort_by_key(|(c, m)| (classifier_rank(c), measure_rank(m)));
        let baseline = |c: &str, m: &str| {
            main.iter()
                .find(|e| e.classifier == c && e.measure == m)
                .map(|e| e.accuracy)
        };
        let mut categories = vec!["balanced".to_string()];
        categories.extend(values.iter().cloned());
        let series: Vec<BarSeries> = keys
            .iter()
            .map(|(c, m)| {
                let mut v = vec![baseline(c, m).map(|a| (a.mean, a.sem))];
                v.extend(values.iter().map(|val| {
                    fe.iter()
                        .find(|e| {
                            &e.classifier == c
                                && &e.measure == m
                                && e.holdout.as_ref().is_some_and(|h| &h.value == val)
                        })
                        .map(|e| (e.accuracy.mean, e.accuracy.sem))
                }));
                BarSeries {
                    name: format!("{}, {}", classifier_label(c), m),
                    values: v,
                }
            })
            .collect();
        let chance = chance_of(fe.iter().copied());
        let bars = Bars {
            title: format!("Holdout accuracy by held-out {factor}"),
            x_label: format!("held-out value of {factor}"),
            y_label: "test accuracy".into(),
            categories,
            series,
            hline: chance.map(|c| (c, format!("chance ({c:.2})"))),
            y_top: 1.0,
            y_axis_max: 1.3,
        };
        let r = render(&format!("holdout-{factor}"), &bars)?;
        s.blocks.push(doc.figure(
            &format!("holdout-{factor}"),
            format!(
                "Holdout over `{factor}`: accuracy per held-out value vs the balanced baseline."
            ),
            r,
        ));
        for (c, m) in &keys {
            let base = baseline(c, m);
            for val in &values {
                if let Some(e) = fe.iter().find(|e| {
                    &e.classifier == c
                        && &e.measure == m
                        && e.holdout.as_ref().is_some_and(|h| &h.value == val)
                }) {
                    rows.push(vec![
                        factor.clone(),
                        val.clone(),
                        m.clone(),
                        classifier_label(c),
                        ms(&e.accuracy.into()),
                        base.map(|a| ms(&a.into())).unwrap_or("–".into()),
                    ]);
                }
            }
        }
    }
    s.blocks.push(Block::Table(Table {
        header: vec![
            "factor".into(),
            "held-out value".into(),
            "measure".into(),
            "classifier".into(),
            "holdout accuracy".into(),
            "balanced baseline".into(),
        ],
        rows,
    }));
    Ok(s)
}

/// Accuracy against the number of subsampled checkpoints, one line per period.
pub fn trajectory(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "trajectory".into(),
        title: "Trajectory subsampling".into(),
        reads: EVALS.into(),
        blocks: vec![],
    };
    if inp.evaluations.is_none() {
        s.blocks.push(no_results(EVALS));
        return Ok(s);
    }
    let ts: Vec<&EvalEntry> = entries(inp)
        .iter()
        .filter(|e| e.is_rule_target() && e.is_trajectory())
        .collect();
    if ts.is_empty() {
        s.blocks.push(Block::Note(
            "No trajectory-subsampling evaluations (`trajectory { period, samples }`).".into(),
        ));
        return Ok(s);
    }
    s.blocks.push(Block::Para(
        "Each example keeps only `samples` checkpoints `period` checkpoints apart, from a random \
         start (method §4). Test accuracy (mean ± s.e.m. over splits) against the number of \
         samples, one line per period; one panel per classifier and measure."
            .into(),
    ));
    let mut keys: Vec<(String, String)> = ts
        .iter()
        .map(|e| (e.classifier.clone(), e.measure.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    keys.sort_by_key(|(c, m)| (classifier_rank(c), measure_rank(m)));
    let chance = chance_of(ts.iter().copied());
    let mut panels = Vec::new();
    let mut rows = Vec::new();
    for (c, m) in &keys {
        let ke: Vec<&EvalEntry> = ts
            .iter()
            .copied()
            .filter(|e| &e.classifier == c && &e.measure == m)
            .collect();
        let periods: BTreeSet<usize> = ke
            .iter()
            .filter_map(|e| e.trajectory.map(|t| t.period))
            .collect();
        let lines = periods
            .iter()
            .map(|p| {
                let mut pts: Vec<(usize, &EvalEntry)> = ke
                    .iter()
                    .filter_map(|e| {
                        let t = e.trajectory?;
                        (t.period == *p).then_some((t.samples, *e))
                    })
                    .collect();
                pts.sort_by_key(|(n, _)| *n);
                for (n, e) in &pts {
                    rows.push(vec![
                        classifier_label(c),
                        m.clone(),
                        p.to_string(),
                        n.to_string(),
                        ms(&e.accuracy.into()),
                    ]);
                }
                Line {
                    name: format!("period {p}"),
                    points: pts
                        .iter()
                        .map(|(n, e)| (*n as f64, e.accuracy.mean, Some(e.accuracy.sem)))
                        .collect(),
                }
            })
            .collect();
        panels.push(Panel {
            title: format!("{}, {}", classifier_label(c), m),
            x_label: "samples per trajectory".into(),
            y_label: "test accuracy".into(),
            lines,
            y_range: Some((0.0, 1.45)),
            hline: chance,
            hline_label: None,
            hide_above: Some(1.0),
        });
    }
    let cols = if panels.len() > 4 { 4 } else { panels.len() };
    let fig = Lines {
        title: "Accuracy vs number of trajectory samples".into(),
        panels,
        cols,
    };
    let r = render("trajectory", &fig)?;
    s.blocks.push(doc.figure(
        "trajectory",
        "Test accuracy vs samples per trajectory, one line per period (dashed: chance).",
        r,
    ));
    s.blocks.push(Block::Table(Table {
        header: vec![
            "classifier".into(),
            "measure".into(),
            "period".into(),
            "samples".into(),
            "accuracy (mean ± s.e.m.)".into(),
        ],
        rows,
    }));
    Ok(s)
}

/// Accuracy under measurement noise × unit subsampling.
pub fn realism(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "realism".into(),
        title: "Realistic measurements: noise × unit subsampling".into(),
        reads: EVALS.into(),
        blocks: vec![],
    };
    if inp.evaluations.is_none() {
        s.blocks.push(no_results(EVALS));
        return Ok(s);
    }
    let rs: Vec<&EvalEntry> = entries(inp)
        .iter()
        .filter(|e| e.is_rule_target() && e.is_realism())
        .collect();
    if rs.is_empty() {
        s.blocks.push(Block::Note(
            "No realism evaluations (the spec's `realism` block adds them).".into(),
        ));
        return Ok(s);
    }
    s.blocks.push(Block::Para(
        "Observables recomputed with additive Gaussian measurement noise of standard deviation σ \
         on a random fraction ρ of the units; each cell is the test accuracy (mean over splits)."
            .into(),
    ));
    let mut keys: Vec<(String, String)> = rs
        .iter()
        .map(|e| (e.measure.clone(), e.classifier.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    keys.sort_by_key(|(m, c)| (measure_rank(m), classifier_rank(c)));
    let mut rows = Vec::new();
    for (m, c) in &keys {
        let ke: Vec<&EvalEntry> = rs
            .iter()
            .copied()
            .filter(|e| &e.classifier == c && &e.measure == m)
            .collect();
        let mut sigmas: Vec<f64> = ke
            .iter()
            .filter_map(|e| e.realism.map(|r| r.sigma))
            .collect();
        sigmas.sort_by(f64::total_cmp);
        sigmas.dedup();
        let mut fracs: Vec<f64> = ke
            .iter()
            .filter_map(|e| e.realism.map(|r| r.fraction))
            .collect();
        fracs.sort_by(|a, b| b.total_cmp(a));
        fracs.dedup();
        let find = |sg: f64, fr: f64| {
            ke.iter()
                .copied()
                .find(|e| e.realism.is_some_and(|r| r.sigma == sg && r.fraction == fr))
        };
        let values = sigmas
            .iter()
            .map(|&sg| {
                fracs
                    .iter()
                    .map(|&fr| find(sg, fr).map(|e| e.accuracy.mean))
                    .collect()
            })
            .collect();
        let chance = chance_of(ke.iter().copied()).unwrap_or(0.0);
        let hm = Heatmap {
            title: format!("{}, measure {m}", classifier_label(c)),
            x_label: "fraction of units ρ".into(),
            y_label: "noise σ".into(),
            rows: sigmas.iter().map(|v| format!("{v}")).collect(),
            cols: fracs.iter().map(|v| format!("{v}")).collect(),
            values,
            vmin: chance,
            vmax: 1.0,
            decimals: 2,
        };
        let name = format!("realism-{m}-{c}");
        let r = render(&name, &hm)?;
        s.blocks.push(doc.figure(
            &name,
            format!(
                "Accuracy under noise σ (rows) × unit fraction ρ (columns), measure `{m}`, {}.",
                classifier_label(c)
            ),
            r,
        ));
        for &sg in &sigmas {
            for &fr in &fracs {
                if let Some(e) = find(sg, fr) {
                    rows.push(vec![
                        m.clone(),
                        classifier_label(c),
                        format!("{sg}"),
                        format!("{fr}"),
                        ms(&e.accuracy.into()),
                    ]);
                }
            }
        }
    }
    s.blocks.push(Block::Table(Table {
        header: vec![
            "measure".into(),
            "classifier".into(),
            "noise σ".into(),
            "unit fraction ρ".into(),
            "accuracy (mean ± s.e.m.)".into(),
        ],
        rows,
    }));
    Ok(s)
}

/// Rule of a run: `runs.parquet`, else its status.json.
fn rule_of<'a>(inp: &'a StudyInputs, st: &'a RunStatus) -> &'a str {
    inp.runs
        .as_ref()
        .and_then(|rs| rs.iter().find(|r| r.run_id == st.run_id))
        .map(|r| r.rule.as_str())
        .filter(|r| !r.is_empty())
        .unwrap_or(if st.rule.is_empty() { "?" } else { &st.rule })
}

fn mean_sem(v: &[f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sem = if v.len() > 1 {
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() / n.sqrt()
    } else {
        0.0
    };
    Some((m, sem))
}

/// The runs grouped by their rule (sorted).
fn by_rule<'a>(
    inp: &'a StudyInputs,
    runs: &[&'a RunStatus],
) -> BTreeMap<String, Vec<&'a RunStatus>> {
    let mut out: BTreeMap<String, Vec<&RunStatus>> = BTreeMap::new();
    for st in runs {
        out.entry(rule_of(inp, st).to_string())
            .or_default()
            .push(st);
    }
    out
}

/// Per epoch, mean ± s.e.m. over `runs` of a value of the epoch record (finite values only):
/// the points of one curve.
fn epoch_curve(
    runs: &[&RunStatus],
    get: impl Fn(&super::inputs::Epoch) -> Option<f64>,
) -> Vec<(f64, f64, Option<f64>)> {
    let mut per_epoch: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for e in &r.history {
            if let Some(v) = get(e).filter(|v| v.is_finite()) {
                per_epoch.entry(e.epoch).or_default().push(v);
            }
        }
    }
    per_epoch
        .into_iter()
        .filter_map(|(ep, v)| mean_sem(&v).map(|(m, sm)| (ep as f64, m, Some(sm))))
        .collect()
}

/// Training curves per rule from the runs' histories.
pub fn training(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "training".into(),
        title: "Training curves per learning rule".into(),
        reads: "`runs/<run_id>/status.json` (`history`), `runs.parquet` (rule)".into(),
        blocks: vec![],
    };
    let with_hist: Vec<&RunStatus> = inp
        .statuses
        .iter()
        .filter(|st| st.status == "done" && !st.history.is_empty())
        .collect();
    if with_hist.is_empty() {
        s.blocks.push(Block::Note(if inp.statuses.is_empty() {
            "No training histories: no run has a `status.json` yet (run `lrx run`).".into()
        } else {
            "No training histories: no finished (`done`) run has a non-empty `history`.".into()
        }));
        return Ok(s);
    }
    let excluded = inp
        .statuses
        .iter()
        .filter(|st| st.status != "done" && !st.history.is_empty())
        .count();
    s.blocks.push(Block::Para(format!(
        "Mean over the finished runs of each rule (error bars: s.e.m. over runs) of the training \
         loss, the training accuracy and the validation accuracy at the end of each epoch{}.",
        if excluded > 0 {
            format!("; {excluded} diverged or failed runs are left out")
        } else {
            String::new()
        }
    )));
    let by_rule = by_rule(inp, &with_hist);
    type Get = fn(&super::inputs::Epoch) -> Option<f64>;
    let metrics: [(&str, &str, Get); 3] = [
        ("training loss", "train loss", |e| e.train_loss),
        ("training accuracy", "train accuracy", |e| e.train_acc),
        ("validation accuracy", "val accuracy", |e| e.val_acc),
    ];
    let mut panels = Vec::new();
    for (title, ylab, get) in metrics {
        let lines: Vec<Line> = by_rule
            .iter()
            .map(|(rule, runs)| Line {
                name: rule.clone(),
                points: epoch_curve(runs, get),
            })
            .filter(|l| !l.points.is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        panels.push(Panel {
            title: title.into(),
            x_label: "epoch".into(),
            y_label: ylab.into(),
            lines,
            y_range: title.contains("accuracy").then_some((0.0, 1.45)),
            hline: None,
            hline_label: None,
            hide_above: title.contains("accuracy").then_some(1.0),
        });
    }
    if !panels.is_empty() {
        let n = panels.len();
        let fig = Lines {
            title: "Training curves (mean over runs of each rule)".into(),
            panels,
            cols: n,
        };
        let r = render("training", &fig)?;
        s.blocks.push(doc.figure(
            "training",
            "Training loss, training accuracy and validation accuracy per epoch, mean ± s.e.m. over the runs of each rule.",
            r,
        ));
    }
    let rows = by_rule
        .iter()
        .map(|(rule, runs)| {
            let last = |get: Get| {
                let v: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.history.last().and_then(get))
                    .filter(|v| v.is_finite())
                    .collect();
                mean_sem(&v)
                    .map(|(m, s)| format!("{m:.3} ± {s:.3}"))
                    .unwrap_or("–".into())
            };
            let epochs: BTreeSet<u32> = runs
                .iter()
                .filter_map(|r| r.history.last().map(|e| e.epoch))
                .collect();
            vec![
                rule.clone(),
                runs.len().to_string(),
                epochs
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                last(|e| e.train_loss),
                last(|e| e.train_acc),
                last(|e| e.val_loss),
                last(|e| e.val_acc),
            ]
        })
        .collect();
    s.blocks.push(Block::Table(Table {
        header: vec![
            "rule".into(),
            "finished runs".into(),
            "last epoch".into(),
            "final train loss".into(),
            "final train accuracy".into(),
            "final val loss".into(),
            "final val accuracy".into(),
        ],
        rows,
    }));
    Ok(s)
}

/// Whether FA/IA-type rules work, per layer with backward weights: the angle between the rule's
/// weight update and backprop's gradient on a fixed batch (Lillicrap et al.), the W–B angle and
/// ‖W‖/‖W₀‖ per epoch, mean ± s.e.m. over each rule's finished runs. `None` when no run
/// recorded them (backprop-only studies).
pub fn alignment(doc: &mut Doc, inp: &StudyInputs) -> Result<Option<Section>, ReportError> {
    use super::inputs::LayerAlign;
    let runs: Vec<&RunStatus> = inp
        .statuses
        .iter()
        .filter(|st| st.status == "done" && st.history.iter().any(|e| !e.alignment.is_empty()))
        .collect();
    if runs.is_empty() {
        return Ok(None);
    }
    let mut layers: Vec<String> = vec![];
    for r in &runs {
        for e in &r.history {
            for a in &e.alignment {
                if !layers.contains(&a.layer) {
                    layers.push(a.layer.clone());
                }
            }
        }
    }
    let by_rule = by_rule(inp, &runs);
    type Get = fn(&LayerAlign) -> Option<f64>;
    /// Title, y label, value, fixed y range, reference line.
    type Metric = (
        &'static str,
        &'static str,
        Get,
        Option<(f64, f64)>,
        Option<f64>,
    );
    let metrics: [Metric; 3] = [
        (
            "update ∠ backprop",
            "degrees",
            |a| a.update_angle,
            Some((0.0, 120.0)),
            Some(90.0),
        ),
        (
            "W ∠ B",
            "degrees",
            |a| a.angle,
            Some((0.0, 120.0)),
            Some(90.0),
        ),
        ("‖W‖ / ‖W₀‖", "ratio", |a| a.w_growth, None, Some(1.0)),
    ];
    let mut panels = vec![];
    let mut rows = vec![];
    for (title, ylab, get, y_range, hline) in metrics {
        for layer in &layers {
            let lines: Vec<Line> = by_rule
                .iter()
                .map(|(rule, rs)| Line {
                    name: rule.clone(),
                    points: epoch_curve(rs, |e| {
                        e.alignment.iter().find(|a| &a.layer == layer).and_then(get)
                    }),
                })
                .filter(|l| !l.points.is_empty())
                .collect();
            for l in &lines {
                if let Some(&(ep, m, sm)) = l.points.last() {
                    rows.push(vec![
                        l.name.clone(),
                        layer.clone(),
                        title.to_string(),
                        format!("{ep:.0}"),
                        format!("{m:.2} ± {:.2}", sm.unwrap_or(0.0)),
                    ]);
                }
            }
            if !lines.is_empty() {
                panels.push(Panel {
                    title: format!("{layer}: {title}"),
                    x_label: "epoch".into(),
                    y_label: ylab.into(),
                    lines,
                    y_range,
                    hline,
                    hline_label: Some(if ylab == "degrees" { "90°" } else { "1" }.into()),
                    hide_above: None,
                });
            }
        }
    }
    let mut s = Section {
        id: "alignment".into(),
        title: "Are the feedback rules working? Update and weight alignment per layer".into(),
        reads: "`runs/<run_id>/status.json` (`history[].alignment`)".into(),
        blocks: vec![Block::Para(
            "For every layer with backward weights B, at the end of each epoch: the angle \
             between the rule's weight gradient and backprop's on the same 128 validation \
             images (below 90°: the rule's update descends the task loss in that layer), the \
             angle between W and B, and ‖W‖/‖W₀‖. Mean ± s.e.m. over the finished runs of each \
             rule; the dashed line marks 90° (orthogonal) or a ratio of 1."
                .into(),
        )],
    };
    if !panels.is_empty() {
        let fig = Lines {
            title: "Alignment diagnostics".into(),
            cols: layers.len().max(1),
            panels,
        };
        let r = render("alignment", &fig)?;
        s.blocks.push(doc.figure(
            "alignment",
            "Update angle against backprop, W–B angle and weight growth per layer and epoch.",
            r,
        ));
    }
    s.blocks.push(Block::Table(Table {
        header: vec![
            "rule".into(),
            "layer".into(),
            "diagnostic".into(),
            "last epoch".into(),
            "value".into(),
        ],
        rows,
    }));
    Ok(Some(s))
}

/// One row per known run: id, rule, status (status.json wins over runs.parquet).
struct RunRow<'a> {
    id: String,
    rule: String,
    status: String,
    st: Option<&'a RunStatus>,
}

fn run_rows(inp: &StudyInputs) -> Vec<RunRow<'_>> {
    let mut out: BTreeMap<String, RunRow> = BTreeMap::new();
    if let Some(rs) = &inp.runs {
        for r in rs {
            out.insert(
                r.run_id.clone(),
                RunRow {
                    id: r.run_id.clone(),
                    rule: r.rule.clone(),
                    status: r.status.clone(),
                    st: None,
                },
            );
        }
    }
    for st in &inp.statuses {
        let e = out.entry(st.run_id.clone()).or_insert_with(|| RunRow {
            id: st.run_id.clone(),
            rule: st.rule.clone(),
            status: String::new(),
            st: None,
        });
        if !st.status.is_empty() {
            e.status = st.status.clone();
        }
        if e.rule.is_empty() {
            e.rule = st.rule.clone();
        }
        e.st = Some(st);
    }
    out.into_values().collect()
}

/// Provenance: versions, devices, wall times, run outcomes, dropped statistics.
pub fn provenance(inp: &StudyInputs) -> Section {
    let mut s = Section {
        id: "provenance".into(),
        title: "Provenance and run outcomes".into(),
        reads: "`study.json`, `manifest.json`, `runs.parquet`, `runs/<run_id>/status.json`, \
                `results/evaluations.json`"
            .into(),
        blocks: vec![],
    };
    let rows = run_rows(inp);
    let mut kv: Vec<Vec<String>> = Vec::new();
    let mut add = |k: &str, v: String| kv.push(vec![k.to_string(), v]);
    add(
        "study",
        inp.study_name()
            .map(|n| format!("`{n}`"))
            .unwrap_or("–".into()),
    );
    if let Some(d) = inp.study_str("description").filter(|d| !d.is_empty()) {
        add("description", d.to_string());
    }
    let hashes: BTreeSet<String> = [
        inp.study_str("spec_hash").map(str::to_string),
        inp.manifest.as_ref().map(|m| m.spec_hash.clone()),
        inp.evaluations.as_ref().map(|e| e.spec_hash.clone()),
    ]
    .into_iter()
    .flatten()
    .filter(|h| !h.is_empty())
    .collect();
    add(
        "spec hash",
        if hashes.is_empty() {
            "–".into()
        } else {
            hashes
                .iter()
                .map(|h| format!("`{h}`"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    if let Some(m) = inp.manifest.as_ref().filter(|m| !m.spec_path.is_empty()) {
        add("spec file", format!("`{}`", m.spec_path));
    }
    let mut lrx: BTreeSet<String> = inp
        .statuses
        .iter()
        .filter_map(|s| s.lrx_version.clone())
        .filter(|v| !v.is_empty())
        .collect();
    if let Some(m) = inp.manifest.as_ref().filter(|m| !m.lrx_version.is_empty()) {
        lrx.insert(m.lrx_version.clone());
    }
    add(
        "lrx version (runs)",
        if lrx.is_empty() {
            "–".into()
        } else {
            lrx.into_iter().collect::<Vec<_>>().join(", ")
        },
    );
    add(
        "report written by",
        format!("lrx {}", env!("CARGO_PKG_VERSION")),
    );
    let mut torch: BTreeSet<String> = inp
        .statuses
        .iter()
        .filter_map(|s| s.libtorch_version.clone())
        .filter(|v| !v.is_empty())
        .collect();
    if let Some(m) = inp
        .manifest
        .as_ref()
        .filter(|m| !m.libtorch_version.is_empty())
    {
        torch.insert(m.libtorch_version.clone());
    }
    add(
        "libtorch version",
        if torch.is_empty() {
            "–".into()
        } else {
            torch.into_iter().collect::<Vec<_>>().join(", ")
        },
    );
    let mut devices: BTreeMap<String, usize> = BTreeMap::new();
    for st in &inp.statuses {
        if let Some(d) = st.device.as_ref().filter(|d| !d.is_empty()) {
            *devices.entry(d.clone()).or_default() += 1;
        }
    }
    add(
        "devices",
        if devices.is_empty() {
            "–".into()
        } else {
            devices
                .iter()
                .map(|(d, n)| format!("{d} ({n} runs)"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    let planned = inp.manifest.as_ref().map(|m| m.run_ids());
    if let Some(p) = &planned {
        add("planned runs", p.len().to_string());
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        *counts
            .entry(if r.status.is_empty() {
                "unknown".into()
            } else {
                r.status.clone()
            })
            .or_default() += 1;
    }
    add(
        "runs by status",
        if counts.is_empty() {
            "no runs recorded".into()
        } else {
            counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    if let Some(p) = &planned {
        let known: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let not_started = p.iter().filter(|id| !known.contains(id.as_str())).count();
        if not_started > 0 {
            add("planned but not recorded", not_started.to_string());
        }
    }
    let times: Vec<f64> = inp
        .statuses
        .iter()
        .filter_map(|s| s.seconds)
        .filter(|t| t.is_finite())
        .collect();
    if !times.is_empty() {
        let total: f64 = times.iter().sum();
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        add(
            "wall time",
            format!(
                "total {} over {} runs; per run mean {}, median {}, min {}, max {}",
                secs(total),
                times.len(),
                secs(total / times.len() as f64),
                secs(sorted[sorted.len() / 2]),
                secs(sorted[0]),
                secs(sorted[sorted.len() - 1])
            ),
        );
    }
    s.blocks.push(Block::Table(Table {
        header: vec!["".into(), "".into()],
        rows: kv,
    }));
    if inp.runs.is_none() && inp.statuses.is_empty() {
        s.blocks.push(Block::Note(
            "No run outcomes: neither `runs.parquet` nor any `runs/<run_id>/status.json` exists."
                .into(),
        ));
    }
    if !inp.runs_without_status.is_empty() {
        s.blocks.push(Block::Note(format!(
            "{} run directories have no `status.json` (in progress or interrupted).",
            inp.runs_without_status.len()
        )));
    }
    // Outcomes per rule.
    if !rows.is_empty() {
        let mut per: BTreeMap<String, (usize, usize, usize, usize, Vec<f64>)> = BTreeMap::new();
        for r in &rows {
            let e = per.entry(r.rule.clone()).or_default();
            match r.status.as_str() {
                "done" => e.0 += 1,
                "diverged" => e.1 += 1,
                "failed" => e.2 += 1,
                _ => e.3 += 1,
            }
            if let Some(t) = r.st.and_then(|s| s.seconds).filter(|t| t.is_finite()) {
                e.4.push(t);
            }
        }
        s.blocks
            .push(Block::Para("Runs and wall time per learning rule:".into()));
        s.blocks.push(Block::Table(Table {
            header: vec![
                "rule".into(),
                "done".into(),
                "diverged".into(),
                "failed".into(),
                "other".into(),
                "total wall time".into(),
                "mean per run".into(),
                "max per run".into(),
            ],
            rows: per
                .iter()
                .map(|(rule, (d, v, f, o, t))| {
                    let total: f64 = t.iter().sum();
                    vec![
                        rule.clone(),
                        d.to_string(),
                        v.to_string(),
                        f.to_string(),
                        o.to_string(),
                        if t.is_empty() {
                            "–".into()
                        } else {
                            secs(total)
                        },
                        if t.is_empty() {
                            "–".into()
                        } else {
                            secs(total / t.len() as f64)
                        },
                        t.iter()
                            .copied()
                            .reduce(f64::max)
                            .map(secs)
                            .unwrap_or("–".into()),
                    ]
                })
                .collect(),
        }));
    }
    let diverged: Vec<&RunRow> = rows.iter().filter(|r| r.status == "diverged").collect();
    if !diverged.is_empty() {
        s.blocks.push(Block::Para(format!(
            "{} diverged run{} (the loss became non-finite; excluded from the training curves):",
            diverged.len(),
            if diverged.len() == 1 { "" } else { "s" }
        )));
        s.blocks.push(Block::Table(Table {
            header: vec!["run".into(), "rule".into(), "diverged at epoch".into()],
            rows: diverged
                .iter()
                .map(|r| {
                    vec![
                        format!("`{}`", r.id),
                        r.rule.clone(),
                        r.st.and_then(|s| s.diverged_epoch)
                            .map(|e| e.to_string())
                            .unwrap_or("–".into()),
                    ]
                })
                .collect(),
        }));
    }
    let failed: Vec<&RunRow> = rows.iter().filter(|r| r.status == "failed").collect();
    if !failed.is_empty() {
        s.blocks.push(Block::Para(format!(
            "{} failed run{}:",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" }
        )));
        s.blocks.push(Block::Table(Table {
            header: vec!["run".into(), "rule".into(), "error".into()],
            rows: failed
                .iter()
                .map(|r| {
                    vec![
                        format!("`{}`", r.id),
                        r.rule.clone(),
                        r.st.and_then(|s| s.error.clone()).unwrap_or("–".into()),
                    ]
                })
                .collect(),
        }));
    }
    // Per-run wall times.
    let timed: Vec<&RunRow> = rows.iter().filter(|r| r.st.is_some()).collect();
    if !timed.is_empty() {
        s.blocks.push(Block::Para(if timed.len() > MAX_ROWS {
            format!(
                "Per-run wall time (first {MAX_ROWS} of {} runs by id; every run's \
                 `status.json` has its own):",
                timed.len()
            )
        } else {
            "Per-run wall time:".into()
        }));
        s.blocks.push(Block::Table(Table {
            header: vec![
                "run".into(),
                "rule".into(),
                "status".into(),
                "device".into(),
                "epochs".into(),
                "wall time".into(),
            ],
            rows: timed
                .iter()
                .take(MAX_ROWS)
                .map(|r| {
                    let st = r.st.expect("filtered");
                    vec![
                        format!("`{}`", r.id),
                        r.rule.clone(),
                        r.status.clone(),
                        st.device.clone().unwrap_or("–".into()),
                        st.history
                            .last()
                            .map(|e| e.epoch.to_string())
                            .unwrap_or("–".into()),
                        st.seconds.map(secs).unwrap_or("–".into()),
                    ]
                })
                .collect(),
        }));
    }
    // Dropped statistics and classifier notes.
    if let Some(ev) = &inp.evaluations {
        let mut dropped: BTreeSet<String> = ev.dropped_stats.iter().cloned().collect();
        for f in inp.eval_files.values() {
            dropped.extend(f.dropped_stats.iter().cloned());
        }
        s.blocks.push(Block::Para(if dropped.is_empty() {
            "Dropped statistics: none (every statistic was finite for every example).".into()
        } else {
            format!(
                "Dropped statistics ({}; non-finite for some example, removed by the \
                 classifier's drop rule): {}.",
                dropped.len(),
                dropped
                    .iter()
                    .map(|d| format!("`{d}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }));
        if !ev.notes.is_empty() {
            s.blocks
                .push(Block::Para("Notes of the classifier stage:".into()));
            s.blocks.push(Block::List(ev.notes.clone()));
        }
    } else {
        s.blocks.push(Block::Note(
            "Dropped statistics unknown: `results/evaluations.json` is missing.".into(),
        ));
    }
    s
}

fn setting(e: &EvalEntry) -> String {
    let mut parts = Vec::new();
    if let Some(h) = &e.holdout {
        parts.push(format!("holdout {}={}", h.factor, h.value));
    } else if !e.split.is_empty() {
        parts.push(e.split.clone());
    }
    if let Some(t) = e.trajectory {
        parts.push(format!("trajectory period {} × {}", t.period, t.samples));
    }
    if e.layout == "trajectory_average" {
        parts.push("trajectory average".into());
    }
    if let Some(p) = &e.portion {
        // The JSON object as the stage writes it.
        let p = serde_json::to_value(p).unwrap_or_default();
        parts.push(format!("portion {p}"));
    }
    if let Some(r) = e.realism {
        parts.push(format!("σ={} ρ={}", r.sigma, r.fraction));
    }
    if let Some(m) = &e.matched {
        parts.push(format!("matched ±{}", m.tolerance));
    }
    parts.join(", ")
}

/// Every evaluation in one table.
pub fn all_evaluations(inp: &StudyInputs) -> Section {
    let mut s = Section {
        id: "evaluations".into(),
        title: "All evaluations".into(),
        reads: EVALS.into(),
        blocks: vec![],
    };
    let Some(ev) = &inp.evaluations else {
        s.blocks.push(no_results(EVALS));
        return s;
    };
    if ev.evaluations.is_empty() {
        s.blocks.push(Block::Note(
            "`results/evaluations.json` lists no evaluation.".into(),
        ));
        return s;
    }
    if ev.evaluations.len() > MAX_ROWS {
        s.blocks.push(Block::Para(format!(
            "The first {MAX_ROWS} of {} evaluations (all are in `results/evaluations.json`).",
            ev.evaluations.len()
        )));
    }
    s.blocks.push(Block::Table(Table {
        header: vec![
            "id".into(),
            "target".into(),
            "measure".into(),
            "classifier".into(),
            "setting".into(),
            "accuracy (mean ± s.e.m.)".into(),
            "chance".into(),
        ],
        rows: ev
            .evaluations
            .iter()
            .take(MAX_ROWS)
            .map(|e| {
                vec![
                    format!("`{}`", e.id),
                    e.target.clone(),
                    e.measure.clone(),
                    classifier_label(&e.classifier),
                    setting(e),
                    ms(&e.accuracy.into()),
                    f3(e.chance),
                ]
            })
            .collect(),
    }));
    s
}

/// The overview: headline numbers and what is missing.
pub fn overview(inp: &StudyInputs) -> Section {
    let mut s = Section {
        id: "overview".into(),
        title: "Overview".into(),
        reads: String::new(),
        blocks: vec![],
    };
    if let Some(d) = inp.study_str("description").filter(|d| !d.is_empty()) {
        s.blocks.push(Block::Para(d.to_string()));
    }
    let rows = run_rows(inp);
    if !rows.is_empty() {
        let done = rows.iter().filter(|r| r.status == "done").count();
        let rules: BTreeSet<&str> = rows.iter().map(|r| r.rule.as_str()).collect();
        s.blocks.push(Block::Para(format!(
            "{} runs recorded ({done} done) over {} learning rules: {}.",
            rows.len(),
            rules.len(),
            rules.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let best = best_per_measure(inp);
    // The observables' best, and task performance alone (the `perf` control) beside it.
    if let Some(top) = best
        .iter()
        .filter(|e| e.measure != "perf")
        .max_by(|a, b| a.accuracy.mean.total_cmp(&b.accuracy.mean))
    {
        s.blocks.push(Block::Para(format!(
            "Best 4-way accuracy: {} with {} on measure `{}` (chance {}).",
            ms(&top.accuracy.into()),
            classifier_label(&top.classifier),
            top.measure,
            f3(top.chance)
        )));
    }
    if let Some(p) = best.iter().find(|e| e.measure == "perf") {
        s.blocks.push(Block::Para(format!(
            "Task performance alone (measure `perf`, the control of \"Task-performance controls\"): {} with {}.",
            ms(&p.accuracy.into()),
            classifier_label(&p.classifier)
        )));
    }
    if !inp.missing.is_empty() {
        s.blocks.push(Block::Note(
            "Some inputs are missing, so parts of this report are empty:".into(),
        ));
        s.blocks.push(Block::List(inp.missing.clone()));
    }
    s
}
