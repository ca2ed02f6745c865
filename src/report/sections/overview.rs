//! The overview section: headline numbers and what is missing.

use super::*;

/// The overview: headline numbers and what is missing.
pub(crate) fn overview(inp: &StudyInputs) -> Section {
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
