//! The statistics of a CPU tensor in float64, fused on the host (method.md §1.2).
//!
//! Why by hand: the libtorch path (`super::row_statistics_torch`) runs one kernel per function
//! and moment over the whole `[R, U]` tensor: the conversion, |z| and z², the mean, the
//! Welford variance (a division per element), the centred copy, its square, two BLAS dots and
//! the key copy for the selection; on a checkpoint's activations that was 3/4 of the
//! observation time. Here each row is read in two passes that stay in cache: pass 1 sums f(z)
//! and f(z)² for every function, pass 2 the centred moments, then one key copy per function
//! for the selection; the order statistics of z² are the squares of those of |z| (squaring is
//! monotone on |z| and |z|·|z| = z·z exactly), so `sq` needs no selection of its own.
//!
//! Sums use 8 independent lanes per block of 4096 values, then add the blocks' sums: an error
//! of about (512 + n/4096)·ε, against numpy's pairwise summation within 1e-9 relative
//! (`statistics_match_numpy_scipy`); `host_equals_torch_path` checks it against the libtorch
//! path. Rows run in parallel. `row_statistics` sends only rows shorter than 65,536 here
//! (activations); longer ones (weight kernels) stay with libtorch, which reduces them in place.

use super::{
    QuantileConvention, SkewConvention, StatsError, key_bits, planned_ranks, quantiles_needed,
    select_ranks, sort_key, tf_nearest_ascending_index,
};
use crate::features::observable::{Function, Statistic};
use crate::ir::{KurtosisConvention, StatConventions};
use rayon::prelude::*;
use tch::{Kind, Tensor};

const BLOCK: usize = 4096;
/// Rows at least this long sum their blocks in parallel.
const PAR_ROW: usize = 1 << 16;

/// Σ over `row` of the `M` values `f(x)` returns, blockwise (see the module comment).
fn sums<const M: usize>(row: &[f64], f: impl Fn(f64) -> [f64; M] + Sync) -> [f64; M] {
    let block = |b: &[f64]| -> [f64; M] {
        let mut lanes = [[0.0f64; M]; 8];
        let mut it = b.chunks_exact(8);
        for c in &mut it {
            for (l, &x) in lanes.iter_mut().zip(c) {
                let v = f(x);
                for m in 0..M {
                    l[m] += v[m];
                }
            }
        }
        for (l, &x) in lanes.iter_mut().zip(it.remainder()) {
            let v = f(x);
            for m in 0..M {
                l[m] += v[m];
            }
        }
        let mut out = [0.0; M];
        for l in &lanes {
            for m in 0..M {
                out[m] += l[m];
            }
        }
        out
    };
    let add = |mut a: [f64; M], b: [f64; M]| {
        for m in 0..M {
            a[m] += b[m];
        }
        a
    };
    if row.len() >= PAR_ROW {
        let parts: Vec<[f64; M]> = row.par_chunks(BLOCK).map(block).collect();
        parts.into_iter().fold([0.0; M], add)
    } else {
        row.chunks(BLOCK).map(block).fold([0.0; M], add)
    }
}

fn apply(f: Function, x: f64) -> f64 {
    match f {
        Function::Raw => x,
        Function::Abs => x.abs(),
        Function::Sq => x * x,
    }
}

/// Order statistics of f(row) at `ranks` (ascending), NaN when the row holds a NaN.
fn order_stats(row: &[f64], f: Function, ranks: &[i64], keys: &mut Vec<i64>) -> Vec<f64> {
    let mut o = vec![0.0; ranks.len()];
    if ranks.is_empty() {
        return o;
    }
    let (lo, hi) = (sort_key(f64::NEG_INFINITY), sort_key(f64::INFINITY));
    keys.clear();
    let mut nan = false;
    keys.extend(row.iter().map(|&x| {
        let k = key_bits(apply(f, x).to_bits() as i64);
        nan |= (k < lo) | (k > hi);
        k
    }));
    if nan {
        o.fill(f64::NAN);
    } else {
        select_ranks(keys, ranks, &mut o);
    }
    o
}

/// The quantile `q` of a row from its order statistics at `ranks` (`order[j]` = rank
/// `ranks[j]`), as `FunctionCache::quantile` computes it.
fn quantile(n: i64, q: f64, conv: QuantileConvention, ranks: &[i64], order: &[f64]) -> f64 {
    let at = |k: i64| order[ranks.binary_search(&k).expect("rank planned")];
    match conv {
        QuantileConvention::TfNearest => at(tf_nearest_ascending_index(n, q)),
        QuantileConvention::Linear => {
            let pos = (n - 1) as f64 * (q / 100.0);
            let lo = pos.floor() as i64;
            let t = pos - lo as f64;
            let a = at(lo);
            if t == 0.0 || lo + 1 >= n {
                a
            } else {
                let b = at(lo + 1);
                let diff = b - a;
                if t < 0.5 {
                    a + diff * t
                } else {
                    b - diff * (1.0 - t)
                }
            }
        }
    }
}

/// What one function's requests need.
struct Plan {
    f: Function,
    /// Whether the median is needed (itself, or for Pearson's second skew).
    median: bool,
    ranks: Vec<i64>,
    centred: bool,
    m3: bool,
}

/// `row_statistics` for a CPU tensor in float64: `[R, K]` float64, column k = `requests[k]`.
pub(super) fn row_statistics(
    x: &Tensor,
    requests: &[(Function, Statistic)],
    conv: &StatConventions,
) -> Result<Tensor, StatsError> {
    let size = x.size();
    let (r, u) = (size[0], size[1]);
    let n = u;
    let data: Vec<f64> = Vec::<f64>::try_from(
        &x.detach()
            .f_to_kind(Kind::Double)?
            .f_contiguous()?
            .f_view([-1])?,
    )?;
    // abs before sq, so that sq can take abs's order statistics.
    let mut functions: Vec<Function> = Vec::new();
    for f in [Function::Raw, Function::Abs, Function::Sq] {
        if requests.iter().any(|(g, _)| *g == f) {
            functions.push(f);
        }
    }
    let plans: Vec<Plan> = functions
        .iter()
        .map(|&f| {
            let wants = |s: Statistic| requests.contains(&(f, s));
            let qs = quantiles_needed(f, requests, conv);
            let ranks = planned_ranks(n, &qs, conv.quantile);
            let fisher = wants(Statistic::Skew) && conv.skew == SkewConvention::Fisher;
            Plan {
                f,
                median: qs.contains(&50.0),
                ranks,
                centred: wants(Statistic::Var)
                    || wants(Statistic::Kurtosis)
                    || wants(Statistic::Skew),
                m3: fisher,
            }
        })
        .collect();
    if requests.iter().any(|(_, s)| *s == Statistic::Id) && n != 1 {
        return Err(StatsError::IdNeedsScalar(n));
    }
    let k = requests.len();
    let mut out = vec![0.0f64; r as usize * k];
    let row_len = u as usize;
    let one_row = |row: &[f64], o: &mut [f64]| {
        let mut keys: Vec<i64> = Vec::new();
        // sq's order statistics come from abs's when both ask the same ranks (always: same n).
        let mut abs_order: Option<(Vec<i64>, Vec<f64>)> = None;
        let mut per_fn: Vec<(Function, [f64; 7])> = Vec::with_capacity(plans.len());
        for p in &plans {
            let f = p.f;
            let [s1, s2] = sums(row, |x| {
                let v = apply(f, x);
                [v, v * v]
            });
            let mean = s1 / n as f64;
            let (m2, m3, m4) = if p.centred {
                if p.m3 {
                    let [a, b, c] = sums(row, |x| {
                        let d = apply(f, x) - mean;
                        let d2 = d * d;
                        [d2, d2 * d, d2 * d2]
                    });
                    (a, b, c)
                } else {
                    let [a, c] = sums(row, |x| {
                        let d = apply(f, x) - mean;
                        let d2 = d * d;
                        [d2, d2 * d2]
                    });
                    (a, 0.0, c)
                }
            } else {
                (0.0, 0.0, 0.0)
            };
            let order = match (f, &abs_order) {
                (Function::Sq, Some((ranks, a))) if *ranks == p.ranks => {
                    a.iter().map(|v| v * v).collect()
                }
                _ => {
                    let o = order_stats(row, f, &p.ranks, &mut keys);
                    if f == Function::Abs {
                        abs_order = Some((p.ranks.clone(), o.clone()));
                    }
                    o
                }
            };
            let var = m2 / n as f64;
            let q = |qq: f64| quantile(n, qq, conv.quantile, &p.ranks, &order);
            let wants = |s: Statistic| requests.contains(&(f, s));
            let median = if p.median { q(50.0) } else { f64::NAN };
            let third = if wants(Statistic::ThirdQuartile) {
                q(75.0)
            } else {
                f64::NAN
            };
            let skew = match conv.skew {
                SkewConvention::Pearson2 => (mean - median) * 3.0 / var.sqrt(),
                SkewConvention::Fisher => (m3 / n as f64) / var.powf(1.5),
            };
            let kurt = (m4 / n as f64) / (var * var);
            let kurt = match conv.kurtosis {
                KurtosisConvention::Pearson => kurt,
                KurtosisConvention::Excess => kurt - 3.0,
            };
            per_fn.push((f, [s2.sqrt(), mean, median, third, var, skew, kurt]));
        }
        for (j, (f, s)) in requests.iter().enumerate() {
            let v = &per_fn.iter().find(|(g, _)| g == f).expect("planned").1;
            o[j] = match s {
                Statistic::Norm => v[0],
                Statistic::Mean => v[1],
                Statistic::Median => v[2],
                Statistic::ThirdQuartile => v[3],
                Statistic::Var => v[4],
                Statistic::Skew => v[5],
                Statistic::Kurtosis => v[6],
                Statistic::Id => apply(*f, row[0]),
            };
        }
    };
    if k > 0 {
        out.par_chunks_mut(k)
            .zip(data.par_chunks(row_len))
            .for_each(|(o, row)| one_row(row, o));
    }
    Ok(Tensor::from_slice(&out).f_view([r, k as i64])?)
}
