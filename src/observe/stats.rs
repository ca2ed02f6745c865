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

use crate::features::observable::{
    Function, KurtosisConvention, Precision, QuantileConvention, SkewConvention, StatConventions,
    Statistic,
};
use tch::{Kind, Tensor};

/// A statistic kernel that cannot run on the given tensor.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("statistics need a 2-D [rows, units] tensor, got shape {0:?}")]
    Shape(Vec<i64>),
    #[error("statistics of an empty set: the tensor of shape {0:?} has no units")]
    Empty(Vec<i64>),
    #[error("the statistic `id` needs exactly one value per row, got {0} units")]
    IdNeedsScalar(i64),
    #[error("libtorch failed while computing statistics: {0}")]
    Torch(#[from] tch::TchError),
}

/// The float kind the statistics are computed in.
pub fn compute_kind(precision: Precision) -> Kind {
    match precision {
        Precision::F64 => Kind::Double,
        Precision::F32 => Kind::Float,
    }
}

/// Apply a function elementwise (method.md §1.2): raw = identity, abs = |x|, sq = x².
pub fn apply_function(x: &Tensor, f: Function) -> Tensor {
    match f {
        Function::Raw => x.shallow_clone(),
        Function::Abs => x.abs(),
        Function::Sq => x * x,
    }
}

/// Index (0-based, ascending order) of the TF-nearest `q`-th percentile of `n` sorted values:
/// z_desc[idx] with idx = round_half_even((n−1)(1−q/100)) clipped to [0, n−1] is z_asc[n−1−idx].
pub fn tf_nearest_ascending_index(n: i64, q: f64) -> i64 {
    let idx = ((n - 1) as f64 * (1.0 - q / 100.0)).round_ties_even();
    let idx = (idx as i64).clamp(0, n - 1);
    n - 1 - idx
}

/// Per-function cache of the intermediate reductions, so that e.g. var, skew and kurtosis share
/// the centred tensor, and skew reuses the median.
struct FunctionCache {
    z: Tensor,
    n: i64,
    conv: StatConventions,
    nan_rows: Option<Tensor>,
    mean: Option<Tensor>,
    centred_sq: Option<Tensor>,
    centred: Option<Tensor>,
    var: Option<Tensor>,
    median: Option<Tensor>,
}

impl FunctionCache {
    fn new(z: Tensor, conv: StatConventions) -> Self {
        let n = z.size()[1];
        FunctionCache {
            z,
            n,
            conv,
            nan_rows: None,
            mean: None,
            centred_sq: None,
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
    fn centred_sq(&mut self) -> Tensor {
        if self.centred_sq.is_none() {
            let d = self.centred();
            self.centred_sq = Some(&d * &d);
        }
        self.centred_sq.as_ref().unwrap().shallow_clone()
    }
    fn var(&mut self) -> Tensor {
        if self.var.is_none() {
            self.var = Some(self.centred_sq().mean_dim(1, false, None::<Kind>));
        }
        self.var.as_ref().unwrap().shallow_clone()
    }
    fn nan_rows(&mut self) -> Tensor {
        if self.nan_rows.is_none() {
            self.nan_rows = Some(self.z.isnan().any_dim(1, false));
        }
        self.nan_rows.as_ref().unwrap().shallow_clone()
    }
    /// k-th smallest value (0-based) of each row.
    fn kth(&self, k: i64) -> Tensor {
        self.z.kthvalue(k + 1, 1, false).0
    }
    fn quantile(&mut self, q: f64) -> Tensor {
        let n = self.n;
        let v = match self.conv.quantile {
            QuantileConvention::TfNearest => self.kth(tf_nearest_ascending_index(n, q)),
            QuantileConvention::Linear => {
                // numpy 'linear': virtual index (n−1)·q, lerp between its neighbours, with numpy's
                // two-sided lerp formula (exact at both ends).
                let pos = (n - 1) as f64 * (q / 100.0);
                let lo = pos.floor() as i64;
                let t = pos - lo as f64;
                let a = self.kth(lo);
                if t == 0.0 || lo + 1 >= n {
                    a
                } else {
                    let b = self.kth(lo + 1);
                    let diff = &b - &a;
                    if t < 0.5 {
                        a + diff * t
                    } else {
                        b - diff * (1.0 - t)
                    }
                }
            }
        };
        // kthvalue's NaN ordering is an implementation detail: a row with a NaN has NaN quantiles,
        // as numpy's percentile gives.
        v.masked_fill(&self.nan_rows(), f64::NAN)
    }
    fn median(&mut self) -> Tensor {
        if self.median.is_none() {
            self.median = Some(self.quantile(50.0));
        }
        self.median.as_ref().unwrap().shallow_clone()
    }

    fn statistic(&mut self, s: Statistic) -> Result<Tensor, StatsError> {
        Ok(match s {
            // at::norm's fused kernel: no z² temporary.
            Statistic::Norm => self.z.f_norm_scalaropt_dim(2.0, [1i64], false)?,
            Statistic::Mean => self.mean(),
            Statistic::Median => self.median(),
            Statistic::ThirdQuartile => self.quantile(75.0),
            Statistic::Var => self.var(),
            Statistic::Skew => match self.conv.skew {
                SkewConvention::Pearson2 => (self.mean() - self.median()) * 3.0 / self.var().sqrt(),
                SkewConvention::Fisher => {
                    let m3 = (self.centred_sq() * self.centred()).mean_dim(1, false, None::<Kind>);
                    m3 / self.var().pow_tensor_scalar(1.5)
                }
            },
            Statistic::Kurtosis => {
                let d2 = self.centred_sq();
                let m4 = (&d2 * &d2).mean_dim(1, false, None::<Kind>);
                let v = self.var();
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
/// device. Returns an `[R, K]` float64 tensor, column k = `requests[k]`.
pub fn row_statistics(
    x: &Tensor,
    requests: &[(Function, Statistic)],
    conv: &StatConventions,
) -> Result<Tensor, StatsError> {
    let size = x.size();
    if size.len() != 2 {
        return Err(StatsError::Shape(size));
    }
    if size[1] == 0 || size[0] == 0 {
        return Err(StatsError::Empty(size));
    }
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
        let mut cache = FunctionCache::new(apply_function(&base, f), *conv);
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
pub fn tensor_statistics(
    x: &Tensor,
    requests: &[(Function, Statistic)],
    conv: &StatConventions,
) -> Result<Vec<f64>, StatsError> {
    let flat = x.reshape([1, -1]);
    let r = row_statistics(&flat, requests, conv)?;
    Ok(to_host(&r.reshape([-1]))?)
}

/// One statistic over all elements of `x`.
pub fn statistic(
    x: &Tensor,
    f: Function,
    s: Statistic,
    conv: &StatConventions,
) -> Result<f64, StatsError> {
    Ok(tensor_statistics(x, &[(f, s)], conv)?[0])
}

/// Copy a 1-D float tensor to a host vector of f64.
pub fn to_host(t: &Tensor) -> Result<Vec<f64>, tch::TchError> {
    let t = t
        .f_to_kind(Kind::Double)?
        .f_to_device(tch::Device::Cpu)?
        .f_contiguous()?;
    Vec::<f64>::try_from(&t)
}

#[cfg(test)]
mod tests;
