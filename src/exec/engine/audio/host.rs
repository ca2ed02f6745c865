//! The cochleagram on the CPU, with rustfft (docs/audio.md "Algorithm"; the same steps as the
//! libtorch path `Cochleagram::apply_torch`, which CUDA uses).
//!
//! Why not libtorch here: its CPU FFT builds an MKL descriptor on every call and its complex
//! `abs` is scalar, so the per-filter loop spent most of its time in overhead (an inverse FFT of
//! 8 × 40,000 points took 10–15 ms against 1–3 ms in numpy/scipy). Here each (clip, filter)
//! pair runs its whole chain (band, inverse FFT, magnitude, resampling, compression) in buffers
//! that stay in cache, with FFT plans made once, in parallel over pairs. Every pair's result is
//! computed the same way whatever the thread count, so the output does not depend on it.

use rayon::prelude::*;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One filter: its first rFFT bin, gains (×2 off DC and Nyquist: the analytic signal) and the
/// length its envelope is computed at.
pub(super) struct HostFilter {
    pub first: usize,
    pub gains: Vec<f32>,
    pub len: usize,
}

/// FFT plans for one envelope length.
struct LenPlans {
    inverse: Arc<dyn Fft<f32>>,
    forward_real: Arc<dyn RealToComplex<f32>>,
}

pub(super) struct HostCochleagram {
    samples: usize,
    frames: usize,
    power: f32,
    filters: Vec<HostFilter>,
    clip_rfft: Arc<dyn RealToComplex<f32>>,
    plans: BTreeMap<usize, LenPlans>,
    frames_irfft: Arc<dyn ComplexToReal<f32>>,
    pool: Mutex<Option<(usize, Arc<rayon::ThreadPool>)>>,
}

/// Per-thread buffers, sized for the longest envelope.
struct Scratch {
    z: Vec<Complex32>,
    fft: Vec<Complex32>,
    env: Vec<f32>,
    spec: Vec<Complex32>,
    low: Vec<Complex32>,
    out: Vec<f32>,
}

impl HostCochleagram {
    pub(super) fn new(samples: usize, frames: usize, power: f64, filters: Vec<HostFilter>) -> Self {
        let mut real = RealFftPlanner::<f32>::new();
        let mut complex = FftPlanner::<f32>::new();
        let mut plans = BTreeMap::new();
        for f in &filters {
            plans.entry(f.len).or_insert_with(|| LenPlans {
                inverse: complex.plan_fft_inverse(f.len),
                forward_real: real.plan_fft_forward(f.len),
            });
        }
        HostCochleagram {
            samples,
            frames,
            power: power as f32,
            clip_rfft: real.plan_fft_forward(samples),
            frames_irfft: real.plan_fft_inverse(frames),
            filters,
            plans,
            pool: Mutex::new(None),
        }
    }

    /// A pool of `threads` threads, kept for the next batch.
    fn pool(&self, threads: usize) -> Arc<rayon::ThreadPool> {
        let mut p = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        match &*p {
            Some((n, pool)) if *n == threads => pool.clone(),
            _ => {
                let pool = Arc::new(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads.max(1))
                        .build()
                        .expect("a thread pool for the cochleagram"),
                );
                *p = Some((threads, pool.clone()));
                pool
            }
        }
    }

    fn scratch(&self) -> Scratch {
        let longest = self.filters.iter().map(|f| f.len).max().unwrap_or(1);
        let fft = self
            .plans
            .values()
            .map(|p| {
                p.inverse
                    .get_inplace_scratch_len()
                    .max(p.forward_real.get_scratch_len())
            })
            .chain([self.frames_irfft.get_scratch_len()])
            .max()
            .unwrap_or(0);
        Scratch {
            z: vec![Complex32::default(); longest],
            fft: vec![Complex32::default(); fft],
            env: vec![0.0; longest],
            spec: vec![Complex32::default(); longest / 2 + 1],
            low: vec![Complex32::default(); self.frames / 2 + 1],
            out: vec![0.0; self.frames],
        }
    }

    /// Clips [B × samples] (row-major) → cochleagrams [B × filters × frames], on `threads`
    /// threads.
    pub(super) fn apply(&self, wav: &[f32], threads: usize) -> Vec<f32> {
        let (s, t, nf) = (self.samples, self.frames, self.filters.len());
        assert_eq!(wav.len() % s, 0, "cochleagram expects clips of {s} samples");
        let b = wav.len() / s;
        self.pool(threads).install(|| {
            // Each clip's rFFT.
            let bins = s / 2 + 1;
            let mut spectra = vec![Complex32::default(); b * bins];
            spectra
                .par_chunks_mut(bins)
                .zip(wav.par_chunks(s))
                .for_each_init(
                    || {
                        (
                            vec![0f32; s],
                            vec![Complex32::default(); self.clip_rfft.get_scratch_len()],
                        )
                    },
                    |(input, scratch), (spec, clip)| {
                        input.copy_from_slice(clip);
                        self.clip_rfft
                            .process_with_scratch(input, spec, scratch)
                            .expect("rfft sizes");
                    },
                );
            // Rows (clip, filter) in a few blocks per thread, one scratch per block: rayon's
            // `for_each_init` would make a fresh scratch (and page faults) per split.
            let rows = b * nf;
            let block = rows.div_ceil(4 * threads.max(1)).max(1);
            let mut out = vec![0f32; rows * t];
            out.par_chunks_mut(block * t)
                .enumerate()
                .for_each(|(bi, dst)| {
                    let mut sc = self.scratch();
                    for (i, dst) in dst.chunks_mut(t).enumerate() {
                        let row = bi * block + i;
                        let (clip, fi) = (row / nf, row % nf);
                        self.envelope(&spectra[clip * bins..(clip + 1) * bins], fi, &mut sc);
                        for (d, &v) in dst.iter_mut().zip(&sc.out) {
                            *d = v.max(0.0).powf(self.power);
                        }
                    }
                });
            out
        })
    }

    /// Filter `fi`'s envelope of one clip (its rFFT `spec`), resampled to `frames`, into
    /// `sc.out` (before compression).
    fn envelope(&self, spec: &[Complex32], fi: usize, sc: &mut Scratch) {
        let f = &self.filters[fi];
        let (len, frames) = (f.len, self.frames);
        let plans = &self.plans[&len];
        // The band shifted down to bin 0 (demodulation leaves the envelope unchanged), zero-
        // padded to len: the analytic signal at len samples after an inverse FFT.
        let z = &mut sc.z[..len];
        let w = f.gains.len();
        for ((zj, &x), &g) in z.iter_mut().zip(&spec[f.first..f.first + w]).zip(&f.gains) {
            *zj = x * g;
        }
        z[w..].fill(Complex32::default());
        plans
            .inverse
            .process_with_scratch(z, &mut sc.fft[..plans.inverse.get_inplace_scratch_len()]);
        // Unnormalised inverse: z/len is the analytic signal at len samples; × len/samples
        // rescales it to the clip's amplitude. So |z|/samples.
        let scale = 1.0 / self.samples as f32;
        let env = &mut sc.env[..len];
        for (e, zj) in env.iter_mut().zip(z.iter()) {
            *e = (zj.re * zj.re + zj.im * zj.im).sqrt() * scale;
        }
        if len == frames {
            sc.out.copy_from_slice(env);
            return;
        }
        // Fourier resampling to `frames`, with scipy.signal.resample's convention for the
        // unpaired bin at m/2 of an even m = min(frames, len).
        let spec_env = &mut sc.spec[..len / 2 + 1];
        let rs = plans.forward_real.get_scratch_len();
        plans
            .forward_real
            .process_with_scratch(env, spec_env, &mut sc.fft[..rs])
            .expect("rfft sizes");
        let m = frames.min(len);
        let low = &mut sc.low;
        low.fill(Complex32::default());
        low[..m / 2 + 1].copy_from_slice(&spec_env[..m / 2 + 1]);
        if m % 2 == 0 {
            low[m / 2] *= if frames < len { 2.0 } else { 0.5 };
        }
        // The inverse real FFT reads only the real parts of the DC and (even) Nyquist bins.
        low[0].im = 0.0;
        if frames % 2 == 0 {
            low[frames / 2].im = 0.0;
        }
        let is = self.frames_irfft.get_scratch_len();
        self.frames_irfft
            .process_with_scratch(low, &mut sc.out, &mut sc.fft[..is])
            .expect("irfft sizes");
        // Unnormalised inverse (÷ frames) times frames/len: ÷ len.
        let k = 1.0 / len as f32;
        for o in sc.out.iter_mut() {
            *o *= k;
        }
    }
}
