//! The sections of the report, built from [`StudyInputs`].
//!
//! One file per section (`accuracy`, `pairwise`, …, `overview`); the helpers they share are here.

mod accuracy;
mod alignment;
mod all_evaluations;
mod calibration;
mod confusion;
mod holdout;
mod importance;
mod overview;
mod pairwise;
mod provenance;
mod realism;
mod training;
mod trajectory;

pub(crate) use accuracy::accuracy;
pub(crate) use alignment::alignment;
pub(crate) use all_evaluations::all_evaluations;
pub(crate) use calibration::calibration;
pub(crate) use confusion::confusion;
pub(crate) use holdout::holdout;
pub(crate) use importance::importance;
pub(crate) use overview::overview;
pub(crate) use pairwise::pairwise;
pub(crate) use provenance::provenance;
pub(crate) use realism::realism;
pub(crate) use training::training;
pub(crate) use trajectory::trajectory;

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

pub(crate) fn secs(s: f64) -> String {
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
    get: impl Fn(&crate::report::inputs::Epoch) -> Option<f64>,
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
