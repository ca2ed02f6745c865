//! Saved classifiers (docs/saved-classifiers.md): a fitted forest or linear SVM with everything
//! needed to apply it to new feature tables: the feature schema, the z-scoring, the calibration
//! map (temperature scaling fitted on out-of-fold scores, `classify::calibrate`), the training
//! statistics of the out-of-distribution check, the realism condition, the target and classes.
//!
//! The file is JSON with `format = "lrx-classifier"` and `format_version = 1`; floats are written
//! with serde_json's shortest round-trip representation and read back with `float_roundtrip`, so
//! a loaded model predicts exactly what the in-memory one did.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::calibrate::{
    Calibration, FOREST_EPS, Reliability, fit_temperature, reliability, softmax_t,
};
use super::data::{FeatureTable, FlatFeatures, MeasureSubset, ZScore};
use super::error::ClassifyError;
use super::eval::{FeatureLayout, TimeSpec, build_features};
use super::grid::{FittedModel, ModelSpec};
use super::splits::stratified_kfold;

/// The `format` field of a saved classifier.
pub(crate) const FORMAT: &str = "lrx-classifier";
/// The format version this lrx writes and the newest it reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Out-of-distribution check: a feature is "far" when its robust z-score
/// |x − median| / (1.4826 · MAD) exceeds this bound ...
pub(crate) const OOD_Z_BOUND: f64 = 6.0;
/// ... and an example is flagged when more than this share of its continuous features are far.
pub(crate) const OOD_SHARE_BOUND: f64 = 0.1;
/// Bins of the reliability curve / ECE.
pub(crate) const ECE_BINS: usize = 10;

/// Errors of saving, loading and applying a saved classifier; codes `lrx::saved::...`.
#[derive(Debug, Error)]
pub enum SavedError {
    /// The file cannot be read or written.
    #[error("saved classifier {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        message: String,
    },
    /// The file is not an lrx classifier (not JSON, or another `format`).
    #[error("{path} is not an lrx classifier: {message}")]
    NotClassifier {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        message: String,
    },
    /// The file was written by a newer lrx (format version above `FORMAT_VERSION`).
    #[error(
        "{path} has classifier format version {found}; this lrx reads up to {supported}: update lrx"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its format version.
        found: u64,
        /// The newest this lrx reads.
        supported: u32,
    },
    /// The features given do not have the columns the model expects.
    #[error("schema mismatch: {0}")]
    Schema(
        /// What is missing or extra (`model expects 48 columns act_mean@0, ...; missing X`).
        String,
    ),
    /// A model kind that cannot be saved (the Conv1D).
    #[error("classifier `{0}` cannot be saved (only random_forest and linear_svm can)")]
    NotSaveable(
        /// The model kind.
        String,
    ),
    /// Fitting or applying the model failed.
    #[error(transparent)]
    Classify(#[from] ClassifyError),
}

impl crate::diag::Coded for SavedError {
    fn code(&self) -> &'static str {
        match self {
            SavedError::Io { .. } => "lrx::saved::io",
            SavedError::NotClassifier { .. } => "lrx::saved::not_classifier",
            SavedError::Version { .. } => "lrx::saved::version",
            SavedError::Schema(_) => "lrx::saved::schema",
            SavedError::NotSaveable(_) => "lrx::saved::not_saveable",
            SavedError::Classify(e) => e.code(),
        }
    }
}

type Result<T> = std::result::Result<T, SavedError>;

/// The features a saved model expects, and how they are built from a feature table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FeatureSchema {
    /// Ordered column names (the one-hot `early`, `middle`, `deep`, then `stat@checkpoint`).
    pub feature_names: Vec<String>,
    /// Leading one-hot layer-position columns.
    pub n_onehot: usize,
    /// The statistics (observables) used, in column order.
    pub stats: Vec<String>,
    /// The measure subset they were selected by.
    pub measure: MeasureSubset,
    /// Flat trajectories or their average.
    pub layout: FeatureLayout,
    /// The checkpoints selected (indices into `epochs`).
    pub time: TimeSpec,
    /// The epochs of the training table's checkpoints (None: not recorded).
    pub epochs: Option<Vec<i64>>,
}

/// Robust per-column statistics of the training features (before z-scoring).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OodStats {
    pub median: Vec<f64>,
    /// 1.4826 · MAD, floored at 1e-9 · (1 + |median|).
    pub scale: Vec<f64>,
    pub z_bound: f64,
    pub share_bound: f64,
    /// Share of the training examples the rule flags.
    pub train_flag_rate: f64,
}

/// A saved classifier (the whole file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedClassifier {
    pub format: String,
    pub format_version: u32,
    pub lrx_version: String,
    /// The evaluation it was saved from.
    pub eval_id: String,
    pub spec_hash: Option<String>,
    /// The factor it predicts (`rule`).
    pub target: String,
    pub classes: Vec<String>,
    /// The realism condition / measurement model of the training features (`ir::RealismCondition`
    /// serialised whole; null for the plain observables).
    pub realism: Option<serde_json::Value>,
    /// The chosen grid point.
    pub spec: ModelSpec,
    pub schema: FeatureSchema,
    pub zscore: Option<ZScore>,
    pub model: FittedModel,
    pub calibration: Calibration,
    pub ood: OodStats,
    /// ECE and reliability curve on held-out examples (a model fitted without them).
    pub heldout_calibration: Option<Reliability>,
}

/// Provenance of a saved classifier.
#[derive(Debug, Clone, Default)]
pub(crate) struct SaveInfo {
    pub eval_id: String,
    pub spec_hash: Option<String>,
    pub target: String,
    pub realism: Option<serde_json::Value>,
    pub cv_folds: usize,
    pub seed: u64,
    pub zscore: bool,
}

/// One calibrated model: z-scoring, fitted model, calibration.
fn fit_calibrated(
    x: ArrayView2<f64>,
    y: &[usize],
    k: usize,
    n_onehot: usize,
    spec: &ModelSpec,
    info: &SaveInfo,
) -> Result<(Option<ZScore>, FittedModel, Calibration)> {
    let mut xz = x.to_owned();
    let z = if info.zscore {
        let z = ZScore::fit(x, n_onehot)?;
        z.transform(&mut xz)?;
        Some(z)
    } else {
        None
    };
    let mut oof = Array2::<f64>::zeros((y.len(), k));
    for (tr, te) in stratified_kfold(y, info.cv_folds.max(2))? {
        let xtr = xz.select(Axis(0), &tr);
        let ytr: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
        let m = spec.fit(xtr.view(), &ytr, k, n_onehot, info.seed)?;
        let s = model_scores(&m, xz.select(Axis(0), &te).view(), k)?;
        for (r, &i) in te.iter().enumerate() {
            oof.row_mut(i).assign(&s.row(r));
        }
    }
    let cal = fit_temperature(oof.view(), y)?;
    let model = spec.fit(xz.view(), y, k, n_onehot, info.seed)?;
    Ok((z, model, cal))
}

/// The model's uncalibrated scores [n, k] on (z-scored) features.
fn model_scores(m: &FittedModel, x: ArrayView2<f64>, k: usize) -> Result<Array2<f64>> {
    let s = match m {
        FittedModel::RandomForest(f) => f.predict_proba(x)?.mapv(|p| (p + FOREST_EPS).ln()),
        FittedModel::LinearSvm { .. } => {
            let d = m.decision_function(x)?;
            if k == 2 && d.ncols() == 1 {
                let mut s = Array2::zeros((d.nrows(), 2));
                s.column_mut(1).assign(&d.column(0));
                s
            } else {
                d
            }
        }
        FittedModel::Conv1d(_) => return Err(SavedError::NotSaveable("conv1d".into())),
    };
    Ok(s)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ood_stats(x: ArrayView2<f64>, n_onehot: usize) -> OodStats {
    let p = x.ncols();
    let mut med = vec![0.0; p];
    let mut scale = vec![1.0; p];
    for j in n_onehot..p {
        let mut c = x.column(j).to_vec();
        let m = median(&mut c);
        let mut dev: Vec<f64> = c.iter().map(|v| (v - m).abs()).collect();
        let mad = median(&mut dev);
        med[j] = m;
        scale[j] = (1.4826 * mad).max(1e-9 * (1.0 + m.abs()));
    }
    let mut o = OodStats {
        median: med,
        scale,
        z_bound: OOD_Z_BOUND,
        share_bound: OOD_SHARE_BOUND,
        train_flag_rate: 0.0,
    };
    let flags = o.shares(x, n_onehot);
    o.train_flag_rate =
        flags.iter().filter(|s| **s > o.share_bound).count() as f64 / flags.len().max(1) as f64;
    o
}

impl OodStats {
    /// Per example, the share of continuous features whose robust z-score exceeds the bound.
    pub(crate) fn shares(&self, x: ArrayView2<f64>, n_onehot: usize) -> Vec<f64> {
        let nc = (x.ncols() - n_onehot).max(1) as f64;
        x.rows()
            .into_iter()
            .map(|r| {
                (n_onehot..r.len())
                    .filter(|&j| ((r[j] - self.median[j]) / self.scale[j]).abs() > self.z_bound)
                    .count() as f64
                    / nc
            })
            .collect()
    }
}

/// One example's prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Prediction {
    pub class: String,
    pub class_index: usize,
    /// Calibrated probabilities, in `classes` order.
    pub probabilities: Vec<f64>,
    /// Share of continuous features beyond the robust z bound.
    pub far_share: f64,
    /// True when `far_share` exceeds the share bound: outside the training distribution.
    pub out_of_distribution: bool,
}

impl SavedClassifier {
    /// Fits the chosen grid point `spec` on all rows of `fa` (labels `y` into `classes`), its
    /// calibration on the out-of-fold scores of a `StratifiedKFold(info.cv_folds)`, and the OOD
    /// statistics. With `heldout = Some((train, test))` it also fits the same recipe on the
    /// `train` rows only and measures ECE / reliability on the `test` rows.
    pub(crate) fn fit(
        fa: &FlatFeatures,
        y: &[usize],
        classes: &[String],
        spec: &ModelSpec,
        schema: FeatureSchema,
        info: &SaveInfo,
        heldout: Option<(&[usize], &[usize])>,
    ) -> Result<SavedClassifier> {
        if let ModelSpec::Conv1d(_) = spec {
            return Err(SavedError::NotSaveable("conv1d".into()));
        }
        let k = classes.len();
        let n1 = fa.n_onehot;
        let heldout_calibration = match heldout {
            Some((tr, te)) => {
                let xtr = fa.x.select(Axis(0), tr);
                let ytr: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
                let (z, m, cal) = fit_calibrated(xtr.view(), &ytr, k, n1, spec, info)?;
                let mut xte = fa.x.select(Axis(0), te);
                if let Some(z) = &z {
                    z.transform(&mut xte)?;
                }
                let p = softmax_t(model_scores(&m, xte.view(), k)?.view(), cal.temperature);
                let yte: Vec<usize> = te.iter().map(|&i| y[i]).collect();
                Some(reliability(p.view(), &yte, ECE_BINS)?)
            }
            None => None,
        };
        let (zscore, model, calibration) = fit_calibrated(fa.x.view(), y, k, n1, spec, info)?;
        Ok(SavedClassifier {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            lrx_version: env!("CARGO_PKG_VERSION").into(),
            eval_id: info.eval_id.clone(),
            spec_hash: info.spec_hash.clone(),
            target: info.target.clone(),
            classes: classes.to_vec(),
            realism: info.realism.clone(),
            spec: spec.clone(),
            schema,
            zscore,
            model,
            calibration,
            ood: ood_stats(fa.x.view(), n1),
            heldout_calibration,
        })
    }

    /// Writes the JSON file (creating its directory).
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let io = |e: std::io::Error| SavedError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(io)?;
        }
        let text = serde_json::to_string(self).map_err(|e| SavedError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(io)
    }

    /// Reads a file, checking `format` and `format_version` before the rest.
    pub(crate) fn load(path: &Path) -> Result<SavedClassifier> {
        let text = std::fs::read_to_string(path).map_err(|e| SavedError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let not = |m: String| SavedError::NotClassifier {
            path: path.to_path_buf(),
            message: m,
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| not(format!("not JSON ({e})")))?;
        match v.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => return Err(not(format!("format is `{other}`, not `{FORMAT}`"))),
            None => return Err(not("no `format` field".into())),
        }
        let ver = v.get("format_version").and_then(|f| f.as_u64());
        match ver {
            Some(n) if n > u64::from(FORMAT_VERSION) => {
                return Err(SavedError::Version {
                    path: path.to_path_buf(),
                    found: n,
                    supported: FORMAT_VERSION,
                });
            }
            Some(_) => {}
            None => return Err(not("no `format_version` field".into())),
        }
        serde_json::from_str(&text).map_err(|e| not(format!("invalid classifier ({e})")))
    }

    /// Builds the model's features from a table, in the schema's column order; a clear schema
    /// error names the missing columns.
    pub(crate) fn features(&self, table: &FeatureTable) -> Result<Array2<f64>> {
        let built = build_features(
            table,
            &self.schema.measure,
            self.schema.layout,
            &self.schema.time,
        )
        .map_err(|e| SavedError::Schema(format!("cannot build the model's features: {e}")))?;
        self.reorder(&built.feature_names, built.x.view())
    }

    /// Refuses features whose checkpoints' epochs differ from the training table's.
    pub(crate) fn check_epochs(&self, epochs: &[i64]) -> Result<()> {
        match &self.schema.epochs {
            Some(want) if want.as_slice() != epochs => Err(SavedError::Schema(format!(
                "model expects checkpoints at epochs {want:?}, the features have checkpoints at \
                 epochs {epochs:?}"
            ))),
            _ => Ok(()),
        }
    }

    /// Selects the schema's columns from (`names`, `x`); refuses when some are missing.
    pub(crate) fn reorder(&self, names: &[String], x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let want = &self.schema.feature_names;
        let idx: Vec<Option<usize>> = want
            .iter()
            .map(|w| names.iter().position(|n| n == w))
            .collect();
        let missing: Vec<&str> = want
            .iter()
            .zip(&idx)
            .filter(|(_, i)| i.is_none())
            .map(|(w, _)| w.as_str())
            .collect();
        if !missing.is_empty() {
            let show = |v: &[&str]| {
                let mut s = v.iter().take(6).copied().collect::<Vec<_>>().join(", ");
                if v.len() > 6 {
                    s.push_str(&format!(", ... ({} in all)", v.len()));
                }
                s
            };
            let want_s: Vec<&str> = want.iter().map(String::as_str).collect();
            let have_s: Vec<&str> = names.iter().map(String::as_str).collect();
            return Err(SavedError::Schema(format!(
                "model expects {} columns {}; the table has {} columns {}: missing {}",
                want.len(),
                show(&want_s),
                names.len(),
                show(&have_s),
                show(&missing)
            )));
        }
        let idx: Vec<usize> = idx.into_iter().flatten().collect();
        Ok(x.select(Axis(1), &idx))
    }

    /// Predicts features already in schema order ([`Self::features`]).
    pub(crate) fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<Prediction>> {
        if x.ncols() != self.schema.feature_names.len() {
            return Err(SavedError::Schema(format!(
                "model expects {} columns, got {}",
                self.schema.feature_names.len(),
                x.ncols()
            )));
        }
        let mut xz = x.to_owned();
        if let Some(z) = &self.zscore {
            z.transform(&mut xz)?;
        }
        let k = self.classes.len();
        let cls = self.model.predict(xz.view())?;
        let p = softmax_t(
            model_scores(&self.model, xz.view(), k)?.view(),
            self.calibration.temperature,
        );
        let shares = self.ood.shares(x, self.schema.n_onehot);
        Ok(cls
            .into_iter()
            .zip(p.rows())
            .zip(shares)
            .map(|((c, row), s)| Prediction {
                class: self.classes[c].clone(),
                class_index: c,
                probabilities: row.to_vec(),
                far_share: s,
                out_of_distribution: s > self.ood.share_bound,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::data::{TimeSelection, flat_features, select_stats};
    use crate::classify::forest::MaxFeatures;
    use crate::classify::testutil::synthetic_table;

    fn setup() -> (FeatureTable, FlatFeatures, Vec<usize>, Vec<String>) {
        let t = synthetic_table(30, 5, 11);
        let sel = select_stats(&t, &MeasureSubset::All).unwrap();
        let fa = flat_features(&t, &sel, &TimeSelection::All).unwrap();
        let classes = t.classes();
        let y = t.class_indices(&classes).unwrap();
        (t, fa, y, classes)
    }

    fn schema(fa: &FlatFeatures) -> FeatureSchema {
        FeatureSchema {
            feature_names: fa.feature_names.clone(),
            n_onehot: fa.n_onehot,
            stats: fa.stats.clone(),
            measure: MeasureSubset::All,
            layout: FeatureLayout::Flat,
            time: TimeSpec::All,
            epochs: None,
        }
    }

    fn roundtrip(spec: ModelSpec, zscore: bool) {
        let (t, fa, y, classes) = setup();
        let info = SaveInfo {
            eval_id: "main".into(),
            target: "rule".into(),
            cv_folds: 3,
            seed: 5,
            zscore,
            realism: Some(serde_json::json!({"sigma": 0.5, "fraction": 0.2, "seed": 3})),
            ..Default::default()
        };
        let tr: Vec<usize> = (0..y.len()).filter(|i| i / 4 % 4 != 0).collect();
        let te: Vec<usize> = (0..y.len()).filter(|i| i / 4 % 4 == 0).collect();
        let m = SavedClassifier::fit(
            &fa,
            &y,
            &classes,
            &spec,
            schema(&fa),
            &info,
            Some((&tr, &te)),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models/main.lrxc.json");
        m.save(&path).unwrap();
        let back = SavedClassifier::load(&path).unwrap();
        assert_eq!(back, m, "every float round-trips exactly");
        let x = back.features(&t).unwrap();
        assert_eq!(x, fa.x);
        let a = m.predict(fa.x.view()).unwrap();
        let b = back.predict(x.view()).unwrap();
        assert_eq!(a, b);
        let acc = b
            .iter()
            .zip(&y)
            .filter(|(p, c)| p.class_index == **c)
            .count();
        // Chance is 0.25 (4 classes).
        assert!(
            acc as f64 / y.len() as f64 > 0.45,
            "train accuracy {acc}/{}",
            y.len()
        );
        for p in &b {
            assert!((p.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            let am = crate::classify::forest::argmax(&p.probabilities);
            assert_eq!(am, p.class_index, "calibration keeps the predicted class");
        }
        let rel = m.heldout_calibration.as_ref().unwrap();
        eprintln!(
            "{spec:?}: T = {}, held-out ECE = {} on {} examples, train accuracy {acc}/{}",
            m.calibration.temperature,
            rel.ece,
            rel.n,
            y.len()
        );
        assert_eq!(rel.n, te.len());
        assert!(rel.ece >= 0.0 && rel.ece < 0.5, "ECE {}", rel.ece);
        // Training data is not flagged; shifted data is.
        let flagged = b.iter().filter(|p| p.out_of_distribution).count();
        assert!(
            flagged * 20 <= b.len(),
            "{flagged} training examples flagged"
        );
        assert!(m.ood.train_flag_rate <= 0.05);
        let mut shifted = x.clone();
        for mut row in shifted.rows_mut() {
            for v in row.iter_mut().skip(fa.n_onehot) {
                *v = *v * 3.0 + 100.0;
            }
        }
        let s = back.predict(shifted.view()).unwrap();
        assert!(s.iter().all(|p| p.out_of_distribution));
    }

    #[test]
    fn forest_save_load_predicts_identically() {
        roundtrip(
            ModelSpec::RandomForest {
                n_trees: 10,
                max_features: MaxFeatures::Sqrt,
            },
            false,
        );
    }

    #[test]
    fn svm_with_pca_and_zscore_save_load_predicts_identically() {
        roundtrip(
            ModelSpec::LinearSvm {
                c: 1.0,
                pca_components: Some(6),
            },
            true,
        );
        roundtrip(
            ModelSpec::LinearSvm {
                c: 50.0,
                pca_components: None,
            },
            false,
        );
    }

    #[test]
    fn schema_mismatch_version_and_format_are_refused() {
        use crate::diag::Coded;
        let (t, fa, y, classes) = setup();
        let spec = ModelSpec::RandomForest {
            n_trees: 4,
            max_features: MaxFeatures::All,
        };
        let info = SaveInfo {
            cv_folds: 2,
            target: "rule".into(),
            ..Default::default()
        };
        let m = SavedClassifier::fit(&fa, &y, &classes, &spec, schema(&fa), &info, None).unwrap();
        // A table without one statistic.
        let names: Vec<String> = fa.feature_names[..fa.feature_names.len() - 5].to_vec();
        let x = fa.x.slice(ndarray::s![.., ..names.len()]);
        let e = m.reorder(&names, x).unwrap_err();
        assert_eq!(e.code(), "lrx::saved::schema");
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("model expects {} columns", fa.feature_names.len()))
                && msg.contains(&format!("missing {}", fa.feature_names[names.len()])),
            "{msg}"
        );
        // Columns in another order are reordered.
        let mut rev = fa.feature_names.clone();
        rev.reverse();
        let mut xr = fa.x.clone();
        xr.invert_axis(Axis(1));
        assert_eq!(m.reorder(&rev, xr.view()).unwrap(), fa.x);
        let _ = t;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        m.save(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(
            &p,
            text.replace("\"format_version\":1", "\"format_version\":2"),
        )
        .unwrap();
        let e = SavedClassifier::load(&p).unwrap_err();
        assert_eq!(e.code(), "lrx::saved::version", "{e}");
        std::fs::write(&p, "{\"format\":\"other\"}").unwrap();
        assert_eq!(
            SavedClassifier::load(&p).unwrap_err().code(),
            "lrx::saved::not_classifier"
        );
        std::fs::write(&p, "not json").unwrap();
        assert_eq!(
            SavedClassifier::load(&p).unwrap_err().code(),
            "lrx::saved::not_classifier"
        );
        let e = SavedClassifier::load(&dir.path().join("none.json")).unwrap_err();
        assert_eq!(e.code(), "lrx::saved::io");
        let conv = ModelSpec::Conv1d(crate::classify::conv1d::paper_grid().remove(0));
        let e =
            SavedClassifier::fit(&fa, &y, &classes, &conv, schema(&fa), &info, None).unwrap_err();
        assert_eq!(e.code(), "lrx::saved::not_saveable");
    }
}
