use super::*;
use crate::registry::cochlea::Envelope;
use crate::value::{Call, Value};

fn small() -> CochleaParams {
    CochleaParams {
        sample_rate: 16_000.0,
        duration: 0.25,
        filters: 12,
        low_hz: 50.0,
        high_hz: 6000.0,
        sample_factor: 2,
        env_rate: 200.0,
        power: 0.3,
        ..Default::default()
    }
}

fn tone(hz: f64, p: &CochleaParams) -> Tensor {
    let s = p.samples();
    let v: Vec<f32> = (0..s)
        .map(|i| (0.1 * (std::f64::consts::TAU * hz * i as f64 / p.sample_rate).sin()) as f32)
        .collect();
    Tensor::from_slice(&v).view([1, s as i64])
}

#[test]
fn shape_and_tone_peaks_at_nearest_filter() {
    let _rng = crate::exec::engine::test_rng_lock();
    let p = small();
    let c = Cochleagram::new(&p, Device::Cpu);
    assert_eq!(c.shape(), (25, 50));
    let centres: Vec<f64> = p.filterbank().iter().map(|f| f.centre_hz).collect();
    for hz in [180.0, 440.0, 1000.0, 2500.0, 4200.0] {
        let out = c.apply(&tone(hz, &p));
        assert_eq!(out.size(), vec![1, 1, 25, 50]);
        let prof = out
            .mean_dim([3i64].as_slice(), false, Kind::Float)
            .view([-1]);
        let peak = prof.argmax(0, false).int64_value(&[]) as usize;
        let nearest = (0..centres.len())
            .min_by(|&a, &b| {
                (centres[a] - hz)
                    .abs()
                    .partial_cmp(&(centres[b] - hz).abs())
                    .unwrap()
            })
            .unwrap();
        assert_eq!(
            peak, nearest,
            "{hz} Hz peaks in filter {peak} ({} Hz), nearest centre is {} Hz",
            centres[peak], centres[nearest]
        );
    }
}

/// `envelope = fast` stays within 2 % of the exact cochleagram (max over every cell), on
/// white noise (the hardest case: every band full) with the small and the paper's filterbank.
#[test]
fn fast_envelopes_match_exact() {
    let _rng = crate::exec::engine::test_rng_lock();
    for p in [
        small(),
        CochleaParams {
            duration: 0.3,
            ..Default::default()
        },
    ] {
        tch::manual_seed(3);
        let wav = Tensor::randn([3, p.samples() as i64], (Kind::Float, Device::Cpu)) * 0.1;
        let exact = Cochleagram::new(&p, Device::Cpu).apply(&wav);
        let fast_p = CochleaParams {
            envelope: crate::registry::cochlea::Envelope::Fast,
            ..p.clone()
        };
        let fast = Cochleagram::new(&fast_p, Device::Cpu).apply(&wav);
        let d = (&fast - &exact).abs();
        let scale = exact.abs().max().double_value(&[]);
        let (max, mean) = (
            d.max().double_value(&[]) / scale,
            d.mean(Kind::Float).double_value(&[]) / scale,
        );
        eprintln!(
            "fast vs exact ({} samples): max {max:.2e}, mean {mean:.2e} of the maximum",
            p.samples()
        );
        assert!(max <= 2e-2 && mean <= 2e-3, "max {max}, mean {mean}");
    }
}

#[test]
fn resample_matches_scipy_conventions() {
    let _rng = crate::exec::engine::test_rng_lock();
    // A band-limited periodic signal is resampled exactly (down and up, even and odd lengths).
    let sig = |n: i64| {
        let v: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 / n as f64;
                1.0 + (std::f64::consts::TAU * 2.0 * t).sin()
                    + 0.5 * (std::f64::consts::TAU * 3.0 * t).cos()
            })
            .collect();
        Tensor::from_slice(&v).view([1, n])
    };
    for (n, m) in [(100, 20), (101, 21), (20, 100), (64, 64), (30, 9)] {
        let got = resample(&sig(n), m);
        let want = sig(m);
        let err = (&got - &want).abs().max().double_value(&[]);
        assert!(err < 1e-9, "{n} → {m}: {err}");
    }
}

#[test]
fn against_numpy_scipy_reference() {
    let _rng = crate::exec::engine::test_rng_lock();
    let Some(py) = crate::features::pyref::python_or_skip("cochleagram against numpy/scipy") else {
        return;
    };
    let p = small();
    let s = p.samples();
    // A tone complex with noise, and a chirp-like signal.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let normal = Normal::new(0.0, 0.05).unwrap();
    let mut wav = vec![0f32; 2 * s];
    for i in 0..s {
        let t = i as f64 / p.sample_rate;
        wav[i] = (0.1 * (std::f64::consts::TAU * 300.0 * t).sin()
            + 0.05 * (std::f64::consts::TAU * 2100.0 * t).sin()
            + normal.sample(&mut rng)) as f32;
        wav[s + i] = (0.1 * (std::f64::consts::TAU * (200.0 + 8000.0 * t) * t).sin()) as f32;
    }
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.json");
    let out = dir.path().join("out.json");
    let rows: Vec<Vec<f64>> = wav
        .chunks(s)
        .map(|c| c.iter().map(|&v| v as f64).collect())
        .collect();
    let j = serde_json::json!({
        "params": {
            "sample_rate": p.sample_rate, "filters": p.filters, "low_hz": p.low_hz,
            "high_hz": p.high_hz, "sample_factor": p.sample_factor, "env_rate": p.env_rate,
            "power": p.power, "duration": p.duration
        },
        "wav": rows,
    });
    std::fs::write(&inp, serde_json::to_vec(&j).unwrap()).unwrap();
    crate::features::pyref::run(&py, "cochleagram_ref.py", &[&inp, &out]);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let centres: Vec<f64> = r["centres_hz"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (a, b) in p.filterbank().iter().zip(&centres) {
        assert!(
            (a.centre_hz - b).abs() < 1e-9 * b,
            "centre {} vs {b}",
            a.centre_hz
        );
    }
    let want: Vec<f64> = r["coch"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b.as_array().unwrap().iter())
        .flat_map(|f| f.as_array().unwrap().iter())
        .map(|v| v.as_f64().unwrap())
        .collect();
    // Both paths: the CPU one (rustfft) and libtorch's (the CUDA path, here on the CPU).
    let c = Cochleagram::new(&p, Device::Cpu);
    let clips = Tensor::from_slice(&wav).view([2, s as i64]);
    for (path, got) in [
        ("host", c.apply(&clips)),
        ("libtorch", c.apply_torch(&clips)),
    ] {
        let got = got.to_kind(Kind::Double);
        assert_eq!(got.size(), vec![2, 1, 25, 50]);
        let got = Vec::<f64>::try_from(got.view([-1])).unwrap();
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f64, f64::max);
        eprintln!("cochleagram ({path}) vs numpy/scipy: max abs err {err:.2e} (scale {scale:.3})");
        assert!(
            err <= 1e-4 * scale,
            "{path}: max error {err} vs scale {scale}"
        );
    }
}

/// The CPU path (rustfft) and libtorch's agree for both envelopes, on white noise and on
/// paper-sized filterbanks, and the CPU path does not depend on the thread count.
#[test]
fn host_path_equals_libtorch_path() {
    let _rng = crate::exec::engine::test_rng_lock();
    tch::manual_seed(11);
    let paper = CochleaParams {
        duration: 0.25,
        ..CochleaParams::default()
    };
    for base in [small(), paper] {
        for envelope in [Envelope::Exact, Envelope::Fast] {
            let p = CochleaParams {
                envelope,
                ..base.clone()
            };
            let c = Cochleagram::new(&p, Device::Cpu);
            let wav = Tensor::randn([3, p.samples() as i64], (Kind::Float, Device::Cpu)) * 0.1;
            let host = c.apply(&wav);
            let torch = c.apply_torch(&wav);
            assert_eq!(host.size(), torch.size());
            let scale = torch.abs().max().double_value(&[]);
            let err = (&host - &torch).abs().max().double_value(&[]);
            eprintln!(
                "{envelope:?} {} filters: host vs libtorch {err:.2e} (scale {scale:.3})",
                c.shape().0
            );
            assert!(err <= 2e-5 * scale, "{envelope:?}: {err} vs scale {scale}");
            if tch::Cuda::is_available() {
                let cuda = Cochleagram::new(&p, Device::Cuda(0))
                    .apply(&wav)
                    .to_device(Device::Cpu);
                let err = (&cuda - &torch).abs().max().double_value(&[]);
                assert!(
                    err <= 2e-5 * scale,
                    "{envelope:?} on CUDA: {err} vs scale {scale}"
                );
            }
            let before = tch::get_num_threads();
            tch::set_num_threads(1);
            let one = c.apply(&wav);
            tch::set_num_threads(before);
            assert!(one.equal(&host), "thread count changed the output");
        }
    }
}

#[test]
fn synthetic_audio_is_deterministic_and_balanced() {
    let _rng = crate::exec::engine::test_rng_lock();
    let c = Call::new("synthetic_audio")
        .with("train", Value::Int(120))
        .with("val", Value::Int(20))
        .with("duration", Value::Float(0.2))
        .with("filters", Value::Int(12))
        .with("sample_factor", Value::Int(2));
    let a = crate::exec::engine::Task::from_call(&c).unwrap();
    let b = crate::exec::engine::Task::from_call(&c).unwrap();
    assert!(
        a.train
            .in_memory()
            .unwrap()
            .equal(b.train.in_memory().unwrap())
            && a.val.labels().equal(b.val.labels())
    );
    assert_eq!(a.train.in_memory().unwrap().size(), vec![120, 4000]);
    assert_eq!((a.channels, a.height, a.width), (1, 25, 40));
    assert!(a.is_audio());
    let d = crate::exec::engine::Task::from_call(&c.clone().with("seed", Value::Int(1))).unwrap();
    assert!(
        !a.train
            .in_memory()
            .unwrap()
            .equal(d.train.in_memory().unwrap())
    );
    let counts = a.train.labels().bincount(None::<Tensor>, 10);
    assert!(counts.min().int64_value(&[]) >= 4);
    let x = a.inputs(&a.val.in_memory().unwrap().narrow(0, 0, 4), Device::Cpu);
    assert_eq!(x.size(), vec![4, 1, 25, 40]);
    assert!(x.isfinite().all().int64_value(&[]) == 1);
    assert!(
        crate::exec::engine::Task::from_call(&c.clone().with("classes", Value::Int(40))).is_err()
    );
    let e =
        crate::exec::engine::Task::from_call(&c.clone().with("high_hz", Value::Float(15_000.0)))
            .unwrap_err()
            .to_string();
    assert!(e.contains("high_hz") && e.contains("Nyquist"), "{e}");
}

fn write_wav(path: &Path, rate: u32, channels: u16, hz: f64, secs: f64) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(secs * rate as f64) as usize {
        let v =
            (0.3 * (std::f64::consts::TAU * hz * i as f64 / rate as f64).sin() * 32767.0) as i16;
        for _ in 0..channels {
            w.write_sample(v).unwrap();
        }
    }
    w.finalize().unwrap();
}

#[test]
fn wav_folder_reader_resamples_and_fits_length() {
    let _rng = crate::exec::engine::test_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    // Two classes: a low and a high tone, at different file rates and channel counts.
    for (cls, hz) in [("low", 300.0), ("high", 2000.0)] {
        let d = dir.path().join(cls);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..5 {
            let (rate, ch, secs) = if i % 2 == 0 {
                (16_000, 1, 0.1)
            } else {
                (44_100, 2, 0.4)
            };
            write_wav(&d.join(format!("{i}.wav")), rate, ch, hz, secs);
        }
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
    }
    let c = Call::new("audio_folder")
        .with("path", Value::Str(dir.path().to_string_lossy().into()))
        .with("duration", Value::Float(0.25))
        .with("sample_rate", Value::Float(16_000.0))
        .with("filters", Value::Int(12))
        .with("high_hz", Value::Float(6000.0))
        .with("sample_factor", Value::Int(2))
        .with("val_fraction", Value::Float(0.2));
    let t = crate::exec::engine::Task::from_call(&c).unwrap();
    assert_eq!(t.classes, 2);
    assert_eq!(t.n_train(), 8);
    assert_eq!(t.n_val(), 2);
    assert_eq!(t.train.in_memory().unwrap().size()[1], 4000);
    // Streamed from the files: the same clips and the same normalisation.
    let st =
        crate::exec::engine::Task::from_call(&c.clone().with("load", Value::Str("stream".into())))
            .unwrap();
    assert!(st.train.streamed() && !t.train.streamed());
    assert!(
        st.train
            .range(0, 8)
            .unwrap()
            .equal(t.train.in_memory().unwrap())
    );
    assert_eq!((&st.mean, &st.std), (&t.mean, &t.std));
    // Class folders are sorted: "high" = 0, "low" = 1. The low tone's energy sits in low rows.
    let x = t.inputs(t.train.in_memory().unwrap(), Device::Cpu);
    for i in 0..t.n_train() {
        let row = x
            .get(i)
            .mean_dim([0i64, 2].as_slice(), false, Kind::Float)
            .argmax(0, false)
            .int64_value(&[]);
        let lab = t.train.labels().int64_value(&[i]);
        let centre = p_centre(&c, row as usize);
        let hz = if lab == 0 { 2000.0 } else { 300.0 };
        assert!(
            (centre / hz).ln().abs() < 0.25,
            "label {lab}: peak at {centre} Hz"
        );
    }
    // A 16 kHz short clip is zero-padded after 0.1 s; a 44.1 kHz one is resampled and cut.
    let (raw, rate) = read_wav(&dir.path().join("low/1.wav")).unwrap();
    assert_eq!((rate, raw.len()), (44_100, 17_640));
    let bad = dir.path().join("low/bad.wav");
    std::fs::write(&bad, b"RIFF nonsense").unwrap();
    let e = crate::exec::engine::Task::from_call(&c)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.wav") && e.contains("WAV"), "{e}");
    std::fs::remove_file(&bad).unwrap();
    let e = crate::exec::engine::Task::from_call(&c.clone().with(
        "path",
        Value::Str(dir.path().join("low").to_string_lossy().into()),
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("two class folders"), "{e}");
}

fn p_centre(c: &Call, row: usize) -> f64 {
    CochleaParams::from_call(&crate::registry::complete(c)).filterbank()[row].centre_hz
}

#[test]
fn fit_clip_pads_and_cuts() {
    let _rng = crate::exec::engine::test_rng_lock();
    let p = small();
    let mut out = vec![];
    fit_clip(vec![0.5; 10], 16_000, &p, &mut out);
    assert_eq!(out.len(), p.samples());
    assert_eq!((out[9], out[10]), (0.5, 0.0));
    out.clear();
    fit_clip(vec![0.25; 2 * p.samples()], 16_000, &p, &mut out);
    assert_eq!(out.len(), p.samples());
    // 8 kHz → 16 kHz doubles the samples of a constant signal, then it is cut.
    out.clear();
    fit_clip(vec![1.0; 1000], 8000, &p, &mut out);
    assert!((out[500] - 1.0).abs() < 1e-5 && out[2000] == 0.0);
}
