//! The cochleagram front end of the audio tasks (method.md §7, "WSN"), the parts that need no
//! libtorch: parameters, output shape, the ERB-spaced half-cosine filterbank, and a FLOP model
//! for the plan. The engine (`engine::audio`) applies it to waveforms on the training device.
//!
//! The algorithm (docs/audio.md; the test reference is `tests/python/cochleagram_ref.py`):
//! 1. `n_filters = sample_factor·(filters + 1) − 1` band-pass filters whose centres are evenly
//!    spaced on the ERB-number scale `erb(f) = 9.265·ln(1 + f / (24.7·9.265))` between `low_hz`
//!    and `high_hz` (the end points excluded), spacing `Δ`. Filter i is the half cosine
//!    `cos(π·(erb(f) − c_i) / (2·sample_factor·Δ)) / √sample_factor` on `|erb(f) − c_i| <
//!    sample_factor·Δ`, zero elsewhere (McDermott & Simoncelli's filters, as in pycochleagram;
//!    with the paper's 50 filters and sample factor 4 this gives its 203 frequency rows).
//! 2. The sub-band envelope is the magnitude of the analytic signal of each filtered band (the
//!    Hilbert envelope), computed from the FFT of the waveform.
//! 3. Envelopes are resampled to `env_rate` by the Fourier method (scipy.signal.resample).
//! 4. Compression: negative values are clipped to 0, then raised to `power`.

use crate::value::Call;

/// Cochleagram parameters (the paper's values are the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct CochleaParams {
    /// Waveform sampling rate in Hz (inputs at other rates are resampled to it).
    pub sample_rate: f64,
    /// Clip length in seconds (longer clips are cut, shorter ones zero-padded).
    pub duration: f64,
    /// Number of filters at sample factor 1.
    pub filters: usize,
    /// Lower end of the filterbank in Hz (a filter edge, not a centre).
    pub low_hz: f64,
    /// Upper end of the filterbank in Hz (at most `sample_rate / 2`).
    pub high_hz: f64,
    /// Filters per ERB band (overcompleteness): the bank has `sample_factor·(filters + 1) − 1`
    /// filters.
    pub sample_factor: usize,
    /// Envelope sampling rate in Hz: the cochleagram's time resolution.
    pub env_rate: f64,
    /// Compression exponent.
    pub power: f64,
    /// How sub-band envelopes are computed.
    pub envelope: Envelope,
}

/// How sub-band envelopes are computed (docs/audio.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Envelope {
    /// At the full sampling rate, as pycochleagram does (the default).
    #[default]
    Exact,
    /// Each band's analytic signal at 8× its band width (at least the output frames), then
    /// resampled: several times faster; deviates from `Exact` by the aliasing of the envelope's
    /// own spectrum (tests bound it at 2 % of the maximum, about 0.1 % on average).
    Fast,
}

impl Envelope {
    /// The names of the variants as the `envelope` parameter takes them.
    pub const NAMES: &'static [&'static str] = &["exact", "fast"];
}

impl Default for CochleaParams {
    fn default() -> Self {
        CochleaParams {
            sample_rate: 20_000.0,
            duration: 2.0,
            filters: 50,
            low_hz: 20.0,
            high_hz: 8_000.0,
            sample_factor: 4,
            env_rate: 200.0,
            power: 0.3,
            envelope: Envelope::Exact,
        }
    }
}

/// The tasks whose examples are waveforms turned into cochleagrams.
pub const AUDIO_TASKS: &[&str] = &["synthetic_audio", "audio_folder"];

/// Whether the task builtin `name` is an audio task.
pub fn is_audio_task(name: &str) -> bool {
    AUDIO_TASKS.contains(&name)
}

/// The ERB-number of frequency `f` (Hz): `9.265·ln(1 + f / (24.7·9.265))`.
pub fn freq2erb(f: f64) -> f64 {
    9.265 * (1.0 + f / (24.7 * 9.265)).ln()
}

/// The frequency (Hz) of ERB-number `e`, the inverse of [`freq2erb`].
pub fn erb2freq(e: f64) -> f64 {
    24.7 * 9.265 * ((e / 9.265).exp() - 1.0)
}

impl CochleaParams {
    /// Read the parameters of an audio task call (absent ones take their defaults).
    pub fn from_call(call: &Call) -> CochleaParams {
        let d = CochleaParams::default();
        let f = |k: &str, v: f64| call.f64(k).unwrap_or(v);
        let u = |k: &str, v: usize| call.i64(k).map_or(v, |x| x.max(0) as usize);
        CochleaParams {
            sample_rate: f("sample_rate", d.sample_rate),
            duration: f("duration", d.duration),
            filters: u("filters", d.filters),
            low_hz: f("low_hz", d.low_hz),
            high_hz: f("high_hz", d.high_hz),
            sample_factor: u("sample_factor", d.sample_factor),
            env_rate: f("env_rate", d.env_rate),
            power: f("power", d.power),
            envelope: match call.str("envelope") {
                Some("fast") => Envelope::Fast,
                _ => Envelope::Exact,
            },
        }
    }

    /// Problems with the parameters, as (parameter, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![];
        let nyq = self.sample_rate / 2.0;
        if self.sample_rate.is_nan() || self.sample_rate < 1000.0 {
            v.push(("sample_rate", "must be at least 1000 Hz".into()));
        }
        if self.duration.is_nan() || self.duration <= 0.0 {
            v.push(("duration", "must be positive".into()));
        }
        if self.filters < 1 {
            v.push(("filters", "must be at least 1".into()));
        }
        if self.sample_factor < 1 {
            v.push(("sample_factor", "must be at least 1".into()));
        }
        if !(self.low_hz > 0.0 && self.low_hz < self.high_hz) {
            v.push(("low_hz", "must be positive and below high_hz".into()));
        }
        if self.high_hz > nyq {
            v.push((
                "high_hz",
                format!(
                    "{} Hz is above the Nyquist frequency {nyq} Hz of sample_rate {} Hz",
                    self.high_hz, self.sample_rate
                ),
            ));
        }
        if !(self.env_rate > 0.0 && self.env_rate <= self.sample_rate) {
            v.push((
                "env_rate",
                "must be positive and at most sample_rate".into(),
            ));
        }
        if self.power.is_nan() || self.power <= 0.0 {
            v.push(("power", "must be positive".into()));
        }
        if v.is_empty() && self.frames() < 2 {
            v.push((
                "duration",
                "gives fewer than 2 envelope frames at env_rate".into(),
            ));
        }
        v
    }

    /// Waveform samples per clip.
    pub fn samples(&self) -> usize {
        (self.duration * self.sample_rate).round() as usize
    }
    /// Envelope frames per clip: the cochleagram's width.
    pub fn frames(&self) -> usize {
        (self.duration * self.env_rate).round() as usize
    }
    /// Band-pass filters: the cochleagram's height.
    pub fn n_filters(&self) -> usize {
        self.sample_factor * (self.filters + 1) - 1
    }

    /// The filterbank on the rFFT bins of a clip: for each filter its first non-zero bin and
    /// its gains on the bins from there (all zero-gain bins at the ends trimmed), and its centre
    /// frequency in Hz.
    pub fn filterbank(&self) -> Vec<Filter> {
        let s = self.samples();
        let nbins = s / 2 + 1;
        let nf = self.n_filters();
        let (e_lo, e_hi) = (freq2erb(self.low_hz), freq2erb(self.high_hz));
        let delta = (e_hi - e_lo) / (nf + 1) as f64;
        let sf = self.sample_factor as f64;
        let half = sf * delta;
        let scale = 1.0 / sf.sqrt();
        let bin_erb: Vec<f64> = (0..nbins)
            .map(|k| freq2erb(k as f64 * self.sample_rate / s as f64))
            .collect();
        (0..nf)
            .map(|i| {
                let c = e_lo + (i + 1) as f64 * delta;
                // The bins with |erb − c| < half (bin_erb ascends), where the gain is non-zero.
                let first = bin_erb.partition_point(|&e| e - c <= -half);
                let end = bin_erb.partition_point(|&e| e - c < half);
                let gains: Vec<f64> = bin_erb[first..end.max(first)]
                    .iter()
                    .map(|&e| (std::f64::consts::PI * (e - c) / (2.0 * half)).cos() * scale)
                    .collect();
                Filter {
                    first,
                    gains,
                    centre_hz: erb2freq(c),
                }
            })
            .collect()
    }

    /// The length at which filter `f`'s envelope is computed. The envelope is computed from
    /// the demodulated band (bins shifted down to 0), whose analytic signal is exact at any
    /// length that holds the band. `Exact`: the clip's length. `Fast`: 8× the band width (at
    /// least `frames`, at most `samples`): only the envelope's own spectrum above that rate
    /// aliases.
    pub fn envelope_len(&self, f: &Filter) -> usize {
        let s = self.samples();
        if self.envelope == Envelope::Exact {
            return s;
        }
        fast_len((8 * f.gains.len()).max(self.frames()).max(16)).min(s)
    }

    /// Floating-point operations for one clip (5·n·log2 n per FFT of length n).
    pub fn flops(&self) -> f64 {
        let fft = |n: usize| 5.0 * n as f64 * (n.max(2) as f64).log2();
        let s = self.samples();
        let t = self.frames();
        fft(s)
            + self
                .filterbank()
                .iter()
                .map(|f| {
                    let m = self.envelope_len(f);
                    2.0 * fft(m) + fft(t) + 8.0 * m as f64
                })
                .sum::<f64>()
    }
}

/// One filter of the bank on the rFFT bins of a clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The rFFT bin of the first non-zero gain.
    pub first: usize,
    /// The gains on the bins from `first` on.
    pub gains: Vec<f64>,
    /// The centre frequency in Hz.
    pub centre_hz: f64,
}

/// The smallest length ≥ n whose prime factors are 2, 3 and 5 (fast FFT sizes).
pub fn fast_len(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut r = m;
        for p in [2, 3, 5] {
            while r % p == 0 {
                r /= p;
            }
        }
        if r == 1 {
            return m;
        }
        m += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_shape() {
        let p = CochleaParams::default();
        assert_eq!(p.n_filters(), 203);
        assert_eq!(p.frames(), 400);
        assert_eq!(p.samples(), 40_000);
        assert!(p.problems().is_empty());
    }

    #[test]
    fn erb_roundtrip_and_filters_cover_band() {
        for f in [20.0, 440.0, 8000.0] {
            assert!((erb2freq(freq2erb(f)) - f).abs() < 1e-9 * f);
        }
        let p = CochleaParams {
            duration: 0.5,
            ..Default::default()
        };
        let fb = p.filterbank();
        assert_eq!(fb.len(), 203);
        // Centres increase and lie within the band; every filter has some bins.
        for w in fb.windows(2) {
            assert!(w[0].centre_hz < w[1].centre_hz);
        }
        assert!(fb[0].centre_hz > 20.0 && fb[202].centre_hz < 8000.0);
        assert!(fb.iter().all(|f| !f.gains.is_empty()));
        // Sum of squared gains is 1 inside the band (overlapping half cosines at sample factor
        // s sum to s in power, scaled by 1/s).
        let s = p.samples();
        let mut power = vec![0.0; s / 2 + 1];
        for f in &fb {
            for (j, g) in f.gains.iter().enumerate() {
                power[f.first + j] += g * g;
            }
        }
        let bin = |hz: f64| (hz * s as f64 / p.sample_rate) as usize;
        for hz in [200.0, 1000.0, 4000.0] {
            assert!(
                (power[bin(hz)] - 1.0).abs() < 1e-6,
                "{hz}: {}",
                power[bin(hz)]
            );
        }
    }

    #[test]
    fn bad_params() {
        let p = CochleaParams {
            high_hz: 12_000.0,
            ..Default::default()
        };
        assert_eq!(p.problems()[0].0, "high_hz");
        assert_eq!(fast_len(7), 8);
        assert_eq!(fast_len(121), 125);
    }
}
