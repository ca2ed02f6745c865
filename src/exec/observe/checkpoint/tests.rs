use super::*;
use crate::exec::observe::realism::standard_normal_at;
use crate::features::pyref;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Device;

/// Test layer: dense `x·Wᵀ + b` or conv2d, optional ReLU, optional backward weights B (same shape
/// as W) wired with the detach trick `op(x.detach(), W) + op(x, B.detach()) − op(x, B.detach()).detach()`.
struct TestLayer {
    name: String,
    conv: Option<(i64, i64)>, // (stride, padding)
    w: Tensor,
    b: Tensor,
    bwd: Option<Tensor>,
    relu: bool,
}

impl TestLayer {
    fn op(&self, x: &Tensor, k: &Tensor) -> Tensor {
        match self.conv {
            None => x.matmul(&k.tr()),
            Some((s, p)) => x.conv2d(k, None::<&Tensor>, [s, s], [p, p], [1, 1], 1),
        }
    }
}

impl ObservableLayer for TestLayer {
    fn name(&self) -> &str {
        &self.name
    }
    fn kernel(&self) -> Tensor {
        self.w.shallow_clone()
    }
    fn forward_layer(&self, x: &Tensor, via: JacobianVia) -> Tensor {
        let pre = match (&self.bwd, via) {
            (Some(bk), JacobianVia::Backward) => {
                let bd = bk.detach();
                self.op(&x.detach(), &self.w) + self.op(x, &bd) - self.op(x, &bd).detach()
            }
            _ => self.op(x, &self.w),
        };
        let bias = match self.conv {
            None => self.b.view([1, -1]),
            Some(_) => self.b.view([1, -1, 1, 1]),
        };
        let y = pre + bias;
        if self.relu { y.relu() } else { y }
    }
}

fn randn(rng: &mut ChaCha8Rng, shape: &[i64], scale: f64) -> Tensor {
    let n: i64 = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random();
            scale * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect();
    Tensor::from_slice(&v).reshape(shape)
}

fn param(t: Tensor) -> Tensor {
    t.set_requires_grad(true)
}

fn dense(rng: &mut ChaCha8Rng, name: &str, n_in: i64, n_out: i64, bwd: bool) -> TestLayer {
    TestLayer {
        name: name.into(),
        conv: None,
        w: param(randn(rng, &[n_out, n_in], 0.5)),
        b: param(randn(rng, &[n_out], 0.3)),
        bwd: bwd.then(|| param(randn(rng, &[n_out, n_in], 0.5))),
        relu: true,
    }
}

fn conv(rng: &mut ChaCha8Rng, name: &str, cin: i64, cout: i64, bwd: bool, relu: bool) -> TestLayer {
    TestLayer {
        name: name.into(),
        conv: Some((2, 1)),
        w: param(randn(rng, &[cout, cin, 3, 3], 0.4)),
        b: param(randn(rng, &[cout], 0.2)),
        bwd: bwd.then(|| param(randn(rng, &[cout, cin, 3, 3], 0.4))),
        relu,
    }
}

/// Three layers with their inputs for `n` stimuli: dense+ReLU, conv (stride 2, pad 1) with
/// ReLU and backward weights, conv without activation.
fn network(seed: u64, n: i64) -> (Vec<TestLayer>, Vec<Tensor>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layers = vec![
        dense(&mut rng, "fc", 12, 7, false),
        conv(&mut rng, "conv_fa", 2, 3, true, true),
        conv(&mut rng, "conv_lin", 3, 2, false, false),
    ];
    let inputs = vec![
        randn(&mut rng, &[n, 12], 1.0),
        randn(&mut rng, &[n, 2, 5, 5], 1.0),
        randn(&mut rng, &[n, 3, 4, 4], 1.0),
    ];
    (layers, inputs)
}

fn dyn_layers(layers: &[TestLayer]) -> Vec<&dyn ObservableLayer> {
    layers.iter().map(|l| l as &dyn ObservableLayer).collect()
}

/// Observe with the inputs split into batches of `batch` stimuli.
fn observe(
    layers: &[TestLayer],
    inputs: &[Tensor],
    batch: i64,
    cfg: &ObserveConfig,
) -> Vec<ObservationRow> {
    let n = inputs[0].size()[0];
    let batches: Vec<Vec<Tensor>> = (0..n)
        .step_by(batch as usize)
        .map(|s| {
            inputs
                .iter()
                .map(|x| x.narrow(0, s, batch.min(n - s)))
                .collect()
        })
        .collect();
    observe_checkpoint(&dyn_layers(layers), None, 5, batches, cfg).unwrap()
}

fn value(rows: &[ObservationRow], layer: &str, obs: &str, seed: i64, sigma: f64, frac: f64) -> f64 {
    let hits: Vec<&ObservationRow> = rows
        .iter()
        .filter(|r| {
            r.layer == layer
                && r.observable.name() == obs
                && r.realism_seed == seed
                && r.noise_sigma == sigma
                && r.unit_fraction == frac
        })
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{layer} {obs} seed {seed} σ {sigma} ρ {frac}"
    );
    hits[0].value
}

fn plain(rows: &[ObservationRow], layer: &str, obs: &str) -> f64 {
    value(rows, layer, obs, PLAIN_SEED, 0.0, 1.0)
}

#[test]
fn rows_cover_every_layer_condition_and_observable() {
    let _rng = crate::exec::engine::test_rng_lock();
    let (layers, inputs) = network(1, 6);
    let cfg = ObserveConfig {
        realism: vec![
            RealismCondition::new(0.5, 0.5, 0).unwrap(),
            RealismCondition::new(0.0, 0.25, 1).unwrap(),
        ],
        ..ObserveConfig::default()
    };
    let rows = observe(&layers, &inputs, 4, &cfg);
    assert_eq!(rows.len(), 3 * 3 * 45);
    assert!(rows.iter().all(|r| r.epoch == 5));
    let pos: Vec<LayerPosition> = ["fc", "conv_fa", "conv_lin"]
        .iter()
        .map(|l| rows.iter().find(|r| r.layer == *l).unwrap().layer_position)
        .collect();
    assert_eq!(
        pos,
        [
            LayerPosition::Early,
            LayerPosition::Middle,
            LayerPosition::Deep
        ]
    );
    // The first rows: layer fc, plain condition, candidates in config order.
    let names: Vec<String> = rows[..45].iter().map(|r| r.observable.name()).collect();
    let want: Vec<String> = ObservableId::candidates()
        .iter()
        .map(|o| o.name())
        .collect();
    assert_eq!(names, want);
    assert_eq!(
        (
            rows[0].realism_seed,
            rows[0].noise_sigma,
            rows[0].unit_fraction
        ),
        (-1, 0.0, 1.0)
    );
}

#[test]
fn weight_identities_and_plain_norm_is_frobenius() {
    let _rng = crate::exec::engine::test_rng_lock();
    let (layers, inputs) = network(2, 3);
    let rows = observe(&layers, &inputs, 3, &ObserveConfig::default());
    for l in &layers {
        let raw = plain(&rows, &l.name, "weightraw_norm");
        let abs = plain(&rows, &l.name, "weightabs_norm");
        let sqm = plain(&rows, &l.name, "weightsq_mean");
        let n = l.w.numel() as f64;
        let frob =
            l.w.detach()
                .to_kind(Kind::Double)
                .square()
                .sum(None)
                .sqrt()
                .double_value(&[]);
        assert_eq!(raw, abs, "{}: raw_norm == abs_norm", l.name);
        assert!((raw - frob).abs() <= 1e-12 * frob, "{}: Frobenius", l.name);
        assert!(
            (sqm - raw * raw / n).abs() <= 1e-12 * sqm,
            "{}: sq_mean = raw_norm²/n",
            l.name
        );
        // act raw_norm == abs_norm holds per stimulus too.
        let a = plain(&rows, &l.name, "actraw_norm");
        let b = plain(&rows, &l.name, "actabs_norm");
        assert!((a - b).abs() <= 1e-12 * a);
    }
}

#[test]
fn act_is_the_mean_of_per_stimulus_statistics_and_batch_invariant() {
    let _rng = crate::exec::engine::test_rng_lock();
    let (layers, inputs) = network(3, 6);
    let cfg = ObserveConfig {
        realism: vec![RealismCondition::new(1.0, 0.5, 3).unwrap()],
        ..ObserveConfig::default()
    };
    let one = observe(&layers, &inputs, 6, &cfg);
    let split = observe(&layers, &inputs, 2, &cfg);
    let single = observe(&layers, &inputs, 1, &cfg);
    for (a, (b, c)) in one.iter().zip(split.iter().zip(&single)) {
        assert_eq!(
            (&a.layer, a.observable, a.realism_seed),
            (&b.layer, b.observable, b.realism_seed)
        );
        for v in [b.value, c.value] {
            assert!(
                pyref::close(a.value, v, 1e-12),
                "{} {} seed {}: {} vs {}",
                a.layer,
                a.observable,
                a.realism_seed,
                a.value,
                v
            );
        }
    }
    // Direct check of the plain act statistics: mean over stimuli of each stimulus's statistic.
    let conv = StatConventions::default();
    for (l, x) in layers.iter().zip(&inputs) {
        let y = tch::no_grad(|| l.forward_layer(x, JacobianVia::Forward));
        for o in ObservableId::candidates()
            .iter()
            .filter(|o| o.measure == Measure::Act)
        {
            let per: Vec<f64> = (0..6)
                .map(|b| {
                    super::super::stats::statistic(&y.get(b), o.function, o.statistic, &conv)
                        .unwrap()
                })
                .collect();
            let want = per.iter().sum::<f64>() / 6.0;
            let got = plain(&one, &l.name, &o.name());
            assert!(
                pyref::close(got, want, 1e-12),
                "{} {o}: {got} vs {want}",
                l.name
            );
        }
    }
}

#[test]
fn full_fraction_without_noise_equals_plain() {
    let _rng = crate::exec::engine::test_rng_lock();
    let (layers, inputs) = network(4, 5);
    let cfg = ObserveConfig {
        realism: vec![
            RealismCondition::new(0.0, 1.0, 0).unwrap(),
            RealismCondition::new(0.0, 1.0, 7).unwrap(),
        ],
        ..ObserveConfig::default()
    };
    let rows = observe(&layers, &inputs, 2, &cfg);
    let mut n = 0;
    for r in rows.iter().filter(|r| r.realism_seed >= 0) {
        let p = plain(&rows, &r.layer, &r.observable.name());
        assert!(
            pyref::close(r.value, p, 1e-12),
            "{} {}: {} vs plain {p}",
            r.layer,
            r.observable,
            r.value
        );
        n += 1;
    }
    assert_eq!(n, 2 * 3 * 45);
}

#[test]
fn seeds_are_deterministic_and_distinct() {
    let _rng = crate::exec::engine::test_rng_lock();
    let (layers, inputs) = network(5, 4);
    let mk = |seed| ObserveConfig {
        realism: vec![RealismCondition::new(0.5, 0.5, seed).unwrap()],
        include_plain: false,
        ..ObserveConfig::default()
    };
    let a = observe(&layers, &inputs, 4, &mk(0));
    let b = observe(&layers, &inputs, 4, &mk(0));
    let c = observe(&layers, &inputs, 4, &mk(1));
    let va: Vec<u64> = a.iter().map(|r| r.value.to_bits()).collect();
    let vb: Vec<u64> = b.iter().map(|r| r.value.to_bits()).collect();
    assert_eq!(va, vb, "same seed → bit-identical features");
    for m in ["weightraw_mean", "actraw_mean", "gradavgraw_id"] {
        for l in &layers {
            let x = a
                .iter()
                .find(|r| r.layer == l.name && r.observable.name() == m)
                .unwrap()
                .value;
            let y = c
                .iter()
                .find(|r| r.layer == l.name && r.observable.name() == m)
                .unwrap()
                .value;
            assert_ne!(
                x, y,
                "{} {m}: different seeds give different features",
                l.name
            );
        }
    }
}

#[test]
fn observation_leaves_libtorch_rng_and_grads_untouched() {
    let _rng = crate::exec::engine::test_rng_lock();
    let (layers, inputs) = network(6, 4);
    let cfg = ObserveConfig {
        realism: RealismCondition::paper_grid()
            .into_iter()
            .filter(|c| c.fraction >= 0.5)
            .collect(),
        ..ObserveConfig::default()
    };
    tch::manual_seed(11);
    let before = Tensor::randn([16], (Kind::Float, Device::Cpu));
    tch::manual_seed(11);
    let _ = observe(&layers, &inputs, 2, &cfg);
    let after = Tensor::randn([16], (Kind::Float, Device::Cpu));
    assert!(before.equal(&after), "the global generator was consumed");
    for l in &layers {
        assert!(!l.w.grad().defined(), "{}: W.grad was written", l.name);
        assert!(!l.b.grad().defined(), "{}: b.grad was written", l.name);
    }
}

#[test]
fn jacobian_via_switch() {
    let _rng = crate::exec::engine::test_rng_lock();
    let (layers, inputs) = network(7, 3);
    let fwd = ObserveConfig {
        jacobian_via: JacobianVia::Forward,
        ..ObserveConfig::default()
    };
    let bwd = ObserveConfig {
        jacobian_via: JacobianVia::Backward,
        ..ObserveConfig::default()
    };
    let a = observe(&layers, &inputs, 3, &fwd);
    let b = observe(&layers, &inputs, 3, &bwd);
    for (x, y) in a.iter().zip(&b) {
        if x.layer == "conv_fa" && x.observable.measure == Measure::Gradavg {
            assert_ne!(
                x.value, y.value,
                "{}: B path differs from Wᵀ path",
                x.observable
            );
        } else if x.layer == "conv_fa" && x.observable.measure == Measure::Act {
            // The detach trick's output op(x,W) + op(x,B) − op(x,B) equals op(x,W) up to
            // rounding.
            assert!(pyref::close(x.value, y.value, 1e-12), "{}", x.observable);
        } else {
            assert_eq!(
                x.value.to_bits(),
                y.value.to_bits(),
                "{} {}",
                x.layer,
                x.observable
            );
        }
    }
}

#[test]
fn errors_are_clear() {
    let _rng = crate::exec::engine::test_rng_lock();
    let (layers, inputs) = network(8, 2);
    let dl = dyn_layers(&layers);
    let cfg = ObserveConfig::default();
    let e =
        observe_checkpoint(&dl, None, 0, vec![vec![inputs[0].shallow_clone()]], &cfg).unwrap_err();
    assert!(
        matches!(
            e,
            ObserveError::BatchArity {
                expected: 3,
                got: 1
            }
        ),
        "{e}"
    );
    let e = observe_checkpoint(&dl, None, 0, Vec::<Vec<Tensor>>::new(), &cfg).unwrap_err();
    assert!(e.to_string().contains("`fc` saw no stimuli"), "{e}");
    let mut obs = CheckpointObserver::new(&dl, None, 0, cfg.clone()).unwrap();
    let e = obs.observe_batch(0, dl[1], &inputs[1]).unwrap_err();
    assert!(
        e.to_string().contains("`conv_fa`") && e.to_string().contains("`fc`"),
        "{e}"
    );
    let e = obs.observe_batch(5, dl[1], &inputs[1]).unwrap_err();
    assert!(matches!(e, ObserveError::LayerIndex { index: 5, n: 3 }));
    let dup = ObserveConfig {
        realism: vec![RealismCondition::new(0.0, 0.5, 0).unwrap(); 2],
        ..ObserveConfig::default()
    };
    assert!(CheckpointObserver::new(&dl, None, 0, dup).is_err());
    let e = CheckpointObserver::new(&dl, Some(&[LayerPosition::Deep]), 0, cfg)
        .err()
        .unwrap();
    assert!(matches!(e, ObserveError::Positions { n: 1, layers: 3 }));
}

fn bits_of(t: &Tensor) -> Vec<u64> {
    let v = Vec::<f64>::try_from(&t.detach().to_kind(Kind::Double).reshape([-1])).unwrap();
    pyref::to_bits(&v)
}

/// gradavg (plain and realism) against the exact per-stimulus Jacobian from PyTorch autograd,
/// for a dense layer, a conv layer with backward weights B (through B and through W), and a
/// linear conv layer.
#[test]
fn gradavg_matches_pytorch_autograd() {
    let _rng = crate::exec::engine::test_rng_lock();
    let Some(py) = pyref::python_or_skip("gradavg_matches_pytorch_autograd") else {
        return;
    };
    let (layers, inputs) = network(9, 5);
    let conditions = [
        RealismCondition::new(0.0, 0.5, 2).unwrap(),
        RealismCondition::new(2.0, 0.3, 4).unwrap(),
    ];
    for via in [JacobianVia::Backward, JacobianVia::Forward] {
        let cfg = ObserveConfig {
            realism: conditions.to_vec(),
            jacobian_via: via,
            observables: ["gradavgraw_id", "gradavgabs_id", "gradavgsq_id"]
                .iter()
                .map(|n| ObservableId::parse(n).unwrap())
                .collect(),
            ..ObserveConfig::default()
        };
        let rows = observe(&layers, &inputs, 2, &cfg);
        let mut specs = Vec::new();
        for (l, x) in layers.iter().zip(&inputs) {
            let n_out = tch::no_grad(|| l.forward_layer(&x.get(0).unsqueeze(0), via)).numel();
            let n_in = x.get(0).numel();
            let realism: Vec<serde_json::Value> = conditions
                .iter()
                .map(|c| {
                    let out_key = stream_key(c.seed + 1, &l.name, Measure::Gradavg, Purpose::Units);
                    let in_key = stream_key(c.seed, &l.name, Measure::Gradavg, Purpose::Units);
                    let out_idx = kept_units(out_key, n_out, units_kept(n_out, c.fraction));
                    let in_idx = kept_units(in_key, n_in, units_kept(n_in, c.fraction));
                    let nkey = stream_key(c.seed, &l.name, Measure::Gradavg, Purpose::Noise);
                    let noise = standard_normal_at(nkey, 0..5, &in_idx);
                    serde_json::json!({"out_idx": out_idx, "in_idx": in_idx, "sigma": c.sigma,
                        "noise": pyref::to_bits(&noise)})
                })
                .collect();
            specs.push(serde_json::json!({
                "name": l.name,
                "kind": if l.conv.is_some() { "conv" } else { "dense" },
                "stride": l.conv.map(|c| c.0).unwrap_or(1),
                "padding": l.conv.map(|c| c.1).unwrap_or(0),
                "relu": l.relu,
                "via": if via == JacobianVia::Backward { "backward" } else { "forward" },
                "w": bits_of(&l.w), "w_shape": l.w.size(),
                "b": bits_of(&l.b), "b_shape": l.b.size(),
                "bwd": l.bwd.as_ref().map(bits_of),
                "x": bits_of(x), "x_shape": x.size(),
                "realism": realism,
            }));
        }
        let dir = tempfile::tempdir().unwrap();
        let (inp, outp) = (dir.path().join("in.json"), dir.path().join("out.json"));
        std::fs::write(&inp, serde_json::json!({ "layers": specs }).to_string()).unwrap();
        pyref::run(&py, "observe_grad_ref.py", &[&inp, &outp]);
        let reference: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&outp).unwrap()).unwrap();
        for l in &layers {
            let check = |g: Vec<f64>, seed: i64, sigma: f64, frac: f64| {
                assert!(
                    g.iter().any(|v| *v != 0.0),
                    "{}: reference g_b all zero",
                    l.name
                );
                for (f, name) in [
                    (f64::abs as fn(f64) -> f64, "abs"),
                    (|v: f64| v, "raw"),
                    (|v: f64| v * v, "sq"),
                ] {
                    let want = g.iter().map(|v| f(*v)).sum::<f64>() / g.len() as f64;
                    let got = value(
                        &rows,
                        &l.name,
                        &format!("gradavg{name}_id"),
                        seed,
                        sigma,
                        frac,
                    );
                    assert!(
                        pyref::close(got, want, 1e-10),
                        "{} via {via:?} seed {seed} σ {sigma} ρ {frac} gradavg{name}_id: lrx {got} vs torch {want}",
                        l.name
                    );
                }
            };
            check(
                pyref::from_bits(&reference[&l.name]["g"]),
                PLAIN_SEED,
                0.0,
                1.0,
            );
            for (ci, c) in conditions.iter().enumerate() {
                check(
                    pyref::from_bits(&reference[&l.name]["realism"][ci]),
                    c.seed as i64,
                    c.sigma,
                    c.fraction,
                );
            }
        }
    }
}

/// Realism for weights and act reproduced step by step from method.md §5 with the public
/// building blocks: noise at the kept units, then statistics over the kept units.
#[test]
fn realism_weight_and_act_follow_the_procedure() {
    let _rng = crate::exec::engine::test_rng_lock();
    let (layers, inputs) = network(10, 4);
    let c = RealismCondition::new(0.7, 0.4, 5).unwrap();
    let cfg = ObserveConfig {
        realism: vec![c],
        ..ObserveConfig::default()
    };
    let rows = observe(&layers, &inputs, 3, &cfg);
    let conv = StatConventions::default();
    for (l, x) in layers.iter().zip(&inputs) {
        // weight
        let flat = l.w.detach().to_kind(Kind::Double).reshape([1, -1]);
        let n = flat.size()[1] as usize;
        let idx = kept_units(
            stream_key(5, &l.name, Measure::Weight, Purpose::Units),
            n,
            units_kept(n, 0.4),
        );
        let noise = standard_normal_at(
            stream_key(5, &l.name, Measure::Weight, Purpose::Noise),
            0..1,
            &idx,
        );
        let sub = flat.index_select(1, &Tensor::from_slice(&idx))
            + Tensor::from_slice(&noise).view([1, -1]) * 0.7;
        let want =
            super::super::stats::statistic(&sub, Function::Abs, Statistic::Median, &conv).unwrap();
        assert_eq!(value(&rows, &l.name, "weightabs_median", 5, 0.7, 0.4), want);
        // act
        let y = tch::no_grad(|| l.forward_layer(x, JacobianVia::Backward))
            .flatten(1, -1)
            .to_kind(Kind::Double);
        let u = y.size()[1] as usize;
        let idx = kept_units(
            stream_key(5, &l.name, Measure::Act, Purpose::Units),
            u,
            units_kept(u, 0.4),
        );
        let noise = standard_normal_at(
            stream_key(5, &l.name, Measure::Act, Purpose::Noise),
            0..4,
            &idx,
        );
        let sub = y.index_select(1, &Tensor::from_slice(&idx))
            + Tensor::from_slice(&noise).view([4, -1]) * 0.7;
        let per: Vec<f64> = (0..4)
            .map(|b| {
                super::super::stats::statistic(&sub.get(b), Function::Raw, Statistic::Norm, &conv)
                    .unwrap()
            })
            .collect();
        let want = per.iter().sum::<f64>() / 4.0;
        let got = value(&rows, &l.name, "actraw_norm", 5, 0.7, 0.4);
        assert!(
            pyref::close(got, want, 1e-12),
            "{}: {got} vs {want}",
            l.name
        );
    }
}
