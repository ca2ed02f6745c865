//! The realism section: accuracy under measurement noise × unit subsampling.

use super::*;

/// Accuracy under measurement noise × unit subsampling.
pub(crate) fn realism(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
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
        let (sigmas, fracs) = realism_axes(&ke);
        let find = |sg: f64, fr: f64| find_condition(&ke, sg, fr);
        let hm = realism_heatmap(m, c, &ke, &sigmas, &fracs);
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

/// The noise levels σ (ascending) and unit fractions ρ (descending) of a key's entries.
fn realism_axes(ke: &[&EvalEntry]) -> (Vec<f64>, Vec<f64>) {
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
    (sigmas, fracs)
}

/// The entry of the condition (σ, ρ).
fn find_condition<'a>(ke: &[&'a EvalEntry], sg: f64, fr: f64) -> Option<&'a EvalEntry> {
    ke.iter()
        .copied()
        .find(|e| e.realism.is_some_and(|r| r.sigma == sg && r.fraction == fr))
}

/// The σ × ρ accuracy heatmap of measure `m` and classifier `c`.
fn realism_heatmap(m: &str, c: &str, ke: &[&EvalEntry], sigmas: &[f64], fracs: &[f64]) -> Heatmap {
    let values = sigmas
        .iter()
        .map(|&sg| {
            fracs
                .iter()
                .map(|&fr| find_condition(ke, sg, fr).map(|e| e.accuracy.mean))
                .collect()
        })
        .collect();
    let chance = chance_of(ke.iter().copied()).unwrap_or(0.0);
    Heatmap {
        title: format!("{}, measure {m}", classifier_label(c)),
        x_label: "fraction of units ρ".into(),
        y_label: "noise σ".into(),
        rows: sigmas.iter().map(|v| format!("{v}")).collect(),
        cols: fracs.iter().map(|v| format!("{v}")).collect(),
        values,
        vmin: chance,
        vmax: 1.0,
        decimals: 2,
    }
}
