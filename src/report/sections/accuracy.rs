//! The accuracy section: bars of the 4-way task, classifier × measure.

use super::*;

/// Accuracy bars of the 4-way task: classifier × measure (plus the trajectory-average control).
pub(crate) fn accuracy(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "accuracy".into(),
        title: "Learning-rule classification: classifier × measure".into(),
        reads: EVALS.into(),
        blocks: vec![],
    };
    if inp.evaluations.is_none() {
        s.blocks.push(no_results(EVALS));
        return Ok(s);
    }
    let shown: Vec<&EvalEntry> = entries(inp)
        .iter()
        .filter(|e| e.is_rule_target() && (e.is_main() || e.is_average()))
        .collect();
    if shown.is_empty() {
        s.blocks.push(Block::Note(
            "No evaluation of the 4-way rule task with balanced splits in `results/evaluations.json`."
                .into(),
        ));
        return Ok(s);
    }
    let measures = sorted_measures(shown.iter().copied());
    let mut series_keys: Vec<(String, bool)> = shown
        .iter()
        .map(|e| (e.classifier.clone(), e.is_average()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    series_keys.sort_by_key(|(c, avg)| (*avg, classifier_rank(c)));
    let bars = accuracy_bars(&shown, &measures, &series_keys);
    let r = render("accuracy", &bars)?;
    s.blocks.push(Block::Para(
        "Mean test accuracy over the outer category-balanced splits (error bars: s.e.m. over \
         splits) of classifying the learning rule from the observables of one layer, by \
         classifier and by measure (`weight`, `act`, `gradavg` or `all` three; `perf`, where \
         present, is each run's task performance alone, one example per run); the dashed line \
         is chance. Rows marked trajectory average are the control that averages each \
         statistic over the checkpoints."
            .into(),
    ));
    s.blocks.push(doc.figure(
        "accuracy",
        "Test accuracy by classifier and measure (mean ± s.e.m. over splits; dashed: chance).",
        r,
    ));
    s.blocks
        .push(accuracy_table(&shown, &measures, &series_keys));
    Ok(s)
}

/// The entry of classifier `c` (trajectory average or not) on measure `m`.
fn find_entry<'a>(shown: &[&'a EvalEntry], c: &str, avg: bool, m: &str) -> Option<&'a EvalEntry> {
    shown
        .iter()
        .find(|e| e.classifier == c && e.is_average() == avg && e.measure == m)
        .copied()
}

/// The bar chart: one series per (classifier, trajectory average), one category per measure.
fn accuracy_bars(
    shown: &[&EvalEntry],
    measures: &[String],
    series_keys: &[(String, bool)],
) -> Bars {
    let chance = chance_of(shown.iter().copied());
    let classes = shown
        .iter()
        .find(|e| !e.classes.is_empty())
        .map(|e| e.classes.len())
        .unwrap_or(0);
    let series: Vec<BarSeries> = series_keys
        .iter()
        .map(|(c, avg)| BarSeries {
            name: if *avg {
                format!("{} (trajectory average)", classifier_label(c))
            } else {
                classifier_label(c)
            },
            values: measures
                .iter()
                .map(|m| find_entry(shown, c, *avg, m).map(|e| (e.accuracy.mean, e.accuracy.sem)))
                .collect(),
        })
        .collect();
    Bars {
        title: format!(
            "Test accuracy, {}-way learning-rule classification",
            if classes > 0 {
                classes.to_string()
            } else {
                "k".into()
            }
        ),
        x_label: "observable measure".into(),
        y_label: "test accuracy".into(),
        categories: measures.to_vec(),
        series,
        hline: chance.map(|c| (c, format!("chance ({c:.2})"))),
        y_top: 1.0,
        y_axis_max: 1.3,
    }
}

/// The table beside the chart: measure × classifier rows.
fn accuracy_table(
    shown: &[&EvalEntry],
    measures: &[String],
    series_keys: &[(String, bool)],
) -> Block {
    let mut rows = Vec::new();
    for m in measures {
        for (c, avg) in series_keys {
            if let Some(e) = find_entry(shown, c, *avg, m) {
                rows.push(vec![
                    m.clone(),
                    classifier_label(c),
                    if *avg {
                        "trajectory average".into()
                    } else {
                        "flat".into()
                    },
                    ms(&e.accuracy.into()),
                    f3(e.chance),
                    format!("`{}`", e.id),
                ]);
            }
        }
    }
    Block::Table(Table {
        header: vec![
            "measure".into(),
            "classifier".into(),
            "features".into(),
            "accuracy (mean ± s.e.m.)".into(),
            "chance".into(),
            "evaluation".into(),
        ],
        rows,
    })
}
