//! Random forest classifier (Breiman; scikit-learn `RandomForestClassifier` semantics).
//!
//! Why not linfa: linfa-ensemble 0.8 draws one feature subset per *tree* (bagging, not Breiman's
//! per-split sampling; −22 accuracy points on our workload), fits trees sequentially and is
//! unseeded by default; linfa-trees has no `max_features`, scans all rows per node with hash maps
//! and ignores splits between values closer than 1e-5 (see shared/linfa.md: 227 s vs 24 s for
//! scikit-learn). This one follows scikit-learn: Gini, bootstrap, unlimited depth, features drawn
//! per split without replacement until `max_features` non-constant ones were seen, split
//! thresholds at midpoints with scikit-learn's 1e-7 feature threshold, data as f32, trees fitted
//! in parallel with rayon, each from its own seed.

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::{ClassifyError, Result, param};

/// Values closer than this are not split apart (scikit-learn's `FEATURE_THRESHOLD`).
const FEATURE_THRESHOLD: f64 = 1e-7;
const LEAF: u32 = u32::MAX;

/// How many features each split considers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeatures {
    /// max(1, ⌊√p⌋)
    Sqrt,
    /// max(1, ⌊log2 p⌋)
    Log2,
    /// all p features (`None` in scikit-learn)
    All,
    /// a fixed count (1 ≤ c ≤ p)
    Count(usize),
}

impl MaxFeatures {
    /// The number of features per split for p features.
    pub fn resolve(&self, p: usize) -> Result<usize> {
        let m = match *self {
            MaxFeatures::Sqrt => ((p as f64).sqrt() as usize).max(1),
            MaxFeatures::Log2 => ((p as f64).log2() as usize).max(1),
            MaxFeatures::All => p,
            MaxFeatures::Count(c) => c,
        };
        if m == 0 || m > p {
            return Err(param(
                "max_features",
                format!("{m} features per split with p = {p}"),
            ));
        }
        Ok(m)
    }
}

/// Parameters of [`RandomForest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees (scikit-learn's `n_estimators`).
    pub n_trees: usize,
    /// Features considered at each split.
    pub max_features: MaxFeatures,
    /// Bootstrap resampling of the rows of every tree (scikit-learn default: true).
    #[serde(default = "default_true")]
    pub bootstrap: bool,
    /// Maximum depth; `None` grows until leaves are pure.
    #[serde(default)]
    pub max_depth: Option<usize>,
    /// Master seed; tree i uses the i-th draw of a ChaCha8 stream seeded with it.
    #[serde(default)]
    pub seed: u64,
}

fn default_true() -> bool {
    true
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 100,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            max_depth: None,
            seed: 0,
        }
    }
}

impl ForestParams {
    /// Checks the parameters (n_trees ≥ 1, max_depth ≥ 1, a valid fixed count).
    pub fn validate(&self) -> Result<()> {
        if self.n_trees == 0 {
            return Err(param("n_trees", "must be at least 1"));
        }
        if self.max_depth == Some(0) {
            return Err(param("max_depth", "must be at least 1 (or None)"));
        }
        if self.max_features == MaxFeatures::Count(0) {
            return Err(param("max_features", "count must be at least 1"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Node {
    /// split feature, or LEAF
    feature: u32,
    /// left child, or for a leaf the offset of its class distribution
    left: u32,
    right: u32,
    threshold: f64,
}

impl Node {
    /// A node slot not yet filled (its subtree is still on the build stack).
    const PENDING: Node = Node {
        feature: LEAF,
        left: 0,
        right: 0,
        threshold: 0.0,
    };
}

/// One fitted decision tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    nodes: Vec<Node>,
    /// normalized class distributions of the leaves, n_classes per leaf
    values: Vec<f64>,
    n_classes: usize,
}

impl Tree {
    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    fn leaf_of(&self, row: &[f32]) -> &[f64] {
        let mut i = 0usize;
        loop {
            let nd = &self.nodes[i];
            if nd.feature == LEAF {
                let o = nd.left as usize;
                return &self.values[o..o + self.n_classes];
            }
            i = if (row[nd.feature as usize] as f64) <= nd.threshold {
                nd.left as usize
            } else {
                nd.right as usize
            };
        }
    }
}

/// A fitted random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForest {
    /// The parameters it was fitted with.
    pub params: ForestParams,
    /// Number of feature columns of the training data (prediction needs the same).
    pub n_features: usize,
    /// Number of classes (labels 0..n_classes).
    pub n_classes: usize,
    trees: Vec<Tree>,
    /// per-tree normalized Gini importances, n_trees × n_features, row-major
    importances: Vec<f64>,
}

pub(crate) fn check_xy(
    x: &ArrayView2<f64>,
    y: &[usize],
    n_classes: usize,
    who: &str,
) -> Result<()> {
    if x.nrows() == 0 {
        return Err(ClassifyError::Fit {
            model: who.into(),
            reason: "no training rows".into(),
        });
    }
    if x.ncols() == 0 {
        return Err(ClassifyError::Fit {
            model: who.into(),
            reason: "no features".into(),
        });
    }
    if y.len() != x.nrows() {
        return Err(ClassifyError::Shape {
            context: format!("{who} fit"),
            expected: format!("{} labels", x.nrows()),
            got: format!("{}", y.len()),
        });
    }
    if let Some(&c) = y.iter().find(|&&c| c >= n_classes) {
        return Err(param(
            "labels",
            format!("class {c} ≥ n_classes {n_classes} in {who}"),
        ));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(ClassifyError::NonFinite(format!("{who} training data")));
    }
    Ok(())
}

/// Order-preserving map from f32 to u32.
#[inline]
fn f32_key(v: f32) -> u32 {
    let b = v.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

#[inline]
fn key_f32(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 {
        k & 0x7fff_ffff
    } else {
        !k
    })
}

/// Row weights of one tree: bootstrap counts (n draws with replacement from `rng`) or all 1.
fn bootstrap_weights(n: usize, bootstrap: bool, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut weight = vec![0.0f64; n];
    if bootstrap {
        for _ in 0..n {
            weight[rng.random_range(0..n)] += 1.0;
        }
    } else {
        weight.iter_mut().for_each(|w| *w = 1.0);
    }
    weight
}

/// Partitions a node's rows `seg` in place: rows with `col[row] <= threshold` first. Returns
/// their count.
fn partition(seg: &mut [u32], col: &[f32], threshold: f64) -> usize {
    let (mut i, mut j) = (0usize, seg.len());
    while i < j {
        if (col[seg[i] as usize] as f64) <= threshold {
            i += 1;
        } else {
            j -= 1;
            seg.swap(i, j);
        }
    }
    i
}

/// Splits the node's part of every feature's presorted order like [`partition`] split its rows
/// (`seg[..i]` left), keeping each side's order: the node holds positions `start..end` of each
/// feature's block of `m_all` entries in `sorted`. `flag` (one per row) and `tmp` (`m_all`) are
/// scratch space.
fn partition_presorted(
    sorted: &mut [u32],
    (start, end, m_all): (usize, usize, usize),
    p: usize,
    seg: &[u32],
    i: usize,
    flag: &mut [bool],
    tmp: &mut [u32],
) {
    for &r in &seg[..i] {
        flag[r as usize] = true;
    }
    for &r in &seg[i..] {
        flag[r as usize] = false;
    }
    for f in 0..p {
        let part = &mut sorted[f * m_all + start..f * m_all + end];
        // stable partition: lefts compacted in place, rights via tmp
        let (mut a, mut z) = (0usize, 0usize);
        for q in 0..part.len() {
            let r = part[q];
            if flag[r as usize] {
                part[a] = r;
                a += 1;
            } else {
                tmp[z] = r;
                z += 1;
            }
        }
        part[a..].copy_from_slice(&tmp[..z]);
    }
}

/// Scales a tree's impurity decreases to scikit-learn's `feature_importances_`: divided by the
/// root's weight, then normalised to sum 1 (left as is when all zero).
fn normalize_importances(imp: &mut [f64], w_root: f64) {
    if w_root > 0.0 {
        imp.iter_mut().for_each(|v| *v /= w_root);
    }
    let s: f64 = imp.iter().sum();
    if s > 0.0 {
        imp.iter_mut().for_each(|v| *v /= s);
    }
}

struct Builder<'a> {
    /// column-major f32 data, n rows per column
    cols: &'a [f32],
    n: usize,
    p: usize,
    y: &'a [usize],
    k: usize,
    mtry: usize,
    max_depth: usize,
    /// Keep every feature's sample order presorted and partition it at each split (O(p·m) per
    /// node) instead of sorting the drawn features per node (O(mtry·m·log m)); worth it when
    /// mtry is a large part of p (max_features = all). Both give identical trees.
    presort: bool,
}

struct Best {
    proxy: f64,
    feature: usize,
    pos: usize,
    threshold: f64,
}

impl Builder<'_> {
    fn gini(counts: &[f64], w: f64) -> f64 {
        if w <= 0.0 {
            return 0.0;
        }
        1.0 - counts.iter().map(|c| (c / w) * (c / w)).sum::<f64>()
    }

    /// `out[c]`: the summed `weight` of the rows of class c among `rows`.
    fn class_weights(&self, rows: &[u32], weight: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|c| *c = 0.0);
        for &s in rows {
            out[self.y[s as usize]] += weight[s as usize];
        }
    }

    /// Grows one tree from `seed` (the bootstrap draw, then the features tried at each node):
    /// depth first, a node becomes a leaf when it is pure, has one row, is at `max_depth` or
    /// has no valid split. Returns the tree and its normalised Gini importances.
    fn build(&self, seed: u64, bootstrap: bool) -> (Tree, Vec<f64>) {
        let (n, k) = (self.n, self.k);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let weight = bootstrap_weights(n, bootstrap, &mut rng);
        let mut samples: Vec<u32> = (0..n as u32)
            .filter(|&i| weight[i as usize] > 0.0)
            .collect();
        let m_all = samples.len();
        let mut keys: Vec<u64> = vec![0; m_all];
        // presorted mode: per feature, the node's rows ordered by (value, row)
        let mut sorted: Vec<u32> = Vec::new();
        let mut flag: Vec<bool> = Vec::new();
        let mut tmp: Vec<u32> = Vec::new();
        if self.presort {
            sorted = self.presorted(&samples, &mut keys);
            flag = vec![false; n];
            tmp = vec![0; m_all];
        }
        let mut feats: Vec<usize> = (0..self.p).collect();
        let mut nodes: Vec<Node> = Vec::new();
        let mut values: Vec<f64> = Vec::new();
        let mut imp = vec![0.0f64; self.p];
        let mut counts = vec![0.0f64; k];
        let mut left = vec![0.0f64; k];
        let mut lc = vec![0.0f64; k];
        let mut w_root = 0.0;
        // (start, end, depth, slot)
        let mut stack: Vec<(usize, usize, usize, usize)> = vec![(0, m_all, 0, 0)];
        nodes.push(Node::PENDING);
        while let Some((start, end, depth, slot)) = stack.pop() {
            let m = end - start;
            self.class_weights(&samples[start..end], &weight, &mut counts);
            let wt: f64 = counts.iter().sum();
            if slot == 0 {
                w_root = wt;
            }
            let impurity = Self::gini(&counts, wt);
            let mut best: Option<Best> = None;
            if m >= 2 && impurity > f64::EPSILON && depth < self.max_depth {
                let pre = self.presort.then_some((sorted.as_slice(), m_all, start));
                best = self.find_split(
                    &samples[start..end],
                    pre,
                    &mut keys[..m],
                    &weight,
                    &counts,
                    wt,
                    &mut feats,
                    &mut left,
                    &mut rng,
                );
            }
            match best {
                None => {
                    let off = values.len();
                    values.extend(counts.iter().map(|c| c / wt));
                    nodes[slot] = Node {
                        feature: LEAF,
                        left: off as u32,
                        right: 0,
                        threshold: 0.0,
                    };
                }
                Some(b) => {
                    // partition samples[start..end] by the threshold
                    let col = &self.cols[b.feature * n..(b.feature + 1) * n];
                    let seg = &mut samples[start..end];
                    let i = partition(seg, col, b.threshold);
                    debug_assert_eq!(i, b.pos);
                    if self.presort {
                        let (rows, p) = ((start, end, m_all), self.p);
                        partition_presorted(&mut sorted, rows, p, seg, i, &mut flag, &mut tmp);
                    }
                    self.class_weights(&seg[..i], &weight, &mut lc);
                    let wl: f64 = lc.iter().sum();
                    let rc: Vec<f64> = counts.iter().zip(&lc).map(|(a, b)| a - b).collect();
                    let wr = wt - wl;
                    imp[b.feature] +=
                        wt * impurity - wl * Self::gini(&lc, wl) - wr * Self::gini(&rc, wr);
                    let l = nodes.len();
                    nodes.push(Node::PENDING);
                    nodes.push(Node::PENDING);
                    nodes[slot] = Node {
                        feature: b.feature as u32,
                        left: l as u32,
                        right: l as u32 + 1,
                        threshold: b.threshold,
                    };
                    stack.push((start + i, end, depth + 1, l + 1));
                    stack.push((start, start + i, depth + 1, l));
                }
            }
        }
        normalize_importances(&mut imp, w_root);
        (
            Tree {
                nodes,
                values,
                n_classes: k,
            },
            imp,
        )
    }

    /// Presorted mode's index: per feature, the bootstrap's distinct rows `samples` ordered by
    /// (value, row), concatenated (`p × samples.len()` entries). `keys` is scratch space of
    /// `samples.len()` entries.
    fn presorted(&self, samples: &[u32], keys: &mut [u64]) -> Vec<u32> {
        let n = self.n;
        let mut sorted = Vec::new();
        sorted.reserve_exact(self.p * samples.len());
        for f in 0..self.p {
            let col = &self.cols[f * n..(f + 1) * n];
            for (kk, &r) in keys.iter_mut().zip(samples) {
                *kk = ((f32_key(col[r as usize]) as u64) << 32) | r as u64;
            }
            keys.sort_unstable();
            sorted.extend(keys.iter().map(|&kk| (kk & 0xffff_ffff) as u32));
        }
        sorted
    }

    #[allow(clippy::too_many_arguments)]
    fn find_split(
        &self,
        seg: &[u32],
        pre: Option<(&[u32], usize, usize)>,
        keys: &mut [u64],
        weight: &[f64],
        counts: &[f64],
        wt: f64,
        feats: &mut [usize],
        left: &mut [f64],
        rng: &mut ChaCha8Rng,
    ) -> Option<Best> {
        let (n, p, m) = (self.n, self.p, seg.len());
        let tot2: f64 = counts.iter().map(|c| c * c).sum();
        let mut best: Option<Best> = None;
        let mut found = 0usize;
        let mut f_i = 0usize;
        while f_i < p && found < self.mtry {
            let r = rng.random_range(f_i..p);
            feats.swap(f_i, r);
            let f = feats[f_i];
            f_i += 1;
            let col = &self.cols[f * n..(f + 1) * n];
            // keys = (value, row), ascending: presorted, or gathered and sorted here
            match pre {
                Some((sorted, m_all, start)) => {
                    let rows = &sorted[f * m_all + start..f * m_all + start + m];
                    for (kk, &r) in keys.iter_mut().zip(rows) {
                        *kk = ((f32_key(col[r as usize]) as u64) << 32) | r as u64;
                    }
                }
                None => {
                    for (kk, &r) in keys.iter_mut().zip(seg) {
                        *kk = ((f32_key(col[r as usize]) as u64) << 32) | r as u64;
                    }
                    keys.sort_unstable();
                }
            }
            let vmin = key_f32((keys[0] >> 32) as u32) as f64;
            let vmax = key_f32((keys[m - 1] >> 32) as u32) as f64;
            if vmax <= vmin + FEATURE_THRESHOLD {
                continue; // constant in this node: does not count towards max_features
            }
            found += 1;
            left.iter_mut().for_each(|c| *c = 0.0);
            let (mut wl, mut l2, mut r2) = (0.0f64, 0.0f64, tot2);
            let mut v_cur = vmin;
            for j in 0..m - 1 {
                let row = (keys[j] & 0xffff_ffff) as usize;
                let c = self.y[row];
                let w = weight[row];
                let rc = counts[c] - left[c];
                l2 += (2.0 * left[c] + w) * w;
                r2 += (-2.0 * rc + w) * w;
                left[c] += w;
                wl += w;
                let v_next = key_f32((keys[j + 1] >> 32) as u32) as f64;
                if v_next > v_cur + FEATURE_THRESHOLD {
                    let wr = wt - wl;
                    let proxy = l2 / wl + r2 / wr;
                    if best.as_ref().is_none_or(|b| proxy > b.proxy) {
                        let mut thr = v_cur / 2.0 + v_next / 2.0;
                        if thr == v_next || !thr.is_finite() {
                            thr = v_cur;
                        }
                        best = Some(Best {
                            proxy,
                            feature: f,
                            pos: j + 1,
                            threshold: thr,
                        });
                    }
                }
                v_cur = v_next;
            }
        }
        best
    }
}

pub(crate) fn to_f32_rows(x: &ArrayView2<f64>) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect::<Vec<f32>>()
}

impl RandomForest {
    /// Fits on rows `x` (n × p) with class indices `y` < `n_classes`.
    pub fn fit(
        x: ArrayView2<f64>,
        y: &[usize],
        n_classes: usize,
        params: &ForestParams,
    ) -> Result<RandomForest> {
        Self::fit_impl(x, y, n_classes, params, None)
    }

    /// `presort`: None = automatic (presorted when max_features ≥ p/4), or forced either way.
    pub(crate) fn fit_impl(
        x: ArrayView2<f64>,
        y: &[usize],
        n_classes: usize,
        params: &ForestParams,
        presort: Option<bool>,
    ) -> Result<RandomForest> {
        params.validate()?;
        check_xy(&x, y, n_classes, "RandomForest")?;
        if n_classes > 256 {
            return Err(param("n_classes", "at most 256 classes"));
        }
        let (n, p) = x.dim();
        if n > u32::MAX as usize {
            return Err(param("x", "too many rows"));
        }
        let mtry = params.max_features.resolve(p)?;
        let mut cols = vec![0f32; n * p];
        for (i, row) in x.rows().into_iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                cols[j * n + i] = v as f32;
            }
        }
        let b = Builder {
            cols: &cols,
            n,
            p,
            y,
            k: n_classes,
            mtry,
            max_depth: params.max_depth.unwrap_or(usize::MAX),
            presort: match presort {
                Some(v) => v,
                None => mtry * 4 >= p,
            },
        };
        let mut master = ChaCha8Rng::seed_from_u64(params.seed);
        let seeds: Vec<u64> = (0..params.n_trees).map(|_| master.random()).collect();
        let fitted: Vec<(Tree, Vec<f64>)> = seeds
            .par_iter()
            .map(|&s| b.build(s, params.bootstrap))
            .collect();
        let mut trees = Vec::with_capacity(fitted.len());
        let mut importances = Vec::with_capacity(fitted.len() * p);
        for (t, imp) in fitted {
            trees.push(t);
            importances.extend(imp);
        }
        Ok(RandomForest {
            params: params.clone(),
            n_features: p,
            n_classes,
            trees,
            importances,
        })
    }

    /// The fitted trees.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// Per-tree normalized Gini importances [n_trees, n_features]; each row sums to 1 (or is all
    /// zero for a single-leaf tree).
    pub fn tree_importances(&self) -> Array2<f64> {
        Array2::from_shape_vec(
            (self.trees.len(), self.n_features),
            self.importances.clone(),
        )
        .expect("importance shape")
    }

    /// scikit-learn's `feature_importances_`: the mean of the per-tree rows over trees that split.
    pub fn feature_importances(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.n_features];
        let mut nt = 0usize;
        for row in self.importances.chunks(self.n_features) {
            if row.iter().any(|&v| v > 0.0) {
                nt += 1;
                out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
            }
        }
        if nt > 0 {
            out.iter_mut().for_each(|o| *o /= nt as f64);
        }
        out
    }

    fn check_x(&self, x: &ArrayView2<f64>) -> Result<()> {
        if x.ncols() != self.n_features {
            return Err(ClassifyError::Shape {
                context: "RandomForest predict".into(),
                expected: format!("{} features", self.n_features),
                got: format!("{}", x.ncols()),
            });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(ClassifyError::NonFinite(
                "RandomForest prediction data".into(),
            ));
        }
        Ok(())
    }

    /// Mean over trees of the leaf class distributions, [n, n_classes].
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.check_x(&x)?;
        let (n, p) = x.dim();
        let rows = to_f32_rows(&x);
        let k = self.n_classes;
        let mut out = vec![0.0f64; n * k];
        out.par_chunks_mut(k).enumerate().for_each(|(i, o)| {
            let row = &rows[i * p..(i + 1) * p];
            for t in &self.trees {
                for (a, b) in o.iter_mut().zip(t.leaf_of(row)) {
                    *a += b;
                }
            }
            let nt = self.trees.len() as f64;
            o.iter_mut().for_each(|a| *a /= nt);
        });
        Ok(Array2::from_shape_vec((n, k), out).expect("proba shape"))
    }

    /// Class index of the highest mean probability (ties → the first).
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        let pr = self.predict_proba(x)?;
        Ok(pr.rows().into_iter().map(|r| argmax(&r.to_vec())).collect())
    }
}

/// Index of the maximum (ties → first; NaN never wins).
pub(crate) fn argmax(v: &[f64]) -> usize {
    let mut b = 0;
    for (i, &a) in v.iter().enumerate() {
        if a > v[b] {
            b = i;
        }
    }
    b
}

#[cfg(test)]
mod tests;
