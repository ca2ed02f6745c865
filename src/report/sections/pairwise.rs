//! The pairwise section: a rule × rule matrix of the best accuracy of each pairwise task.

use super::*;

/// Pairwise tasks: a rule × rule matrix of the best accuracy per pair, per measure.
pub(crate) fn pairwise(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
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
        let best = best_per_pair(&pairs, m);
        let values = pair_matrix(&rules, &best);
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

/// The best entry of measure `m` per unordered pair of rules.
fn best_per_pair<'a>(
    pairs: &[(&'a EvalEntry, (String, String))],
    m: &str,
) -> BTreeMap<(String, String), &'a EvalEntry> {
    let mut best: BTreeMap<(String, String), &EvalEntry> = BTreeMap::new();
    for (e, (a, b)) in pairs.iter().filter(|(e, _)| e.measure == m) {
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
    best
}

/// The symmetric rule × rule matrix of the best accuracies.
fn pair_matrix(
    rules: &[String],
    best: &BTreeMap<(String, String), &EvalEntry>,
) -> Vec<Vec<Option<f64>>> {
    rules
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
        .collect()
}
