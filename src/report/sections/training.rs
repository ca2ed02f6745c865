//! The training section: training curves per rule from the runs' histories.

use super::*;

/// Training curves per rule from the runs' histories.
pub(crate) fn training(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "training".into(),
        title: "Training curves per learning rule".into(),
        reads: "`runs/<run_id>/status.json` (`history`), `runs.parquet` (rule)".into(),
        blocks: vec![],
    };
    let with_hist: Vec<&RunStatus> = inp
        .statuses
        .iter()
        .filter(|st| st.status == "done" && !st.history.is_empty())
        .collect();
    if with_hist.is_empty() {
        s.blocks.push(Block::Note(if inp.statuses.is_empty() {
            "No training histories: no run has a `status.json` yet (run `lrx run`).".into()
        } else {
            "No training histories: no finished (`done`) run has a non-empty `history`.".into()
        }));
        return Ok(s);
    }
    let excluded = inp
        .statuses
        .iter()
        .filter(|st| st.status != "done" && !st.history.is_empty())
        .count();
    s.blocks.push(Block::Para(format!(
        "Mean over the finished runs of each rule (error bars: s.e.m. over runs) of the training \
         loss, the training accuracy and the validation accuracy at the end of each epoch{}.",
        if excluded > 0 {
            format!("; {excluded} diverged or failed runs are left out")
        } else {
            String::new()
        }
    )));
    let by_rule = by_rule(inp, &with_hist);
    let panels = training_panels(&by_rule);
    if !panels.is_empty() {
        let n = panels.len();
        let fig = Lines {
            title: "Training curves (mean over runs of each rule)".into(),
            panels,
            cols: n,
        };
        let r = render("training", &fig)?;
        s.blocks.push(doc.figure(
            "training",
            "Training loss, training accuracy and validation accuracy per epoch, mean ± s.e.m. over the runs of each rule.",
            r,
        ));
    }
    s.blocks.push(final_values(&by_rule));
    Ok(s)
}

/// A value of an epoch record.
type Get = fn(&crate::report::inputs::Epoch) -> Option<f64>;

/// One panel per metric (training loss, training accuracy, validation accuracy) with a line
/// per rule; metrics no run recorded are left out.
fn training_panels(by_rule: &BTreeMap<String, Vec<&RunStatus>>) -> Vec<Panel> {
    let metrics: [(&str, &str, Get); 3] = [
        ("training loss", "train loss", |e| e.train_loss),
        ("training accuracy", "train accuracy", |e| e.train_acc),
        ("validation accuracy", "val accuracy", |e| e.val_acc),
    ];
    let mut panels = Vec::new();
    for (title, ylab, get) in metrics {
        let lines: Vec<Line> = by_rule
            .iter()
            .map(|(rule, runs)| Line {
                name: rule.clone(),
                points: epoch_curve(runs, get),
            })
            .filter(|l| !l.points.is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        panels.push(Panel {
            title: title.into(),
            x_label: "epoch".into(),
            y_label: ylab.into(),
            lines,
            y_range: title.contains("accuracy").then_some((0.0, 1.45)),
            hline: None,
            hline_label: None,
            hide_above: title.contains("accuracy").then_some(1.0),
        });
    }
    panels
}

/// The table of final values per rule (mean ± s.e.m. over its runs' last epochs).
fn final_values(by_rule: &BTreeMap<String, Vec<&RunStatus>>) -> Block {
    let rows = by_rule
        .iter()
        .map(|(rule, runs)| {
            let last = |get: Get| {
                let v: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.history.last().and_then(get))
                    .filter(|v| v.is_finite())
                    .collect();
                mean_sem(&v)
                    .map(|(m, s)| format!("{m:.3} ± {s:.3}"))
                    .unwrap_or("–".into())
            };
            let epochs: BTreeSet<u32> = runs
                .iter()
                .filter_map(|r| r.history.last().map(|e| e.epoch))
                .collect();
            vec![
                rule.clone(),
                runs.len().to_string(),
                epochs
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                last(|e| e.train_loss),
                last(|e| e.train_acc),
                last(|e| e.val_loss),
                last(|e| e.val_acc),
            ]
        })
        .collect();
    Block::Table(Table {
        header: vec![
            "rule".into(),
            "finished runs".into(),
            "last epoch".into(),
            "final train loss".into(),
            "final train accuracy".into(),
            "final val loss".into(),
            "final val accuracy".into(),
        ],
        rows,
    })
}
