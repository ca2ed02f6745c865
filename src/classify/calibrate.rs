//! Calibrated class probabilities for saved classifiers: multinomial temperature scaling of the
//! model's scores, fitted on out-of-fold scores, and the expected calibration error (ECE) with its
//! reliability curve.
//!
//! Scores: the forest's are `ln(vote fraction + FOREST_EPS)`, the linear SVM's its decision values
//! (for two classes the single column d becomes the pair `[0, d]`). Calibrated probabilities are
//! `softmax(score / T)`. T > 0 leaves the predicted class unchanged.
//!
//! ECE (docs/saved-classifiers.md): the max probability of each example is put into `n_bins`
//! equal-width bins of [0, 1] (bin b = [b/n, (b+1)/n), the last one closed); ECE = Σ_b (n_b / N) ·
//! |accuracy_b − mean confidence_b| over the non-empty bins.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::error::{Result, param};

/// Added to the forest's vote fractions before the logarithm (a class no tree voted for keeps a
/// finite score).
pub(crate) const FOREST_EPS: f64 = 1e-3;

/// The fitted calibration map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Calibration {
    /// Always `"temperature"` in format version 1.
    pub method: String,
    /// The temperature T (probabilities = softmax(score / T)).
    pub temperature: f64,
    /// Out-of-fold examples it was fitted on.
    pub n_fit: usize,
    /// Mean negative log-likelihood of the out-of-fold scores at T = 1 and at the fitted T.
    pub nll_uncalibrated: f64,
    /// Mean negative log-likelihood at the fitted T.
    pub nll_calibrated: f64,
}

/// Softmax of each row of `scores / t`.
pub(crate) fn softmax_t(scores: ArrayView2<f64>, t: f64) -> Array2<f64> {
    let mut out = scores.to_owned();
    for mut row in out.rows_mut() {
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        row.iter_mut().for_each(|v| *v = ((*v - m) / t).exp());
        let s: f64 = row.sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
    out
}

/// Mean negative log-likelihood of `softmax(scores / t)` at the true classes.
pub(crate) fn nll(scores: ArrayView2<f64>, y: &[usize], t: f64) -> f64 {
    let mut total = 0.0;
    for (row, &c) in scores.rows().into_iter().zip(y) {
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let lse = row.iter().map(|v| ((v - m) / t).exp()).sum::<f64>().ln();
        total += lse - (row[c] - m) / t;
    }
    total / y.len().max(1) as f64
}

/// Fits T by minimising the mean NLL over ln(1/T) ∈ [−10, 10] (golden-section search; the NLL is
/// convex in 1/T, hence unimodal in ln(1/T)), to a tolerance of 1e-10 in ln(1/T).
pub(crate) fn fit_temperature(scores: ArrayView2<f64>, y: &[usize]) -> Result<Calibration> {
    if y.is_empty() || scores.nrows() != y.len() {
        return Err(param(
            "calibration",
            format!("{} score rows for {} labels", scores.nrows(), y.len()),
        ));
    }
    if scores.iter().any(|v| !v.is_finite()) {
        return Err(param("calibration", "non-finite scores"));
    }
    let f = |u: f64| nll(scores, y, (-u).exp());
    let (mut a, mut b) = (-10.0f64, 10.0f64);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    while b - a > 1e-10 {
        if fc <= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    let u = (a + b) / 2.0;
    let t = (-u).exp();
    Ok(Calibration {
        method: "temperature".into(),
        temperature: t,
        n_fit: y.len(),
        nll_uncalibrated: nll(scores, y, 1.0),
        nll_calibrated: nll(scores, y, t),
    })
}

/// One bin of a reliability curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReliabilityBin {
    /// The bin's lower and upper edge.
    pub lo: f64,
    pub hi: f64,
    /// Examples whose max probability falls in the bin.
    pub count: usize,
    /// Their mean max probability (None when empty).
    pub confidence: Option<f64>,
    /// Their accuracy (None when empty).
    pub accuracy: Option<f64>,
}

/// ECE and the reliability curve of probabilities on labelled examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Reliability {
    pub n: usize,
    pub n_bins: usize,
    pub ece: f64,
    pub bins: Vec<ReliabilityBin>,
}

/// The ECE with `n_bins` equal-width bins of the max probability, and the reliability bins.
pub(crate) fn reliability(
    probs: ArrayView2<f64>,
    y: &[usize],
    n_bins: usize,
) -> Result<Reliability> {
    if n_bins == 0 {
        return Err(param("n_bins", "must be at least 1"));
    }
    if probs.nrows() != y.len() || y.is_empty() {
        return Err(param(
            "reliability",
            format!("{} probability rows for {} labels", probs.nrows(), y.len()),
        ));
    }
    let mut count = vec![0usize; n_bins];
    let mut conf = vec![0.0f64; n_bins];
    let mut hits = vec![0usize; n_bins];
    for (row, &c) in probs.rows().into_iter().zip(y) {
        let pred = super::forest::argmax(&row.to_vec());
        let p = row[pred];
        let b = ((p * n_bins as f64).floor() as usize).min(n_bins - 1);
        count[b] += 1;
        conf[b] += p;
        hits[b] += usize::from(pred == c);
    }
    let n = y.len() as f64;
    let mut ece = 0.0;
    let bins = (0..n_bins)
        .map(|b| {
            let (confidence, accuracy) = if count[b] > 0 {
                let cf = conf[b] / count[b] as f64;
                let ac = hits[b] as f64 / count[b] as f64;
                ece += count[b] as f64 / n * (ac - cf).abs();
                (Some(cf), Some(ac))
            } else {
                (None, None)
            };
            ReliabilityBin {
                lo: b as f64 / n_bins as f64,
                hi: (b + 1) as f64 / n_bins as f64,
                count: count[b],
                confidence,
                accuracy,
            }
        })
        .collect();
    Ok(Reliability {
        n: y.len(),
        n_bins,
        ece,
        bins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::testutil::python;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::process::Command;

    fn data(n: usize, k: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let y: Vec<usize> = (0..n).map(|i| i % k).collect();
        let s = Array2::from_shape_fn((n, k), |(i, j)| {
            let base: f64 = r.random::<f64>() * 4.0 - 2.0;
            base + if j == y[i] { 1.5 } else { 0.0 }
        });
        (s, y)
    }

    #[test]
    fn temperature_and_ece_match_scipy_and_numpy() {
        let (s, y) = data(300, 3, 7);
        let cal = fit_temperature(s.view(), &y).unwrap();
        assert!(cal.nll_calibrated <= cal.nll_uncalibrated);
        let p = softmax_t(s.view(), cal.temperature);
        let rel = reliability(p.view(), &y, 10).unwrap();
        assert_eq!(rel.bins.iter().map(|b| b.count).sum::<usize>(), 300);
        let Some(py) = python() else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.json");
        let j = serde_json::json!({
            "scores": s.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
            "y": y, "probs": p.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        });
        std::fs::write(&path, j.to_string()).unwrap();
        let code = r#"
import json, sys, numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
d = json.load(open(sys.argv[1]))
s = np.array(d["scores"]); y = np.array(d["y"]); p = np.array(d["probs"])
def nll(u):
    z = s * np.exp(u)
    return np.mean(logsumexp(z, axis=1) - z[np.arange(len(y)), y])
r = minimize_scalar(nll, bounds=(-10, 10), method="bounded", options={"xatol": 1e-10})
conf = p.max(1); pred = p.argmax(1)
b = np.minimum(np.floor(conf * 10).astype(int), 9)
ece = 0.0; cnt = []; acc = []
for i in range(10):
    m = b == i
    cnt.append(int(m.sum()))
    if m.any():
        ece += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
        acc.append(float((pred[m] == y[m]).mean()))
    else:
        acc.append(None)
print(json.dumps({"t": float(np.exp(-r.x)), "ece": ece, "count": cnt, "acc": acc}))
"#;
        let out = Command::new(&py)
            .args(["-c", code, path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let t = r["t"].as_f64().unwrap();
        assert!(
            (t - cal.temperature).abs() < 1e-6 * t,
            "T {} vs scipy {t}",
            cal.temperature
        );
        let ece = r["ece"].as_f64().unwrap();
        assert!(
            (ece - rel.ece).abs() < 1e-12,
            "ECE {} vs numpy {ece}",
            rel.ece
        );
        for (b, (c, a)) in rel.bins.iter().zip(
            r["count"]
                .as_array()
                .unwrap()
                .iter()
                .zip(r["acc"].as_array().unwrap()),
        ) {
            assert_eq!(b.count as u64, c.as_u64().unwrap());
            assert_eq!(b.accuracy, a.as_f64());
        }
    }

    #[test]
    fn overconfident_scores_get_a_temperature_above_one() {
        let (s, y) = data(400, 4, 3);
        let loud = s.mapv(|v| v * 20.0);
        let cal = fit_temperature(loud.view(), &y).unwrap();
        assert!(cal.temperature > 5.0, "T = {}", cal.temperature);
        let before = reliability(softmax_t(loud.view(), 1.0).view(), &y, 10).unwrap();
        let after = reliability(softmax_t(loud.view(), cal.temperature).view(), &y, 10).unwrap();
        assert!(after.ece < before.ece, "{} !< {}", after.ece, before.ece);
        assert!(fit_temperature(loud.view(), &y[..3]).is_err());
        assert!(reliability(loud.view(), &y, 0).is_err());
    }
}
