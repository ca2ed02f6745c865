//! Principal component analysis with scikit-learn's meaning: centered data, no whitening,
//! `explained_variance_` = eigenvalues of the covariance with the n − 1 denominator,
//! `explained_variance_ratio_` = those over the *total* variance (the trace), component signs
//! chosen so that each component's largest-magnitude entry is positive (`svd_flip`, v-based).
//! Computed from the covariance matrix with a symmetric eigensolver (Householder tridiagonalization
//! + implicit QL, as in EISPACK tred2/tql2).
//!
//! Why not linfa: linfa-reduction 0.8's `explained_variance` divides by (components − 1) and its
//! ratio is normalized over the kept components only, both unlike scikit-learn (shared/linfa.md).

use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::error::{ClassifyError, Result};

/// A fitted PCA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pca {
    pub mean: Array1<f64>,
    /// [n_components, p], rows are unit principal axes.
    pub components: Array2<f64>,
    pub explained_variance: Vec<f64>,
    pub explained_variance_ratio: Vec<f64>,
    /// Sum of all eigenvalues (the trace of the covariance).
    pub total_variance: f64,
    pub n_samples: usize,
}

fn fit_err(reason: String) -> ClassifyError {
    ClassifyError::Fit {
        model: "PCA".into(),
        reason,
    }
}

impl Pca {
    /// Fits `n_components` components; errors (a failed fit) when n_components is 0 or exceeds
    /// min(n_samples, n_features), like scikit-learn.
    pub(crate) fn fit(x: ArrayView2<f64>, n_components: usize) -> Result<Pca> {
        let (n, p) = x.dim();
        if n_components == 0 || n_components > n.min(p) {
            return Err(fit_err(format!(
                "n_components = {n_components} must be between 1 and min(n_samples, n_features) \
                 = min({n}, {p})"
            )));
        }
        Pca::fit_full(x)?.truncated(n_components)
    }

    /// Fits all min(n_samples, n_features) components (truncate with [`Pca::truncated`]).
    pub(crate) fn fit_full(x: ArrayView2<f64>) -> Result<Pca> {
        let (n, p) = x.dim();
        if n < 2 || p == 0 {
            return Err(fit_err(format!(
                "needs ≥ 2 samples and ≥ 1 feature, got {n} × {p}"
            )));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(ClassifyError::NonFinite("PCA training data".into()));
        }
        let mean = x.mean_axis(Axis(0)).expect("n ≥ 2");
        let xc = &x - &mean.view().insert_axis(Axis(0));
        let cov = xc.t().dot(&xc) / (n as f64 - 1.0);
        let (vals, vecs) = symmetric_eigen(&cov);
        let total: f64 = (0..p).map(|i| cov[[i, i]]).sum();
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]));
        let k = n.min(p);
        let mut components = Array2::<f64>::zeros((k, p));
        let mut ev = Vec::with_capacity(k);
        for (r, &o) in order.iter().take(k).enumerate() {
            let v = &vecs[o * p..(o + 1) * p];
            let imax = (0..p).fold(0, |b, i| if v[i].abs() > v[b].abs() { i } else { b });
            let sign = if v[imax] < 0.0 { -1.0 } else { 1.0 };
            for j in 0..p {
                components[[r, j]] = sign * v[j];
            }
            ev.push(vals[o].max(0.0));
        }
        let ratio = ev
            .iter()
            .map(|e| if total > 0.0 { e / total } else { 0.0 })
            .collect();
        Ok(Pca {
            mean,
            components,
            explained_variance: ev,
            explained_variance_ratio: ratio,
            total_variance: total,
            n_samples: n,
        })
    }

    /// The first `k` components of this fit (errors when k is 0 or more than it has).
    pub(crate) fn truncated(&self, k: usize) -> Result<Pca> {
        let have = self.components.nrows();
        let p = self.components.ncols();
        if k == 0 || k > have {
            return Err(fit_err(format!(
                "n_components = {k} must be between 1 and min(n_samples, n_features) = \
                 min({}, {p})",
                self.n_samples
            )));
        }
        Ok(Pca {
            mean: self.mean.clone(),
            components: self.components.slice(ndarray::s![..k, ..]).to_owned(),
            explained_variance: self.explained_variance[..k].to_vec(),
            explained_variance_ratio: self.explained_variance_ratio[..k].to_vec(),
            total_variance: self.total_variance,
            n_samples: self.n_samples,
        })
    }

    /// Projects (x − mean) onto the components: [n, n_components].
    pub(crate) fn transform(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.mean.len() {
            return Err(ClassifyError::Shape {
                context: "PCA transform".into(),
                expected: format!("{} features", self.mean.len()),
                got: format!("{}", x.ncols()),
            });
        }
        let xc = &x - &self.mean.view().insert_axis(Axis(0));
        Ok(xc.dot(&self.components.t()))
    }
}

/// Eigen-decomposition of a symmetric matrix: (eigenvalues, eigenvectors as rows of a flat
/// row-major n × n buffer, row i belonging to eigenvalue i). Unsorted.
pub(crate) fn symmetric_eigen(a: &Array2<f64>) -> (Vec<f64>, Vec<f64>) {
    let n = a.nrows();
    // v row-major: v[r*n + c]
    let mut v: Vec<f64> = a.iter().copied().collect();
    let mut d = vec![0.0f64; n];
    let mut e = vec![0.0f64; n];
    if n == 1 {
        return (vec![v[0]], vec![1.0]);
    }
    tred2(n, &mut v, &mut d, &mut e);
    // transpose so that eigenvector i is row i during the QL rotations
    let mut z = vec![0.0f64; n * n];
    for r in 0..n {
        for c in 0..n {
            z[c * n + r] = v[r * n + c];
        }
    }
    tql2(n, &mut d, &mut e, &mut z);
    (d, z)
}

/// Householder reduction to tridiagonal form (EISPACK tred2 as in JAMA); v row-major.
fn tred2(n: usize, v: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    let ix = |r: usize, c: usize| r * n + c;
    for j in 0..n {
        d[j] = v[ix(n - 1, j)];
    }
    for i in (1..n).rev() {
        let mut scale = 0.0;
        let mut h = 0.0;
        for dk in d.iter().take(i) {
            scale += dk.abs();
        }
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[ix(i - 1, j)];
                v[ix(i, j)] = 0.0;
                v[ix(j, i)] = 0.0;
            }
        } else {
            for dk in d.iter_mut().take(i) {
                *dk /= scale;
                h += *dk * *dk;
            }
            let mut f = d[i - 1];
            let mut g = h.sqrt();
            if f > 0.0 {
                g = -g;
            }
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            for ej in e.iter_mut().take(i) {
                *ej = 0.0;
            }
            for j in 0..i {
                f = d[j];
                v[ix(j, i)] = f;
                g = e[j] + v[ix(j, j)] * f;
                for k in j + 1..i {
                    g += v[ix(k, j)] * d[k];
                    e[k] += v[ix(k, j)] * f;
                }
                e[j] = g;
            }
            f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                f = d[j];
                g = e[j];
                for k in j..i {
                    v[ix(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[ix(i - 1, j)];
                v[ix(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    for i in 0..n - 1 {
        v[ix(n - 1, i)] = v[ix(i, i)];
        v[ix(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[ix(k, i + 1)] / h;
            }
            for j in 0..=i {
                let mut g = 0.0;
                for k in 0..=i {
                    g += v[ix(k, i + 1)] * v[ix(k, j)];
                }
                for k in 0..=i {
                    v[ix(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[ix(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[ix(n - 1, j)];
        v[ix(n - 1, j)] = 0.0;
    }
    v[ix(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;
}

/// Implicit QL on the tridiagonal (d, e) (EISPACK tql2 as in JAMA). `z` holds the transformation
/// transposed: row i is the i-th eigenvector.
fn tql2(n: usize, d: &mut [f64], e: &mut [f64], z: &mut [f64]) {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0f64;
    let mut tst1 = 0.0f64;
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 {
            if e[m].abs() <= eps * tst1 {
                break;
            }
            m += 1;
        }
        if m > l {
            let mut iter = 0;
            loop {
                iter += 1;
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for di in d.iter_mut().take(n).skip(l + 2) {
                    *di -= h;
                }
                f += h;
                p = d[m];
                let mut c = 1.0;
                let mut c2 = c;
                let mut c3 = c;
                let el1 = e[l + 1];
                let mut s = 0.0;
                let mut s2 = 0.0;
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    let (lo, hi) = z.split_at_mut((i + 1) * n);
                    let zi = &mut lo[i * n..];
                    let zi1 = &mut hi[..n];
                    for k in 0..n {
                        let hk = zi1[k];
                        zi1[k] = s * zi[k] + c * hk;
                        zi[k] = c * zi[k] - s * hk;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 || iter > 300 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::testutil::synthetic;

    #[test]
    fn eigen_decomposition_reconstructs() {
        let n = 7;
        let b = Array2::from_shape_fn((n, n), |(i, j)| ((i * 3 + j * 5) % 7) as f64 - 2.5);
        let a = b.t().dot(&b) + Array2::<f64>::eye(n) * 0.1;
        let (vals, vecs) = symmetric_eigen(&a);
        for i in 0..n {
            let v = ndarray::ArrayView1::from(&vecs[i * n..(i + 1) * n]);
            let av = a.dot(&v);
            let r: f64 = (&av - &(&v * vals[i]))
                .iter()
                .map(|x| x * x)
                .sum::<f64>()
                .sqrt();
            assert!(
                r < 1e-10 * vals.iter().cloned().fold(0.0, f64::max),
                "residual {r}"
            );
            assert!((v.dot(&v) - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn pca_shapes_errors_and_ratios() {
        let (x, _) = synthetic(50, 8, 2, 2);
        let p = Pca::fit(x.view(), 3).unwrap();
        assert_eq!(p.components.dim(), (3, 8));
        assert_eq!(p.transform(x.view()).unwrap().dim(), (50, 3));
        let full = Pca::fit_full(x.view()).unwrap();
        assert!((full.explained_variance_ratio.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(full.explained_variance.windows(2).all(|w| w[0] >= w[1]));
        assert!(matches!(
            Pca::fit(x.view(), 9),
            Err(ClassifyError::Fit { .. })
        ));
        assert!(Pca::fit(x.slice(ndarray::s![..5, ..]), 6).is_err());
        assert!(Pca::fit(x.view(), 0).is_err());
        // the projection is uncorrelated with the given variances
        let z = full.transform(x.view()).unwrap();
        let v0 = z.column(0).mapv(|a| a * a).sum() / 49.0;
        assert!((v0 - full.explained_variance[0]).abs() < 1e-8 * v0);
    }
}
