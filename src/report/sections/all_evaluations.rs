//! The all-evaluations section: every evaluation in one table.

use super::*;

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
        if r.model.is_awgn() {
            parts.push(format!("σ={} ρ={}", r.sigma, r.fraction));
        } else {
            parts.push(format!("{} ρ={}", r.model.canonical(), r.fraction));
        }
    }
    if let Some(m) = &e.matched {
        parts.push(format!("matched ±{}", m.tolerance));
    }
    parts.join(", ")
}

/// Every evaluation in one table.
pub(crate) fn all_evaluations(inp: &StudyInputs) -> Section {
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
