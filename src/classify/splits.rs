//! Train/test splits (method.md §3.1, §3.2, §4): category-balanced splits, holdouts by a factor,
//! scikit-learn's `StratifiedKFold` (no shuffle), trajectory subsampling and consecutive portions.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::data::{FeatureTable, TimeSelection};
use super::error::{ClassifyError, Result, param};

/// One outer split: sorted, disjoint example indices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// A per-class sample size: an absolute count, or a fraction of the smallest class's pool.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SplitSize {
    Count(usize),
    /// ⌊f · m⌋ with m the smallest per-class candidate count of the pool (0 < f ≤ 1).
    Fraction(f64),
}

impl SplitSize {
    fn resolve(&self, min_pool: usize, what: &str) -> Result<usize> {
        match *self {
            SplitSize::Count(c) => Ok(c),
            SplitSize::Fraction(f) if f > 0.0 && f <= 1.0 => Ok((f * min_pool as f64) as usize),
            SplitSize::Fraction(f) => Err(param(what, format!("fraction {f} not in (0, 1]"))),
        }
    }
}

/// A predicate on run factors: the example's `factor` value is (or, with `exclude`, is not) one of
/// `values`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FactorFilter {
    pub factor: String,
    pub values: Vec<String>,
    #[serde(default)]
    pub exclude: bool,
}

impl FactorFilter {
    /// Whether each example passes.
    pub(crate) fn mask(&self, table: &FeatureTable) -> Result<Vec<bool>> {
        let f = table.factor(&self.factor)?;
        Ok(f.iter()
            .map(|v| self.values.contains(v) != self.exclude)
            .collect())
    }
}

/// The conjunction of filters as a mask (all true for no filters).
pub(crate) fn filters_mask(table: &FeatureTable, filters: &[FactorFilter]) -> Result<Vec<bool>> {
    let mut m = vec![true; table.n_examples()];
    for f in filters {
        for (a, b) in m.iter_mut().zip(f.mask(table)?) {
            *a &= b;
        }
    }
    Ok(m)
}

fn per_class_pools(y: &[usize], n_classes: usize, ok: &[bool]) -> Vec<Vec<usize>> {
    let mut pools = vec![Vec::new(); n_classes];
    for (i, (&c, &o)) in y.iter().zip(ok).enumerate() {
        if o {
            pools[c].push(i);
        }
    }
    pools
}

fn check_inputs(y: &[usize], n_classes: usize, masks: &[&[bool]]) -> Result<()> {
    if n_classes == 0 {
        return Err(param("classes", "no classes"));
    }
    if let Some(&c) = y.iter().find(|&&c| c >= n_classes) {
        return Err(param(
            "labels",
            format!("class index {c} ≥ n_classes {n_classes}"),
        ));
    }
    for m in masks {
        if m.len() != y.len() {
            return Err(ClassifyError::Shape {
                context: "split filter mask".into(),
                expected: format!("{} entries", y.len()),
                got: format!("{}", m.len()),
            });
        }
    }
    Ok(())
}

/// Category-balanced splits (method.md §3.1). One seeded RNG serves all splits. For each split:
/// for each class, permute its test candidates (`test_ok`) and take the first `n_test`; remove those
/// from the train pool; for each class, permute its remaining train candidates (`train_ok`) and take
/// the first `n_train`; sort both lists. `class_names` only serves error messages.
#[allow(clippy::too_many_arguments)]
pub(crate) fn balanced_splits(
    y: &[usize],
    class_names: &[String],
    n_splits: usize,
    n_test: SplitSize,
    n_train: SplitSize,
    train_ok: &[bool],
    test_ok: &[bool],
    seed: u64,
) -> Result<Vec<Split>> {
    let k = class_names.len();
    check_inputs(y, k, &[train_ok, test_ok])?;
    if n_splits == 0 {
        return Err(param("n_splits", "must be at least 1"));
    }
    let test_pools = per_class_pools(y, k, test_ok);
    let train_pools = per_class_pools(y, k, train_ok);
    let nt = n_test.resolve(test_pools.iter().map(Vec::len).min().unwrap_or(0), "n_test")?;
    let nr = n_train.resolve(
        train_pools.iter().map(Vec::len).min().unwrap_or(0),
        "n_train",
    )?;
    if nt == 0 || nr == 0 {
        return Err(param(
            "split sizes",
            format!("n_test = {nt}, n_train = {nr}: both must be ≥ 1"),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n_splits);
    for _ in 0..n_splits {
        let mut in_test = vec![false; y.len()];
        let mut test = Vec::with_capacity(nt * k);
        for (c, pool) in test_pools.iter().enumerate() {
            if pool.len() < nt {
                return Err(ClassifyError::NotEnoughExamples {
                    class: class_names[c].clone(),
                    pool: "test pool".into(),
                    needed: nt,
                    available: pool.len(),
                });
            }
            let mut p = pool.clone();
            p.shuffle(&mut rng);
            for &i in &p[..nt] {
                in_test[i] = true;
                test.push(i);
            }
        }
        let mut train = Vec::with_capacity(nr * k);
        for (c, pool) in train_pools.iter().enumerate() {
            let mut p: Vec<usize> = pool.iter().copied().filter(|&i| !in_test[i]).collect();
            if p.len() < nr {
                return Err(ClassifyError::NotEnoughExamples {
                    class: class_names[c].clone(),
                    pool: "train pool (after removing test examples)".into(),
                    needed: nr,
                    available: p.len(),
                });
            }
            p.shuffle(&mut rng);
            train.extend_from_slice(&p[..nr]);
        }
        train.sort_unstable();
        test.sort_unstable();
        out.push(Split { train, test });
    }
    Ok(out)
}

/// Holdout splits (method.md §4): train on examples whose `factor` ≠ `value`, test on those with
/// `factor` = `value`; each side is balanced per class by subsampling (seeded) to its smallest class
/// count. `eligible` restricts both pools (e.g. to two classes). Errors when the value does not
/// occur, when some class is absent from a side, or if a held-out value would reach training.
#[allow(clippy::too_many_arguments)]
pub(crate) fn holdout_splits(
    table: &FeatureTable,
    y: &[usize],
    class_names: &[String],
    factor: &str,
    value: &str,
    n_splits: usize,
    eligible: &[bool],
    seed: u64,
) -> Result<Vec<Split>> {
    let k = class_names.len();
    check_inputs(y, k, &[eligible])?;
    let f = table.factor(factor)?;
    if f.len() != y.len() {
        return Err(param("labels", "label vector and table differ in length"));
    }
    let herr = |reason: String| ClassifyError::Holdout {
        factor: factor.to_string(),
        value: value.to_string(),
        reason,
    };
    if n_splits == 0 {
        return Err(param("n_splits", "must be at least 1"));
    }
    let test_ok: Vec<bool> = (0..y.len()).map(|i| eligible[i] && f[i] == value).collect();
    let train_ok: Vec<bool> = (0..y.len()).map(|i| eligible[i] && f[i] != value).collect();
    let test_pools = per_class_pools(y, k, &test_ok);
    let train_pools = per_class_pools(y, k, &train_ok);
    for c in 0..k {
        if test_pools[c].is_empty() {
            return Err(herr(format!(
                "no example of class `{}` has this value",
                class_names[c]
            )));
        }
        if train_pools[c].is_empty() {
            return Err(herr(format!(
                "no training example of class `{}` is left outside the held-out value",
                class_names[c]
            )));
        }
    }
    let nt = test_pools.iter().map(Vec::len).min().unwrap_or(0);
    let nr = train_pools.iter().map(Vec::len).min().unwrap_or(0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n_splits);
    for _ in 0..n_splits {
        let mut draw = |pools: &[Vec<usize>], n: usize| {
            let mut v = Vec::with_capacity(n * k);
            for pool in pools {
                let mut p = pool.clone();
                p.shuffle(&mut rng);
                v.extend_from_slice(&p[..n]);
            }
            v.sort_unstable();
            v
        };
        let test = draw(&test_pools, nt);
        let train = draw(&train_pools, nr);
        if let Some(&i) = train.iter().find(|&&i| f[i] == value) {
            return Err(herr(format!(
                "example {i} with the held-out value is in training"
            )));
        }
        out.push(Split { train, test });
    }
    Ok(out)
}

/// Distinct values of a factor, sorted (the holdout values to loop over).
pub(crate) fn factor_values(table: &FeatureTable, factor: &str) -> Result<Vec<String>> {
    let s: std::collections::BTreeSet<&String> = table.factor(factor)?.iter().collect();
    Ok(s.into_iter().cloned().collect())
}

/// scikit-learn's `StratifiedKFold(n_splits).split(X, y)` without shuffling (sklearn ≥ 0.22): the
/// classes are encoded by order of first appearance, the sorted encoded labels are dealt round-robin
/// to the folds to get per-fold class allocations, and each class's examples (in index order) fill
/// the folds in order. Returns (train, test) positions into `y`, both sorted.
pub(crate) fn stratified_kfold(
    y: &[usize],
    n_splits: usize,
) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    if n_splits < 2 {
        return Err(param(
            "n_splits",
            format!("{n_splits}: StratifiedKFold needs at least 2"),
        ));
    }
    if y.len() < n_splits {
        return Err(param(
            "n_splits",
            format!("{n_splits} folds for {} examples", y.len()),
        ));
    }
    // encode classes by first appearance
    let mut order: Vec<usize> = Vec::new();
    let maxc = y.iter().copied().max().unwrap_or(0);
    let mut code = vec![usize::MAX; maxc + 1];
    for &c in y {
        if code[c] == usize::MAX {
            code[c] = order.len();
            order.push(c);
        }
    }
    let nc = order.len();
    let enc: Vec<usize> = y.iter().map(|&c| code[c]).collect();
    let mut counts = vec![0usize; nc];
    for &e in &enc {
        counts[e] += 1;
    }
    if n_splits > counts.iter().copied().max().unwrap_or(0) {
        return Err(param(
            "n_splits",
            format!("{n_splits} folds but no class has that many members"),
        ));
    }
    let mut y_order = enc.clone();
    y_order.sort_unstable();
    // allocation[f][c] = count of class c among y_order[f::n_splits]
    let mut alloc = vec![vec![0usize; nc]; n_splits];
    for (i, &c) in y_order.iter().enumerate() {
        alloc[i % n_splits][c] += 1;
    }
    let mut test_fold = vec![0usize; y.len()];
    for c in 0..nc {
        let mut folds = Vec::with_capacity(counts[c]);
        for (f, a) in alloc.iter().enumerate() {
            folds.extend(std::iter::repeat_n(f, a[c]));
        }
        let mut it = folds.into_iter();
        for (i, &e) in enc.iter().enumerate() {
            if e == c {
                test_fold[i] = it.next().unwrap_or(0);
            }
        }
    }
    Ok((0..n_splits)
        .map(|f| {
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..y.len()).partition(|&i| test_fold[i] == f);
            (train, test)
        })
        .collect())
}

/// Trajectory subsampling (method.md §4): each example gets its own start a, uniform over
/// [0, T − 1 − (n − 1)·stride], and the indices a, a + stride, …, a + (n − 1)·stride.
pub(crate) fn subsample_trajectories(
    n_examples: usize,
    t: usize,
    stride: usize,
    n: usize,
    seed: u64,
) -> Result<TimeSelection> {
    use rand::Rng;
    if stride == 0 || n == 0 {
        return Err(param("subsample", "stride and n must be ≥ 1"));
    }
    let span = (n - 1) * stride;
    if span >= t {
        return Err(param(
            "subsample",
            format!(
                "{n} samples with stride {stride} span {} checkpoints > T = {t}",
                span + 1
            ),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Ok(TimeSelection::PerExample(
        (0..n_examples)
            .map(|_| {
                let a = rng.random_range(0..=t - 1 - span);
                (0..n).map(|j| a + j * stride).collect()
            })
            .collect(),
    ))
}

/// Consecutive portions of 0..T (thirds: n_parts = 3 gives [0–6], [7–13], [14–20] for T = 21);
/// like `numpy.array_split`, the first T mod n_parts portions get one extra index.
pub(crate) fn portions(t: usize, n_parts: usize) -> Result<Vec<Vec<usize>>> {
    if n_parts == 0 || n_parts > t {
        return Err(param("portions", format!("{n_parts} portions of T = {t}")));
    }
    let (q, r) = (t / n_parts, t % n_parts);
    let mut out = Vec::with_capacity(n_parts);
    let mut start = 0;
    for p in 0..n_parts {
        let len = q + usize::from(p < r);
        out.push((start..start + len).collect());
        start += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::testutil::{python, run_ref, synthetic_table};
    use std::collections::BTreeSet;

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|c| format!("c{c}")).collect()
    }

    #[test]
    fn balanced_splits_are_balanced_disjoint_and_seeded() {
        let y: Vec<usize> = (0..400).map(|i| (i * 7 + i / 13) % 4).collect();
        let ok = vec![true; y.len()];
        let counts: Vec<usize> = (0..4)
            .map(|c| y.iter().filter(|&&v| v == c).count())
            .collect();
        let m = *counts.iter().min().unwrap();
        let s = balanced_splits(
            &y,
            &names(4),
            10,
            SplitSize::Fraction(0.25),
            SplitSize::Fraction(0.75),
            &ok,
            &ok,
            3,
        )
        .unwrap();
        assert_eq!(s.len(), 10);
        for sp in &s {
            for c in 0..4 {
                assert_eq!(sp.test.iter().filter(|&&i| y[i] == c).count(), m / 4);
                assert_eq!(sp.train.iter().filter(|&&i| y[i] == c).count(), m * 3 / 4);
            }
            let a: BTreeSet<_> = sp.train.iter().collect();
            assert!(sp.test.iter().all(|i| !a.contains(i)));
            assert!(sp.train.windows(2).all(|w| w[0] < w[1]));
            assert!(sp.test.windows(2).all(|w| w[0] < w[1]));
        }
        assert_ne!(s[0], s[1]);
        let again = balanced_splits(
            &y,
            &names(4),
            10,
            SplitSize::Fraction(0.25),
            SplitSize::Fraction(0.75),
            &ok,
            &ok,
            3,
        )
        .unwrap();
        assert_eq!(s, again);
        let other = balanced_splits(
            &y,
            &names(4),
            10,
            SplitSize::Fraction(0.25),
            SplitSize::Fraction(0.75),
            &ok,
            &ok,
            4,
        )
        .unwrap();
        assert_ne!(s, other);
        let err = balanced_splits(
            &y,
            &names(4),
            1,
            SplitSize::Count(60),
            SplitSize::Count(60),
            &ok,
            &ok,
            0,
        );
        assert!(matches!(err, Err(ClassifyError::NotEnoughExamples { .. })));
    }

    #[test]
    fn filters_restrict_pools() {
        let t = synthetic_table(36, 3, 0);
        let classes = t.classes();
        let y = t.class_indices(&classes).unwrap();
        let tr = filters_mask(
            &t,
            &[FactorFilter {
                factor: "task".into(),
                values: vec!["t1".into()],
                exclude: false,
            }],
        )
        .unwrap();
        let te = filters_mask(
            &t,
            &[FactorFilter {
                factor: "task".into(),
                values: vec!["t1".into()],
                exclude: true,
            }],
        )
        .unwrap();
        let s = balanced_splits(
            &y,
            &classes,
            2,
            SplitSize::Count(5),
            SplitSize::Count(8),
            &tr,
            &te,
            1,
        )
        .unwrap();
        let task = t.factor("task").unwrap();
        for sp in s {
            assert!(sp.train.iter().all(|&i| task[i] == "t1"));
            assert!(sp.test.iter().all(|&i| task[i] == "t2"));
        }
        let bad = FactorFilter {
            factor: "nope".into(),
            values: vec![],
            exclude: false,
        };
        assert!(matches!(
            filters_mask(&t, &[bad]),
            Err(ClassifyError::UnknownFactor(..))
        ));
    }

    #[test]
    fn holdouts_never_train_on_the_held_out_value() {
        let t = synthetic_table(36, 3, 0);
        let classes = t.classes();
        let y = t.class_indices(&classes).unwrap();
        let all = vec![true; y.len()];
        let arch = t.factor("arch").unwrap();
        for v in factor_values(&t, "arch").unwrap() {
            let s = holdout_splits(&t, &y, &classes, "arch", &v, 3, &all, 7).unwrap();
            for sp in &s {
                assert!(sp.train.iter().all(|&i| arch[i] != v));
                assert!(sp.test.iter().all(|&i| arch[i] == v));
                let tc: Vec<usize> = (0..4)
                    .map(|c| sp.test.iter().filter(|&&i| y[i] == c).count())
                    .collect();
                assert!(tc.iter().all(|&c| c == tc[0] && c > 0));
                let rc: Vec<usize> = (0..4)
                    .map(|c| sp.train.iter().filter(|&&i| y[i] == c).count())
                    .collect();
                assert!(rc.iter().all(|&c| c == rc[0] && c > 0));
            }
        }
        let e = holdout_splits(&t, &y, &classes, "arch", "zzz", 1, &all, 0);
        assert!(matches!(e, Err(ClassifyError::Holdout { .. })));
        // restricting eligibility to one arch leaves no training data
        let only_a: Vec<bool> = arch.iter().map(|a| a == "a").collect();
        let e = holdout_splits(&t, &y, &classes, "arch", "a", 1, &only_a, 0);
        assert!(matches!(e, Err(ClassifyError::Holdout { .. })));
    }

    #[test]
    fn stratified_kfold_properties() {
        let y: Vec<usize> = (0..53).map(|i| [0, 1, 1, 2, 3, 3, 3][i % 7]).collect();
        let f = stratified_kfold(&y, 5).unwrap();
        let mut seen = vec![0; y.len()];
        for (tr, te) in &f {
            assert_eq!(tr.len() + te.len(), y.len());
            for &i in te {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&s| s == 1));
        assert!(stratified_kfold(&y, 1).is_err());
    }

    #[test]
    fn stratified_kfold_equals_sklearn() {
        let Some(py) = python() else { return };
        let dir = tempfile::tempdir().unwrap();
        let cases: Vec<Vec<usize>> = vec![
            (0..103).map(|i| (i * 5 + i / 7) % 4).collect(),
            (0..61).map(|i| [2, 0, 0, 1, 2, 2][i % 6]).collect(),
            (0..40).map(|i| usize::from(i > 30)).collect(),
            [vec![3; 12], vec![1; 9], vec![0; 20]].concat(),
        ];
        for (ci, y) in cases.iter().enumerate() {
            let yp = dir.path().join(format!("y{ci}.npy"));
            let out = dir.path().join(format!("f{ci}.json"));
            let yi: Vec<i64> = y.iter().map(|&v| v as i64).collect();
            crate::classify::npy::write_i64_1d(&yp, &yi).unwrap();
            run_ref(
                &py,
                &["kfold", yp.to_str().unwrap(), "5", out.to_str().unwrap()],
            );
            let want: Vec<(Vec<usize>, Vec<usize>)> =
                serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
            assert_eq!(stratified_kfold(y, 5).unwrap(), want, "case {ci}");
        }
    }

    #[test]
    fn trajectory_subsampling_and_portions() {
        let TimeSelection::PerExample(v) = subsample_trajectories(500, 21, 3, 7, 9).unwrap() else {
            panic!("expected per-example selection")
        };
        let starts: BTreeSet<usize> = v.iter().map(|r| r[0]).collect();
        assert_eq!(starts, (0..=2).collect());
        for r in &v {
            assert_eq!(r.len(), 7);
            assert!(r.windows(2).all(|w| w[1] - w[0] == 3));
            assert!(*r.last().unwrap() <= 20);
        }
        assert_eq!(
            subsample_trajectories(500, 21, 3, 7, 9).unwrap(),
            TimeSelection::PerExample(v)
        );
        assert!(subsample_trajectories(5, 21, 5, 6, 0).is_err());
        let TimeSelection::PerExample(d) = subsample_trajectories(3, 21, 1, 21, 0).unwrap() else {
            panic!()
        };
        assert!(d.iter().all(|r| *r == (0..21).collect::<Vec<_>>()));
        let th = portions(21, 3).unwrap();
        assert_eq!(
            th,
            vec![
                (0..7).collect::<Vec<_>>(),
                (7..14).collect(),
                (14..21).collect()
            ]
        );
        let sv = portions(21, 7).unwrap();
        assert!(sv.iter().all(|p| p.len() == 3));
        assert_eq!(sv[6], vec![18, 19, 20]);
        assert_eq!(portions(10, 3).unwrap()[0], vec![0, 1, 2, 3]);
    }
}
