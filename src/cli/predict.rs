//! `lrx predict MODEL FEATURES_DIR`: applies a saved classifier (docs/saved-classifiers.md).

use std::path::PathBuf;

use super::{Format, Out, fail_coded};
use crate::classify::data::FeatureTable;
use crate::classify::saved::SavedClassifier;
use crate::classify::stage::run::to_classify_table;
use crate::features;

/// Arguments of `lrx predict`.
#[derive(Debug, clap::Args)]
pub(crate) struct PredictArgs {
    /// The saved classifier (`results/models/<eval-id>.lrxc.json`).
    pub model: PathBuf,
    /// A directory with a study's feature layout (`features/rule=*/run=*/part-0.parquet` and
    /// `runs.parquet`), as `lrx run` or `lrx import` write it.
    pub features_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Read the plain feature rows even when the classifier was trained under a realism
    /// condition (e.g. recordings imported without one).
    #[arg(long)]
    pub plain: bool,
}

/// Loads the features of `dir` under the model's condition as the classifier's table.
fn load(m: &SavedClassifier, a: &PredictArgs) -> Result<FeatureTable, String> {
    let cond = match (&m.realism, a.plain) {
        (Some(v), false) => features::Condition::Realism(
            serde_json::from_value(v.clone())
                .map_err(|e| format!("the model's realism condition cannot be read: {e}"))?,
        ),
        _ => features::Condition::Plain,
    };
    let ft = features::load_features(&[&a.features_dir], &cond, None)
        .map_err(|e| format!("error[{}]: {e}", crate::diag::Coded::code(&e)))?;
    m.check_epochs(&ft.epochs)
        .map_err(|e| format!("error[{}]: {e}", crate::diag::Coded::code(&e)))?;
    to_classify_table(&ft).map_err(|e| format!("error[{}]: {e}", crate::diag::Coded::code(&e)))
}

pub(super) fn cmd_predict(a: &PredictArgs, out: &mut Out) -> Result<(), i32> {
    let m = SavedClassifier::load(&a.model).map_err(|e| fail_coded(out, &e))?;
    let table = match load(&m, a) {
        Ok(t) => t,
        Err(msg) => {
            let _ = writeln!(out.err, "{msg}");
            return Err(1);
        }
    };
    let x = m.features(&table).map_err(|e| fail_coded(out, &e))?;
    let preds = m.predict(x.view()).map_err(|e| fail_coded(out, &e))?;
    let runs = &table.factors["run_id"];
    let layers = &table.factors["layer"];
    let truth: Vec<Option<&str>> = table
        .factors
        .get(&m.target)
        .map(|v| v.iter().map(|s| Some(s.as_str())).collect())
        .unwrap_or_else(|| vec![None; preds.len()]);
    let labelled: Vec<(usize, bool)> = preds
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            truth[i]
                .filter(|t| *t != "unknown" && m.classes.iter().any(|c| c == t))
                .map(|t| (i, p.class == t))
        })
        .collect();
    let accuracy = (!labelled.is_empty())
        .then(|| labelled.iter().filter(|(_, ok)| *ok).count() as f64 / labelled.len() as f64);
    let n_ood = preds.iter().filter(|p| p.out_of_distribution).count();
    let realism = m.realism.as_ref().map_or_else(
        || "none (plain observables)".to_string(),
        ToString::to_string,
    );
    match a.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = preds
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    serde_json::json!({
                        "run_id": runs[i], "layer": layers[i], "true": truth[i],
                        "predicted": p.class,
                        "probabilities": m.classes.iter().cloned().zip(p.probabilities.iter().map(|v| serde_json::json!(v)))
                            .collect::<serde_json::Map<String, serde_json::Value>>(),
                        "far_share": p.far_share,
                        "out_of_distribution": p.out_of_distribution,
                    })
                })
                .collect();
            let j = serde_json::json!({
                "model": a.model, "eval_id": m.eval_id, "target": m.target,
                "classes": m.classes, "realism": m.realism,
                "calibration": m.calibration,
                "ood": {"z_bound": m.ood.z_bound, "share_bound": m.ood.share_bound,
                        "flagged": n_ood},
                "accuracy": accuracy, "n_labelled": labelled.len(),
                "predictions": rows,
            });
            let _ = writeln!(
                out.out,
                "{}",
                serde_json::to_string_pretty(&j).unwrap_or_default()
            );
        }
        Format::Text => {
            let _ = writeln!(
                out.out,
                "classifier `{}` ({}; target `{}`; classes {}); realism condition: {realism}",
                m.eval_id,
                serde_json::to_string(&m.spec).unwrap_or_default(),
                m.target,
                m.classes.join(", ")
            );
            let _ = writeln!(
                out.out,
                "run\tlayer\ttrue\tpredicted\tp({})\tood",
                m.classes.join(")\tp(")
            );
            for (i, p) in preds.iter().enumerate() {
                let probs: Vec<String> =
                    p.probabilities.iter().map(|v| format!("{v:.3}")).collect();
                let _ = writeln!(
                    out.out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    runs[i],
                    layers[i],
                    truth[i].unwrap_or("-"),
                    p.class,
                    probs.join("\t"),
                    if p.out_of_distribution { "OOD" } else { "" }
                );
            }
            if let Some(acc) = accuracy {
                let _ = writeln!(
                    out.out,
                    "accuracy: {acc:.4} ({} of {} labelled examples)",
                    labelled.iter().filter(|(_, ok)| *ok).count(),
                    labelled.len()
                );
            }
        }
    }
    if n_ood > 0 {
        let _ = writeln!(
            out.err,
            "warning: {n_ood} of {} examples lie outside the training distribution (more than {:.0}% of \
             their features beyond a robust z-score of {}); their predictions are unreliable",
            preds.len(),
            m.ood.share_bound * 100.0,
            m.ood.z_bound
        );
    }
    Ok(())
}
