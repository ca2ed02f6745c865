//! `lrx classify --save-models`: refits the chosen grid point of every saveable evaluation on all
//! its data and writes `results/models/<eval-id>.lrxc.json` ([`crate::classify::saved`]).
//!
//! Saveable: the balanced split (main setting, realism conditions, measure subsets, pairwise
//! targets, the trajectory average), with a random forest or a linear SVM; not holdouts,
//! portions, trajectory subsampling (per-example random starts) or the matched control. The
//! chosen grid point is the one most outer splits chose (ties: the earliest in the grid). The
//! held-out calibration (ECE, reliability curve) is measured on the first outer split: the same
//! recipe fitted on its training rows, applied to its test rows.

use std::path::{Path, PathBuf};

use super::StageOptions;
use super::expand::EvalSpec;
use super::{Result, StageError};
use crate::classify::SavedError;
use crate::classify::data::FeatureTable;
use crate::classify::eval::{EvalResult, TimeSpec, build_features, make_splits};
use crate::classify::saved::{FeatureSchema, SaveInfo, SavedClassifier};

/// Whether an evaluation's classifier is saved.
pub(crate) fn saveable(s: &EvalSpec) -> bool {
    s.split == "balanced"
        && s.holdout.is_none()
        && s.portion.is_none()
        && s.trajectory.is_none()
        && s.matched.is_none()
        && s.config.test_time.is_none()
        && !matches!(s.config.time, TimeSpec::Subsample { .. })
        && (s.classifier == "random_forest" || s.classifier == "linear_svm")
}

/// Saves every saveable evaluation's classifier; returns the files written.
pub(crate) fn save_models(
    specs: &[EvalSpec],
    tables: &[std::sync::Arc<FeatureTable>],
    results: &[EvalResult],
    rdir: &Path,
    epochs: &[i64],
    opts: &StageOptions,
) -> Result<Vec<PathBuf>> {
    let mdir = rdir.join("models");
    let mut written = Vec::new();
    for ((s, t), r) in specs.iter().zip(tables).zip(results) {
        if !saveable(s) {
            continue;
        }
        let path = mdir.join(format!("{}.lrxc.json", s.id));
        save_one(s, t, r, epochs, opts, &path).map_err(|source| StageError::Saved {
            id: s.id.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

fn save_one(
    s: &EvalSpec,
    table: &FeatureTable,
    r: &EvalResult,
    epochs: &[i64],
    opts: &StageOptions,
    path: &Path,
) -> std::result::Result<(), SavedError> {
    let cfg = &s.config;
    let restricted;
    let table = match &cfg.classes {
        Some(c) => {
            restricted = table.restrict_classes(c)?;
            &restricted
        }
        None => table,
    };
    let classes = table.classes();
    let y = table.class_indices(&classes)?;
    let fa = build_features(table, &cfg.measure, cfg.layout, &cfg.time)?;
    // The grid point most splits chose (ties: the earliest).
    let mut votes: Vec<(usize, usize)> = Vec::new();
    for sp in &r.splits {
        match votes.iter_mut().find(|(i, _)| *i == sp.best_index) {
            Some(v) => v.1 += 1,
            None => votes.push((sp.best_index, 1)),
        }
    }
    let Some(best) = votes
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .and_then(|(i, _)| r.splits.iter().find(|sp| sp.best_index == *i))
        .map(|sp| sp.best.clone())
    else {
        return Err(SavedError::Schema(format!(
            "evaluation `{}` has no splits",
            s.id
        )));
    };
    let splits = make_splits(table, &y, &classes, &cfg.split, cfg.seed)?;
    let heldout = splits
        .first()
        .map(|sp| (sp.train.as_slice(), sp.test.as_slice()));
    let schema = FeatureSchema {
        feature_names: fa.feature_names.clone(),
        n_onehot: fa.n_onehot,
        stats: fa.stats.clone(),
        measure: cfg.measure.clone(),
        layout: cfg.layout,
        time: cfg.time.clone(),
        epochs: Some(epochs.to_vec()),
    };
    let info = SaveInfo {
        eval_id: s.id.clone(),
        spec_hash: Some(opts.spec_hash.clone()),
        target: s.target_factor.clone(),
        realism: s
            .realism
            .as_ref()
            .map(|c| serde_json::to_value(c).unwrap_or(serde_json::Value::Null)),
        cv_folds: cfg.cv_folds,
        seed: cfg.seed.wrapping_add(1),
        zscore: cfg.zscore,
    };
    let m = SavedClassifier::fit(&fa, &y, &classes, &best, schema, &info, heldout)?;
    m.save(path)
}

#[cfg(test)]
mod tests {
    use super::super::tests::checked;
    use super::super::{StageOptions, classify_study_with};
    use crate::synthetic::{SyntheticStudy, write_synthetic_study};

    const CLASSIFY: &str = r#"classify {
  targets  = [rule]
  measures in [all]
  models   = [random_forest(trees in [10], max_features in [sqrt]),
              linear_svm(C in [1], pca in [none])]
  splits   = balanced(2, test = 25%)
  cv       = stratified_kfold(3)
  realism  = true
}"#;

    #[test]
    fn stage_saves_models_and_lrx_predict_applies_them() {
        let (study, plan) = checked(CLASSIFY);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_synthetic_study(
            d,
            &plan,
            &SyntheticStudy {
                observables: [
                    "weightabs_median",
                    "weightraw_mean",
                    "actabs_mean",
                    "actraw_var",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                signal: 2.0,
                seed: 7,
                ..Default::default()
            },
        )
        .unwrap();
        let opts = StageOptions {
            study: "synth".into(),
            spec_hash: "h".into(),
            save_models: true,
            ..Default::default()
        };
        let c = study.classify.as_ref().unwrap();
        let out = classify_study_with(d, c, &opts, &mut |_| {}).unwrap();
        let evals = &out.evaluations.evaluations;
        let mdir = d.join("results/models");
        let mut n_realism = 0;
        for e in evals {
            let p = mdir.join(format!("{}.lrxc.json", e.id));
            assert!(p.is_file(), "{} not saved", e.id);
            let m = crate::classify::saved::SavedClassifier::load(&p).unwrap();
            assert_eq!(m.eval_id, e.id);
            assert_eq!(m.classes, e.classes);
            assert_eq!(m.spec_hash.as_deref(), Some("h"));
            let rel = m.heldout_calibration.as_ref().unwrap();
            assert_eq!(rel.n, e.n_test);
            n_realism += usize::from(m.realism.is_some());
        }
        assert!(n_realism >= 2, "realism conditions saved too");
        let main = evals
            .iter()
            .find(|e| e.realism.is_none() && e.classifier == "random_forest")
            .unwrap();
        let model = mdir.join(format!("{}.lrxc.json", main.id));
        let ms = model.to_str().unwrap();
        let ds = d.to_str().unwrap();
        let (code, o, e) = crate::cli::run_captured(&["predict", ms, ds, "--format", "json"]);
        assert_eq!(code, 0, "{e}");
        let j: serde_json::Value = serde_json::from_str(&o).unwrap();
        let preds = j["predictions"].as_array().unwrap();
        assert_eq!(j["n_labelled"].as_u64().unwrap() as usize, preds.len());
        let acc = j["accuracy"].as_f64().unwrap();
        assert!(acc > 0.6, "accuracy on its own training features {acc}");
        assert!(preds.len() > 100);
        assert!(j["ood"]["flagged"].as_u64().unwrap() * 20 <= preds.len() as u64);
        let (code, o, _) = crate::cli::run_captured(&["predict", ms, ds]);
        assert_eq!(code, 0);
        assert!(o.contains("accuracy: "), "{o}");
        // A model expecting a column the features lack.
        let text = std::fs::read_to_string(&model).unwrap();
        let bad = d.join("bad.lrxc.json");
        std::fs::write(&bad, text.replacen("\"actabs_mean@0\"", "\"nope@0\"", 1)).unwrap();
        let (code, _, e) = crate::cli::run_captured(&["predict", bad.to_str().unwrap(), ds]);
        assert_eq!(code, 1);
        assert!(
            e.contains("lrx::saved::schema") && e.contains("missing nope@0"),
            "{e}"
        );
        // Features with other checkpoints.
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["schema"]["epochs"][0] = serde_json::json!(-7);
        std::fs::write(&bad, v.to_string()).unwrap();
        let (code, _, e) = crate::cli::run_captured(&["predict", bad.to_str().unwrap(), ds]);
        assert_eq!(code, 1);
        assert!(
            e.contains("lrx::saved::schema") && e.contains("checkpoints"),
            "{e}"
        );
        let (code, _, e) = crate::cli::run_captured(&["predict", ds, ds]);
        assert_eq!(code, 1);
        assert!(e.contains("lrx::saved::io"), "{e}");
        // The report shows every saved classifier's temperature and held-out ECE.
        std::fs::remove_file(&bad).unwrap();
        crate::report::write_report(d).unwrap();
        let md = std::fs::read_to_string(d.join("results/report.md")).unwrap();
        assert!(md.contains("Saved classifiers: calibration"), "{md}");
        let m = crate::classify::saved::SavedClassifier::load(&model).unwrap();
        let ece = m.heldout_calibration.as_ref().unwrap().ece;
        assert!(
            md.contains(&format!("| {:.3} |", ece)),
            "ECE {ece} not in the report"
        );
    }
}
