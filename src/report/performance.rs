//! The task-performance controls of the report (issue 20): how far task performance alone
//! separates the rules (the `perf` measure) and whether the separation survives when only runs
//! of similar final validation accuracy are compared (the matched control, the paper's
//! Fig. S2a). Kept apart from `sections.rs`, which is long enough.

use std::collections::BTreeSet;

use super::ReportError;
use super::doc::{Block, Section, Table};
use super::inputs::{EvalEntry, MeanSem, StudyInputs};

const READS: &str = "`results/evaluations.json` (entries with measure `perf` and with `matched`)";

fn ms(m: &MeanSem) -> String {
    if m.mean.is_finite() {
        format!("{:.3} ± {:.3}", m.mean, m.sem)
    } else {
        "–".into()
    }
}

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
pub fn section(inp: &StudyInputs) -> Result<Option<Section>, ReportError> {
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
         accuracy lies within the tolerance of a run of every other class (docs/classify.md \
         \"Task performance\")."
            .into(),
    ));
    if !perf.is_empty() {
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
                        e.is_main()
                            && e.target == t
                            && e.measure == m
                            && e.accuracy.mean.is_finite()
                    })
                    .max_by(|a, b| a.accuracy.mean.total_cmp(&b.accuracy.mean));
                if let Some(b) = best {
                    rows.push(vec![
                        t.to_string(),
                        if m == "perf" {
                            "**perf** (task performance only)".into()
                        } else {
                            m.to_string()
                        },
                        b.classifier.replace('_', " "),
                        ms(&b.accuracy),
                        format!("{:.3}", b.chance),
                    ]);
                }
            }
        }
        s.blocks.push(Block::Para(
            "Best accuracy per measure (main setting), the performance-only baseline last:".into(),
        ));
        s.blocks.push(Block::Table(Table {
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
    if !matched.is_empty() {
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
                    m.classifier.replace('_', " "),
                    main_of(all, m).map_or_else(|| "–".into(), |e| ms(&e.accuracy)),
                    ms(&m.accuracy),
                    format!("{}", info.tolerance),
                    kept,
                ]
            })
            .collect();
        s.blocks.push(Block::Para(
            "The matched control beside the same classifier on every run (runs kept of those \
             present, per class):"
                .into(),
        ));
        s.blocks.push(Block::Table(Table {
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
