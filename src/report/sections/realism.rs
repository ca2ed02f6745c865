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
    // Conditions of measurement models other than awgn (Poisson, calcium) get their own rows:
    // a row is (model, σ), the Gaussian rows first.
    let models = rs
        .iter()
        .any(|e| e.realism.is_some_and(|r| !r.model.is_awgn()));
    if models {
        s.blocks.push(Block::Para(
            "Rows named by a measurement model (`poisson(...)`, `calcium(...)`) replace the \
             Gaussian noise by that model's simulated recording of the kept units' activations \
             (docs/reference/realism.md, \"Measurement models\")."
                .into(),
        ));
    }
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
        let find = |sg: &Row, fr: f64| find_condition(&ke, sg, fr);
        let hm = realism_heatmap(m, c, &ke, &sigmas, &fracs);
        let name = format!("realism-{m}-{c}");
        let r = render(&name, &hm)?;
        s.blocks.push(doc.figure(
            &name,
            format!(
                "Accuracy under noise σ{} (rows) × unit fraction ρ (columns), measure `{m}`, {}.",
                if models { " or measurement model" } else { "" },
                classifier_label(c)
            ),
            r,
        ));
        for sg in &sigmas {
            for &fr in &fracs {
                if let Some(e) = find(sg, fr) {
                    let mut row = vec![m.clone(), classifier_label(c)];
                    if models {
                        row.push(sg.0.canonical());
                    }
                    row.extend([format!("{}", sg.1), format!("{fr}"), ms(&e.accuracy.into())]);
                    rows.push(row);
                }
            }
        }
    }
    let mut header = vec!["measure".into(), "classifier".into()];
    if models {
        header.push("measurement".into());
    }
    header.extend([
        "noise σ".into(),
        "unit fraction ρ".into(),
        "accuracy (mean ± s.e.m.)".into(),
    ]);
    s.blocks.push(Block::Table(Table { header, rows }));
    Ok(s)
}

/// A heatmap row: the measurement model and σ (σ is 0 for models other than awgn).
type Row = (crate::ir::Measurement, f64);

/// The row label: σ for Gaussian rows, the model's text otherwise.
fn row_label(r: &Row) -> String {
    if r.0.is_awgn() {
        format!("{}", r.1)
    } else {
        r.0.canonical()
    }
}

/// The rows (Gaussian σ ascending, then each model by its text) and unit fractions ρ
/// (descending) of a key's entries.
fn realism_axes(ke: &[&EvalEntry]) -> (Vec<Row>, Vec<f64>) {
    let mut sigmas: Vec<Row> = ke
        .iter()
        .filter_map(|e| e.realism.map(|r| (r.model, r.sigma)))
        .collect();
    let order = |r: &Row| (!r.0.is_awgn(), r.0.canonical());
    sigmas.sort_by(|a, b| order(a).cmp(&order(b)).then(a.1.total_cmp(&b.1)));
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
fn find_condition<'a>(ke: &[&'a EvalEntry], sg: &Row, fr: f64) -> Option<&'a EvalEntry> {
    ke.iter().copied().find(|e| {
        e.realism
            .is_some_and(|r| r.model == sg.0 && r.sigma == sg.1 && r.fraction == fr)
    })
}

/// The σ × ρ accuracy heatmap of measure `m` and classifier `c`.
fn realism_heatmap(m: &str, c: &str, ke: &[&EvalEntry], sigmas: &[Row], fracs: &[f64]) -> Heatmap {
    let values = sigmas
        .iter()
        .map(|sg| {
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
        y_label: if sigmas.iter().any(|r| !r.0.is_awgn()) {
            "noise σ or measurement model".into()
        } else {
            "noise σ".into()
        },
        rows: sigmas.iter().map(row_label).collect(),
        cols: fracs.iter().map(|v| format!("{v}")).collect(),
        values,
        vmin: chance,
        vmax: 1.0,
        decimals: 2,
    }
}
