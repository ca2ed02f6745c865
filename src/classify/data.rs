//! The in-memory feature table and feature assembly (method.md §1.4, §1.5, §2).
//!
//! A [`FeatureTable`] holds one example per (trained network, layer): a trajectory of K observable
//! statistics over T checkpoints, the layer position (early/middle/deep), the learning-rule label and
//! per-example run factors. [`select_stats`] applies the measure subset and the non-finite drop rule;
//! [`flat_features`] and [`average_features`] build the classifier inputs (`conv_features`, the
//! Conv1D's 3-D layout, is the tests' reference for what the Conv1D builds itself).

use std::collections::{BTreeMap, BTreeSet};

use ndarray::{Array2, Array3, ArrayView2};
use serde::{Deserialize, Serialize};

use super::error::{ClassifyError, Result, param};
use crate::features::{Measure, ObservableId};

/// Number of layer-position one-hot columns (early, middle, deep).
pub(crate) const N_POSITIONS: usize = 3;

/// Names of the one-hot columns, in order.
pub(crate) const POSITION_NAMES: [&str; N_POSITIONS] = ["grp_id0", "grp_id1", "grp_id2"];

/// One example per (network, layer): trajectories of statistics and their metadata.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FeatureTable {
    /// K observable names, e.g. `weightabs_median`, aligned with the last axis of `x`.
    pub stats: Vec<String>,
    /// Trajectories, shape [N examples, T checkpoints, K statistics].
    pub x: Array3<f64>,
    /// Layer position of each example: 0 early, 1 middle, 2 deep.
    pub position: Vec<u8>,
    /// Learning-rule label of each example.
    pub label: Vec<String>,
    /// Per-example run factors (arch, task, batch, data_seed, model_seed, run_id, layer, ...).
    pub factors: BTreeMap<String, Vec<String>>,
}

impl FeatureTable {
    /// Builds a table and checks that its parts agree.
    pub(crate) fn new(
        stats: Vec<String>,
        x: Array3<f64>,
        position: Vec<u8>,
        label: Vec<String>,
        factors: BTreeMap<String, Vec<String>>,
    ) -> Result<Self> {
        let t = FeatureTable {
            stats,
            x,
            position,
            label,
            factors,
        };
        t.validate()?;
        Ok(t)
    }

    /// Checks shapes, lengths, positions and unique statistic names.
    pub(crate) fn validate(&self) -> Result<()> {
        let (n, t, k) = self.x.dim();
        let bad = |m: String| Err(ClassifyError::InvalidTable(m));
        if self.stats.len() != k {
            return bad(format!(
                "{} statistic names but x has K = {k}",
                self.stats.len()
            ));
        }
        let unique: BTreeSet<&String> = self.stats.iter().collect();
        if unique.len() != k {
            return bad("duplicate statistic names".into());
        }
        if t == 0 {
            return bad("x has no checkpoints (T = 0)".into());
        }
        if self.position.len() != n {
            return bad(format!(
                "{} positions for N = {n} examples",
                self.position.len()
            ));
        }
        if let Some(i) = self
            .position
            .iter()
            .position(|&p| p as usize >= N_POSITIONS)
        {
            return bad(format!(
                "position {} of example {i} is not 0, 1 or 2",
                self.position[i]
            ));
        }
        if self.label.len() != n {
            return bad(format!("{} labels for N = {n} examples", self.label.len()));
        }
        for (name, v) in &self.factors {
            if v.len() != n {
                return bad(format!(
                    "factor `{name}` has {} values for N = {n} examples",
                    v.len()
                ));
            }
        }
        Ok(())
    }

    /// Number of examples N.
    pub(crate) fn n_examples(&self) -> usize {
        self.x.dim().0
    }

    /// Number of checkpoints T.
    pub(crate) fn n_times(&self) -> usize {
        self.x.dim().1
    }

    /// Sorted unique learning-rule labels (the class order of every classifier).
    pub(crate) fn classes(&self) -> Vec<String> {
        let s: BTreeSet<&String> = self.label.iter().collect();
        s.into_iter().cloned().collect()
    }

    /// The values of one factor, or an error naming the factors that exist.
    pub(crate) fn factor(&self, name: &str) -> Result<&[String]> {
        self.factors.get(name).map(|v| v.as_slice()).ok_or_else(|| {
            ClassifyError::UnknownFactor(
                name.to_string(),
                self.factors.keys().cloned().collect::<Vec<_>>().join(", "),
            )
        })
    }

    /// Adds a factor whose value is the `|`-joined values of `parts` (e.g. curriculum =
    /// batch × data_seed, method.md §4).
    pub(crate) fn add_combined_factor(&mut self, name: &str, parts: &[&str]) -> Result<()> {
        if parts.is_empty() {
            return Err(param("parts", "a combined factor needs at least one part"));
        }
        let cols: Vec<&[String]> = parts
            .iter()
            .map(|p| self.factor(p))
            .collect::<Result<_>>()?;
        let v = (0..self.n_examples())
            .map(|i| {
                cols.iter()
                    .map(|c| c[i].as_str())
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        self.factors.insert(name.to_string(), v);
        Ok(())
    }

    /// The table restricted to the given rows (in that order).
    pub(crate) fn select_rows(&self, rows: &[usize]) -> Result<FeatureTable> {
        let n = self.n_examples();
        if let Some(&r) = rows.iter().find(|&&r| r >= n) {
            return Err(param("rows", format!("row {r} out of range (N = {n})")));
        }
        Ok(FeatureTable {
            stats: self.stats.clone(),
            x: self.x.select(ndarray::Axis(0), rows),
            position: rows.iter().map(|&r| self.position[r]).collect(),
            label: rows.iter().map(|&r| self.label[r].clone()).collect(),
            factors: self
                .factors
                .iter()
                .map(|(k, v)| (k.clone(), rows.iter().map(|&r| v[r].clone()).collect()))
                .collect(),
        })
    }

    /// The table restricted to examples of the given classes (pairwise tasks, method.md §3.5).
    pub(crate) fn restrict_classes(&self, keep: &[String]) -> Result<FeatureTable> {
        let have = self.classes();
        for c in keep {
            if !have.contains(c) {
                return Err(ClassifyError::UnknownClass(c.clone(), have.join(", ")));
            }
        }
        let rows: Vec<usize> = (0..self.n_examples())
            .filter(|&i| keep.contains(&self.label[i]))
            .collect();
        self.select_rows(&rows)
    }

    /// Class index (into [`FeatureTable::classes`]) of every example.
    pub(crate) fn class_indices(&self, classes: &[String]) -> Result<Vec<usize>> {
        self.label
            .iter()
            .map(|l| {
                classes
                    .iter()
                    .position(|c| c == l)
                    .ok_or_else(|| ClassifyError::UnknownClass(l.clone(), classes.join(", ")))
            })
            .collect()
    }
}

/// Which observable measures feed the classifier (method.md §1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MeasureSubset {
    /// Observables of measure `weight`.
    Weight,
    /// Observables of measure `act`.
    Act,
    /// Observables of measure `gradavg`.
    Grad,
    /// Every statistic.
    #[default]
    All,
    /// An explicit list of statistic names (in this order).
    Stats(Vec<String>),
}

impl MeasureSubset {
    /// The observable measure of the subset (names parsed by [`ObservableId::parse`], the one
    /// parser of observable names; a name that does not parse belongs to no measure).
    fn measure(&self) -> Option<Measure> {
        match self {
            MeasureSubset::Weight => Some(Measure::Weight),
            MeasureSubset::Act => Some(Measure::Act),
            MeasureSubset::Grad => Some(Measure::Gradavg),
            _ => None,
        }
    }
}

/// The statistics kept after the measure subset and the non-finite drop rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatSelection {
    /// Kept statistic names, in table order (or the order of `MeasureSubset::Stats`).
    pub stats: Vec<String>,
    /// Their indices into the table's last axis.
    pub index: Vec<usize>,
    /// Statistics of the subset dropped because some value was non-finite.
    pub dropped: Vec<String>,
}

/// Applies the measure subset, then drops every statistic that is non-finite for any example at any
/// checkpoint (method.md §1.4). Errors if nothing is left.
pub(crate) fn select_stats(table: &FeatureTable, subset: &MeasureSubset) -> Result<StatSelection> {
    table.validate()?;
    let candidates: Vec<usize> = match subset {
        MeasureSubset::All => (0..table.stats.len()).collect(),
        MeasureSubset::Stats(names) => names
            .iter()
            .map(|n| {
                table.stats.iter().position(|s| s == n).ok_or_else(|| {
                    param(
                        "measure",
                        format!("statistic `{n}` is not in the feature table"),
                    )
                })
            })
            .collect::<Result<_>>()?,
        _ => {
            let m = subset.measure();
            (0..table.stats.len())
                .filter(|&k| {
                    ObservableId::parse(&table.stats[k]).is_ok_and(|o| Some(o.measure) == m)
                })
                .collect()
        }
    };
    let mut sel = StatSelection {
        stats: vec![],
        index: vec![],
        dropped: vec![],
    };
    for k in candidates {
        let finite = table
            .x
            .index_axis(ndarray::Axis(2), k)
            .iter()
            .all(|v| v.is_finite());
        if finite {
            sel.stats.push(table.stats[k].clone());
            sel.index.push(k);
        } else {
            sel.dropped.push(table.stats[k].clone());
        }
    }
    if sel.index.is_empty() {
        return Err(param(
            "measure",
            format!(
                "no finite statistic left for subset {subset:?} (dropped: {:?})",
                sel.dropped
            ),
        ));
    }
    Ok(sel)
}

/// Column time labels and, for per-example selections, each example's indices.
type ResolvedTimes = (Vec<usize>, Option<Vec<Vec<usize>>>);

/// Which checkpoints enter the features.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TimeSelection {
    /// All T checkpoints.
    #[default]
    All,
    /// The same checkpoint indices for every example (e.g. a consecutive portion).
    Indices(Vec<usize>),
    /// Per-example indices, all of the same length (trajectory subsampling, method.md §4);
    /// columns are aligned by position within the selection.
    PerExample(Vec<Vec<usize>>),
}

impl TimeSelection {
    /// Resolves to per-example index lists (checked against T and N) and whether they are shared.
    fn resolve(&self, n: usize, t: usize) -> Result<ResolvedTimes> {
        let check = |idx: &[usize], what: &str| -> Result<()> {
            if idx.is_empty() {
                return Err(param("time", format!("{what}: empty time selection")));
            }
            if let Some(&b) = idx.iter().find(|&&i| i >= t) {
                return Err(param(
                    "time",
                    format!("{what}: index {b} out of range (T = {t})"),
                ));
            }
            Ok(())
        };
        match self {
            TimeSelection::All => Ok(((0..t).collect(), None)),
            TimeSelection::Indices(idx) => {
                check(idx, "indices")?;
                Ok((idx.clone(), None))
            }
            TimeSelection::PerExample(v) => {
                if v.len() != n {
                    return Err(param(
                        "time",
                        format!("per-example selection has {} rows for N = {n}", v.len()),
                    ));
                }
                let len = v.first().map(|r| r.len()).unwrap_or(0);
                for (i, r) in v.iter().enumerate() {
                    check(r, &format!("example {i}"))?;
                    if r.len() != len {
                        return Err(param("time", "per-example selections differ in length"));
                    }
                }
                Ok(((0..len).collect(), Some(v.clone())))
            }
        }
    }
}

/// A named group of feature columns (one statistic over time, or one one-hot column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FeatureGroup {
    pub name: String,
    pub columns: Vec<usize>,
}

/// A flat feature matrix: `n_onehot` one-hot columns first, then the continuous columns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FlatFeatures {
    /// [N, n_onehot + K·T'] (statistic-major: column = n_onehot + k·T' + t).
    pub x: Array2<f64>,
    pub feature_names: Vec<String>,
    /// The one-hot columns (each its own group) followed by one group per statistic.
    pub groups: Vec<FeatureGroup>,
    pub n_onehot: usize,
    pub stats: Vec<String>,
    pub dropped: Vec<String>,
}

fn onehot_groups() -> Vec<FeatureGroup> {
    (0..N_POSITIONS)
        .map(|j| FeatureGroup {
            name: POSITION_NAMES[j].to_string(),
            columns: vec![j],
        })
        .collect()
}

/// The flat layout of method.md §2: one-hot [early, middle, deep] then, statistic-major, each
/// selected statistic's trajectory over the selected checkpoints (507 columns for the paper).
pub(crate) fn flat_features(
    table: &FeatureTable,
    sel: &StatSelection,
    time: &TimeSelection,
) -> Result<FlatFeatures> {
    let (n, t, _) = table.x.dim();
    let (cols_t, per) = time.resolve(n, t)?;
    let tt = cols_t.len();
    let k = sel.index.len();
    let mut x = Array2::<f64>::zeros((n, N_POSITIONS + k * tt));
    for i in 0..n {
        x[[i, table.position[i] as usize]] = 1.0;
        let times: &[usize] = per.as_ref().map(|p| p[i].as_slice()).unwrap_or(&cols_t);
        for (kk, &ks) in sel.index.iter().enumerate() {
            for (j, &ti) in times.iter().enumerate() {
                x[[i, N_POSITIONS + kk * tt + j]] = table.x[[i, ti, ks]];
            }
        }
    }
    let mut names: Vec<String> = POSITION_NAMES.iter().map(|s| s.to_string()).collect();
    let mut groups = onehot_groups();
    for (kk, s) in sel.stats.iter().enumerate() {
        for &tj in cols_t.iter() {
            names.push(if per.is_some() {
                format!("{s}@s{tj}")
            } else {
                format!("{s}@{tj}")
            });
        }
        groups.push(FeatureGroup {
            name: s.clone(),
            columns: (N_POSITIONS + kk * tt..N_POSITIONS + (kk + 1) * tt).collect(),
        });
    }
    Ok(FlatFeatures {
        x,
        feature_names: names,
        groups,
        n_onehot: N_POSITIONS,
        stats: sel.stats.clone(),
        dropped: sel.dropped.clone(),
    })
}

/// The trajectory-average control (Fig. S2b): one-hot then each statistic's mean over the
/// selected checkpoints.
pub(crate) fn average_features(
    table: &FeatureTable,
    sel: &StatSelection,
    time: &TimeSelection,
) -> Result<FlatFeatures> {
    let full = flat_features(table, sel, time)?;
    let n = table.n_examples();
    let k = sel.index.len();
    let tt = (full.x.ncols() - N_POSITIONS) / k;
    let mut x = Array2::<f64>::zeros((n, N_POSITIONS + k));
    for i in 0..n {
        for j in 0..N_POSITIONS {
            x[[i, j]] = full.x[[i, j]];
        }
        for kk in 0..k {
            let s: f64 = (0..tt)
                .map(|j| full.x[[i, N_POSITIONS + kk * tt + j]])
                .sum();
            x[[i, N_POSITIONS + kk]] = s / tt as f64;
        }
    }
    let mut names: Vec<String> = POSITION_NAMES.iter().map(|s| s.to_string()).collect();
    let mut groups = onehot_groups();
    for (kk, s) in sel.stats.iter().enumerate() {
        names.push(format!("{s}@mean"));
        groups.push(FeatureGroup {
            name: s.clone(),
            columns: vec![N_POSITIONS + kk],
        });
    }
    Ok(FlatFeatures {
        x,
        feature_names: names,
        groups,
        n_onehot: N_POSITIONS,
        stats: sel.stats.clone(),
        dropped: sel.dropped.clone(),
    })
}

/// The 3-D layout for a Conv1D (method.md §2): [N, T', 3 + K], the one-hot repeated at every time
/// step and placed before the statistic channels. Returns the array and the channel names. The
/// Conv1D builds the same layout from the flat features itself; the tests compare the two.
#[cfg(test)]
pub(crate) fn conv_features(
    table: &FeatureTable,
    sel: &StatSelection,
    time: &TimeSelection,
) -> Result<(Array3<f64>, Vec<String>)> {
    let (n, t, _) = table.x.dim();
    let (cols_t, per) = time.resolve(n, t)?;
    let tt = cols_t.len();
    let k = sel.index.len();
    let mut x = Array3::<f64>::zeros((n, tt, N_POSITIONS + k));
    for i in 0..n {
        let times: &[usize] = per.as_ref().map(|p| p[i].as_slice()).unwrap_or(&cols_t);
        for (j, &ti) in times.iter().enumerate() {
            x[[i, j, table.position[i] as usize]] = 1.0;
            for (kk, &ks) in sel.index.iter().enumerate() {
                x[[i, j, N_POSITIONS + kk]] = table.x[[i, ti, ks]];
            }
        }
    }
    let mut names: Vec<String> = POSITION_NAMES.iter().map(|s| s.to_string()).collect();
    names.extend(sel.stats.iter().cloned());
    Ok((x, names))
}

/// Feature-wise z-scoring (`featurewise_norm`): mean and std fitted on the training rows only, std
/// floored at 1e-5. The first `skip` columns (the one-hot) are left as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ZScore {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub skip: usize,
}

/// The floor of the z-scoring standard deviation.
pub(crate) const ZSCORE_STD_FLOOR: f64 = 1e-5;

impl ZScore {
    /// Fits on `x` (the training rows), leaving the first `skip` columns untouched.
    pub(crate) fn fit(x: ArrayView2<f64>, skip: usize) -> Result<Self> {
        let (n, p) = x.dim();
        if n == 0 {
            return Err(param("zscore", "cannot fit on zero rows"));
        }
        if skip > p {
            return Err(param("zscore", format!("skip {skip} > {p} columns")));
        }
        let mut mean = vec![0.0; p];
        let mut std = vec![1.0; p];
        for j in skip..p {
            let c = x.column(j);
            let m = c.sum() / n as f64;
            let v = c.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n as f64;
            mean[j] = m;
            std[j] = v.sqrt().max(ZSCORE_STD_FLOOR);
        }
        Ok(ZScore { mean, std, skip })
    }

    /// Applies (x − mean)/std column-wise in place.
    pub(crate) fn transform(&self, x: &mut Array2<f64>) -> Result<()> {
        if x.ncols() != self.mean.len() {
            return Err(ClassifyError::Shape {
                context: "ZScore::transform".into(),
                expected: format!("{} columns", self.mean.len()),
                got: format!("{} columns", x.ncols()),
            });
        }
        for mut row in x.rows_mut() {
            for j in self.skip..row.len() {
                row[j] = (row[j] - self.mean[j]) / self.std[j];
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::testutil::synthetic_table;

    fn paper_like(n: usize) -> FeatureTable {
        let names: Vec<String> = [
            "weightabs_mean",
            "weightabs_median",
            "weightabs_norm",
            "weightabs_thirdquartile",
            "weightabs_var",
            "weightraw_mean",
            "weightraw_median",
            "weightraw_norm",
            "weightraw_thirdquartile",
            "weightraw_var",
            "weightsq_mean",
            "weightsq_median",
            "weightsq_thirdquartile",
            "actabs_mean",
            "actabs_median",
            "actabs_norm",
            "actabs_thirdquartile",
            "actraw_mean",
            "actraw_median",
            "actraw_norm",
            "actraw_thirdquartile",
            "gradavgabs_id",
            "gradavgraw_id",
            "gradavgsq_id",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let x = Array3::from_shape_fn((n, 21, 24), |(i, t, k)| (i * 10000 + k * 100 + t) as f64);
        FeatureTable::new(
            names,
            x,
            (0..n).map(|i| (i % 3) as u8).collect(),
            (0..n).map(|i| format!("r{}", i % 2)).collect(),
            BTreeMap::new(),
        )
        .unwrap()
    }

    #[test]
    fn flat_layout_is_statistic_major_with_onehot_first() {
        let t = paper_like(5);
        let sel = select_stats(&t, &MeasureSubset::All).unwrap();
        let f = flat_features(&t, &sel, &TimeSelection::All).unwrap();
        assert_eq!(f.x.dim(), (5, 507));
        assert_eq!(f.feature_names.len(), 507);
        assert_eq!(
            &f.feature_names[..4],
            &["grp_id0", "grp_id1", "grp_id2", "weightabs_mean@0"]
        );
        for i in 0..5 {
            for j in 0..3 {
                assert_eq!(f.x[[i, j]], if j == i % 3 { 1.0 } else { 0.0 });
            }
            for k in 0..24 {
                for tt in 0..21 {
                    assert_eq!(f.x[[i, 3 + k * 21 + tt]], t.x[[i, tt, k]]);
                }
            }
        }
        assert_eq!(f.groups.len(), 27);
        assert_eq!(f.groups[3].columns, (3..24).collect::<Vec<_>>());
    }

    #[test]
    fn measure_subsets_select_by_prefix() {
        let t = paper_like(2);
        let n = |m: MeasureSubset| select_stats(&t, &m).unwrap().stats.len();
        assert_eq!(n(MeasureSubset::Weight), 13);
        assert_eq!(n(MeasureSubset::Act), 8);
        assert_eq!(n(MeasureSubset::Grad), 3);
        assert_eq!(n(MeasureSubset::All), 24);
        let w = flat_features(
            &t,
            &select_stats(&t, &MeasureSubset::Weight).unwrap(),
            &TimeSelection::All,
        )
        .unwrap();
        assert_eq!(w.x.ncols(), 3 + 273);
        let s = select_stats(&t, &MeasureSubset::Stats(vec!["gradavgsq_id".into()])).unwrap();
        assert_eq!(s.index, vec![23]);
        assert!(select_stats(&t, &MeasureSubset::Stats(vec!["nope".into()])).is_err());
    }

    #[test]
    fn nonfinite_statistics_are_dropped_everywhere() {
        let t = synthetic_table(6, 5, 1);
        let sel = select_stats(&t, &MeasureSubset::All).unwrap();
        assert_eq!(sel.dropped, vec!["weightabs_skew".to_string()]);
        assert_eq!(sel.stats.len(), 6);
        let w = select_stats(&t, &MeasureSubset::Weight).unwrap();
        assert_eq!(w.dropped, vec!["weightabs_skew".to_string()]);
        let a = select_stats(&t, &MeasureSubset::Act).unwrap();
        assert!(a.dropped.is_empty());
        // a subset with only non-finite statistics is an error
        let bad = MeasureSubset::Stats(vec!["weightabs_skew".into()]);
        assert!(select_stats(&t, &bad).is_err());
    }

    #[test]
    fn conv_layout_average_and_time_selection() {
        let t = paper_like(4);
        let sel = select_stats(&t, &MeasureSubset::Grad).unwrap();
        let (x, names) = conv_features(&t, &sel, &TimeSelection::All).unwrap();
        assert_eq!(x.dim(), (4, 21, 6));
        assert_eq!(names[3], "gradavgabs_id");
        for tt in 0..21 {
            assert_eq!(x[[1, tt, 1]], 1.0);
            assert_eq!(x[[1, tt, 3 + 2]], t.x[[1, tt, 23]]);
        }
        let avg = average_features(&t, &sel, &TimeSelection::All).unwrap();
        assert_eq!(avg.x.ncols(), 6);
        let m: f64 = (0..21).map(|tt| t.x[[2, tt, 22]]).sum::<f64>() / 21.0;
        assert!((avg.x[[2, 4]] - m).abs() < 1e-9);
        let idx = TimeSelection::Indices(vec![0, 10, 20]);
        let f = flat_features(&t, &sel, &idx).unwrap();
        assert_eq!(f.x.ncols(), 3 + 9);
        assert_eq!(f.x[[3, 3 + 3 + 1]], t.x[[3, 10, 22]]);
        let per = TimeSelection::PerExample(vec![vec![0, 1], vec![5, 6], vec![7, 8], vec![19, 20]]);
        let f = flat_features(&t, &sel, &per).unwrap();
        assert_eq!(f.x[[2, 3 + 2 + 1]], t.x[[2, 8, 22]]);
        assert!(flat_features(&t, &sel, &TimeSelection::Indices(vec![21])).is_err());
        assert!(flat_features(&t, &sel, &TimeSelection::PerExample(vec![vec![0]])).is_err());
    }

    #[test]
    fn zscore_uses_train_rows_and_floors_std() {
        let x = ndarray::array![
            [1.0, 0.0, 5.0, 3.0],
            [0.0, 1.0, 7.0, 3.0],
            [0.0, 0.0, 9.0, 3.0]
        ];
        let z = ZScore::fit(x.slice(ndarray::s![..2, ..]), 2).unwrap();
        assert_eq!(z.mean[2], 6.0);
        assert_eq!(z.std[2], 1.0);
        assert_eq!(z.std[3], ZSCORE_STD_FLOOR);
        let mut y = x.clone();
        z.transform(&mut y).unwrap();
        assert_eq!(y[[2, 2]], 3.0);
        assert_eq!(y[[0, 0]], 1.0);
        assert_eq!(y[[2, 3]], 0.0);
    }

    #[test]
    fn invalid_tables_are_rejected() {
        let t = paper_like(3);
        let mut bad = t.clone();
        bad.position[1] = 3;
        assert!(matches!(
            bad.validate(),
            Err(ClassifyError::InvalidTable(_))
        ));
        let mut bad = t.clone();
        bad.label.pop();
        assert!(bad.validate().is_err());
        let mut bad = t;
        bad.factors.insert("arch".into(), vec!["a".into()]);
        assert!(bad.validate().is_err());
    }
}
