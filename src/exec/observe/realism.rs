//! Measurement realism (method.md §5): additive Gaussian noise σ, then unit subsampling to
//! ceil(ρ·n) units chosen by a seeded permutation.
//!
//! Randomness never comes from libtorch: permutations and noise are drawn from
//! [`ChaCha8Rng`] streams keyed by (realism seed, layer, measure, purpose) through SHA-256, on the
//! CPU, and moved to the device. Observation therefore neither consumes nor disturbs libtorch's
//! global generator, and training is bit-identical whether or not it ran.
//!
//! Noise is a pure function of (key, row, unit): the standard normal added to unit `u` of
//! stimulus `r` (global stimulus index at this checkpoint; 0 for weights) is the Box–Muller
//! variate of the ChaCha8 stream `r` at words `[4⌊u/2⌋, 4⌊u/2⌋+4)` (cos for even `u`, sin for odd
//! `u`). So it does not depend on the batch size, the unit fraction or σ (σ only scales it), and
//! only the kept units' noise is ever generated — subsampling after adding noise to every element
//! gives exactly these values.

use crate::features::observable::Measure;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

/// One realism condition of the grid (method.md §5): the IR's plain-data type, given its
/// checked constructor and the paper's grid here.
pub use crate::ir::RealismCondition;

/// A realism condition outside its domain. Each variant has a stable code `lrx::realism::...`
/// ([`crate::diag::Coded`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RealismError {
    /// The noise's standard deviation is negative or not finite (`lrx::realism::sigma`).
    #[error("noise sigma must be finite and ≥ 0, got {0}")]
    Sigma(
        /// The σ given.
        f64,
    ),
    /// The unit fraction is outside (0, 1] (`lrx::realism::fraction`).
    #[error("unit fraction must be in (0, 1], got {0}")]
    Fraction(
        /// The ρ given.
        f64,
    ),
    /// The seed does not fit the features' int64 column (`lrx::realism::seed`).
    #[error("realism seed {0} is too large (seeds are stored as int64 and gradavg uses seed+1)")]
    Seed(
        /// The seed given.
        u64,
    ),
}

impl crate::diag::Coded for RealismError {
    fn code(&self) -> &'static str {
        match self {
            RealismError::Sigma(_) => "lrx::realism::sigma",
            RealismError::Fraction(_) => "lrx::realism::fraction",
            RealismError::Seed(_) => "lrx::realism::seed",
        }
    }
}

impl RealismCondition {
    /// A condition, checked by [`RealismCondition::validate`].
    pub fn new(sigma: f64, fraction: f64, seed: u64) -> Result<Self, RealismError> {
        let c = RealismCondition {
            sigma,
            fraction,
            seed,
            model: Default::default(),
        };
        c.validate()?;
        Ok(c)
    }

    /// Whether the observer can apply it: σ finite and ≥ 0, ρ ∈ (0, 1], the seed below
    /// 2⁶³ − 1 (stored as int64; `gradavg` uses seed + 1).
    pub fn validate(&self) -> Result<(), RealismError> {
        if !(self.sigma.is_finite() && self.sigma >= 0.0) {
            return Err(RealismError::Sigma(self.sigma));
        }
        if !(self.fraction > 0.0 && self.fraction <= 1.0) {
            return Err(RealismError::Fraction(self.fraction));
        }
        if self.seed >= i64::MAX as u64 {
            return Err(RealismError::Seed(self.seed));
        }
        Ok(())
    }

    /// The paper's grid (method.md §5): σ ∈ {0, 0.5, 1, 5, 10} × ρ with its seed counts
    /// (6 for 3e-5, 4 for 2.08e-4 and 1.44e-3, 3 for 0.01, 2 for the rest), seeds 0..count.
    pub fn paper_grid() -> Vec<RealismCondition> {
        let fractions: [(f64, u64); 9] = [
            (3e-5, 6),
            (2.08e-4, 4),
            (1.44e-3, 4),
            (0.01, 3),
            (0.10, 2),
            (0.25, 2),
            (0.50, 2),
            (0.75, 2),
            (1.0, 2),
        ];
        let mut out = Vec::new();
        for sigma in [0.0, 0.5, 1.0, 5.0, 10.0] {
            for (fraction, seeds) in fractions {
                for seed in 0..seeds {
                    out.push(RealismCondition {
                        sigma,
                        fraction,
                        seed,
                        model: Default::default(),
                    });
                }
            }
        }
        out
    }
}

/// Number of units kept: ceil(ρ·n), at least 1 and at most n. A product within 1e-9 (relative)
/// of an integer counts as that integer, so that e.g. 0.7·10 (= 7.000000000000001 in f64) keeps
/// 7 units, not 8.
pub(crate) fn units_kept(n: usize, fraction: f64) -> usize {
    let p = fraction * n as f64;
    let r = p.round();
    let k = if (p - r).abs() <= 1e-9 * p.max(1.0) {
        r
    } else {
        p.ceil()
    };
    (k as usize).clamp(1, n.max(1))
}

/// The purpose of a random stream, part of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// The draw of the units a condition keeps (`units_kept` of them).
    Units,
    /// The draw of the additive noise on the kept units.
    Noise,
    /// The draws of a Poisson or calcium measurement model on the kept units
    /// (`crate::measurement`: stream = stimulus, words from unit · 2³²).
    Model,
}

/// The 32-byte ChaCha8 key of (seed, layer, measure, purpose).
pub(crate) fn stream_key(seed: u64, layer: &str, measure: Measure, purpose: Purpose) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"lrx-realism-v1\0");
    h.update(seed.to_le_bytes());
    h.update((layer.len() as u64).to_le_bytes());
    h.update(layer.as_bytes());
    h.update([0]);
    h.update(measure.as_str().as_bytes());
    h.update([0]);
    h.update(match purpose {
        Purpose::Units => b"units".as_slice(),
        Purpose::Noise => b"noise".as_slice(),
        Purpose::Model => b"model".as_slice(),
    });
    h.finalize().into()
}

/// Uniform integer in [0, bound) (Lemire's multiply-shift with rejection), from raw `next_u64`
/// so the stream is fixed by ChaCha8 alone, not by a `rand` version's sampling code.
fn below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    debug_assert!(bound > 0);
    let threshold = bound.wrapping_neg() % bound;
    loop {
        let m = (rng.next_u64() as u128) * (bound as u128);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// The first `k` entries of a seeded uniform random permutation of `0..n` (partial
/// Fisher–Yates), returned sorted ascending (the kept set; its order does not matter to any
/// statistic).
pub(crate) fn kept_units(key: [u8; 32], n: usize, k: usize) -> Vec<i64> {
    let k = k.min(n);
    let mut rng = ChaCha8Rng::from_seed(key);
    if k == n {
        return (0..n as i64).collect();
    }
    let mut idx: Vec<u32> = (0..n as u32).collect();
    for i in 0..k {
        let j = i + below(&mut rng, (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut kept: Vec<i64> = idx[..k].iter().map(|&u| u as i64).collect();
    kept.sort_unstable();
    kept
}

const CHUNK: usize = 1 << 15;

/// Standard normal noise at (row, unit) for `rows` × `units` (units sorted ascending), row-major.
/// Pure function of (key, row, unit); generated in parallel over (row, chunk of units).
pub(crate) fn standard_normal_at(
    key: [u8; 32],
    rows: std::ops::Range<u64>,
    units: &[i64],
) -> Vec<f64> {
    let n_units = units.len();
    let mut out = vec![0.0f64; (rows.end - rows.start) as usize * n_units];
    if n_units == 0 {
        return out;
    }
    let base = ChaCha8Rng::from_seed(key);
    out.par_chunks_mut(n_units)
        .enumerate()
        .for_each(|(ri, row_out)| {
            let row = rows.start + ri as u64;
            row_out
                .par_chunks_mut(CHUNK)
                .zip(units.par_chunks(CHUNK))
                .for_each(|(o, us)| {
                    let mut rng = base.clone();
                    rng.set_stream(row);
                    let mut pair = u64::MAX;
                    let (mut c, mut s) = (0.0, 0.0);
                    for (slot, &u) in o.iter_mut().zip(us) {
                        let p = (u as u64) / 2;
                        if p != pair {
                            let pos = 4 * p as u128;
                            if rng.get_word_pos() != pos {
                                rng.set_word_pos(pos);
                            }
                            // Box–Muller on two 53-bit uniforms, u1 ∈ (0, 1].
                            let u1 =
                                ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
                            let u2 = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                            let r = (-2.0 * u1.ln()).sqrt();
                            let (sn, cs) = (std::f64::consts::TAU * u2).sin_cos();
                            c = r * cs;
                            s = r * sn;
                            pair = p;
                        }
                        *slot = if u % 2 == 0 { c } else { s };
                    }
                });
        });
    out
}

/// [`standard_normal_at`] as a `[rows, units]` tensor of `kind` on `device`.
pub(crate) fn standard_normal_tensor(
    key: [u8; 32],
    rows: std::ops::Range<u64>,
    units: &[i64],
    kind: Kind,
    device: Device,
) -> Tensor {
    let n_rows = (rows.end - rows.start) as i64;
    let v = standard_normal_at(key, rows, units);
    Tensor::from_slice(&v)
        .reshape([n_rows, units.len() as i64])
        .to_kind(kind)
        .to_device(device)
}

/// Kept unit indices as an int64 tensor on `device`.
pub(crate) fn index_tensor(kept: &[i64], device: Device) -> Tensor {
    Tensor::from_slice(kept).to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_kept_is_ceil_with_guard() {
        assert_eq!(units_kept(10, 0.7), 7);
        assert_eq!(units_kept(10, 0.71), 8);
        assert_eq!(units_kept(1000, 3e-5), 1);
        assert_eq!(units_kept(100_000, 3e-5), 3);
        assert_eq!(units_kept(5, 1.0), 5);
        assert_eq!(units_kept(3, 0.5), 2);
        assert_eq!(units_kept(1, 0.01), 1);
    }

    #[test]
    fn permutation_is_seeded_and_uniformish() {
        let k1 = stream_key(0, "conv1", Measure::Weight, Purpose::Units);
        let k2 = stream_key(1, "conv1", Measure::Weight, Purpose::Units);
        let k3 = stream_key(0, "conv2", Measure::Weight, Purpose::Units);
        let k4 = stream_key(0, "conv1", Measure::Act, Purpose::Units);
        assert_ne!(k1, k2);
        assert_ne!(k1, k3);
        assert_ne!(k1, k4);
        assert_ne!(k1, stream_key(0, "conv1", Measure::Weight, Purpose::Noise));
        let a = kept_units(k1, 1000, 100);
        assert_eq!(a, kept_units(k1, 1000, 100));
        assert_ne!(a, kept_units(k2, 1000, 100));
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        // Nested: the same seed keeps a superset at a larger fraction.
        let b = kept_units(k1, 1000, 300);
        assert!(a.iter().all(|u| b.contains(u)));
        // Every unit is about equally likely over many seeds.
        let mut counts = vec![0u32; 20];
        for s in 0..4000 {
            for u in kept_units(stream_key(s, "l", Measure::Act, Purpose::Units), 20, 5) {
                counts[u as usize] += 1;
            }
        }
        for c in counts {
            assert!((850..1150).contains(&c), "count {c} (expected ~1000)");
        }
    }

    #[test]
    fn noise_is_a_pure_function_of_row_and_unit() {
        let key = stream_key(3, "fc", Measure::Act, Purpose::Noise);
        let all: Vec<i64> = (0..100_000).collect();
        let full = standard_normal_at(key, 0..3, &all);
        // Moments of a standard normal.
        let n = full.len() as f64;
        let mean = full.iter().sum::<f64>() / n;
        let var = full.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.01,
            "mean {mean} var {var}"
        );
        // Subsets and row windows see exactly the same values.
        let sub: Vec<i64> = vec![1, 2, 7, 40_000, 99_999];
        let part = standard_normal_at(key, 1..3, &sub);
        for (ri, row) in [1usize, 2].iter().enumerate() {
            for (ci, &u) in sub.iter().enumerate() {
                assert_eq!(part[ri * sub.len() + ci], full[row * 100_000 + u as usize]);
            }
        }
        // Rows are different streams.
        assert_ne!(full[..100], full[100_000..100_100]);
        let other = standard_normal_at(
            stream_key(4, "fc", Measure::Act, Purpose::Noise),
            0..1,
            &sub,
        );
        assert_ne!(other, standard_normal_at(key, 0..1, &sub));
    }

    #[test]
    fn paper_grid_size() {
        // 5 σ × (6 + 4 + 4 + 3 + 2·5) seeds.
        assert_eq!(RealismCondition::paper_grid().len(), 5 * 27);
        assert!(RealismCondition::new(-1.0, 0.5, 0).is_err());
        assert!(RealismCondition::new(0.0, 0.0, 0).is_err());
        assert!(RealismCondition::new(0.0, 1.5, 0).is_err());
        assert!(RealismCondition::new(1.0, 1.0, 2).is_ok());
    }
}
