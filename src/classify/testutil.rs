//! Test helpers: the reference Python (scikit-learn), synthetic data.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ndarray::{Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::data::FeatureTable;

/// The Python interpreter with scikit-learn, or None when `LRX_SKIP_PYTHON=1`. Panics with a clear
/// message when the interpreter (env `LRX_PYTHON`, else `python3`) cannot import scikit-learn.
pub(super) fn python() -> Option<String> {
    if std::env::var("LRX_SKIP_PYTHON").is_ok_and(|v| v == "1") {
        eprintln!("LRX_SKIP_PYTHON=1: skipping the scikit-learn comparison");
        return None;
    }
    let py = std::env::var("LRX_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let ok = Command::new(&py)
        .args(["-c", "import sklearn, scipy, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the reference Python `{py}` cannot import sklearn/scipy/numpy: set LRX_PYTHON to an \
         interpreter that has them (e.g. /root/.cache/lrx/venv/bin/python), or LRX_SKIP_PYTHON=1 \
         to skip the comparisons"
    );
    Some(py)
}

/// Runs `tests/python/classify_ref.py` with the arguments; panics with its stderr on failure.
pub(super) fn run_ref(py: &str, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/classify_ref.py");
    let out = Command::new(py)
        .arg(&script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{} {:?} failed:\n{}",
        script.display(),
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A synthetic classification table with known structure: `k` classes whose means differ in a
/// 6-dimensional latent space, linear and nonlinear read-outs of the latent, noise, and column
/// scales 10^U(−3, 3). Returns (x [n, p], y).
pub(super) fn synthetic(n: usize, p: usize, k: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dim = 6;
    let normal = |r: &mut ChaCha8Rng| -> f64 { r.sample(StandardNormal) };
    let mu: Vec<Vec<f64>> = (0..k)
        .map(|_| (0..dim).map(|_| 0.9 * normal(&mut rng)).collect())
        .collect();
    let a: Vec<Vec<f64>> = (0..p)
        .map(|_| (0..dim).map(|_| normal(&mut rng)).collect())
        .collect();
    let scale: Vec<f64> = (0..p)
        .map(|_| 10f64.powf(rng.random_range(-3.0..3.0)))
        .collect();
    let mut x = Array2::<f64>::zeros((n, p));
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % k;
        y.push(c);
        let z: Vec<f64> = (0..dim).map(|d| mu[c][d] + normal(&mut rng)).collect();
        for j in 0..p {
            let lin: f64 = a[j].iter().zip(&z).map(|(u, v)| u * v).sum();
            let v = if j % 3 == 0 { lin.abs() } else { lin };
            x[[i, j]] = (v + normal(&mut rng)) * scale[j];
        }
    }
    (x, y)
}

/// A synthetic feature table: `n_per` examples per rule for 4 rules, T checkpoints, statistics of
/// the three measures (one of them non-finite for one example), factors arch/task/batch.
pub(super) fn synthetic_table(n_per: usize, t: usize, seed: u64) -> FeatureTable {
    let rules = ["adam", "feedback", "information", "sgdm"];
    let stats = [
        "weightabs_mean",
        "weightraw_median",
        "weightsq_mean",
        "actabs_norm",
        "actraw_mean",
        "gradavgabs_id",
        "weightabs_skew",
    ];
    let k = stats.len();
    let n = n_per * rules.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array3::<f64>::zeros((n, t, k));
    let mut label = Vec::new();
    let mut position = Vec::new();
    let mut arch = Vec::new();
    let mut task = Vec::new();
    let mut batch = Vec::new();
    for i in 0..n {
        let c = i % rules.len();
        label.push(rules[c].to_string());
        position.push((i / 4 % 3) as u8);
        arch.push(["a", "b", "c"][i / 12 % 3].to_string());
        task.push(["t1", "t2"][i / 36 % 2].to_string());
        batch.push(["128", "256"][i / 72 % 2].to_string());
        for tt in 0..t {
            for kk in 0..k {
                let drift = (c as f64 - 1.5) * 0.3 * (kk as f64 + 1.0) * tt as f64 / t as f64;
                let noise: f64 = rng.sample(StandardNormal);
                x[[i, tt, kk]] = (drift + noise) * 10f64.powi(kk as i32 - 3);
            }
        }
    }
    x[[5, t - 1, k - 1]] = f64::NAN;
    let mut factors = BTreeMap::new();
    factors.insert("arch".to_string(), arch);
    factors.insert("task".to_string(), task);
    factors.insert("batch".to_string(), batch);
    FeatureTable::new(
        stats.iter().map(|s| s.to_string()).collect(),
        x,
        position,
        label,
        factors,
    )
    .expect("valid synthetic table")
}
