//! The calibration section: the saved classifiers' (`lrx classify --save-models`) temperature,
//! held-out expected calibration error and reliability curves (docs/saved-classifiers.md).

use super::*;

const MODELS: &str = "`results/models/*.lrxc.json`";
/// Reliability curves drawn (one panel each); the table lists every model.
const MAX_PANELS: usize = 6;

/// The saved classifiers' calibration; `None` when the study has no saved classifiers.
pub(crate) fn calibration(
    doc: &mut Doc,
    inp: &StudyInputs,
) -> Result<Option<Section>, ReportError> {
    let dir = inp.dir.join("results/models");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(None);
    };
    let mut files: Vec<std::path::PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".lrxc.json"))
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    files.sort();
    let mut s = Section {
        id: "calibration".into(),
        title: "Saved classifiers: calibration".into(),
        reads: MODELS.into(),
        blocks: vec![Block::Para(
            "Each saved classifier's probabilities are softmax(score / T), T fitted on \
             out-of-fold scores of its training data. Calibration is measured on held-out \
             examples (the first outer split's test rows, the recipe fitted on its training \
             rows): ECE over 10 equal-width bins of the max probability."
                .into(),
        )],
    };
    let mut rows = Vec::new();
    let mut panels = Vec::new();
    for f in &files {
        let Some(v) = std::fs::read_to_string(f)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        else {
            rows.push(vec![
                f.display().to_string(),
                "unreadable".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            continue;
        };
        let id = v["eval_id"].as_str().unwrap_or("?").to_string();
        let model = v["spec"]
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default();
        let realism = if v["realism"].is_null() {
            "plain".to_string()
        } else {
            v["realism"].to_string()
        };
        let t = v["calibration"]["temperature"].as_f64();
        let h = &v["heldout_calibration"];
        let ece = h["ece"].as_f64();
        rows.push(vec![
            id.clone(),
            model,
            realism,
            t.map_or("–".into(), |t| format!("{t:.3}")),
            ece.map_or("–".into(), |e| format!("{e:.3}")),
            h["n"].as_u64().map_or("–".into(), |n| n.to_string()),
        ]);
        if panels.len() < MAX_PANELS {
            let points: Vec<(f64, f64, Option<f64>)> = h["bins"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| Some((b["confidence"].as_f64()?, b["accuracy"].as_f64()?, None)))
                .collect();
            if !points.is_empty() {
                panels.push(Panel {
                    title: plot::short(&id, 40),
                    x_label: "mean max probability".into(),
                    y_label: "accuracy".into(),
                    lines: vec![
                        Line {
                            name: "held out".into(),
                            points,
                        },
                        Line {
                            name: "perfect".into(),
                            points: vec![(0.0, 0.0, None), (1.0, 1.0, None)],
                        },
                    ],
                    y_range: Some((0.0, 1.0)),
                    hline: None,
                    hline_label: None,
                    hide_above: None,
                });
            }
        }
    }
    if !panels.is_empty() {
        let fig = Lines {
            title: "Reliability curves (held out)".into(),
            panels,
            cols: 3,
        };
        let r = render("calibration-reliability", &fig)?;
        s.blocks.push(
            doc.figure(
                "calibration-reliability",
                "Reliability: per bin of the max calibrated probability, the accuracy against the \
             mean probability (the diagonal is perfect calibration)."
                    .to_string(),
                r,
            ),
        );
    }
    s.blocks.push(Block::Table(Table {
        header: vec![
            "evaluation".into(),
            "model".into(),
            "realism".into(),
            "temperature T".into(),
            "held-out ECE".into(),
            "held-out n".into(),
        ],
        rows,
    }));
    Ok(Some(s))
}
