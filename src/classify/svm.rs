//! Linear support vector classifier: liblinear's dual coordinate descent for L2-regularized
//! squared-hinge loss (solver 1, `L2R_L2LOSS_SVC_DUAL`), as scikit-learn's `LinearSVC` runs it:
//! one-vs-rest, C, tol 1e-4, max_iter 1000, the intercept as an extra constant feature
//! (`intercept_scaling`, regularized like the weights), a random permutation of the coordinates on
//! every pass and liblinear's shrinking of the active set.
//!
//! Why not linfa: linfa-svm 0.8 is a kernel SMO solver that builds the full n × n kernel matrix
//! (hours at 15,000 rows), and with `shrinking(true)` it returned wrong models on our workload
//! (0.237 accuracy against 0.362 without it; shared/linfa.md). liblinear's solver is short and is
//! what the paper used.

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::{ClassifyError, Result, param};
use super::forest::{argmax, check_xy};

/// Parameters of [`LinearSvc`] (scikit-learn defaults except C, which has none here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvcParams {
    /// Inverse regularisation strength C (> 0; larger fits the training data more closely).
    pub c: f64,
    /// Stopping tolerance of the dual coordinate descent, on liblinear's projected-gradient gap
    /// (default 1e-4).
    #[serde(default = "default_tol")]
    pub tol: f64,
    /// Maximum passes over the coordinates per binary problem (default 1000).
    #[serde(default = "default_max_iter")]
    pub max_iter: usize,
    /// The value of the constant feature that carries the intercept (0 = no intercept).
    #[serde(default = "default_scaling")]
    pub intercept_scaling: f64,
    /// Seed of the coordinate permutations (class j uses a stream derived from it).
    #[serde(default)]
    pub seed: u64,
}

fn default_tol() -> f64 {
    1e-4
}
fn default_max_iter() -> usize {
    1000
}
fn default_scaling() -> f64 {
    1.0
}

impl Default for SvcParams {
    fn default() -> Self {
        SvcParams {
            c: 1.0,
            tol: 1e-4,
            max_iter: 1000,
            intercept_scaling: 1.0,
            seed: 0,
        }
    }
}

impl SvcParams {
    /// With the given C and defaults otherwise.
    pub fn with_c(c: f64) -> Self {
        SvcParams {
            c,
            ..Default::default()
        }
    }

    /// Checks C > 0, tol > 0, max_iter ≥ 1, intercept_scaling ≥ 0, all finite.
    pub fn validate(&self) -> Result<()> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(param("C", format!("{} must be finite and > 0", self.c)));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(param("tol", format!("{} must be finite and > 0", self.tol)));
        }
        if self.max_iter == 0 {
            return Err(param("max_iter", "must be at least 1"));
        }
        if !(self.intercept_scaling.is_finite() && self.intercept_scaling >= 0.0) {
            return Err(param("intercept_scaling", "must be finite and ≥ 0"));
        }
        Ok(())
    }
}

/// A fitted one-vs-rest linear SVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearSvc {
    /// The parameters it was fitted with.
    pub params: SvcParams,
    /// Number of classes (labels 0..n_classes).
    pub n_classes: usize,
    /// [n_models, p]: one row per class, or a single row (positive = class 1) for two classes.
    pub coef: Array2<f64>,
    /// One intercept per row of `coef` (`intercept_scaling` × the weight of the constant
    /// feature; all zero when `intercept_scaling` is 0).
    pub intercept: Vec<f64>,
    /// Passes made by each binary problem, and whether it met the tolerance before max_iter.
    pub n_iter: Vec<usize>,
    /// Per binary problem: whether it met `tol` before `max_iter` passes.
    pub converged: Vec<bool>,
}

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = [0.0f64; 4];
    let n4 = a.len() / 4 * 4;
    for (ca, cb) in a[..n4].chunks_exact(4).zip(b[..n4].chunks_exact(4)) {
        s[0] += ca[0] * cb[0];
        s[1] += ca[1] * cb[1];
        s[2] += ca[2] * cb[2];
        s[3] += ca[3] * cb[3];
    }
    let mut t = (s[0] + s[1]) + (s[2] + s[3]);
    for (x, y) in a[n4..].iter().zip(&b[n4..]) {
        t += x * y;
    }
    t
}

/// liblinear `solve_l2r_l1l2_svc` for the L2 loss (upper bound ∞, diag = 1/(2C)).
/// `xb` is row-major l × d (the bias column included); returns w and the number of passes.
fn solve_l2loss_dual(
    xb: &[f64],
    d: usize,
    y: &[f64],
    c: f64,
    eps: f64,
    max_iter: usize,
    rng: &mut ChaCha8Rng,
) -> (Vec<f64>, usize) {
    let l = y.len();
    let diag = 0.5 / c;
    let qd: Vec<f64> = (0..l)
        .map(|i| {
            let xi = &xb[i * d..(i + 1) * d];
            diag + dot(xi, xi)
        })
        .collect();
    let mut w = vec![0.0f64; d];
    let mut alpha = vec![0.0f64; l];
    let mut index: Vec<usize> = (0..l).collect();
    let mut active = l;
    // (liblinear's PGmin_old only matters at the upper bound C, which is ∞ for the L2 loss)
    let mut pgmax_old = f64::INFINITY;
    let mut iter = 0usize;
    while iter < max_iter {
        let (mut pgmax_new, mut pgmin_new) = (f64::NEG_INFINITY, f64::INFINITY);
        for i in 0..active {
            let j = i + rng.random_range(0..active - i);
            index.swap(i, j);
        }
        let mut s = 0usize;
        while s < active {
            let i = index[s];
            let yi = y[i];
            let xi = &xb[i * d..(i + 1) * d];
            let g = yi * dot(&w, xi) - 1.0 + alpha[i] * diag;
            let mut pg = 0.0;
            if alpha[i] == 0.0 {
                if g > pgmax_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else if g < 0.0 {
                    pg = g;
                }
            } else {
                pg = g;
            }
            pgmax_new = pgmax_new.max(pg);
            pgmin_new = pgmin_new.min(pg);
            if pg.abs() > 1.0e-12 {
                let a_old = alpha[i];
                alpha[i] = (alpha[i] - g / qd[i]).max(0.0);
                let step = (alpha[i] - a_old) * yi;
                for (wk, xk) in w.iter_mut().zip(xi) {
                    *wk += step * xk;
                }
            }
            s += 1;
        }
        iter += 1;
        if pgmax_new - pgmin_new <= eps {
            if active == l {
                break;
            }
            active = l;
            pgmax_old = f64::INFINITY;
            continue;
        }
        pgmax_old = pgmax_new;
        if pgmax_old <= 0.0 {
            pgmax_old = f64::INFINITY;
        }
    }
    (w, iter)
}

impl LinearSvc {
    /// Fits one-vs-rest (a single problem for two classes) on rows `x` with class indices `y`.
    pub fn fit(
        x: ArrayView2<f64>,
        y: &[usize],
        n_classes: usize,
        params: &SvcParams,
    ) -> Result<LinearSvc> {
        params.validate()?;
        check_xy(&x, y, n_classes, "LinearSvc")?;
        if n_classes < 2 {
            return Err(param("n_classes", "LinearSvc needs at least 2 classes"));
        }
        let (n, p) = x.dim();
        let bias = params.intercept_scaling > 0.0;
        let d = p + usize::from(bias);
        let mut xb = vec![0.0f64; n * d];
        for (i, row) in x.rows().into_iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                xb[i * d + j] = v;
            }
            if bias {
                xb[i * d + p] = params.intercept_scaling;
            }
        }
        let positives: Vec<usize> = if n_classes == 2 {
            vec![1]
        } else {
            (0..n_classes).collect()
        };
        let mut master = ChaCha8Rng::seed_from_u64(params.seed);
        let seeds: Vec<u64> = positives.iter().map(|_| master.random()).collect();
        let sols: Vec<(Vec<f64>, usize)> = positives
            .par_iter()
            .zip(seeds)
            .map(|(&pos, s)| {
                let yy: Vec<f64> = y
                    .iter()
                    .map(|&c| if c == pos { 1.0 } else { -1.0 })
                    .collect();
                let mut rng = ChaCha8Rng::seed_from_u64(s);
                solve_l2loss_dual(&xb, d, &yy, params.c, params.tol, params.max_iter, &mut rng)
            })
            .collect();
        let mut coef = Array2::<f64>::zeros((positives.len(), p));
        let mut intercept = Vec::with_capacity(positives.len());
        let mut n_iter = Vec::new();
        let mut converged = Vec::new();
        for (m, (w, it)) in sols.into_iter().enumerate() {
            for j in 0..p {
                coef[[m, j]] = w[j];
            }
            intercept.push(if bias {
                w[p] * params.intercept_scaling
            } else {
                0.0
            });
            n_iter.push(it);
            converged.push(it < params.max_iter);
        }
        Ok(LinearSvc {
            params: params.clone(),
            n_classes,
            coef,
            intercept,
            n_iter,
            converged,
        })
    }

    /// Decision values [n, n_models] (one column for two classes: > 0 means class 1).
    pub fn decision_function(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.coef.ncols() {
            return Err(ClassifyError::Shape {
                context: "LinearSvc predict".into(),
                expected: format!("{} features", self.coef.ncols()),
                got: format!("{}", x.ncols()),
            });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(ClassifyError::NonFinite("LinearSvc prediction data".into()));
        }
        let mut d = x.dot(&self.coef.t());
        for mut row in d.rows_mut() {
            for (v, b) in row.iter_mut().zip(&self.intercept) {
                *v += b;
            }
        }
        Ok(d)
    }

    /// Class indices: argmax of the decision function (sign for two classes).
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        let d = self.decision_function(x)?;
        Ok(d.rows()
            .into_iter()
            .map(|r| {
                if self.n_classes == 2 {
                    usize::from(r[0] > 0.0)
                } else {
                    argmax(&r.to_vec())
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::testutil::synthetic;

    #[test]
    fn separable_problems_are_solved() {
        let x = ndarray::Array2::from_shape_fn((90, 2), |(i, j)| {
            let c = (i % 3) as f64;
            if j == 0 {
                c * 3.0 + (i as f64 * 0.37).sin() * 0.5
            } else {
                (i as f64 * 1.3).cos()
            }
        });
        let y: Vec<usize> = (0..90).map(|i| i % 3).collect();
        let m = LinearSvc::fit(x.view(), &y, 3, &SvcParams::with_c(10.0)).unwrap();
        assert_eq!(m.coef.dim(), (3, 2));
        // class 0 and 2 are linearly separable one-vs-rest; class 1 (middle) is not, but the
        // argmax of the three scores still separates the ordered groups on most rows
        let acc = m
            .predict(x.view())
            .unwrap()
            .iter()
            .zip(&y)
            .filter(|(a, b)| a == b)
            .count();
        assert!(acc >= 80, "{acc}/90");
        let rows: Vec<usize> = (0..90).filter(|&i| y[i] != 1).collect();
        let xb = x.select(ndarray::Axis(0), &rows);
        let xb = xb.view();
        let yb: Vec<usize> = rows.iter().map(|&i| usize::from(y[i] == 2)).collect();
        // (scikit-learn on this problem: C = 1 converges in about 300 passes, coef [0.3752, −0.0120],
        // intercept −1.0909; C = 10 needs 730–1070 passes depending on random_state)
        let b = LinearSvc::fit(xb, &yb, 2, &SvcParams::with_c(1.0)).unwrap();
        assert!((b.coef[[0, 0]] - 0.3752).abs() < 1e-3, "{:?}", b.coef);
        assert!((b.intercept[0] + 1.0909).abs() < 1e-3, "{:?}", b.intercept);
        assert_eq!(b.coef.nrows(), 1);
        assert!(b.converged[0]);
        assert_eq!(b.predict(xb).unwrap(), yb);
    }

    #[test]
    fn kkt_conditions_hold_at_convergence() {
        // At the optimum of the primal  ½‖w‖² + C Σ max(0, 1 − y wᵀx)², the gradient
        // w − 2C Σ_i y_i x_i max(0, 1 − y_i wᵀx_i) vanishes (x with the bias feature appended).
        let (x, y) = synthetic(200, 5, 2, 3);
        let xs = x.mapv(|v| v.signum() * v.abs().powf(0.2));
        let c = 0.5;
        let m = LinearSvc::fit(
            xs.view(),
            &y,
            2,
            &SvcParams {
                c,
                tol: 1e-8,
                max_iter: 100_000,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(m.converged[0]);
        let mut w: Vec<f64> = m.coef.row(0).to_vec();
        w.push(m.intercept[0]);
        let mut grad = w.clone();
        for (i, row) in xs.rows().into_iter().enumerate() {
            let yi = if y[i] == 1 { 1.0 } else { -1.0 };
            let mut xi = row.to_vec();
            xi.push(1.0);
            let margin = 1.0 - yi * xi.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
            if margin > 0.0 {
                for (g, xv) in grad.iter_mut().zip(&xi) {
                    *g -= 2.0 * c * yi * xv * margin;
                }
            }
        }
        let norm: f64 = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        let wn: f64 = w.iter().map(|g| g * g).sum::<f64>().sqrt();
        assert!(norm < 1e-4 * wn.max(1.0), "gradient norm {norm}, ‖w‖ {wn}");
    }

    #[test]
    fn params_are_validated() {
        let (x, y) = synthetic(30, 3, 2, 1);
        for p in [
            SvcParams::with_c(0.0),
            SvcParams::with_c(f64::INFINITY),
            SvcParams {
                tol: 0.0,
                ..Default::default()
            },
            SvcParams {
                max_iter: 0,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                LinearSvc::fit(x.view(), &y, 2, &p),
                Err(ClassifyError::InvalidParam { .. })
            ));
        }
        let m = LinearSvc::fit(x.view(), &y, 2, &SvcParams::default()).unwrap();
        assert!(m.predict(x.slice(ndarray::s![.., ..2])).is_err());
    }
}
