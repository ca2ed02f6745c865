//! Statistic kernels on tch tensors (method.md §1.2), reduced on the tensor's device.
//!
//! Input is a `[R, U]` tensor: `R` rows (stimuli; 1 for weights) of `U` units. Every requested
//! `(function, statistic)` pair gives one column of an `[R, K]` float64 tensor that stays on the
//! device; callers accumulate on the device and copy only the final scalars to the host.
//!
//! Conventions ([`StatConventions`], defaults = method.md):
//! - quantiles `tf_nearest` (sort descending, idx = round_half_even((n−1)(1−q/100))) or numpy
//!   `linear`; both through `kthvalue` (O(n) selection), never a full sort;
//! - skew `pearson2` = 3(mean − median)/std or `fisher` = m3/m2^1.5;
//! - kurtosis `pearson` = m4/m2² or `excess` = m4/m2² − 3;
//! - variance and all moments are population moments (1/n), computed two-pass (centred).
//!
//! Non-finite inputs give non-finite outputs (a row with a NaN has NaN quantiles; ±inf
//! propagate through the moments as IEEE arithmetic does). Constant rows give NaN skew and
//! kurtosis (0/0), as scipy does.

use crate::features::observable::{Function, Statistic};
use crate::ir::{
    KurtosisConvention, Precision, QuantileConvention, SkewConvention, StatConventions,
};
use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

/// A statistic kernel that cannot run on the given tensor. Each variant has a stable code
/// `lrx::stats::...` ([`crate::diag::Coded`]).
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The tensor is not 2-D `[rows, units]` (`lrx::stats::shape`).
    #[error("statistics need a 2-D [rows, units] tensor, got shape {0:?}")]
    Shape(
        /// The tensor's shape.
        Vec<i64>,
    ),
    /// The tensor has no units (`lrx::stats::empty`).
    #[error("statistics of an empty set: the tensor of shape {0:?} has no units")]
    Empty(
        /// The tensor's shape.
        Vec<i64>,
    ),
    /// The statistic `id` got more than one value per row (`lrx::stats::id_needs_scalar`).
    #[error("the statistic `id` needs exactly one value per row, got {0} units")]
    IdNeedsScalar(
        /// The units per row.
        i64,
    ),
    /// libtorch raised an error (`lrx::stats::torch`).
    #[error("libtorch failed while computing statistics: {0}")]
    Torch(#[from] tch::TchError),
}

impl crate::diag::Coded for StatsError {
    fn code(&self) -> &'static str {
        match self {
            StatsError::Shape(_) => "lrx::stats::shape",
            StatsError::Empty(_) => "lrx::stats::empty",
            StatsError::IdNeedsScalar(_) => "lrx::stats::id_needs_scalar",
            StatsError::Torch(_) => "lrx::stats::torch",
        }
    }
}

/// The float kind the statistics are computed in.
pub(crate) fn compute_kind(precision: Precision) -> Kind {
    match precision {
        Precision::F64 => Kind::Double,
        Precision::F32 => Kind::Float,
    }
}

/// Apply a function elementwise (method.md §1.2): raw = identity, abs = |x|, sq = x².
pub(crate) fn apply_function(x: &Tensor, f: Function) -> Tensor {
    match f {
        Function::Raw => x.shallow_clone(),
        Function::Abs => x.abs(),
        Function::Sq => x * x,
    }
}

/// Index (0-based, ascending order) of the TF-nearest `q`-th percentile of `n` sorted values:
/// z_desc[idx] with idx = round_half_even((n−1)(1−q/100)) clipped to [0, n−1] is z_asc[n−1−idx].
pub(crate) fn tf_nearest_ascending_index(n: i64, q: f64) -> i64 {
    let idx = ((n - 1) as f64 * (1.0 - q / 100.0)).round_ties_even();
    let idx = (idx as i64).clamp(0, n - 1);
    n - 1 - idx
}

/// Ascending ranks (0-based) whose order statistics the `q`-th percentile needs.
fn quantile_ranks(n: i64, q: f64, conv: QuantileConvention) -> Vec<i64> {
    match conv {
        QuantileConvention::TfNearest => vec![tf_nearest_ascending_index(n, q)],
        QuantileConvention::Linear => {
            let pos = (n - 1) as f64 * (q / 100.0);
            let lo = pos.floor() as i64;
            if pos - lo as f64 == 0.0 || lo + 1 >= n {
                vec![lo]
            } else {
                vec![lo, lo + 1]
            }
        }
    }
}

/// The percentiles function `f`'s requests need: 50 for the median and Pearson's second skew,
/// 75 for the third quartile (shared by the libtorch path and the host kernel).
fn quantiles_needed(
    f: Function,
    requests: &[(Function, Statistic)],
    conv: &StatConventions,
) -> Vec<f64> {
    let wants = |s: Statistic| requests.contains(&(f, s));
    let mut qs = Vec::new();
    if wants(Statistic::Median) || (wants(Statistic::Skew) && conv.skew == SkewConvention::Pearson2)
    {
        qs.push(50.0);
    }
    if wants(Statistic::ThirdQuartile) {
        qs.push(75.0);
    }
    qs
}

/// Every ascending rank the `quantiles` of `n` values need, sorted and distinct.
fn planned_ranks(n: i64, quantiles: &[f64], conv: QuantileConvention) -> Vec<i64> {
    let mut ranks: Vec<i64> = quantiles
        .iter()
        .flat_map(|q| quantile_ranks(n, *q, conv))
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    ranks
}

/// Totally ordered integer key of a float: the bit transform of `f64::total_cmp`
/// (−NaN < −inf < … < −0 < +0 < … < +inf < +NaN).
fn sort_key(x: f64) -> i64 {
    key_bits(x.to_bits() as i64)
}

/// Inverse of [`sort_key`] (the transform is an involution on the bits).
fn from_sort_key(k: i64) -> f64 {
    f64::from_bits(key_bits(k) as u64)
}

thread_local! {
    /// Reused host buffer of the CPU selection: a fresh allocation of a 10⁷-element tensor costs
    /// more in page faults than the selection itself. Holds the largest tensor selected so far.
    static SCRATCH: std::cell::RefCell<Vec<i64>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn key_bits(b: i64) -> i64 {
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

/// Rows at least this long use sampled selection.
const SAMPLED_SELECTION_MIN: usize = 1 << 16;

/// Order statistics of one row of keys (without NaN) at ascending `ranks` into `o`.
fn select_ranks(row: &mut [i64], ranks: &[i64], o: &mut [f64]) {
    if row.len() >= SAMPLED_SELECTION_MIN {
        let mut missing = false;
        for (j, &k) in ranks.iter().enumerate() {
            match select_sampled(row, k as usize) {
                Some(v) => o[j] = from_sort_key(v),
                None => missing = true,
            }
        }
        if !missing {
            return;
        }
    }
    let mut end = row.len();
    for (j, &k) in ranks.iter().enumerate().rev() {
        let (_, v, _) = row[..end].select_nth_unstable(k as usize);
        o[j] = from_sort_key(*v);
        // Everything left of rank k is ≤ it: the smaller ranks are in that prefix.
        end = k as usize;
    }
}

/// Floyd–Rivest-style selection of rank `k` without modifying `row`: bracket the rank with two
/// order statistics of a strided sample (±4 standard deviations of the sample rank), count the
/// keys below the bracket and collect those inside it in one pass, and select within the
/// bracket. `None` when the bracket misses the rank (then the caller selects on the full row).
fn select_sampled(row: &[i64], k: usize) -> Option<i64> {
    let n = row.len();
    let s = (n / 256).clamp(1024, 1 << 16).min(n);
    let step = n / s;
    let mut sample: Vec<i64> = (0..s).map(|i| row[i * step]).collect();
    sample.sort_unstable();
    let p = k as f64 / n as f64;
    let d = (4.0 * (s as f64 * p * (1.0 - p)).sqrt()) as usize + 8;
    let c = (p * s as f64) as usize;
    let lo = if c > d { sample[c - d] } else { i64::MIN };
    let hi = if c + d < s { sample[c + d] } else { i64::MAX };
    // One branch-free pass per chunk (the comparisons are unpredictable on real data), chunks
    // in parallel; a chunk whose bracket holds more than twice the expected count gives up.
    let expected = (2 * d + 2) * step;
    let parts: Vec<Option<(usize, Vec<i64>)>> = row
        .par_chunks(1 << 20)
        .map(|chunk| {
            let cap = (expected as f64 * 2.0 * chunk.len() as f64 / n as f64) as usize + 1024;
            let mut buf = vec![0i64; cap];
            let (mut below, mut len) = (0usize, 0usize);
            for &x in chunk {
                below += (x < lo) as usize;
                buf[len] = x;
                len += ((x >= lo) & (x <= hi)) as usize;
                if len == cap {
                    return None;
                }
            }
            buf.truncate(len);
            Some((below, buf))
        })
        .collect();
    let mut below = 0usize;
    let mut inside: Vec<i64> = Vec::with_capacity(2 * expected);
    for p in parts {
        let (b, v) = p?;
        below += b;
        inside.extend_from_slice(&v);
    }
    if below <= k && k < below + inside.len() {
        let (_, v, _) = inside.select_nth_unstable(k - below);
        Some(*v)
    } else {
        None
    }
}

/// Order statistics of every row of `z` (`[R, U]`) at the ascending, distinct 0-based `ranks`:
/// `[R, ranks.len()]`, NaN for rows containing a NaN.
///
/// On the CPU the row is copied once and the ranks are selected from the largest down with
/// `select_nth_unstable` (introselect), each on the prefix left of the previous one: O(U) per row,
/// rows in parallel, no index bookkeeping. On accelerators, `kthvalue` (radix select).
pub(crate) fn order_statistics(z: &Tensor, ranks: &[i64]) -> Result<Tensor, StatsError> {
    let size = z.size();
    let (r, u) = (size[0], size[1]);
    let kk = ranks.len();
    debug_assert!(ranks.windows(2).all(|w| w[0] < w[1]) && ranks.iter().all(|&k| k < u));
    if z.device() == Device::Cpu {
        let n = (r * u) as usize;
        let bits = z
            .f_to_kind(Kind::Double)?
            .f_contiguous()?
            .f_view([-1])?
            .f_view_dtype(Kind::Int64)?;
        let mut out = vec![0.0f64; r as usize * kk];
        SCRATCH.with_borrow_mut(|keys| -> Result<(), StatsError> {
            if keys.len() < n {
                keys.resize(n, 0);
            }
            let keys = &mut keys[..n];
            bits.f_copy_data(keys, n)?;
            // Sortable integer keys (the bit transform of `f64::total_cmp`): selection then runs
            // on native integer comparisons. NaNs (either sign) are exactly the keys outside
            // [key(−inf), key(+inf)]; detected in the same parallel pass.
            let (lo_inf, hi_inf) = (sort_key(f64::NEG_INFINITY), sort_key(f64::INFINITY));
            keys.par_chunks_mut(u as usize)
                .zip(out.par_chunks_mut(kk.max(1)))
                .for_each(|(row, o)| {
                    let nan = row
                        .par_chunks_mut(1 << 18)
                        .map(|c| {
                            c.iter_mut().fold(false, |acc, k| {
                                *k = key_bits(*k);
                                acc | (*k < lo_inf) | (*k > hi_inf)
                            })
                        })
                        .reduce(|| false, |a, b| a | b);
                    if nan {
                        o.fill(f64::NAN);
                    } else {
                        select_ranks(row, ranks, o);
                    }
                });
            Ok(())
        })?;
        Ok(Tensor::from_slice(&out)
            .f_view([r, kk as i64])?
            .f_to_kind(z.kind())?)
    } else {
        let cols: Vec<Tensor> = ranks
            .iter()
            .map(|&k| z.f_kthvalue(k + 1, 1, false).map(|t| t.0))
            .collect::<Result<_, _>>()?;
        let nan = z.f_isnan()?.f_any_dim(1, true)?;
        Ok(Tensor::f_stack(&cols, 1)?.f_masked_fill(&nan, f64::NAN)?)
    }
}

/// Per-function cache of the intermediate reductions, so that e.g. var, skew and kurtosis share
/// the centred tensor, skew reuses the median, and all quantiles come from one selection.
struct FunctionCache {
    z: Tensor,
    n: i64,
    conv: StatConventions,
    /// Every rank the requested quantiles need, ascending.
    ranks: Vec<i64>,
    order: Option<Tensor>,
    mean: Option<Tensor>,
    centred: Option<Tensor>,
    var: Option<Tensor>,
    median: Option<Tensor>,
}

impl FunctionCache {
    fn new(z: Tensor, conv: StatConventions, quantiles: &[f64]) -> Self {
        let n = z.size()[1];
        let ranks = planned_ranks(n, quantiles, conv.quantile);
        FunctionCache {
            z,
            n,
            conv,
            ranks,
            order: None,
            mean: None,
            centred: None,
            var: None,
            median: None,
        }
    }
    fn mean(&mut self) -> Tensor {
        if self.mean.is_none() {
            self.mean = Some(self.z.mean_dim(1, false, None::<Kind>));
        }
        self.mean.as_ref().unwrap().shallow_clone()
    }
    fn centred(&mut self) -> Tensor {
        if self.centred.is_none() {
            let m = self.mean().unsqueeze(1);
            self.centred = Some(&self.z - m);
        }
        self.centred.as_ref().unwrap().shallow_clone()
    }
    /// (1/n) Σ |z − mean|^p through the fused norm kernel (no temporary of z's size).
    fn abs_moment(&mut self, p: f64) -> Result<Tensor, StatsError> {
        let norm = self.centred().f_norm_scalaropt_dim(p, [1i64], false)?;
        Ok(norm.pow_tensor_scalar(p) / self.n as f64)
    }
    fn var(&mut self) -> Result<Tensor, StatsError> {
        if self.var.is_none() {
            // Population variance; libtorch's fused single-pass (Welford) reduction, except when
            // the centred tensor exists anyway (skew, kurtosis): then its norm, with no new pass.
            self.var = Some(match &self.centred {
                Some(_) => self.abs_moment(2.0)?,
                None => self.z.f_var_correction(1i64, 0i64, false)?,
            });
        }
        Ok(self.var.as_ref().unwrap().shallow_clone())
    }
    /// The order statistic of ascending rank `k` (one of `self.ranks`) of every row.
    fn order_stat(&mut self, k: i64) -> Result<Tensor, StatsError> {
        if self.order.is_none() {
            self.order = Some(order_statistics(&self.z, &self.ranks)?);
        }
        let j = self
            .ranks
            .binary_search(&k)
            .expect("rank planned when the cache was built");
        Ok(self.order.as_ref().unwrap().select(1, j as i64))
    }
    fn quantile(&mut self, q: f64) -> Result<Tensor, StatsError> {
        let n = self.n;
        Ok(match self.conv.quantile {
            QuantileConvention::TfNearest => self.order_stat(tf_nearest_ascending_index(n, q))?,
            QuantileConvention::Linear => {
                // numpy 'linear': virtual index (n−1)·q, lerp between its neighbours, with numpy's
                // two-sided lerp formula (exact at both ends).
                let pos = (n - 1) as f64 * (q / 100.0);
                let lo = pos.floor() as i64;
                let t = pos - lo as f64;
                let a = self.order_stat(lo)?;
                if t == 0.0 || lo + 1 >= n {
                    a
                } else {
                    let b = self.order_stat(lo + 1)?;
                    let diff = &b - &a;
                    if t < 0.5 {
                        a + diff * t
                    } else {
                        b - diff * (1.0 - t)
                    }
                }
            }
        })
    }
    fn median(&mut self) -> Result<Tensor, StatsError> {
        if self.median.is_none() {
            self.median = Some(self.quantile(50.0)?);
        }
        Ok(self.median.as_ref().unwrap().shallow_clone())
    }

    fn statistic(&mut self, s: Statistic) -> Result<Tensor, StatsError> {
        Ok(match s {
            // sqrt(Σ z²) as a batched BLAS dot product per row (as numpy's norm): no z² temporary.
            Statistic::Norm => {
                let r = self.z.size()[0];
                self.z
                    .unsqueeze(1)
                    .f_bmm(&self.z.unsqueeze(2))?
                    .f_view([r])?
                    .sqrt()
            }
            Statistic::Mean => self.mean(),
            Statistic::Median => self.median()?,
            Statistic::ThirdQuartile => self.quantile(75.0)?,
            Statistic::Var => self.var()?,
            Statistic::Skew => match self.conv.skew {
                SkewConvention::Pearson2 => {
                    (self.mean() - self.median()?) * 3.0 / self.var()?.sqrt()
                }
                SkewConvention::Fisher => {
                    let m3 = self
                        .centred()
                        .pow_tensor_scalar(3)
                        .mean_dim(1, false, None::<Kind>);
                    m3 / self.var()?.pow_tensor_scalar(1.5)
                }
            },
            Statistic::Kurtosis => {
                // Σ (z − mean)⁴ as the row-wise dot product of the squared centred values (BLAS),
                // not a norm with p = 4: libtorch's generic-p norm calls pow() per element.
                let c = self.centred();
                let sq = &c * &c;
                let r = sq.size()[0];
                let m4 = sq.unsqueeze(1).f_bmm(&sq.unsqueeze(2))?.f_view([r])? / self.n as f64;
                let v = self.var()?;
                let k = m4 / (&v * &v);
                match self.conv.kurtosis {
                    KurtosisConvention::Pearson => k,
                    KurtosisConvention::Excess => k - 3.0,
                }
            }
            Statistic::Id => {
                if self.n != 1 {
                    return Err(StatsError::IdNeedsScalar(self.n));
                }
                self.z.select(1, 0)
            }
        })
    }
}

/// Compute each requested `(function, statistic)` of every row of `x` (`[R, U]`), on `x`'s
/// device. Returns an `[R, K]` float64 tensor, column k = `requests[k]`. A CPU tensor in float64
/// precision with rows shorter than 65,536 is reduced by the fused host kernel (`host`),
/// anything else by libtorch ops on its device.
pub(crate) fn row_statistics(
    x: &Tensor,
    requests: &[(Function, Statistic)],
    conv: &StatConventions,
) -> Result<Tensor, StatsError> {
    check_shape(x)?;
    // Long rows (weight kernels, huge activation maps) stay with libtorch: its reductions are
    // multi-threaded BLAS/vectorised kernels over the tensor in place, where the host kernel
    // would first copy it.
    if x.device() == Device::Cpu && conv.precision == Precision::F64 && x.size()[1] < HOST_MAX_ROW {
        host::row_statistics(x, requests, conv)
    } else {
        row_statistics_torch(x, requests, conv)
    }
}

/// Rows shorter than this (activations of a checkpoint's stimuli) use the fused host kernel.
const HOST_MAX_ROW: i64 = 1 << 16;

fn check_shape(x: &Tensor) -> Result<(), StatsError> {
    let size = x.size();
    if size.len() != 2 {
        return Err(StatsError::Shape(size));
    }
    if size[1] == 0 || size[0] == 0 {
        return Err(StatsError::Empty(size));
    }
    Ok(())
}

/// [`row_statistics`] as libtorch ops on `x`'s device (accelerators, float32 precision).
pub(crate) fn row_statistics_torch(
    x: &Tensor,
    requests: &[(Function, Statistic)],
    conv: &StatConventions,
) -> Result<Tensor, StatsError> {
    check_shape(x)?;
    let size = x.size();
    let base = x.detach().to_kind(compute_kind(conv.precision));
    let mut cols: Vec<Option<Tensor>> = (0..requests.len()).map(|_| None).collect();
    // One pass per function, in order of first appearance; the cache is dropped before the next
    // function so peak memory stays at a few copies of x.
    let mut functions: Vec<Function> = Vec::new();
    for (f, _) in requests {
        if !functions.contains(f) {
            functions.push(*f);
        }
    }
    for f in functions {
        let wants = |s: Statistic| requests.contains(&(f, s));
        let quantiles = quantiles_needed(f, requests, conv);
        let mut cache = FunctionCache::new(apply_function(&base, f), *conv, &quantiles);
        // Kurtosis (and Fisher's skew) need the centred values: make them first, so the variance
        // comes from them too instead of a separate Welford pass.
        if wants(Statistic::Kurtosis)
            || (wants(Statistic::Skew) && conv.skew == SkewConvention::Fisher)
        {
            let _ = cache.centred();
        }
        for (k, (rf, s)) in requests.iter().enumerate() {
            if *rf == f {
                cols[k] = Some(cache.statistic(*s)?.to_kind(Kind::Double));
            }
        }
    }
    let cols: Vec<Tensor> = cols
        .into_iter()
        .map(|c| c.expect("every request computed"))
        .collect();
    if cols.is_empty() {
        return Ok(Tensor::zeros([size[0], 0], (Kind::Double, x.device())));
    }
    Ok(Tensor::f_stack(&cols, 1)?)
}

/// Statistics over all elements of `x` (e.g. a weight kernel): the tensor is flattened to one row
/// and reduced on its device; only the K scalars come back to the host.
pub(crate) fn tensor_statistics(
    x: &Tensor,
    requests: &[(Function, Statistic)],
    conv: &StatConventions,
) -> Result<Vec<f64>, StatsError> {
    let flat = x.reshape([1, -1]);
    let r = row_statistics(&flat, requests, conv)?;
    Ok(to_host(&r.reshape([-1]))?)
}

/// One statistic over all elements of `x` (tests).
#[cfg(test)]
pub(crate) fn statistic(
    x: &Tensor,
    f: Function,
    s: Statistic,
    conv: &StatConventions,
) -> Result<f64, StatsError> {
    Ok(tensor_statistics(x, &[(f, s)], conv)?[0])
}

/// Copy a 1-D float tensor to a host vector of f64.
pub(crate) fn to_host(t: &Tensor) -> Result<Vec<f64>, tch::TchError> {
    let t = t
        .f_to_kind(Kind::Double)?
        .f_to_device(tch::Device::Cpu)?
        .f_contiguous()?;
    Vec::<f64>::try_from(&t)
}

mod host;
#[cfg(test)]
mod tests;
