//! `lrx predict MODEL FEATURES_DIR`: applies a saved classifier (docs/saved-classifiers.md).

use std::path::PathBuf;

use super::{Format, Out, fail_coded};
use crate::classify::data::FeatureTable;
use crate::classify::saved::{Prediction, SavedClassifier};
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

/// One recording's verdict: the mean of its layers' calibrated probabilities (a soft vote; the
/// layers are not independent evidence, so their probabilities are averaged, not multiplied).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct RecordingVote {
    /// The recording (run) id.
    pub run_id: String,
    /// Its label when known (the same for every layer of a run), else `None`.
    pub truth: Option<String>,
    /// The class of the largest mean probability (the first in `classes` order on a tie).
    pub predicted: String,
    /// Mean calibrated probability per class, in `classes` order.
    pub probabilities: Vec<f64>,
    /// How many of its layers were classified.
    pub layers: usize,
    /// How many of them lie outside the training distribution.
    pub ood_layers: usize,
}

/// The soft vote of every recording, in order of first appearance.
pub(crate) fn recording_votes(
    classes: &[String],
    runs: &[String],
    truth: &[Option<&str>],
    preds: &[Prediction],
) -> Vec<RecordingVote> {
    let mut out: Vec<RecordingVote> = Vec::new();
    for (i, p) in preds.iter().enumerate() {
        let k = match out.iter().position(|v| v.run_id == runs[i]) {
            Some(k) => k,
            None => {
                out.push(RecordingVote {
                    run_id: runs[i].clone(),
                    truth: truth[i].map(String::from),
                    predicted: String::new(),
                    probabilities: vec![0.0; classes.len()],
                    layers: 0,
                    ood_layers: 0,
                });
                out.len() - 1
            }
        };
        let v = &mut out[k];
        for (s, q) in v.probabilities.iter_mut().zip(&p.probabilities) {
            *s += q;
        }
        v.layers += 1;
        v.ood_layers += usize::from(p.out_of_distribution);
    }
    for v in &mut out {
        let n = v.layers as f64;
        v.probabilities.iter_mut().for_each(|q| *q /= n);
        let best = (0..classes.len()).fold(0, |b, c| {
            if v.probabilities[c] > v.probabilities[b] {
                c
            } else {
                b
            }
        });
        v.predicted = classes[best].clone();
    }
    out
}

/// The share of labelled items predicted right, and how many are labelled (labels that are
/// `unknown` or not a class of the classifier do not count).
fn accuracy<'a>(
    classes: &[String],
    items: impl Iterator<Item = (Option<&'a str>, &'a str)>,
) -> (Option<f64>, usize, usize) {
    let (mut n, mut right) = (0, 0);
    for (t, p) in items {
        if let Some(t) = t.filter(|t| *t != "unknown" && classes.iter().any(|c| c == t)) {
            n += 1;
            right += usize::from(t == p);
        }
    }
    ((n > 0).then(|| right as f64 / n as f64), right, n)
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
    let truth: Vec<Option<&str>> = table
        .factors
        .get(&m.target)
        .map(|v| v.iter().map(|s| Some(s.as_str())).collect())
        .unwrap_or_else(|| vec![None; preds.len()]);
    let votes = recording_votes(&m.classes, runs, &truth, &preds);
    let r = Predicted {
        m: &m,
        table: &table,
        truth: &truth,
        preds: &preds,
        votes: &votes,
    };
    match a.format {
        Format::Json => r.print_json(a, out),
        Format::Text => r.print_text(out),
    }
    let n_ood = preds.iter().filter(|p| p.out_of_distribution).count();
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

/// What `lrx predict` prints: the classifier, its examples' predictions and the recordings'
/// votes.
struct Predicted<'a> {
    m: &'a SavedClassifier,
    table: &'a FeatureTable,
    truth: &'a [Option<&'a str>],
    preds: &'a [Prediction],
    votes: &'a [RecordingVote],
}

impl Predicted<'_> {
    fn print_json(&self, a: &PredictArgs, out: &mut Out) {
        let Predicted {
            m,
            table,
            truth,
            preds,
            votes,
        } = *self;
        let probs = |p: &[f64]| {
            m.classes
                .iter()
                .cloned()
                .zip(p.iter().map(|v| serde_json::json!(v)))
                .collect::<serde_json::Map<String, serde_json::Value>>()
        };
        let (runs, layers) = (&table.factors["run_id"], &table.factors["layer"]);
        let rows: Vec<serde_json::Value> = preds
            .iter()
            .enumerate()
            .map(|(i, p)| {
                serde_json::json!({
                    "run_id": runs[i], "layer": layers[i], "true": truth[i],
                    "predicted": p.class,
                    "probabilities": probs(&p.probabilities),
                    "far_share": p.far_share,
                    "out_of_distribution": p.out_of_distribution,
                })
            })
            .collect();
        let recs: Vec<serde_json::Value> = votes
            .iter()
            .map(|v| {
                serde_json::json!({
                    "run_id": v.run_id, "true": v.truth, "predicted": v.predicted,
                    "probabilities": probs(&v.probabilities),
                    "layers": v.layers, "ood_layers": v.ood_layers,
                })
            })
            .collect();
        let (acc, _, n) = accuracy(
            &m.classes,
            truth.iter().zip(preds).map(|(t, p)| (*t, p.class.as_str())),
        );
        let (racc, _, rn) = accuracy(
            &m.classes,
            votes
                .iter()
                .map(|v| (v.truth.as_deref(), v.predicted.as_str())),
        );
        let j = serde_json::json!({
            "model": a.model, "eval_id": m.eval_id, "target": m.target,
            "classes": m.classes, "realism": m.realism,
            "calibration": m.calibration,
            "ood": {"z_bound": m.ood.z_bound, "share_bound": m.ood.share_bound,
                    "flagged": preds.iter().filter(|p| p.out_of_distribution).count()},
            "accuracy": acc, "n_labelled": n,
            "predictions": rows,
            "recording_accuracy": racc, "n_recordings_labelled": rn,
            "recordings": recs,
        });
        let _ = writeln!(
            out.out,
            "{}",
            serde_json::to_string_pretty(&j).unwrap_or_default()
        );
    }

    fn print_text(&self, out: &mut Out) {
        let Predicted {
            m,
            table,
            truth,
            preds,
            votes,
        } = *self;
        let realism = m.realism.as_ref().map_or_else(
            || "none (plain observables)".to_string(),
            ToString::to_string,
        );
        let fmt = |p: &[f64]| {
            p.iter()
                .map(|v| format!("{v:.3}"))
                .collect::<Vec<_>>()
                .join("\t")
        };
        let (runs, layers) = (&table.factors["run_id"], &table.factors["layer"]);
        let _ = writeln!(
            out.out,
            "classifier `{}` ({}; target `{}`; classes {}); realism condition: {realism}",
            m.eval_id,
            serde_json::to_string(&m.spec).unwrap_or_default(),
            m.target,
            m.classes.join(", ")
        );
        let heads = m.classes.join(")\tp(");
        let _ = writeln!(out.out, "run\tlayer\ttrue\tpredicted\tp({heads})\tood");
        for (i, p) in preds.iter().enumerate() {
            let _ = writeln!(
                out.out,
                "{}\t{}\t{}\t{}\t{}\t{}",
                runs[i],
                layers[i],
                truth[i].unwrap_or("-"),
                p.class,
                fmt(&p.probabilities),
                if p.out_of_distribution { "OOD" } else { "" }
            );
        }
        let (acc, right, n) = accuracy(
            &m.classes,
            truth.iter().zip(preds).map(|(t, p)| (*t, p.class.as_str())),
        );
        if let Some(acc) = acc {
            let _ = writeln!(
                out.out,
                "accuracy: {acc:.4} ({right} of {n} labelled examples)"
            );
        }
        let _ = writeln!(
            out.out,
            "\nper recording (mean of its layers' probabilities):\nrun\ttrue\tpredicted\tp({heads})\tlayers\tood layers"
        );
        for v in votes {
            let _ = writeln!(
                out.out,
                "{}\t{}\t{}\t{}\t{}\t{}",
                v.run_id,
                v.truth.as_deref().unwrap_or("-"),
                v.predicted,
                fmt(&v.probabilities),
                v.layers,
                v.ood_layers
            );
        }
        let (racc, right, n) = accuracy(
            &m.classes,
            votes
                .iter()
                .map(|v| (v.truth.as_deref(), v.predicted.as_str())),
        );
        if let Some(acc) = racc {
            let _ = writeln!(
                out.out,
                "recording accuracy: {acc:.4} ({right} of {n} labelled recordings)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(p: &[f64], ood: bool) -> Prediction {
        let class_index = (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b });
        Prediction {
            class: ["a", "b", "c"][class_index].into(),
            class_index,
            probabilities: p.to_vec(),
            far_share: 0.0,
            out_of_distribution: ood,
        }
    }

    /// A recording's vote is the mean of its layers' probabilities (not the majority of their
    /// classes), in order of first appearance; a tie goes to the first class.
    #[test]
    fn recordings_vote_by_mean_probability() {
        let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let runs: Vec<String> = ["r1", "r2", "r1", "r1", "r2"].map(String::from).to_vec();
        let truth = [Some("b"), Some("a"), Some("b"), Some("b"), Some("a")];
        let preds = [
            pred(&[0.4, 0.35, 0.25], false),
            pred(&[0.5, 0.5, 0.0], true),
            pred(&[0.45, 0.3, 0.25], false),
            pred(&[0.0, 0.9, 0.1], false),
            pred(&[0.5, 0.5, 0.0], false),
        ];
        let v = recording_votes(&classes, &runs, &truth, &preds);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].run_id, "r1");
        // Two of r1's three layers say `a`, but the mean says `b`.
        let want = [0.85 / 3.0, 1.55 / 3.0, 0.6 / 3.0];
        for (g, w) in v[0].probabilities.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{g} vs {w}");
        }
        assert_eq!(
            (v[0].predicted.as_str(), v[0].layers, v[0].ood_layers),
            ("b", 3, 0)
        );
        assert_eq!(
            (v[1].predicted.as_str(), v[1].layers, v[1].ood_layers),
            ("a", 2, 1)
        );
        assert_eq!(v[1].truth.as_deref(), Some("a"));
        let (acc, right, n) = accuracy(
            &classes,
            v.iter().map(|r| (r.truth.as_deref(), r.predicted.as_str())),
        );
        assert_eq!((acc, right, n), (Some(1.0), 2, 2));
        let (acc, _, n) = accuracy(&classes, [(Some("unknown"), "a"), (None, "b")].into_iter());
        assert_eq!((acc, n), (None, 0));
    }
}
