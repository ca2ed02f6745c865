//! The alignment section: whether FA/IA-type rules align their forward and backward weights.

use super::*;
use crate::report::inputs::LayerAlign;

/// Whether FA/IA-type rules work, per layer with backward weights: the angle between the rule's
/// weight update and backprop's gradient on a fixed batch (Lillicrap et al.), the W–B angle and
/// ‖W‖/‖W₀‖ per epoch, mean ± s.e.m. over each rule's finished runs. `None` when no run
/// recorded them (backprop-only studies).
pub(crate) fn alignment(doc: &mut Doc, inp: &StudyInputs) -> Result<Option<Section>, ReportError> {
    let runs: Vec<&RunStatus> = inp
        .statuses
        .iter()
        .filter(|st| st.status == "done" && st.history.iter().any(|e| !e.alignment.is_empty()))
        .collect();
    if runs.is_empty() {
        return Ok(None);
    }
    let layers = alignment_layers(&runs);
    let by_rule = by_rule(inp, &runs);
    let metrics: [Metric; 3] = [
        (
            "update ∠ backprop",
            "degrees",
            |a| a.update_angle,
            Some((0.0, 120.0)),
            Some(90.0),
        ),
        (
            "W ∠ B",
            "degrees",
            |a| a.angle,
            Some((0.0, 120.0)),
            Some(90.0),
        ),
        ("‖W‖ / ‖W₀‖", "ratio", |a| a.w_growth, None, Some(1.0)),
    ];
    let (panels, rows) = alignment_panels(&by_rule, &layers, metrics);
    let mut s = Section {
        id: "alignment".into(),
        title: "Are the feedback rules working? Update and weight alignment per layer".into(),
        reads: "`runs/<run_id>/status.json` (`history[].alignment`)".into(),
        blocks: vec![Block::Para(
            "For every layer with backward weights B, at the end of each epoch: the angle \
             between the rule's weight gradient and backprop's on the same 128 validation \
             images (below 90°: the rule's update descends the task loss in that layer), the \
             angle between W and B, and ‖W‖/‖W₀‖. Mean ± s.e.m. over the finished runs of each \
             rule; the dashed line marks 90° (orthogonal) or a ratio of 1."
                .into(),
        )],
    };
    if !panels.is_empty() {
        let fig = Lines {
            title: "Alignment diagnostics".into(),
            cols: layers.len().max(1),
            panels,
        };
        let r = render("alignment", &fig)?;
        s.blocks.push(doc.figure(
            "alignment",
            "Update angle against backprop, W–B angle and weight growth per layer and epoch.",
            r,
        ));
    }
    s.blocks.push(Block::Table(Table {
        header: vec![
            "rule".into(),
            "layer".into(),
            "diagnostic".into(),
            "last epoch".into(),
            "value".into(),
        ],
        rows,
    }));
    Ok(Some(s))
}

/// A diagnostic of a layer's alignment record.
type Get = fn(&LayerAlign) -> Option<f64>;
/// Title, y label, value, fixed y range, reference line.
type Metric = (
    &'static str,
    &'static str,
    Get,
    Option<(f64, f64)>,
    Option<f64>,
);

/// The layers with alignment records, in order of first appearance.
fn alignment_layers(runs: &[&RunStatus]) -> Vec<String> {
    let mut layers: Vec<String> = vec![];
    for r in runs {
        for e in &r.history {
            for a in &e.alignment {
                if !layers.contains(&a.layer) {
                    layers.push(a.layer.clone());
                }
            }
        }
    }
    layers
}

/// One panel per diagnostic × layer (a line per rule) and the table rows of the last epochs.
fn alignment_panels(
    by_rule: &BTreeMap<String, Vec<&RunStatus>>,
    layers: &[String],
    metrics: [Metric; 3],
) -> (Vec<Panel>, Vec<Vec<String>>) {
    let mut panels = vec![];
    let mut rows = vec![];
    for (title, ylab, get, y_range, hline) in metrics {
        for layer in layers {
            let lines: Vec<Line> = by_rule
                .iter()
                .map(|(rule, rs)| Line {
                    name: rule.clone(),
                    points: epoch_curve(rs, |e| {
                        e.alignment.iter().find(|a| &a.layer == layer).and_then(get)
                    }),
                })
                .filter(|l| !l.points.is_empty())
                .collect();
            for l in &lines {
                if let Some(&(ep, m, sm)) = l.points.last() {
                    rows.push(vec![
                        l.name.clone(),
                        layer.clone(),
                        title.to_string(),
                        format!("{ep:.0}"),
                        format!("{m:.2} ± {:.2}", sm.unwrap_or(0.0)),
                    ]);
                }
            }
            if !lines.is_empty() {
                panels.push(Panel {
                    title: format!("{layer}: {title}"),
                    x_label: "epoch".into(),
                    y_label: ylab.into(),
                    lines,
                    y_range,
                    hline,
                    hline_label: Some(if ylab == "degrees" { "90°" } else { "1" }.into()),
                    hide_above: None,
                });
            }
        }
    }
    (panels, rows)
}
