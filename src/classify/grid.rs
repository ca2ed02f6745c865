//! Model specifications, the paper grids (method.md §3.3) and the grid search with
//! scikit-learn `StratifiedKFold(5)` inner cross-validation (method.md §3.2).

use ndarray::{Array2, ArrayView2, Axis, concatenate, s};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::conv1d::{self, Conv1dNet, Conv1dParams};
use super::error::{ClassifyError, Result, param};
use super::forest::{ForestParams, MaxFeatures, RandomForest};
use super::metrics::accuracy;
use super::pca::Pca;
use super::splits::stratified_kfold;
use super::svm::{LinearSvc, SvcParams};

/// One grid point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub(crate) enum ModelSpec {
    /// `RandomForestClassifier(n_estimators, max_features)`, other settings at their defaults.
    RandomForest {
        n_trees: usize,
        max_features: MaxFeatures,
    },
    /// `LinearSVC(C)`, optionally after `PCA(n_components)` fitted on the continuous columns
    /// only, the one-hot prepended after the projection (method.md §2).
    LinearSvm {
        c: f64,
        #[serde(default)]
        pca_components: Option<usize>,
    },
    /// The Conv1D of method.md §3.4 over the checkpoints (libtorch).
    Conv1d(Conv1dParams),
}

/// The paper's C grid.
pub(crate) const SVM_C_GRID: [f64; 7] = [1.0, 50.0, 500.0, 5e3, 5e4, 5e5, 5e6];
/// The paper's PCA component grid.
pub(crate) const PCA_GRID: [usize; 11] = [10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 600];
/// The paper's forest sizes.
pub(crate) const RF_TREES_GRID: [usize; 5] = [20, 50, 100, 500, 1000];

/// The 15 random-forest configurations: max_features ∈ {sqrt, log2, all} × n_trees ∈
/// {20, 50, 100, 500, 1000} (scikit-learn `ParameterGrid` order: the last key varies fastest).
pub(crate) fn rf_paper_grid() -> Vec<ModelSpec> {
    let mut g = Vec::new();
    for mf in [MaxFeatures::Sqrt, MaxFeatures::Log2, MaxFeatures::All] {
        for n in RF_TREES_GRID {
            g.push(ModelSpec::RandomForest {
                n_trees: n,
                max_features: mf,
            });
        }
    }
    g
}

/// The 84 linear-SVM configurations: 7 without PCA, then 11 PCA sizes × 7 C values.
pub(crate) fn svm_paper_grid() -> Vec<ModelSpec> {
    let mut g: Vec<ModelSpec> = SVM_C_GRID
        .iter()
        .map(|&c| ModelSpec::LinearSvm {
            c,
            pca_components: None,
        })
        .collect();
    for k in PCA_GRID {
        for c in SVM_C_GRID {
            g.push(ModelSpec::LinearSvm {
                c,
                pca_components: Some(k),
            });
        }
    }
    g
}

/// A fitted model of any kind (few exist at a time, so the variant size difference is harmless).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub(crate) enum FittedModel {
    RandomForest(RandomForest),
    LinearSvm {
        pca: Option<Pca>,
        svc: LinearSvc,
        n_onehot: usize,
    },
    Conv1d(Conv1dNet),
}

fn project(pca: &Pca, x: ArrayView2<f64>, n_onehot: usize) -> Result<Array2<f64>> {
    if n_onehot > x.ncols() {
        return Err(param(
            "n_onehot",
            format!("{n_onehot} > {} columns", x.ncols()),
        ));
    }
    let z = pca.transform(x.slice(s![.., n_onehot..]))?;
    concatenate(Axis(1), &[x.slice(s![.., ..n_onehot]), z.view()]).map_err(|e| {
        ClassifyError::Shape {
            context: "PCA concat".into(),
            expected: "".into(),
            got: e.to_string(),
        }
    })
}

impl FittedModel {
    /// Predicted class indices.
    pub(crate) fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        match self {
            FittedModel::RandomForest(f) => f.predict(x),
            FittedModel::LinearSvm { pca: None, svc, .. } => svc.predict(x),
            FittedModel::LinearSvm {
                pca: Some(p),
                svc,
                n_onehot,
            } => svc.predict(project(p, x, *n_onehot)?.view()),
            FittedModel::Conv1d(net) => conv1d::predict(net, x),
        }
    }

    /// The linear SVM's decision values (after its PCA); an error for other models.
    pub(crate) fn decision_function(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        match self {
            FittedModel::LinearSvm { pca: None, svc, .. } => svc.decision_function(x),
            FittedModel::LinearSvm {
                pca: Some(p),
                svc,
                n_onehot,
            } => svc.decision_function(project(p, x, *n_onehot)?.view()),
            _ => Err(param(
                "model",
                "decision values exist for the linear SVM only",
            )),
        }
    }

    /// The forest, when this is one.
    pub(crate) fn forest(&self) -> Option<&RandomForest> {
        match self {
            FittedModel::RandomForest(f) => Some(f),
            _ => None,
        }
    }
}

impl ModelSpec {
    /// Checks the spec's parameters.
    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            ModelSpec::RandomForest {
                n_trees,
                max_features,
            } => ForestParams {
                n_trees: *n_trees,
                max_features: *max_features,
                ..Default::default()
            }
            .validate(),
            ModelSpec::LinearSvm { c, pca_components } => {
                SvcParams::with_c(*c).validate()?;
                if *pca_components == Some(0) {
                    return Err(param("pca_components", "must be at least 1"));
                }
                Ok(())
            }
            ModelSpec::Conv1d(p) => p.validate(),
        }
    }

    /// Fits the spec on `x` (whose first `n_onehot` columns are the one-hot).
    pub(crate) fn fit(
        &self,
        x: ArrayView2<f64>,
        y: &[usize],
        n_classes: usize,
        n_onehot: usize,
        seed: u64,
    ) -> Result<FittedModel> {
        self.fit_with(x, y, n_classes, n_onehot, seed, None)
    }

    fn fit_with(
        &self,
        x: ArrayView2<f64>,
        y: &[usize],
        n_classes: usize,
        n_onehot: usize,
        seed: u64,
        full_pca: Option<&Result<Pca>>,
    ) -> Result<FittedModel> {
        match self {
            ModelSpec::RandomForest {
                n_trees,
                max_features,
            } => {
                let p = ForestParams {
                    n_trees: *n_trees,
                    max_features: *max_features,
                    seed,
                    ..Default::default()
                };
                Ok(FittedModel::RandomForest(RandomForest::fit(
                    x, y, n_classes, &p,
                )?))
            }
            ModelSpec::LinearSvm { c, pca_components } => {
                let sp = SvcParams {
                    c: *c,
                    seed,
                    ..Default::default()
                };
                match pca_components {
                    None => Ok(FittedModel::LinearSvm {
                        pca: None,
                        svc: LinearSvc::fit(x, y, n_classes, &sp)?,
                        n_onehot,
                    }),
                    Some(k) => {
                        if n_onehot > x.ncols() {
                            return Err(param("n_onehot", "more one-hot columns than columns"));
                        }
                        let pca = match full_pca {
                            Some(Ok(full)) => full.truncated(*k)?,
                            Some(Err(e)) => return Err(e.clone()),
                            None => Pca::fit(x.slice(s![.., n_onehot..]), *k)?,
                        };
                        let z = project(&pca, x, n_onehot)?;
                        let svc = LinearSvc::fit(z.view(), y, n_classes, &sp)?;
                        Ok(FittedModel::LinearSvm {
                            pca: Some(pca),
                            svc,
                            n_onehot,
                        })
                    }
                }
            }
            ModelSpec::Conv1d(p) => Ok(FittedModel::Conv1d(conv1d::fit(
                x, y, n_classes, n_onehot, p, seed,
            )?)),
        }
    }
}

/// One CV fold: train rows and labels, validation rows and labels, and (when the grid has PCA
/// points) the full PCA of the fold's training rows, or its fit error.
type FoldData = (
    Array2<f64>,
    Vec<usize>,
    Array2<f64>,
    Vec<usize>,
    Option<Result<Pca>>,
);

/// Outcome of a grid search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GridSearchResult {
    /// Index of the chosen grid point.
    pub best_index: usize,
    pub best: ModelSpec,
    /// Mean validation accuracy of each grid point over the folds that fitted (None: none did).
    pub cv_scores: Vec<Option<f64>>,
    /// Number of folds that fitted, per grid point.
    pub folds_ok: Vec<usize>,
}

/// Grid search (method.md §3.2): every grid point × `StratifiedKFold(n_folds)` on (x, y); score =
/// mean fold accuracy over the folds that fit (failed fits are skipped); argmax, ties → first.
/// With a single grid point the cross-validation is skipped (it cannot change the choice). Every
/// fit uses `seed`. PCA is fitted once per fold and truncated for each component count.
pub(crate) fn grid_search(
    x: ArrayView2<f64>,
    y: &[usize],
    n_classes: usize,
    n_onehot: usize,
    grid: &[ModelSpec],
    n_folds: usize,
    seed: u64,
) -> Result<GridSearchResult> {
    if grid.is_empty() {
        return Err(param("grid", "empty grid"));
    }
    for g in grid {
        g.validate()?;
    }
    if y.len() != x.nrows() {
        return Err(ClassifyError::Shape {
            context: "grid_search".into(),
            expected: format!("{} labels", x.nrows()),
            got: format!("{}", y.len()),
        });
    }
    if grid.len() == 1 {
        return Ok(GridSearchResult {
            best_index: 0,
            best: grid[0].clone(),
            cv_scores: vec![None],
            folds_ok: vec![0],
        });
    }
    let folds = stratified_kfold(y, n_folds)?;
    let any_pca = grid.iter().any(|g| {
        matches!(
            g,
            ModelSpec::LinearSvm {
                pca_components: Some(_),
                ..
            }
        )
    });
    let fold_data: Vec<FoldData> = folds
        .par_iter()
        .map(|(tr, te)| {
            let xtr = x.select(Axis(0), tr);
            let ytr: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
            let xte = x.select(Axis(0), te);
            let yte: Vec<usize> = te.iter().map(|&i| y[i]).collect();
            let pca = if any_pca && n_onehot <= xtr.ncols() {
                Some(Pca::fit_full(xtr.slice(s![.., n_onehot..])))
            } else {
                None
            };
            (xtr, ytr, xte, yte, pca)
        })
        .collect();
    let tasks: Vec<(usize, usize)> = (0..grid.len())
        .flat_map(|g| (0..folds.len()).map(move |f| (g, f)))
        .collect();
    let scores: Vec<Option<f64>> = tasks
        .par_iter()
        .map(|&(g, f)| {
            let (xtr, ytr, xte, yte, pca) = &fold_data[f];
            let m = grid[g].fit_with(xtr.view(), ytr, n_classes, n_onehot, seed, pca.as_ref());
            m.and_then(|m| accuracy(yte, &m.predict(xte.view())?)).ok()
        })
        .collect();
    let mut cv_scores = Vec::with_capacity(grid.len());
    let mut folds_ok = Vec::with_capacity(grid.len());
    for g in 0..grid.len() {
        let ok: Vec<f64> = (0..folds.len())
            .filter_map(|f| scores[g * folds.len() + f])
            .collect();
        folds_ok.push(ok.len());
        cv_scores.push(if ok.is_empty() {
            None
        } else {
            Some(ok.iter().sum::<f64>() / ok.len() as f64)
        });
    }
    let mut best: Option<usize> = None;
    for (g, s) in cv_scores.iter().enumerate() {
        if let Some(s) = s {
            if best.is_none_or(|b| *s > cv_scores[b].unwrap_or(f64::NEG_INFINITY)) {
                best = Some(g);
            }
        }
    }
    let b =
        best.ok_or_else(|| ClassifyError::NoValidGridPoint(format!("{} grid points", grid.len())))?;
    Ok(GridSearchResult {
        best_index: b,
        best: grid[b].clone(),
        cv_scores,
        folds_ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::testutil::synthetic;

    #[test]
    fn paper_grids_have_the_paper_sizes() {
        assert_eq!(rf_paper_grid().len(), 15);
        let s = svm_paper_grid();
        assert_eq!(s.len(), 84);
        assert_eq!(
            s.iter()
                .filter(|g| matches!(
                    g,
                    ModelSpec::LinearSvm {
                        pca_components: None,
                        ..
                    }
                ))
                .count(),
            7
        );
        let j = serde_json::to_string(&s[10]).unwrap();
        assert_eq!(serde_json::from_str::<ModelSpec>(&j).unwrap(), s[10]);
    }

    #[test]
    fn grid_search_skips_failed_fits_and_picks_the_best() {
        let (x0, y) = synthetic(200, 6, 2, 8);
        let x = x0.mapv(|v| v.signum() * v.abs().powf(0.25));
        let grid = vec![
            ModelSpec::LinearSvm {
                c: 1.0,
                pca_components: Some(50),
            }, // > 6 features: fails
            ModelSpec::RandomForest {
                n_trees: 1,
                max_features: MaxFeatures::Count(1),
            },
            ModelSpec::RandomForest {
                n_trees: 30,
                max_features: MaxFeatures::Sqrt,
            },
            ModelSpec::LinearSvm {
                c: 1.0,
                pca_components: Some(3),
            },
        ];
        let r = grid_search(x.view(), &y, 2, 0, &grid, 5, 1).unwrap();
        assert_eq!(r.cv_scores[0], None);
        assert_eq!(r.folds_ok, vec![0, 5, 5, 5]);
        let best = r
            .cv_scores
            .iter()
            .flatten()
            .cloned()
            .fold(f64::MIN, f64::max);
        assert_eq!(r.cv_scores[r.best_index], Some(best));
        assert!(r.cv_scores[2].unwrap() > r.cv_scores[1].unwrap());
        // ties go to the first
        let same = vec![grid[2].clone(), grid[2].clone()];
        assert_eq!(
            grid_search(x.view(), &y, 2, 0, &same, 5, 1)
                .unwrap()
                .best_index,
            0
        );
        let none = vec![grid[0].clone(), grid[0].clone()];
        assert!(matches!(
            grid_search(x.view(), &y, 2, 0, &none, 5, 1),
            Err(ClassifyError::NoValidGridPoint(_))
        ));
    }

    #[test]
    fn pca_is_fitted_on_continuous_columns_and_onehot_prepended() {
        let (x, y) = synthetic(120, 5, 2, 2);
        let mut xo = Array2::<f64>::zeros((120, 8));
        for i in 0..120 {
            xo[[i, i % 3]] = 1.0;
            for j in 0..5 {
                xo[[i, 3 + j]] = x[[i, j]];
            }
        }
        let m = ModelSpec::LinearSvm {
            c: 1.0,
            pca_components: Some(5),
        }
        .fit(xo.view(), &y, 2, 3, 0)
        .unwrap();
        let FittedModel::LinearSvm {
            pca: Some(p), svc, ..
        } = &m
        else {
            panic!()
        };
        assert_eq!(p.mean.len(), 5);
        assert_eq!(svc.coef.ncols(), 3 + 5);
        assert!(
            ModelSpec::LinearSvm {
                c: 1.0,
                pca_components: Some(6)
            }
            .fit(xo.view(), &y, 2, 3, 0)
            .is_err()
        );
        assert_eq!(m.predict(xo.view()).unwrap().len(), 120);
    }
}
