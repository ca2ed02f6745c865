//! The trajectory section: accuracy against the number of subsampled checkpoints.

use super::*;

/// Accuracy against the number of subsampled checkpoints, one line per period.
pub(crate) fn trajectory(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
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
        panels.push(trajectory_panel(c, m, &ts, chance, &mut rows));
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

/// The panel of classifier `c` and measure `m`: one line per period, accuracy against samples
/// (its table rows pushed on `rows`).
fn trajectory_panel(
    c: &str,
    m: &str,
    ts: &[&EvalEntry],
    chance: Option<f64>,
    rows: &mut Vec<Vec<String>>,
) -> Panel {
    let ke: Vec<&EvalEntry> = ts
        .iter()
        .copied()
        .filter(|e| e.classifier == c && e.measure == m)
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
                    m.to_string(),
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
    Panel {
        title: format!("{}, {}", classifier_label(c), m),
        x_label: "samples per trajectory".into(),
        y_label: "test accuracy".into(),
        lines,
        y_range: Some((0.0, 1.45)),
        hline: chance,
        hline_label: None,
        hide_above: Some(1.0),
    }
}
