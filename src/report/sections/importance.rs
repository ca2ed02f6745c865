//! The importance section: Gini importance of the feature groups and the top statistics.

use super::*;

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
pub(crate) fn importance(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
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
