//! The task-performance controls of the report (issue 20): how far task performance alone
//! separates the rules (the `perf` measure) and whether the separation survives when only runs
//! of similar final validation accuracy are compared (the matched control, the paper's
//! Fig. S2a). Kept apart from `sections.rs`, which is long enough.

use std::collections::BTreeSet;

use super::ReportError;
use super::doc::{Block, Section, Table};
use super::inputs::{EvalEntry, StudyInputs};
use super::sections::{classifier_label, f3, ms};

const READS: &str = "`results/evaluations.json` (entries with measure `perf` and with `matched`)";

/// Same target, measure and classifier, main setting (every run).
fn main_of<'a>(all: &'a [EvalEntry], m: &EvalEntry) -> Option<&'a EvalEntry> {
    all.iter().find(|e| {
        e.is_main()
            && e.target == m.target
            && e.measure == m.measure
            && e.classifier == m.classifier
    })
}

/// The section, or `None` when the study has neither control.
pub(crate) fn section(inp: &StudyInputs) -> Result<Option<Section>, ReportError> {
    let all: &[EvalEntry] = inp
        .evaluations
        .as_ref()
        .map(|e| e.evaluations.as_slice())
        .unwrap_or(&[]);
    let perf: Vec<&EvalEntry> = all
        .iter()
        .filter(|e| e.measure == "perf" && e.is_main())
        .collect();
    let matched: Vec<&EvalEntry> = all.iter().filter(|e| e.matched.is_some()).collect();
    if perf.is_empty() && matched.is_empty() {
        return Ok(None);
    }
    let mut s = Section {
        id: "performance-controls".into(),
        title: "Task-performance controls".into(),
        reads: READS.into(),
        blocks: vec![],
    };
    s.blocks.push(Block::Para(
        "A classifier can tell rules apart because they learned the task to different degrees. \
         Two controls bound that confound: the `perf` measure gives a classifier only each \
         run's validation accuracy and loss at its checkpoints after epoch 0 (one example per \
         run), and the matched control keeps, per target, only runs whose final validation \
         accuracy lies within the tolerance of a run of every other class \
         (docs/reference/classify.md \"Task-performance controls\")."
            .into(),
    ));
    if !perf.is_empty() {
        perf_table(&mut s.blocks, all, &perf);
    }
    if !matched.is_empty() {
        matched_table(&mut s.blocks, all, &matched);
    }
    let skipped: Vec<&String> = inp
        .evaluations
        .as_ref()
        .map(|e| {
            e.notes
                .iter()
                .filter(|n| n.contains("matched control") || n.contains("`perf`"))
                .collect()
        })
        .unwrap_or_default();
    for n in skipped {
        s.blocks.push(Block::Note(n.clone()));
    }
    Ok(Some(s))
}

/// The `perf` control: per target of a `perf` evaluation, the best main accuracy of every
/// measure, `perf` last.
fn perf_table(blocks: &mut Vec<Block>, all: &[EvalEntry], perf: &[&EvalEntry]) {
    // Per target: the best main accuracy of every measure, perf included.
    let targets: BTreeSet<&str> = perf.iter().map(|e| e.target.as_str()).collect();
    let mut rows = Vec::new();
    for t in targets {
        let mut measures: Vec<&str> = all
            .iter()
            .filter(|e| e.is_main() && e.target == t)
            .map(|e| e.measure.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        measures.sort_by_key(|m| (*m == "perf", m.to_string()));
        for m in measures {
            let best = all
                .iter()
                .filter(|e| {
                    e.is_main() && e.target == t && e.measure == m && e.accuracy.mean.is_finite()
                })
                .max_by(|a, b| a.accuracy.mean.total_cmp(&b.accuracy.mean));
            if let Some(b) = best {
                rows.push(vec![
                    t.to_string(),
                    if m == "perf" {
                        "perf (task performance only)".into()
                    } else {
                        m.to_string()
                    },
                    classifier_label(&b.classifier),
                    ms(&b.accuracy.into()),
                    f3(b.chance),
                ]);
            }
        }
    }
    blocks.push(Block::Para(
        "Best accuracy per measure (main setting), the performance-only baseline last:".into(),
    ));
    blocks.push(Block::Table(Table {
        header: vec![
            "target".into(),
            "measure".into(),
            "best classifier".into(),
            "accuracy (mean ± s.e.m.)".into(),
            "chance".into(),
        ],
        rows,
    }));
}

/// The matched control: each matched evaluation beside the same classifier on every run.
fn matched_table(blocks: &mut Vec<Block>, all: &[EvalEntry], matched: &[&EvalEntry]) {
    let rows = matched
        .iter()
        .map(|m| {
            let info = m.matched.as_ref().expect("filtered on matched");
            let kept = info
                .per_class
                .iter()
                .map(|(c, k)| format!("{c} {}/{}", k.runs, k.runs_total))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                m.target.clone(),
                m.measure.clone(),
                classifier_label(&m.classifier),
                main_of(all, m).map_or_else(|| "–".into(), |e| ms(&e.accuracy.into())),
                ms(&m.accuracy.into()),
                format!("{}", info.tolerance),
                kept,
            ]
        })
        .collect();
    blocks.push(Block::Para(
        "The matched control beside the same classifier on every run (runs kept of those \
         present, per class):"
            .into(),
    ));
    blocks.push(Block::Table(Table {
        header: vec![
            "target".into(),
            "measure".into(),
            "classifier".into(),
            "all runs".into(),
            "matched runs".into(),
            "tolerance".into(),
            "runs kept per class".into(),
        ],
        rows,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::inputs::Evaluations;

    fn entry(id: &str, target: &str, measure: &str, acc: f64, matched: bool) -> EvalEntry {
        serde_json::from_value(serde_json::json!({
            "id": id, "target": target, "measure": measure, "classifier": "random_forest",
            "split": "balanced", "layout": "flat", "chance": 0.25,
            "accuracy": {"mean": acc, "sem": 0.01},
            "matched": if matched {
                serde_json::json!({"tolerance": 0.02, "per_class": {
                    "fa": {"runs": 3, "runs_total": 4, "examples": 12},
                    "ia": {"runs": 2, "runs_total": 4, "examples": 8}}})
            } else { serde_json::Value::Null },
        }))
        .unwrap()
    }

    #[test]
    fn perf_baseline_and_matched_control_beside_the_main_entries() {
        let mut inp = StudyInputs::default();
        assert!(section(&inp).unwrap().is_none(), "no controls, no section");
        inp.evaluations = Some(Evaluations {
            evaluations: vec![
                entry("a", "rule", "all", 0.9, false),
                entry("w", "rule", "weight", 0.8, false),
                entry("p", "rule", "perf", 0.6, false),
                entry("m", "rule", "all", 0.7, true),
            ],
            notes: vec!["skipped `x.matched` (matched control, tolerance 0.02): …".into()],
            ..Default::default()
        });
        let s = section(&inp).unwrap().unwrap();
        let tables: Vec<&Table> = s
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Table(t) => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(tables.len(), 2);
        // Every measure's best, perf last.
        let measures: Vec<&str> = tables[0].rows.iter().map(|r| r[1].as_str()).collect();
        assert_eq!(measures, ["all", "weight", "perf (task performance only)"]);
        assert_eq!(tables[0].rows[2][3], "0.600 ± 0.010");
        // The matched entry beside the same classifier on every run, with the counts.
        let m = &tables[1].rows[0];
        assert_eq!(m[3], "0.900 ± 0.010");
        assert_eq!(m[4], "0.700 ± 0.010");
        assert_eq!(m[6], "fa 3/4, ia 2/4");
        assert!(
            s.blocks
                .iter()
                .any(|b| matches!(b, Block::Note(n) if n.contains("matched")))
        );
    }
}
