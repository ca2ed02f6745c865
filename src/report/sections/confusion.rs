//! The confusion section: confusion matrices of the best classifier per measure.

use super::*;

/// Confusion matrices of the best classifier per measure.
pub(crate) fn confusion(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "confusion".into(),
        title: "Confusion matrices (best classifier per measure)".into(),
        reads: "`results/evaluations.json`, `results/eval/<id>.json` (`summary.confusion_mean`, \
                `balanced_accuracy`, `dprime`)"
            .into(),
        blocks: vec![],
    };
    if inp.evaluations.is_none() {
        s.blocks.push(no_results(EVALS));
        return Ok(s);
    }
    let best = best_per_measure(inp);
    if best.is_empty() {
        s.blocks.push(Block::Note(
            "No 4-way evaluation with balanced splits to show.".into(),
        ));
        return Ok(s);
    }
    s.blocks.push(Block::Para(
        "Rows are the true learning rule, columns the predicted one; each cell is the fraction of \
         the row's test examples (split-averaged confusion matrix, rows normalised). Balanced \
         accuracy and d′ per rule are mean ± s.e.m. over splits."
            .into(),
    ));
    for e in best {
        let Some(f) = inp.eval_files.get(&e.id) else {
            s.blocks.push(Block::Note(format!(
                "Measure `{}`: the result file of evaluation `{}` ({}) is missing, so its \
                 confusion matrix cannot be shown.",
                e.measure,
                e.id,
                Some(e.result_file.as_str())
                    .filter(|s| !s.is_empty())
                    .unwrap_or("no `result_file`")
            )));
            continue;
        };
        let cm = &f.summary.confusion_mean;
        let classes = if f.classes.is_empty() {
            e.classes.clone()
        } else {
            f.classes.clone()
        };
        if cm.is_empty() || cm.len() != classes.len() || cm.iter().any(|r| r.len() != classes.len())
        {
            s.blocks.push(Block::Note(format!(
                "Measure `{}`: evaluation `{}` has no confusion matrix of {} × {} classes.",
                e.measure,
                e.id,
                classes.len(),
                classes.len()
            )));
            continue;
        }
        let norm: Vec<Vec<Option<f64>>> = cm
            .iter()
            .map(|r| {
                let t: f64 = r.iter().sum();
                r.iter().map(|v| (t > 0.0).then(|| v / t)).collect()
            })
            .collect();
        let hm = Heatmap {
            title: format!(
                "{} on {} (accuracy {:.3})",
                classifier_label(&e.classifier),
                e.measure,
                e.accuracy.mean
            ),
            x_label: "predicted rule".into(),
            y_label: "true rule".into(),
            rows: classes.clone(),
            cols: classes.clone(),
            values: norm.clone(),
            vmin: 0.0,
            vmax: 1.0,
            decimals: 2,
        };
        let r = render(&format!("confusion-{}", e.measure), &hm)?;
        s.blocks.push(Block::Para(format!(
            "Measure `{}`: {} (evaluation `{}`), accuracy {}.",
            e.measure,
            classifier_label(&e.classifier),
            e.id,
            ms(&e.accuracy.into())
        )));
        s.blocks.push(doc.figure(
            &format!("confusion-{}", e.measure),
            format!(
                "Confusion matrix (row-normalised), measure `{}`, {}.",
                e.measure,
                classifier_label(&e.classifier)
            ),
            r,
        ));
        s.blocks.push(confusion_table(&classes, &norm, f));
    }
    Ok(s)
}

/// The row-normalised matrix as a table, with balanced accuracy and d′ per class.
fn confusion_table(classes: &[String], norm: &[Vec<Option<f64>>], f: &EvalFile) -> Block {
    let mut header = vec!["true \\ predicted".to_string()];
    header.extend(classes.iter().cloned());
    header.push("balanced accuracy".into());
    header.push("d′".into());
    let rows = classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut row = vec![c.clone()];
            row.extend(norm[i].iter().map(|v| v.map(f3).unwrap_or("–".into())));
            row.push(
                f.summary
                    .balanced_accuracy
                    .get(i)
                    .map(ms)
                    .unwrap_or("–".into()),
            );
            row.push(f.summary.dprime.get(i).map(ms).unwrap_or("–".into()));
            row
        })
        .collect();
    Block::Table(Table { header, rows })
}
