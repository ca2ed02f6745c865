use super::*;
use crate::features::pyref;
use std::collections::BTreeMap;

fn key(seed: u8) -> [u8; 32] {
    [seed; 32]
}

/// Sample mean and (population) variance.
fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n)
}

#[test]
fn poisson_counts_mean_equals_variance_equals_lambda() {
    // Both samplers (inversion below 10, PTRS above), 200k draws each at a fixed seed.
    for (i, lambda) in [0.3, 4.0, 9.9, 10.0, 37.5, 400.0].into_iter().enumerate() {
        let n = 200_000usize;
        let mut rng = draws(key(i as u8), 0, 0);
        let v: Vec<f64> = (0..n).map(|_| poisson(&mut rng, lambda) as f64).collect();
        let (m, var) = moments(&v);
        let se_m = (lambda / n as f64).sqrt();
        let se_v = ((2.0 * lambda * lambda + lambda) / n as f64).sqrt();
        assert!(
            (m - lambda).abs() < 4.0 * se_m,
            "λ={lambda}: mean {m} (±{se_m})"
        );
        assert!(
            (var - lambda).abs() < 4.0 * se_v,
            "λ={lambda}: var {var} (±{se_v})"
        );
    }
    let mut rng = draws(key(9), 0, 0);
    assert_eq!(poisson(&mut rng, 0.0), 0);
    assert_eq!(poisson(&mut rng, f64::NAN), 0);
}

#[test]
fn poisson_model_observes_rate_estimates() {
    // rate = 2 + 20·max(x, 0); counts/window over repeats: mean = rate, var = rate/(window·repeats).
    let m = PoissonModel {
        rate_scale: 20.0,
        baseline: 2.0,
        window: 0.25,
        repeats: 4,
    };
    let rows = 4000u64;
    let units: Vec<i64> = (0..50).collect();
    for x in [-1.0, 0.0, 0.7] {
        let xs = vec![x; rows as usize * units.len()];
        let v = m.observe_block(key(1), 0..rows, &units, &xs);
        let rate = 2.0 + 20.0 * f64::max(x, 0.0);
        let (mean, var) = moments(&v);
        let n = v.len() as f64;
        let expect_var = rate / (0.25 * 4.0);
        assert!(
            (mean - rate).abs() < 4.0 * (expect_var / n).sqrt(),
            "x={x}: mean {mean} vs {rate}"
        );
        assert!(
            (var / expect_var - 1.0).abs() < 0.03,
            "x={x}: var {var} vs {expect_var}"
        );
        // Observations are multiples of 1/(window·repeats) = 1.
        assert!(v.iter().all(|o| o.fract() == 0.0 && *o >= 0.0));
    }
    assert!(m.observe_block(key(1), 0..1, &[0], &[f64::NAN])[0].is_nan());
}

#[test]
fn models_are_pure_functions_of_key_row_unit() {
    let p = PoissonModel::default();
    let units: Vec<i64> = vec![0, 3, 17, 1000];
    let x: Vec<f64> = (0..12).map(|i| i as f64 * 0.3 - 0.5).collect();
    let a = p.observe_block(key(5), 10..13, &units, &x);
    assert_eq!(a, p.observe_block(key(5), 10..13, &units, &x));
    assert_ne!(a, p.observe_block(key(6), 10..13, &units, &x));
    // A sub-block sees exactly the same values.
    let sub = p.observe_block(key(5), 11..12, &units[1..3], &x[5..7]);
    assert_eq!(sub, a[5..7].to_vec());

    // Calcium: batches chained through the states equal one recording.
    let c = CalciumModel::default();
    let mut s_all = Vec::new();
    let whole = c.observe_block(key(5), 0..3, &units, &x, &mut s_all);
    let mut s = Vec::new();
    let mut chained = c.observe_block(key(5), 0..1, &units, &x[..4], &mut s);
    chained.extend(c.observe_block(key(5), 1..3, &units, &x[4..], &mut s));
    assert_eq!(whole, chained);
    assert_eq!(s, s_all);
    let mut s2 = Vec::new();
    assert_ne!(whole, c.observe_block(key(7), 0..3, &units, &x, &mut s2));
}

#[test]
fn calcium_impulse_response_is_the_kernel() {
    let c = CalciumModel {
        rise: 0.07,
        decay: 0.6,
        frame_rate: 20.0,
        ..CalciumModel::default()
    };
    let mut spikes = vec![0.0; 80];
    spikes[0] = 1.0;
    let trace = c.calcium(&mut c.start(), &spikes);
    let (tr, td) = (0.07f64, 0.6f64);
    let tp = (td / tr).ln() * tr * td / (td - tr);
    let norm = (-tp / td).exp() - (-tp / tr).exp();
    for (f, &v) in trace.iter().enumerate() {
        let t = f as f64 / 20.0;
        let want = ((-t / td).exp() - (-t / tr).exp()) / norm;
        assert!((v - want).abs() < 1e-12, "frame {f}: {v} vs {want}");
        assert!((c.kernel(t) - want).abs() < 1e-12);
    }
    assert_eq!(trace[0], 0.0);
    // Peak-normalised: h(t*) = 1, below 1 elsewhere.
    assert!((c.kernel(tp) - 1.0).abs() < 1e-12);
    assert!(trace.iter().all(|&v| v <= 1.0 + 1e-12));
    // Linear: two spikes superpose.
    spikes[10] = 2.0;
    let two = c.calcium(&mut c.start(), &spikes);
    for (f, &v) in two.iter().enumerate() {
        let want = c.kernel(f as f64 / 20.0) + 2.0 * c.kernel((f as f64 - 10.0) / 20.0);
        assert!((v - want).abs() < 1e-12);
    }
    // Hill saturation: half at kd, → 1.
    assert!((c.saturation(c.kd) - 0.5).abs() < 1e-15);
    assert_eq!(c.saturation(0.0), 0.0);
    assert!(c.saturation(1e6) > 0.999);
}

#[test]
fn calcium_without_noise_or_spikes_is_flat_and_responses_grow_with_rate() {
    let quiet = CalciumModel {
        shot: 0.0,
        read: 0.0,
        ..CalciumModel::default()
    };
    let mut s = Vec::new();
    let v = quiet.observe_block(key(2), 0..5, &[0, 1], &[-1.0; 10], &mut s);
    assert!(v.iter().all(|&o| o == 0.0), "{v:?}");
    // Mean ΔF/F over many units rises with the activation and stays in [0, 1) without noise.
    let units: Vec<i64> = (0..400).collect();
    let mut means = Vec::new();
    for x in [0.0, 0.5, 2.0] {
        let mut s = Vec::new();
        let xs = vec![x; 4 * units.len()];
        let o = quiet.observe_block(key(3), 0..4, &units, &xs, &mut s);
        assert!(o.iter().all(|&d| (0.0..1.0).contains(&d)));
        means.push(moments(&o[3 * units.len()..]).0);
    }
    assert!(
        means[0] == 0.0 && means[1] > 0.0 && means[2] > means[1],
        "{means:?}"
    );
}

#[test]
fn validation_names_the_parameter() {
    use crate::diag::Coded;
    assert!(PoissonModel::default().validate().is_ok());
    assert!(CalciumModel::default().validate().is_ok());
    let e = PoissonModel {
        window: 0.0,
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.code(), "lrx::measurement::positive");
    assert!(e.to_string().contains("`window`"), "{e}");
    let e = PoissonModel {
        rate_scale: -1.0,
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.code(), "lrx::measurement::negative");
    let e = CalciumModel {
        rise: 0.5,
        decay: 0.5,
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.code(), "lrx::measurement::kinetics");
    let e = CalciumModel {
        frames_per_stimulus: 0,
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("frames_per_stimulus"), "{e}");
    assert_eq!(
        PoissonModel::default().canonical(),
        "poisson(rate_scale=20,baseline=0,window=0.5,repeats=1)"
    );
}

#[test]
fn log_gamma_matches_factorials() {
    let mut lf = 0.0f64;
    for k in 1..60u32 {
        // log Γ(k+1) = log k!
        lf += (k as f64).ln();
        let g = log_gamma(k as f64 + 1.0);
        assert!((g - lf).abs() < 1e-10 * lf.max(1.0), "k={k}: {g} vs {lf}");
    }
}

#[test]
fn matches_numpy_scipy_reference() {
    let Some(py) = pyref::python_or_skip("matches_numpy_scipy_reference") else {
        return;
    };
    let c = CalciumModel {
        rise: 0.06,
        decay: 0.5,
        frame_rate: 25.0,
        kd: 3.0,
        hill: 2.2,
        shot: 0.02,
        read: 0.05,
        ..CalciumModel::default()
    };
    // A spike train and normals from a fixed stream; the deterministic parts compared exactly.
    let mut rng = draws(key(11), 0, 0);
    let spikes: Vec<f64> = (0..300).map(|_| poisson(&mut rng, 0.4) as f64).collect();
    let z: Vec<(f64, f64)> = (0..300).map(|_| normal_pair(&mut rng)).collect();
    let trace = c.calcium(&mut c.start(), &spikes);
    let dff: Vec<f64> = trace
        .iter()
        .zip(&z)
        .map(|(&ci, &(z1, z2))| c.dff(ci, z1, z2))
        .collect();
    // Poisson samples for a chi-square test against scipy's pmf.
    let lambdas = [0.5, 3.0, 12.0, 80.0];
    let mut pois = Vec::new();
    for (i, &lam) in lambdas.iter().enumerate() {
        let mut rng = draws(key(20 + i as u8), 0, 0);
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for _ in 0..50_000 {
            *counts
                .entry(poisson(&mut rng, lam).to_string())
                .or_default() += 1;
        }
        pois.push(serde_json::json!({"lam": lam, "counts": counts}));
    }
    let input = serde_json::json!({
        "kernel": {
            "rise": c.rise, "decay": c.decay, "frame_rate": c.frame_rate, "kd": c.kd,
            "hill": c.hill, "shot": c.shot, "read": c.read, "spikes": spikes,
            "z1": z.iter().map(|p| p.0).collect::<Vec<_>>(),
            "z2": z.iter().map(|p| p.1).collect::<Vec<_>>(),
        },
        "poisson": pois,
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.json");
    std::fs::write(&path, input.to_string()).unwrap();
    let out: serde_json::Value =
        serde_json::from_str(&pyref::run(&py, "measurement_ref.py", &[&path])).unwrap();
    let pc: Vec<f64> = serde_json::from_value(out["calcium"].clone()).unwrap();
    let pd: Vec<f64> = serde_json::from_value(out["dff"].clone()).unwrap();
    let mut max_c = 0.0f64;
    for (a, b) in trace.iter().zip(&pc) {
        max_c = max_c.max((a - b).abs());
    }
    assert!(max_c < 1e-9, "calcium vs numpy: max |diff| {max_c}");
    let mut max_d = 0.0f64;
    for (a, b) in dff.iter().zip(&pd) {
        max_d = max_d.max((a - b).abs());
    }
    assert!(max_d < 1e-9, "ΔF/F vs numpy: max |diff| {max_d}");
    let tp = out["peak_time"].as_f64().unwrap();
    assert!(
        (tp - c.peak_time()).abs() < 1e-6,
        "peak {tp} vs {}",
        c.peak_time()
    );
    for r in out["poisson"].as_array().unwrap() {
        let p = r["p"].as_f64().unwrap();
        eprintln!(
            "poisson λ={} chi2={} dof={} p={p}",
            r["lam"], r["chi2"], r["dof"]
        );
        assert!(p > 1e-3, "Poisson sampler vs scipy pmf: {r}");
    }
    eprintln!("calcium max|diff| {max_c:e}, dF/F max|diff| {max_d:e}");
}
