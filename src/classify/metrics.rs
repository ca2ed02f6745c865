//! Metrics (method.md §3.5): accuracy, confusion matrices, mean ± s.e.m., chance, per-class
//! balanced accuracy and d′, Gini importance per statistic and permutation importance.

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::data::FeatureGroup;
use super::error::{ClassifyError, Result, param};

/// Fraction of equal entries.
pub(crate) fn accuracy(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    if y_true.len() != y_pred.len() || y_true.is_empty() {
        return Err(ClassifyError::Shape {
            context: "accuracy".into(),
            expected: format!("{} non-empty predictions", y_true.len()),
            got: format!("{}", y_pred.len()),
        });
    }
    let hits = y_true.iter().zip(y_pred).filter(|(a, b)| a == b).count();
    Ok(hits as f64 / y_true.len() as f64)
}

/// Confusion matrix [n_classes, n_classes]: rows actual, columns predicted.
pub(crate) fn confusion_matrix(
    y_true: &[usize],
    y_pred: &[usize],
    n_classes: usize,
) -> Result<Vec<Vec<u64>>> {
    if y_true.len() != y_pred.len() {
        return Err(ClassifyError::Shape {
            context: "confusion_matrix".into(),
            expected: format!("{} predictions", y_true.len()),
            got: format!("{}", y_pred.len()),
        });
    }
    let mut m = vec![vec![0u64; n_classes]; n_classes];
    for (&a, &p) in y_true.iter().zip(y_pred) {
        if a >= n_classes || p >= n_classes {
            return Err(param(
                "labels",
                format!("class index ≥ n_classes {n_classes}"),
            ));
        }
        m[a][p] += 1;
    }
    Ok(m)
}

/// A mean and its standard error (sample std with ddof = 1 over √n; 0 for n < 2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct MeanSem {
    pub mean: f64,
    pub sem: f64,
    pub n: usize,
}

/// Mean ± s.e.m. of the values (NaN mean for an empty slice is avoided: returns 0 with n = 0).
pub(crate) fn mean_sem(v: &[f64]) -> MeanSem {
    let n = v.len();
    if n == 0 {
        return MeanSem {
            mean: 0.0,
            sem: 0.0,
            n,
        };
    }
    let m = v.iter().sum::<f64>() / n as f64;
    let sem = if n < 2 {
        0.0
    } else {
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n as f64 - 1.0);
        (var / n as f64).sqrt()
    };
    MeanSem { mean: m, sem, n }
}

/// Chance accuracy for balanced classes: 1 / n_classes.
pub(crate) fn chance_level(n_classes: usize) -> f64 {
    1.0 / n_classes.max(1) as f64
}

/// Trace over total of a (possibly averaged) confusion matrix.
pub(crate) fn confusion_accuracy(cm: &[Vec<f64>]) -> f64 {
    let tot: f64 = cm.iter().flatten().sum();
    let tr: f64 = (0..cm.len()).map(|i| cm[i][i]).sum();
    if tot > 0.0 { tr / tot } else { 0.0 }
}

/// Per-class (TPR, FPR) of a confusion matrix (rows actual, columns predicted).
pub(crate) fn rates(cm: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let k = cm.len();
    let tot: f64 = cm.iter().flatten().sum();
    (0..k)
        .map(|c| {
            let row: f64 = cm[c].iter().sum();
            let col: f64 = (0..k).map(|r| cm[r][c]).sum();
            let tp = cm[c][c];
            let tpr = if row > 0.0 { tp / row } else { 0.0 };
            let neg = tot - row;
            let fpr = if neg > 0.0 { (col - tp) / neg } else { 0.0 };
            (tpr, fpr)
        })
        .collect()
}

/// Per-class balanced accuracy (TPR + TNR) / 2.
pub(crate) fn balanced_accuracy_per_class(cm: &[Vec<f64>]) -> Vec<f64> {
    rates(cm)
        .into_iter()
        .map(|(tpr, fpr)| (tpr + 1.0 - fpr) / 2.0)
        .collect()
}

/// Per-class d′ = Φ⁻¹(TPR) − Φ⁻¹(FPR), each Φ⁻¹ term clipped to ±5.
pub(crate) fn dprime_per_class(cm: &[Vec<f64>]) -> Vec<f64> {
    let z = |p: f64| norm_ppf(p).clamp(-5.0, 5.0);
    rates(cm)
        .into_iter()
        .map(|(tpr, fpr)| z(tpr) - z(fpr))
        .collect()
}

/// Converts an integer confusion matrix to f64.
pub(crate) fn to_f64(cm: &[Vec<u64>]) -> Vec<Vec<f64>> {
    cm.iter()
        .map(|r| r.iter().map(|&v| v as f64).collect())
        .collect()
}

#[allow(clippy::excessive_precision)] // AS241 coefficients as published
/// The standard normal quantile Φ⁻¹(p) (Wichura's AS241, about 1e-16 relative); ±∞ at 0 and 1.
pub(crate) fn norm_ppf(p: f64) -> f64 {
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    let poly = |c: &[f64], x: f64| c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci);
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        let a = [
            3.387_132_872_796_366_6,
            133.141_667_891_784_38,
            1_971.590_950_306_551_3,
            13_731.693_765_509_461,
            45_921.953_931_549_87,
            67_265.770_927_008_7,
            33_430.575_583_588_13,
            2_509.080_928_730_122_7,
        ];
        let b = [
            1.0,
            42.313_330_701_600_91,
            687.187_007_492_057_9,
            5_394.196_021_424_751,
            21_213.794_301_586_597,
            39_307.895_800_092_71,
            28_729.085_735_721_943,
            5_226.495_278_852_854,
        ];
        return q * poly(&a, r) / poly(&b, r);
    }
    let mut r = if q < 0.0 { p } else { 1.0 - p };
    r = (-r.ln()).sqrt();
    let val = if r <= 5.0 {
        r -= 1.6;
        let c = [
            1.423_437_110_749_683_5,
            4.630_337_846_156_545,
            5.769_497_221_460_691,
            3.647_848_324_763_204_5,
            1.270_458_252_452_368_4,
            0.241_780_725_177_450_6,
            0.022_723_844_989_269_184,
            7.745_450_142_783_414e-4,
        ];
        let d = [
            1.0,
            2.053_191_626_637_759,
            1.676_384_830_183_803_8,
            0.689_767_334_985_1,
            0.148_103_976_427_480_08,
            0.015_198_666_563_616_457,
            5.475_938_084_995_345e-4,
            1.050_750_071_644_416_8e-9,
        ];
        poly(&c, r) / poly(&d, r)
    } else {
        r -= 5.0;
        let e = [
            6.657_904_643_501_103,
            5.463_784_911_164_114,
            1.784_826_539_917_291_3,
            0.296_560_571_828_504_9,
            0.026_532_189_526_576_124,
            0.001_242_660_947_388_078_4,
            2.711_555_568_743_487_6e-5,
            2.010_334_399_292_288e-7,
        ];
        let f = [
            1.0,
            0.599_832_206_555_887_9,
            0.136_929_880_922_735_8,
            0.014_875_361_290_850_615,
            7.868_691_311_456_133e-4,
            1.846_318_317_510_054_8e-5,
            1.421_511_758_316_446e-7,
            2.044_263_103_389_939_8e-15,
        ];
        poly(&e, r) / poly(&f, r)
    };
    if q < 0.0 { -val } else { val }
}

/// Sums per-feature importances [n_rows, n_features] into groups: [n_rows, n_groups]
/// (Fig. 3: a statistic's Gini importance summed over its time steps).
pub(crate) fn group_importances(
    imp: ArrayView2<f64>,
    groups: &[FeatureGroup],
) -> Result<Array2<f64>> {
    let p = imp.ncols();
    let mut out = Array2::<f64>::zeros((imp.nrows(), groups.len()));
    for (g, grp) in groups.iter().enumerate() {
        if let Some(&c) = grp.columns.iter().find(|&&c| c >= p) {
            return Err(param(
                "groups",
                format!("column {c} of `{}` ≥ {p} features", grp.name),
            ));
        }
        for (r, row) in imp.rows().into_iter().enumerate() {
            out[[r, g]] = grp.columns.iter().map(|&c| row[c]).sum();
        }
    }
    Ok(out)
}

/// Permutation importance on held-out data: for each group, the rows of its columns are permuted
/// jointly (seeded), and the importance is the baseline accuracy minus the permuted accuracy,
/// averaged over `n_repeats`. Returns one value per group.
pub(crate) fn permutation_importance(
    predict: &(dyn Fn(ArrayView2<f64>) -> Result<Vec<usize>> + Sync),
    x: ArrayView2<f64>,
    y: &[usize],
    groups: &[FeatureGroup],
    n_repeats: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    if n_repeats == 0 {
        return Err(param("n_repeats", "must be at least 1"));
    }
    let base = accuracy(y, &predict(x)?)?;
    let n = x.nrows();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(groups.len());
    for grp in groups {
        let mut drop = 0.0;
        for _ in 0..n_repeats {
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut rng);
            let mut xp = x.to_owned();
            for &c in &grp.columns {
                if c >= x.ncols() {
                    return Err(param("groups", format!("column {c} out of range")));
                }
                for i in 0..n {
                    xp[[i, c]] = x[[perm[i], c]];
                }
            }
            drop += base - accuracy(y, &predict(xp.view())?)?;
        }
        out.push(drop / n_repeats as f64);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::testutil::{python, run_ref};

    #[test]
    fn accuracy_confusion_and_mean_sem() {
        let t = [0, 0, 1, 1, 2, 2];
        let p = [0, 1, 1, 1, 0, 2];
        assert!((accuracy(&t, &p).unwrap() - 4.0 / 6.0).abs() < 1e-12);
        let cm = confusion_matrix(&t, &p, 3).unwrap();
        assert_eq!(cm, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]);
        assert!((confusion_accuracy(&to_f64(&cm)) - 4.0 / 6.0).abs() < 1e-12);
        let m = mean_sem(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m.mean - 2.5).abs() < 1e-12);
        // std (ddof 1) = 1.290994, / √4
        assert!((m.sem - 0.645_497_224_367_902_8).abs() < 1e-12);
        assert_eq!(mean_sem(&[3.0]).sem, 0.0);
        assert_eq!(chance_level(4), 0.25);
        assert!(accuracy(&t, &p[..3]).is_err());
    }

    #[test]
    fn balanced_accuracy_and_dprime_by_hand() {
        // rows actual, cols predicted
        let cm = vec![
            vec![8.0, 2.0, 0.0],
            vec![1.0, 6.0, 3.0],
            vec![0.0, 0.0, 10.0],
        ];
        let r = rates(&cm);
        // class 0: TPR 0.8, FPR 1/20; class 1: TPR 0.6, FPR 2/20; class 2: TPR 1, FPR 3/20
        assert!((r[0].0 - 0.8).abs() < 1e-12 && (r[0].1 - 0.05).abs() < 1e-12);
        let ba = balanced_accuracy_per_class(&cm);
        assert!((ba[0] - (0.8 + 0.95) / 2.0).abs() < 1e-12);
        assert!((ba[1] - (0.6 + 0.9) / 2.0).abs() < 1e-12);
        assert!((ba[2] - (1.0 + 0.85) / 2.0).abs() < 1e-12);
        let d = dprime_per_class(&cm);
        // scipy: norm.ppf(0.8) - norm.ppf(0.05) = 0.8416212335729143 + 1.6448536269514729
        assert!((d[0] - 2.486_474_860_524_387).abs() < 1e-12, "{}", d[0]);
        // TPR = 1 → Φ⁻¹ clipped at +5; FPR 0.15 → −1.0364333894937898
        assert!(
            (d[2] - (5.0 + 1.036_433_389_493_789_8)).abs() < 1e-12,
            "{}",
            d[2]
        );
        let perfect = vec![vec![5.0, 0.0], vec![0.0, 5.0]];
        assert_eq!(dprime_per_class(&perfect), vec![10.0, 10.0]);
    }

    #[test]
    fn norm_ppf_matches_scipy() {
        let ps: Vec<f64> = [
            1e-300, 1e-20, 1e-8, 0.001, 0.02425, 0.1, 0.3, 0.5, 0.6, 0.9, 0.975,
        ]
        .iter()
        .copied()
        .chain([0.999, 1.0 - 1e-12])
        .collect();
        assert_eq!(norm_ppf(0.0), f64::NEG_INFINITY);
        assert_eq!(norm_ppf(1.0), f64::INFINITY);
        assert!((norm_ppf(0.975) - 1.959_963_984_540_054).abs() < 1e-14);
        let Some(py) = python() else { return };
        let dir = tempfile::tempdir().unwrap();
        let pp = dir.path().join("p.npy");
        let out = dir.path().join("ppf.json");
        let a = ndarray::Array2::from_shape_vec((ps.len(), 1), ps.clone()).unwrap();
        crate::classify::npy::write_f64_2d(&pp, a.view()).unwrap();
        run_ref(&py, &["ppf", pp.to_str().unwrap(), out.to_str().unwrap()]);
        let want: Vec<f64> = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        for (p, w) in ps.iter().zip(want) {
            let g = norm_ppf(*p);
            assert!(
                (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                "p={p}: {g} vs scipy {w}"
            );
        }
    }

    #[test]
    fn group_and_permutation_importance() {
        let imp = ndarray::array![[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]];
        let groups = vec![
            FeatureGroup {
                name: "a".into(),
                columns: vec![0],
            },
            FeatureGroup {
                name: "b".into(),
                columns: vec![1, 2, 3],
            },
        ];
        let g = group_importances(imp.view(), &groups).unwrap();
        assert!((g[[0, 1]] - 0.9).abs() < 1e-12 && (g[[1, 0]] - 0.25).abs() < 1e-12);
        // a "model" that reads only column 0
        let x = ndarray::Array2::from_shape_fn((200, 4), |(i, j)| ((i * (j + 3)) % 17) as f64);
        let y: Vec<usize> = (0..200).map(|i| usize::from(x[[i, 0]] > 8.0)).collect();
        let pred = |z: ArrayView2<f64>| -> Result<Vec<usize>> {
            Ok(z.rows()
                .into_iter()
                .map(|r| usize::from(r[0] > 8.0))
                .collect())
        };
        let pi = permutation_importance(&pred, x.view(), &y, &groups, 3, 0).unwrap();
        assert!(pi[0] > 0.3, "{pi:?}");
        assert_eq!(pi[1], 0.0);
    }
}
