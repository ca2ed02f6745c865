//! Audio tasks (method.md §7, "WSN"): the cochleagram front end on the training device, a
//! procedural synthetic audio task (the embedded default) and WAV folders.
//!
//! Waveforms are kept as f32 [N, samples] on the CPU; a batch is moved to the device and turned
//! into a [B, 1, filters, frames] cochleagram there (`Cochleagram::apply`), then goes through the
//! same normalisation and networks as images. The filterbank and parameters live in
//! `crate::registry::cochlea` (no libtorch); docs/audio.md describes the algorithm.

use super::error::{EngineError, Result};
use crate::registry::cochlea::CochleaParams;
use crate::registry::tasks::{AudioFolder, SyntheticAudio};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// One filter, ready for a device: its first rFFT bin, its gains (×2 off DC and Nyquist: the
/// analytic signal), and the length its envelope is computed at.
struct DeviceFilter {
    first: i64,
    gains: Tensor,
    len: i64,
}

/// The cochleagram front end for clips of one length, with its filterbank on one device. On
/// the CPU it runs `host::HostCochleagram` (rustfft); elsewhere libtorch ([`Self::apply_torch`]).
pub(crate) struct Cochleagram {
    pub params: CochleaParams,
    filters: Vec<DeviceFilter>,
    host: Option<host::HostCochleagram>,
    device: Device,
}

/// Every filter's (first bin, gains ×2 off DC and Nyquist, envelope length).
fn analytic_filters(params: &CochleaParams) -> Vec<host::HostFilter> {
    let s = params.samples();
    params
        .filterbank()
        .iter()
        .map(|f| host::HostFilter {
            first: f.first,
            gains: f
                .gains
                .iter()
                .enumerate()
                .map(|(j, &g)| {
                    let k = f.first + j;
                    let w = if k == 0 || (s % 2 == 0 && k == s / 2) {
                        1.0
                    } else {
                        2.0
                    };
                    (g * w) as f32
                })
                .collect(),
            len: params.envelope_len(f),
        })
        .collect()
}

impl Cochleagram {
    pub(crate) fn new(params: &CochleaParams, device: Device) -> Cochleagram {
        let analytic = analytic_filters(params);
        let filters = analytic
            .iter()
            .map(|f| DeviceFilter {
                first: f.first as i64,
                gains: Tensor::from_slice(&f.gains).to_device(device),
                len: f.len as i64,
            })
            .collect();
        let host = (device == Device::Cpu).then(|| {
            host::HostCochleagram::new(params.samples(), params.frames(), params.power, analytic)
        });
        Cochleagram {
            params: params.clone(),
            filters,
            host,
            device,
        }
    }

    /// Output height (filters) and width (frames).
    pub(crate) fn shape(&self) -> (i64, i64) {
        (self.filters.len() as i64, self.params.frames() as i64)
    }

    /// The same front end on another device.
    pub(crate) fn to_device(&self, device: Device) -> Cochleagram {
        Cochleagram::new(&self.params, device)
    }

    /// Waveforms [B, samples] (any float kind, any device) → cochleagrams [B, 1, F, T] (f32) on
    /// this front end's device. No gradient flows through it.
    pub(crate) fn apply(&self, wav: &Tensor) -> Tensor {
        let Some(host) = &self.host else {
            return self.apply_torch(wav);
        };
        let _g = tch::no_grad_guard();
        let wav = wav.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        let b = wav.size()[0];
        let v = Vec::<f32>::try_from(wav.view([-1])).expect("f32 waveforms");
        let threads = tch::get_num_threads().max(1) as usize;
        let (f, t) = self.shape();
        Tensor::from_slice(&host.apply(&v, threads)).view([b, 1, f, t])
    }

    /// [`Self::apply`] through libtorch's FFTs, on this front end's device (the CUDA path; on the
    /// CPU the tests compare it with the host path and the numpy reference).
    pub(crate) fn apply_torch(&self, wav: &Tensor) -> Tensor {
        let _g = tch::no_grad_guard();
        let wav = wav.to_device(self.device).to_kind(Kind::Float);
        let (samples, frames) = (self.params.samples() as i64, self.params.frames() as i64);
        assert_eq!(
            wav.size()[1],
            samples,
            "cochleagram expects clips of {samples} samples"
        );
        let spec = wav.fft_rfft(None, -1, "backward");
        let s = samples as f64;
        let rows: Vec<Tensor> = self
            .filters
            .iter()
            .map(|f| {
                let w = f.gains.size()[0];
                // The band, shifted down to bin 0 (demodulation leaves the envelope unchanged),
                // zero-padded to the envelope length: the analytic signal at len samples.
                let band = spec.narrow(1, f.first, w) * &f.gains;
                let z = band.fft_ifft(Some(f.len), -1, "backward");
                let env = z.abs() * (f.len as f64 / s);
                resample(&env, frames)
            })
            .collect();
        Tensor::stack(&rows, 1)
            .clamp_min(0.0)
            .pow_tensor_scalar(self.params.power)
            .unsqueeze(1)
    }

    /// Cochleagrams of many clips in chunks (bounded memory), on the CPU.
    pub(crate) fn apply_chunked(&self, wav: &Tensor, chunk: i64) -> Tensor {
        let n = wav.size()[0];
        let parts: Vec<Tensor> = (0..n)
            .step_by(chunk.max(1) as usize)
            .map(|i| {
                self.apply(&wav.narrow(0, i, chunk.min(n - i)))
                    .to_device(Device::Cpu)
            })
            .collect();
        Tensor::cat(&parts, 0)
    }
}

/// Fourier resampling of real signals along the last axis to `num` samples, as
/// `scipy.signal.resample` does (the unpaired bin at m/2 of an even m = min(num, n) is doubled
/// when down-sampling and halved when up-sampling).
pub(crate) fn resample(x: &Tensor, num: i64) -> Tensor {
    let n = *x.size().last().expect("1-D at least");
    if n == num {
        return x.shallow_clone();
    }
    let m = num.min(n);
    let xf = x.fft_rfft(None, -1, "backward").narrow(-1, 0, m / 2 + 1);
    let xf = if m % 2 == 0 {
        let f = if num < n { 2.0 } else { 0.5 };
        let mut scale = vec![1f32; (m / 2 + 1) as usize];
        scale[(m / 2) as usize] = f;
        xf * Tensor::from_slice(&scale).to_device(x.device())
    } else {
        xf
    };
    xf.fft_irfft(Some(num), -1, "backward") * (num as f64 / n as f64)
}

// ---------------------------------------------------------------------------------------------
// Synthetic audio

/// Formants (F1, F2 in Hz) of the synthetic "vowels".
const VOWELS: [(f64, f64); 6] = [
    (730.0, 1090.0),
    (270.0, 2290.0),
    (300.0, 870.0),
    (530.0, 1840.0),
    (570.0, 840.0),
    (660.0, 1720.0),
];
/// Temporal patterns: one long syllable, two short ones, one with a rising pitch glide.
const PATTERNS: usize = 3;
pub(crate) const MAX_SYNTHETIC_AUDIO_CLASSES: i64 = (VOWELS.len() * PATTERNS) as i64;

/// Raised-cosine syllable gate: 1 inside [on, off], 10 ms ramps.
fn gate(t: f64, on: f64, off: f64) -> f64 {
    let r = 0.01;
    if t < on - r || t > off + r {
        0.0
    } else if t < on {
        0.5 - 0.5 * (std::f64::consts::PI * (t - on + r) / r).cos()
    } else if t > off {
        0.5 + 0.5 * (std::f64::consts::PI * (t - off) / r).cos()
    } else {
        1.0
    }
}

/// Draw one clip of class `k` into `out`: a harmonic complex (random pitch) shaped by the
/// class's two formants (jittered), gated by its temporal pattern (jittered onsets and lengths),
/// plus white noise at `noise` × the signal's RMS.
fn draw_clip(k: usize, sr: f64, high: f64, noise: f64, rng: &mut ChaCha8Rng, out: &mut [f32]) {
    let (f1, f2) = VOWELS[k % VOWELS.len()];
    let pattern = (k / VOWELS.len()) % PATTERNS;
    let n = out.len();
    let dur = n as f64 / sr;
    let jit = |rng: &mut ChaCha8Rng, a: f64| 1.0 + a * (2.0 * rng.random::<f64>() - 1.0);
    let f0 = rng.random_range(90.0..240.0);
    let (fa, fb) = (f1 * jit(rng, 0.08), f2 * jit(rng, 0.08));
    let start = dur * rng.random_range(0.05..0.25);
    let len = dur * 0.55 * jit(rng, 0.15);
    let syllables: Vec<(f64, f64)> = if pattern == 1 {
        let l = len * 0.4;
        let gap = len * 0.2 * jit(rng, 0.3);
        vec![(start, start + l), (start + l + gap, start + 2.0 * l + gap)]
    } else {
        vec![(start, start + len)]
    };
    let glide = if pattern == 2 { 0.6 } else { 0.0 };
    let nh = ((high.min(0.45 * sr)) / f0).floor().max(1.0) as usize;
    let bw = |f: f64| 60.0 + 0.08 * f;
    let weight = |fh: f64| {
        let g = |c: f64| (-0.5 * ((fh - c) / bw(c)).powi(2)).exp();
        0.05 / (1.0 + fh / 1000.0) + g(fa) + 0.7 * g(fb)
    };
    // Harmonic weights are refreshed every 64 samples (the pitch glides); sin(hφ) by the
    // Chebyshev recurrence sin((h+1)φ) = 2cos φ·sin(hφ) − sin((h−1)φ).
    let mut phase = rng.random::<f64>() * std::f64::consts::TAU;
    let mut w = vec![0.0; nh + 1];
    for (i, o) in out.iter_mut().enumerate() {
        let t = i as f64 / sr;
        let f0t = f0 * (1.0 + glide * ((t - start) / len).clamp(0.0, 1.0));
        if i % 64 == 0 {
            for (h, wh) in w.iter_mut().enumerate().skip(1) {
                let fh = h as f64 * f0t;
                *wh = if fh < 0.45 * sr { weight(fh) } else { 0.0 };
            }
        }
        phase = (phase + std::f64::consts::TAU * f0t / sr) % std::f64::consts::TAU;
        let (s1, c1) = phase.sin_cos();
        let (mut prev, mut cur) = (0.0, s1);
        let mut acc = 0.0;
        for wh in w.iter().skip(1) {
            acc += wh * cur;
            let next = 2.0 * c1 * cur - prev;
            prev = cur;
            cur = next;
        }
        let env: f64 = syllables.iter().map(|&(a, b)| gate(t, a, b)).sum();
        *o = (acc * env) as f32;
    }
    let rms = (out.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n as f64)
        .sqrt()
        .max(1e-9);
    let amp = 0.1 * rng.random_range(0.5..1.0) / rms;
    let normal = Normal::new(0.0, noise * 0.1).expect("σ ≥ 0");
    for o in out.iter_mut() {
        *o = (*o as f64 * amp + normal.sample(rng)) as f32;
    }
}

type Waves = (Tensor, Tensor, Tensor, Tensor, i64);

/// The synthetic audio task: `classes` = vowel × temporal pattern, deterministic from `seed`.
pub(crate) fn synthetic(t: &SyntheticAudio) -> Result<Waves> {
    let p = &t.cochlea;
    let (k, ntr, nva, seed, noise) = (t.classes, t.train, t.val, t.seed, t.noise);
    let bad = |p: &str, msg: String| EngineError::param("synthetic_audio", p, msg);
    if !(2..=MAX_SYNTHETIC_AUDIO_CLASSES).contains(&k) {
        return Err(bad(
            "classes",
            format!(
                "must be in 2..={MAX_SYNTHETIC_AUDIO_CLASSES} ({} vowels × {PATTERNS} temporal patterns)",
                VOWELS.len()
            ),
        ));
    }
    if noise.is_nan() || noise < 0.0 {
        return Err(bad("noise", "must be ≥ 0".into()));
    }
    let s = p.samples();
    let make = |n: i64, stream: u64| {
        use rayon::prelude::*;
        // One generator per clip (seed, stream, clip index): the same clips whatever the
        // thread count.
        let mut buf = vec![0f32; n as usize * s];
        let labels: Vec<i64> = buf
            .par_chunks_mut(s)
            .enumerate()
            .map(|(i, out)| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(stream);
                rng.set_word_pos(i as u128 * (1 << 40));
                let lab = rng.random_range(0..k);
                draw_clip(lab as usize, p.sample_rate, p.high_hz, noise, &mut rng, out);
                lab
            })
            .collect();
        (
            Tensor::from_slice(&buf).view([n, s as i64]),
            Tensor::from_slice(&labels),
        )
    };
    let (tx, ty) = make(ntr, 1);
    let (vx, vy) = make(nva, 2);
    Ok((tx, ty, vx, vy, k))
}

// ---------------------------------------------------------------------------------------------
// WAV folders

fn wav_files(dir: &Path) -> Result<Vec<PathBuf>> {
    super::store::files_with(dir, crate::datafiles::AUDIO_EXTS)
}

/// Read a WAV file as mono f64 in [-1, 1] and its sampling rate.
pub(crate) fn read_wav(path: &Path) -> Result<(Vec<f64>, u32)> {
    let bad = |msg: String| EngineError::Data {
        task: "audio_folder".into(),
        path: path.into(),
        msg,
    };
    let mut r =
        hound::WavReader::open(path).map_err(|e| bad(format!("not a readable WAV: {e}")))?;
    let spec = r.spec();
    let ch = spec.channels.max(1) as usize;
    let samples: Vec<f64> = match spec.sample_format {
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .map(|s| s.map(f64::from))
            .collect::<std::result::Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 2f64.powi(spec.bits_per_sample as i32 - 1);
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f64 / scale))
                .collect::<std::result::Result<_, _>>()
        }
    }
    .map_err(|e| bad(format!("bad WAV data: {e}")))?;
    let mono = samples
        .chunks(ch)
        .map(|c| c.iter().sum::<f64>() / ch as f64)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// A clip at the task's rate and length: resampled (Fourier method) when the file's rate
/// differs, then cut to the first `samples` or zero-padded at the end.
fn fit_clip(x: Vec<f64>, rate: u32, p: &CochleaParams, out: &mut Vec<f32>) {
    let s = p.samples();
    let x: Vec<f64> = if (rate as f64 - p.sample_rate).abs() > 1e-9 && !x.is_empty() {
        let num = ((x.len() as f64) * p.sample_rate / rate as f64)
            .round()
            .max(1.0) as i64;
        let t = resample(&Tensor::from_slice(&x).view([1, -1]), num);
        Vec::<f64>::try_from(t.view([-1])).expect("f64 tensor")
    } else {
        x
    };
    out.extend(x.iter().take(s).map(|&v| v as f32));
    out.extend(std::iter::repeat_n(0f32, s.saturating_sub(x.len())));
}

/// WAV files in one folder per class; validation from `val_path` (same class folders) or a
/// seeded `val_fraction` of each class.
pub(crate) fn folder(
    t: &AudioFolder,
) -> Result<(super::store::Examples, super::store::Examples, i64)> {
    let p = &t.cochlea;
    let dir = t.folder.path.clone();
    let data_err = |msg: String| EngineError::Data {
        task: "audio_folder".into(),
        path: dir.clone(),
        msg,
    };
    let (tr, va, classes) = super::store::folder_listing(
        "audio_folder",
        &t.folder,
        &dir,
        t.folder.val_path.as_deref(),
        &wav_files,
        &data_err,
    )?;
    if classes.len() < 2 {
        return Err(data_err(
            "needs at least two class folders (one folder of .wav files per class)".into(),
        ));
    }
    if tr.is_empty() {
        return Err(data_err("no .wav files found in the class folders".into()));
    }
    let q = p.clone();
    let decode =
        super::store::Decode::F32(std::sync::Arc::new(move |f: &Path, buf: &mut Vec<f32>| {
            let (x, rate) = read_wav(f)?;
            fit_clip(x, rate, &q, buf);
            Ok(())
        }));
    let (train, val) = super::store::folder_examples(
        "audio_folder",
        &t.folder,
        &tr,
        &va,
        &[p.samples() as i64],
        decode,
        &data_err,
    )?;
    Ok((train, val, classes.len() as i64))
}

mod host;
#[cfg(test)]
mod tests;
