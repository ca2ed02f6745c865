//! Measurement models beyond additive Gaussian noise (issue 23, docs/reference/realism.md
//! "Measurement models"): Poisson spike counts and a calcium-imaging (ΔF/F) simulation of a
//! unit's responses to the stimuli of a checkpoint.
//!
//! Everything here is plain `f64` arithmetic on the CPU, independent of libtorch. Random draws
//! come from [`ChaCha8Rng`] streams: the draws of unit `u` for stimulus `r` are those of stream
//! `r` from word position `u · 2³²` on, so they are a pure function of (key, row, unit), like
//! the Gaussian noise of `exec::observe::realism`. Poisson variates use lrx's own samplers
//! (sequential inversion for λ < 10, Hörmann's PTRS otherwise) on raw `next_u64` words, so
//! values are fixed by ChaCha8 alone, not by a `rand_distr` version.
//!
//! The model parameters are plain data ([`PoissonModel`], [`CalciumModel`]) with documented
//! defaults and a [`validate`](PoissonModel::validate) that names the bad parameter.

#![cfg_attr(not(feature = "torch"), allow(dead_code))]

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Spike-count model (`poisson(...)`): rate = baseline + rate_scale · max(x, 0) Hz, counts
/// ~ Poisson(rate · window) averaged over `repeats` draws, observable counts / window (Hz).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoissonModel {
    /// Hz per unit of activation (default 20: an activation of 1 fires at a typical cortical
    /// evoked rate of 20 Hz).
    pub rate_scale: f64,
    /// Spontaneous rate in Hz, added to every unit (default 0: silent at zero activation, as a
    /// ReLU unit).
    pub baseline: f64,
    /// Counting window in seconds (default 0.5: a typical stimulus presentation).
    pub window: f64,
    /// Independent repeats averaged (default 1: a single trial per stimulus).
    pub repeats: u32,
}

impl Default for PoissonModel {
    fn default() -> Self {
        PoissonModel {
            rate_scale: 20.0,
            baseline: 0.0,
            window: 0.5,
            repeats: 1,
        }
    }
}

/// Calcium-imaging model (`calcium(...)`): stimuli shown one after another for
/// `frames_per_stimulus` frames each, Poisson spikes per frame, a double-exponential calcium
/// kernel, Hill saturation, shot and read noise, ΔF/F averaged over each stimulus's frames.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CalciumModel {
    /// Hz per unit of activation (default 20, as [`PoissonModel`]).
    pub rate_scale: f64,
    /// Spontaneous rate in Hz (default 0).
    pub baseline: f64,
    /// Imaging frame rate in Hz (default 30: a resonant two-photon scope).
    pub frame_rate: f64,
    /// Rise time constant in seconds (default 0.05, GCaMP6f-like).
    pub rise: f64,
    /// Decay time constant in seconds (default 0.4, GCaMP6f-like); must exceed `rise`.
    pub decay: f64,
    /// Half-saturation constant of the Hill curve, in units of the peak calcium of one spike
    /// (default 10 spikes).
    pub kd: f64,
    /// Hill coefficient (default 2.5, the cooperativity of GCaMP6).
    pub hill: f64,
    /// Shot-noise factor: the noise variance of F is `shot · F` with F in units of F0
    /// (default 0.01, i.e. about 100 photons per frame at baseline).
    pub shot: f64,
    /// Read-noise standard deviation, in units of F0 (default 0.01).
    pub read: f64,
    /// Frames per stimulus (default 15: 0.5 s at 30 Hz).
    pub frames_per_stimulus: u32,
}

impl Default for CalciumModel {
    fn default() -> Self {
        CalciumModel {
            rate_scale: 20.0,
            baseline: 0.0,
            frame_rate: 30.0,
            rise: 0.05,
            decay: 0.4,
            kd: 10.0,
            hill: 2.5,
            shot: 0.01,
            read: 0.01,
            frames_per_stimulus: 15,
        }
    }
}

/// A measurement-model parameter outside its domain. Stable codes `lrx::measurement::...`
/// ([`crate::diag::Coded`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeasurementError {
    /// A parameter that must be finite and ≥ 0 is not (`lrx::measurement::negative`).
    #[error("{model}: `{param}` must be finite and ≥ 0, got {value}")]
    Negative {
        /// `poisson` or `calcium`.
        model: &'static str,
        /// The parameter's name.
        param: &'static str,
        /// The value given.
        value: f64,
    },
    /// A parameter that must be finite and > 0 is not (`lrx::measurement::positive`).
    #[error("{model}: `{param}` must be finite and > 0, got {value}")]
    NotPositive {
        /// `poisson` or `calcium`.
        model: &'static str,
        /// The parameter's name.
        param: &'static str,
        /// The value given.
        value: f64,
    },
    /// The calcium rise time is not below the decay time (`lrx::measurement::kinetics`).
    #[error("calcium: `rise` ({rise}) must be below `decay` ({decay})")]
    Kinetics {
        /// The rise time constant.
        rise: f64,
        /// The decay time constant.
        decay: f64,
    },
}

impl crate::diag::Coded for MeasurementError {
    fn code(&self) -> &'static str {
        match self {
            MeasurementError::Negative { .. } => "lrx::measurement::negative",
            MeasurementError::NotPositive { .. } => "lrx::measurement::positive",
            MeasurementError::Kinetics { .. } => "lrx::measurement::kinetics",
        }
    }
}

fn nonneg(model: &'static str, param: &'static str, value: f64) -> Result<(), MeasurementError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(MeasurementError::Negative {
            model,
            param,
            value,
        })
    }
}

fn positive(model: &'static str, param: &'static str, value: f64) -> Result<(), MeasurementError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(MeasurementError::NotPositive {
            model,
            param,
            value,
        })
    }
}

impl PoissonModel {
    /// Rates and scale ≥ 0, window > 0, repeats ≥ 1.
    pub fn validate(&self) -> Result<(), MeasurementError> {
        nonneg("poisson", "rate_scale", self.rate_scale)?;
        nonneg("poisson", "baseline", self.baseline)?;
        positive("poisson", "window", self.window)?;
        positive("poisson", "repeats", self.repeats as f64)
    }

    /// Canonical text, e.g. `poisson(rate_scale=20,baseline=0,window=0.5,repeats=1)`.
    pub fn canonical(&self) -> String {
        format!(
            "poisson(rate_scale={},baseline={},window={},repeats={})",
            self.rate_scale, self.baseline, self.window, self.repeats
        )
    }

    /// The observed rate estimate of activation `x` from the draws `rng` (positioned at this
    /// (row, unit)): mean over repeats of Poisson(rate · window) counts, divided by the window.
    pub(crate) fn observe(&self, x: f64, rng: &mut ChaCha8Rng) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        let lambda = rate(x, self.baseline, self.rate_scale) * self.window;
        let mut total = 0u64;
        for _ in 0..self.repeats {
            total += poisson(rng, lambda);
        }
        total as f64 / (self.repeats as f64 * self.window)
    }

    /// `observe` for `rows` × `units.len()` activations (row-major, `x`), the
    /// draws of (row, unit) keyed by `key` as the module describes.
    pub fn observe_block(
        &self,
        key: [u8; 32],
        rows: std::ops::Range<u64>,
        units: &[i64],
        x: &[f64],
    ) -> Vec<f64> {
        let n = units.len();
        assert_eq!(x.len(), (rows.end - rows.start) as usize * n);
        let mut out = vec![0.0; x.len()];
        for (ri, row) in rows.enumerate() {
            for (ci, &u) in units.iter().enumerate() {
                let mut rng = draws(key, row, u);
                out[ri * n + ci] = self.observe(x[ri * n + ci], &mut rng);
            }
        }
        out
    }
}

impl CalciumModel {
    /// Rates ≥ 0, frame rate, rise, decay, kd, hill > 0, rise < decay, noise ≥ 0, frames ≥ 1.
    pub fn validate(&self) -> Result<(), MeasurementError> {
        nonneg("calcium", "rate_scale", self.rate_scale)?;
        nonneg("calcium", "baseline", self.baseline)?;
        positive("calcium", "frame_rate", self.frame_rate)?;
        positive("calcium", "rise", self.rise)?;
        positive("calcium", "decay", self.decay)?;
        if self.rise >= self.decay {
            return Err(MeasurementError::Kinetics {
                rise: self.rise,
                decay: self.decay,
            });
        }
        positive("calcium", "kd", self.kd)?;
        positive("calcium", "hill", self.hill)?;
        nonneg("calcium", "shot", self.shot)?;
        nonneg("calcium", "read", self.read)?;
        positive(
            "calcium",
            "frames_per_stimulus",
            self.frames_per_stimulus as f64,
        )
    }

    /// Canonical text with every parameter, in declaration order.
    pub fn canonical(&self) -> String {
        format!(
            "calcium(rate_scale={},baseline={},frame_rate={},rise={},decay={},kd={},hill={},\
             shot={},read={},frames_per_stimulus={})",
            self.rate_scale,
            self.baseline,
            self.frame_rate,
            self.rise,
            self.decay,
            self.kd,
            self.hill,
            self.shot,
            self.read,
            self.frames_per_stimulus
        )
    }

    /// Time of the kernel's peak, t* = ln(τd/τr) · τr·τd / (τd − τr).
    pub(crate) fn peak_time(&self) -> f64 {
        (self.decay / self.rise).ln() * self.rise * self.decay / (self.decay - self.rise)
    }

    /// The peak-normalised kernel h(t) = (e^(−t/τd) − e^(−t/τr)) / (e^(−t*/τd) − e^(−t*/τr)),
    /// t ≥ 0 in seconds (0 before).
    pub fn kernel(&self, t: f64) -> f64 {
        if t < 0.0 {
            return 0.0;
        }
        let tp = self.peak_time();
        let peak = (-tp / self.decay).exp() - (-tp / self.rise).exp();
        ((-t / self.decay).exp() - (-t / self.rise).exp()) / peak
    }

    /// Hill saturation c^n / (c^n + kd^n) of calcium c ≥ 0.
    pub fn saturation(&self, c: f64) -> f64 {
        let cn = c.max(0.0).powf(self.hill);
        cn / (cn + self.kd.powf(self.hill))
    }

    /// Start of a unit's recording: no calcium.
    pub fn start(&self) -> CalciumState {
        CalciumState::default()
    }

    /// Calcium per frame of a spike train (frames at 1/frame_rate s), continuing `state`:
    /// c_f = Σ_{j ≤ f} s_j · h((f − j)/frame_rate), computed exactly by two exponential
    /// accumulators (a spike adds nothing in its own frame, as h(0) = 0).
    pub fn calcium(&self, state: &mut CalciumState, spikes: &[f64]) -> Vec<f64> {
        let dt = 1.0 / self.frame_rate;
        let (ed, er) = ((-dt / self.decay).exp(), (-dt / self.rise).exp());
        let tp = self.peak_time();
        let peak = (-tp / self.decay).exp() - (-tp / self.rise).exp();
        spikes
            .iter()
            .map(|&s| {
                state.slow = state.slow * ed + s;
                state.fast = state.fast * er + s;
                (state.slow - state.fast) / peak
            })
            .collect()
    }

    /// ΔF/F of one frame: F = 1 + saturation(c) (F0 = 1), observed F̃ = F + √(shot·F)·z₁ +
    /// read·z₂, ΔF/F = F̃ − 1.
    pub fn dff(&self, c: f64, z1: f64, z2: f64) -> f64 {
        let f = 1.0 + self.saturation(c);
        f + (self.shot * f).sqrt() * z1 + self.read * z2 - 1.0
    }

    /// The response of one unit to one stimulus of activation `x`, continuing `state`: spikes
    /// per frame ~ Poisson(rate/frame_rate), calcium, ΔF/F per frame, mean over the frames.
    /// `rng` supplies, per frame, the Poisson draw then two standard normals.
    pub(crate) fn observe(&self, x: f64, state: &mut CalciumState, rng: &mut ChaCha8Rng) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        let lambda = rate(x, self.baseline, self.rate_scale) / self.frame_rate;
        let nf = self.frames_per_stimulus as usize;
        let mut sum = 0.0;
        let dt = 1.0 / self.frame_rate;
        let (ed, er) = ((-dt / self.decay).exp(), (-dt / self.rise).exp());
        let tp = self.peak_time();
        let peak = (-tp / self.decay).exp() - (-tp / self.rise).exp();
        for _ in 0..nf {
            let s = poisson(rng, lambda) as f64;
            state.slow = state.slow * ed + s;
            state.fast = state.fast * er + s;
            let c = (state.slow - state.fast) / peak;
            let (z1, z2) = normal_pair(rng);
            sum += self.dff(c, z1, z2);
        }
        sum / nf as f64
    }

    /// Responses of `units` to the stimuli `rows` (row-major activations `x`), in stimulus
    /// order, continuing each unit's state in `states` (one per unit; grown with
    /// [`start`](Self::start) states when shorter), so a checkpoint's batches chain into one
    /// recording.
    pub fn observe_block(
        &self,
        key: [u8; 32],
        rows: std::ops::Range<u64>,
        units: &[i64],
        x: &[f64],
        states: &mut Vec<CalciumState>,
    ) -> Vec<f64> {
        let n = units.len();
        assert_eq!(x.len(), (rows.end - rows.start) as usize * n);
        states.resize(n, CalciumState::default());
        let mut out = vec![0.0; x.len()];
        for (ri, row) in rows.enumerate() {
            for (ci, &u) in units.iter().enumerate() {
                let mut rng = draws(key, row, u);
                out[ri * n + ci] = self.observe(x[ri * n + ci], &mut states[ci], &mut rng);
            }
        }
        out
    }
}

/// A unit's calcium accumulators (slow = decay, fast = rise), carried from stimulus to stimulus.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CalciumState {
    slow: f64,
    fast: f64,
}

/// Firing rate baseline + scale · max(x, 0) in Hz (callers map a NaN activation to a NaN
/// observation before this).
fn rate(x: f64, baseline: f64, scale: f64) -> f64 {
    baseline + scale * x.max(0.0)
}

/// The draws of (row, unit): stream `row`, words from `unit · 2³²`.
pub(crate) fn draws(key: [u8; 32], row: u64, unit: i64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(row);
    rng.set_word_pos((unit as u128) << 32);
    rng
}

/// A uniform in [0, 1) from 53 random bits.
fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Two independent standard normals (Box–Muller, u1 ∈ (0, 1]).
fn normal_pair(rng: &mut ChaCha8Rng) -> (f64, f64) {
    let u1 = ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
    let u2 = uniform(rng);
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

/// log Γ(x) for x ≥ 1 by Stirling's series (the coefficients of numpy's `random_loggam`).
fn log_gamma(x: f64) -> f64 {
    const A: [f64; 10] = [
        8.333333333333333e-02,
        -2.777777777777778e-03,
        7.936507936507937e-04,
        -5.952380952380952e-04,
        8.417508417508418e-04,
        -1.917526917526918e-03,
        6.41025641025641e-03,
        -2.955065359477124e-02,
        1.796443723688307e-01,
        -1.39243221690590e+00,
    ];
    if x == 1.0 || x == 2.0 {
        return 0.0;
    }
    let n = if x < 7.0 { (7.0 - x) as i64 } else { 0 };
    let mut x0 = x + n as f64;
    let x2 = 1.0 / (x0 * x0);
    let mut gl0 = A[9];
    for k in (0..9).rev() {
        gl0 = gl0 * x2 + A[k];
    }
    let mut gl = gl0 / x0 + 0.5 * std::f64::consts::TAU.ln() + (x0 - 0.5) * x0.ln() - x0;
    for _ in 0..n {
        gl -= (x0 - 1.0).ln();
        x0 -= 1.0;
    }
    gl
}

/// A Poisson(λ) variate: 0 for λ ≤ 0 (or NaN), sequential inversion for λ < 10, Hörmann's
/// transformed rejection (PTRS, 1993) otherwise.
pub(crate) fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0;
    }
    if lambda < 10.0 {
        let u = uniform(rng);
        let mut p = (-lambda).exp();
        let mut s = p;
        let mut k = 0u64;
        while u > s && k < 1000 {
            k += 1;
            p *= lambda / k as f64;
            s += p;
            if p == 0.0 {
                break;
            }
        }
        return k;
    }
    let slam = lambda.sqrt();
    let loglam = lambda.ln();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let invalpha = 1.1239 + 1.1328 / (b - 3.4);
    let vr = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = uniform(rng) - 0.5;
        let v = uniform(rng);
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
        if us >= 0.07 && v <= vr {
            return k as u64;
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        if v.ln() + invalpha.ln() - (a / (us * us) + b).ln()
            <= -lambda + k * loglam - log_gamma(k + 1.0)
        {
            return k as u64;
        }
    }
}

#[cfg(test)]
mod tests;
