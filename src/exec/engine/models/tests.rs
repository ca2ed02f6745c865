//! Tests of the models (`models.rs`, `models/build.rs`).

use super::*;
use crate::exec::engine::layers::Act;
use crate::registry::arch::layer_names;
use crate::value::Value;

/// One forward pass with outputs (`observe_outputs` + `observe_output`) gives the same
/// observations as recording the inputs and recomputing each layer (`observe_inputs` +
/// `observe_checkpoint`): plain and realism conditions, gradavg through B and through W,
/// on KNet and ResNet (BN, shortcuts) with backward weights.
#[test]
fn single_forward_observation_equals_per_layer_recompute() {
    use crate::exec::observe::{CheckpointObserver, JacobianVia, ObserveConfig, RealismCondition};
    let _rng = crate::exec::engine::test_rng_lock();
    for arch in [Call::new("knet4"), Call::new("resnet18")] {
        let m = build(arch.clone(), "supervised", 16);
        tch::manual_seed(5);
        let x = Tensor::randn([6, 3, 16, 16], (Kind::Float, Device::Cpu));
        for via in [JacobianVia::Backward, JacobianVia::Forward] {
            let cfg = ObserveConfig {
                realism: vec![
                    RealismCondition {
                        sigma: 0.5,
                        fraction: 0.5,
                        seed: 3,
                        model: Default::default(),
                    },
                    RealismCondition {
                        sigma: 0.0,
                        fraction: 0.1,
                        seed: 1,
                        model: Default::default(),
                    },
                ],
                jacobian_via: via,
                ..ObserveConfig::default()
            };
            let layers = m.layers();
            let batches: Vec<Vec<Tensor>> = [(0, 4), (4, 2)]
                .iter()
                .map(|&(s, n)| {
                    let mut ins = m.observe_inputs(&x.narrow(0, s, n));
                    ins.sort_by_key(|(k, _)| *k);
                    ins.into_iter().map(|(_, t)| t).collect()
                })
                .collect();
            let want =
                crate::exec::observe::observe_checkpoint(&layers, None, 2, batches, &cfg).unwrap();
            let mut obs = CheckpointObserver::new(&layers, None, 2, cfg.clone()).unwrap();
            assert!(obs.needs_gradient());
            for (s, n) in [(0, 4), (4, 2)] {
                for (k, xi, y) in m.observe_outputs(&x.narrow(0, s, n), via, true) {
                    obs.observe_output(k, Some(&xi), &y).unwrap();
                }
            }
            let got = obs.finish().unwrap();
            assert_eq!(got.len(), want.len());
            assert!(got.len() > 45 * 3 * layers.len() - 1);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(
                    (&g.layer, g.observable, g.noise_sigma, g.unit_fraction),
                    (&w.layer, w.observable, w.noise_sigma, w.unit_fraction)
                );
                let tol = 1e-12 * (1.0 + w.value.abs());
                assert!(
                    (g.value - w.value).abs() <= tol || (g.value.is_nan() && w.value.is_nan()),
                    "{} {} {:?} {via:?}: {} vs {}",
                    arch.name,
                    g.layer,
                    g.observable,
                    g.value,
                    w.value
                );
            }
        }
    }
}

fn build(arch: Call, obj: &str, size: i64) -> Model {
    let arch = arch
        .with("input_size", Value::Int(size))
        .with("width", Value::Float(0.25));
    Model::new(&arch, &Call::new(obj), true, 0, Device::Cpu).unwrap()
}

#[test]
fn all_architectures_build_and_run() {
    let _rng = crate::exec::engine::test_rng_lock();
    for (a, size, n) in [
        (Call::new("knet4"), 32, 4),
        (Call::new("knet5").with("lrn", Value::Bool(true)), 32, 5),
        (
            Call::new("knet4").with("batch_norm", Value::Bool(true)),
            32,
            4,
        ),
        (Call::new("alexnet").with("lrn", Value::Bool(true)), 64, 8),
        (Call::new("resnet18"), 32, 22),
        (Call::new("resnet34").with("version", Value::Int(2)), 32, 38),
        (Call::new("mlp"), 16, 3),
    ] {
        for obj in ["supervised", "contrastive"] {
            let m = build(a.clone(), obj, size);
            let want = layer_names(&crate::registry::complete(&a), obj == "contrastive");
            assert_eq!(m.layer_names(), want);
            let extra = usize::from(obj == "contrastive");
            assert_eq!(m.layers().len(), n + extra, "{} {obj}", a.name);
            let x = Tensor::randn([3, 3, size, size], (Kind::Float, Device::Cpu));
            let y = m.forward(&x, &mut Pass::plain(true));
            let width = if obj == "supervised" { 10 } else { 128 };
            assert_eq!(y.size(), vec![3, width], "{}", a.name);
            let ins = m.observe_inputs(&x);
            assert_eq!(ins.len(), m.layers().len());
            for (k, (i, t)) in ins.iter().enumerate() {
                assert_eq!(k, *i);
                // the recorded input reproduces the layer's output shape path
                let out =
                    m.layers()[*i].forward_layer(t, crate::exec::observe::JacobianVia::Forward);
                assert_eq!(out.size()[0], 3);
            }
        }
    }
}

/// The decoupled backward pass is backprop when B mirrors W: with B := W (conv) or Wᵀ
/// (dense) in every layer, the FA network's gradients of every W, bias and BN parameter and
/// of the input equal autograd's on the same network without B. This checks each layer's
/// dx orientation (transpose, padding, stride) in place, through pools, LRN, BN, shortcuts
/// and dropout, against libtorch's own backward rather than against our transposed conv.
#[test]
fn mirrored_backward_weights_give_backprop_gradients() {
    let _rng = crate::exec::engine::test_rng_lock();
    let s = Call::new("supervised");
    for (name, a, size) in [
        ("knet4", Call::new("knet4"), 16),
        (
            "knet5-lrn",
            Call::new("knet5").with("lrn", Value::Bool(true)),
            16,
        ),
        (
            "alexnet-lrn",
            Call::new("alexnet").with("lrn", Value::Bool(true)),
            64,
        ),
        (
            "knet4-bn",
            Call::new("knet4").with("batch_norm", Value::Bool(true)),
            16,
        ),
        ("resnet18-v1", Call::new("resnet18"), 32),
        (
            "resnet18-v2",
            Call::new("resnet18").with("version", Value::Int(2)),
            32,
        ),
        ("mlp", Call::new("mlp"), 8),
    ] {
        let a = a
            .with("input_size", Value::Int(size))
            .with("width", Value::Float(0.125));
        // He init for KNet: the paper's N(0, 1e-4²) conv1 leaves gradients near 0.
        let a = if name.starts_with("knet") {
            a.with("init", Value::Str("he".into()))
        } else {
            a
        };
        let bp = Model::new(&a, &s, false, 3, Device::Cpu).unwrap();
        let fa = Model::new(&a, &s, true, 3, Device::Cpu).unwrap();
        tch::no_grad(|| {
            for l in fa.aligned_layers() {
                l.bwd
                    .as_ref()
                    .unwrap()
                    .shallow_clone()
                    .copy_(&l.swap_layout(&l.w));
            }
        });
        tch::manual_seed(11);
        let x0 = Tensor::randn([4, 3, size, size], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 3, 1, 2]);
        let grads = |m: &Model| {
            let x = x0.copy().set_requires_grad(true);
            tch::manual_seed(12); // the same dropout masks in both networks
            let logits = m.forward(&x, &mut Pass::plain(true));
            logits.cross_entropy_for_logits(&y).backward();
            let mut g: Vec<(String, Tensor)> = m
                .params()
                .iter()
                .filter(|p| p.trainable() && p.role != Role::Backward)
                .map(|p| (p.name.clone(), p.tensor.grad().copy()))
                .collect();
            g.push(("input".into(), x.grad().copy()));
            g
        };
        let (gb, gf) = (grads(&bp), grads(&fa));
        assert_eq!(gb.len(), gf.len(), "{name}");
        for ((nb, b), (nf, f)) in gb.iter().zip(&gf) {
            assert_eq!(nb, nf, "{name}");
            let scale = f64::try_from(b.abs().max()).unwrap().max(1e-30);
            let d = f64::try_from((b - f).abs().max()).unwrap();
            assert!(d <= 1e-4 * scale, "{name} {nb}: {d} against {scale}");
        }
        // and a random B does not give them
        let fr = Model::new(&a, &s, true, 3, Device::Cpu).unwrap();
        let gr = grads(&fr);
        let (b, f) = (&gb[0].1, &gr[0].1);
        let d = f64::try_from((b - f).abs().max()).unwrap();
        assert!(d > 1e-3 * f64::try_from(b.abs().max()).unwrap(), "{name}");
    }
}

/// `knet4(batch_norm = true)`: the same layers and the same weight draws as the paper's KNet4
/// (BN is the only difference), and one BatchNorm per conv layer on that layer's output: its
/// running statistics move in a training pass (conv1's by the momentum towards conv1's batch
/// mean) and not in an evaluation pass.
#[test]
fn knet_batch_norm_variant() {
    let _rng = crate::exec::engine::test_rng_lock();
    let a = Call::new("knet4")
        .with("input_size", Value::Int(16))
        .with("width", Value::Float(0.25))
        .with("init", Value::Str("he".into()));
    let s = Call::new("supervised");
    let plain = Model::new(&a, &s, false, 5, Device::Cpu).unwrap();
    let bn = Model::new(
        &a.with("batch_norm", Value::Bool(true)),
        &s,
        false,
        5,
        Device::Cpu,
    )
    .unwrap();
    assert_eq!(plain.layer_names(), bn.layer_names());
    let named = |m: &Model| -> Vec<(String, Tensor)> {
        m.params()
            .iter()
            .map(|p| (p.name.clone(), p.tensor.shallow_clone()))
            .collect()
    };
    let (pp, pb) = (named(&plain), named(&bn));
    for (k, t) in &pp {
        let (_, u) = pb.iter().find(|(j, _)| j == k).expect("same parameter");
        assert!(t.equal(u), "{k} drawn differently");
    }
    let extra: Vec<&String> = pb
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !pp.iter().any(|(j, _)| j == *k))
        .collect();
    for l in ["conv1", "conv2", "conv3"] {
        for part in ["gamma", "beta", "running_mean", "running_var"] {
            let want = format!("{l}/bn/{part}");
            assert!(extra.contains(&&want), "{want} missing from {extra:?}");
        }
    }
    assert_eq!(extra.len(), 12, "{extra:?}");
    let rm = |m: &Model| {
        m.params()
            .iter()
            .find(|p| p.name == "conv1/bn/running_mean")
            .unwrap()
            .tensor
            .copy()
    };
    tch::manual_seed(3);
    let x = Tensor::randn([8, 3, 16, 16], (Kind::Float, Device::Cpu)) + 0.5;
    let r0 = rm(&bn);
    let _ = tch::no_grad(|| bn.forward(&x, &mut Pass::plain(false)));
    assert!(
        rm(&bn).equal(&r0),
        "an evaluation pass moved the running mean"
    );
    let _ = tch::no_grad(|| bn.forward(&x, &mut Pass::plain(true)));
    assert!(!rm(&bn).equal(&r0), "a training pass left the running mean");
    // The BN after conv1 saw conv1's output: its running mean moved towards that output's
    // per-channel batch mean by the BN's momentum (0.1).
    let y = tch::no_grad(|| bn.aligned_layers()[0].forward(&x));
    let m = y.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
    let want = &r0 * 0.9 + m * 0.1;
    let d = f64::try_from((rm(&bn) - want).abs().max()).unwrap();
    assert!(d < 1e-5, "running mean off by {d}");
}

#[test]
fn seeds_and_rules_share_forward_weights() {
    let _rng = crate::exec::engine::test_rng_lock();
    let a = Call::new("knet4").with("width", Value::Float(0.25));
    let s = Call::new("supervised");
    let m1 = Model::new(&a, &s, false, 7, Device::Cpu).unwrap();
    let m2 = Model::new(&a, &s, true, 7, Device::Cpu).unwrap();
    let m3 = Model::new(&a, &s, true, 8, Device::Cpu).unwrap();
    let k = |m: &Model, i: usize| m.aligned_layers()[i].w.shallow_clone();
    assert!(k(&m1, 1).equal(&k(&m2, 1)), "W independent of having B");
    assert!(!k(&m1, 1).equal(&k(&m3, 1)));
    let l = &m2.aligned_layers()[1];
    assert!(
        !l.w.equal(l.bwd.as_ref().unwrap()),
        "B drawn independently of W"
    );
    // init scales (method.md §7)
    let std = |t: &Tensor| f64::try_from(t.std(true)).unwrap();
    assert!((std(&k(&m1, 0)) - 1e-4).abs() < 2e-5);
    assert!((std(&k(&m1, 1)) - 1e-2).abs() < 2e-3);
    assert_eq!(m1.aligned_layers()[0].act, Act::None);
    // The paper code's seeding quirk: conv B = W, dense B = W's draws in B's shape.
    let q =
        Model::with_backward_init(&a, &s, true, BackwardInit::SameDraws, 7, Device::Cpu).unwrap();
    let ql = q.aligned_layers();
    assert!(ql[1].w.equal(ql[1].bwd.as_ref().unwrap()));
    let (w, bw) = (&ql[3].w, ql[3].bwd.as_ref().unwrap());
    assert_eq!(bw.size(), vec![w.size()[1], w.size()[0]]);
    assert!(w.reshape([-1]).equal(&bw.reshape([-1])));
    assert!(k(&q, 1).equal(&k(&m2, 1)), "W unchanged by the option");
}

#[test]
fn non_square_inputs() {
    let _rng = crate::exec::engine::test_rng_lock();
    let s = Call::new("supervised");
    for name in ["knet4", "knet5", "alexnet", "resnet18", "mlp"] {
        let (h, w) = if name == "alexnet" {
            (75, 120)
        } else {
            (25, 40)
        };
        let a = Call::new(name)
            .with("width", Value::Float(0.125))
            .with("input_size", Value::Int(h))
            .with("input_width", Value::Int(w))
            .with("in_channels", Value::Int(1))
            .with("classes", Value::Int(7));
        let m = Model::new(&a, &s, true, 0, Device::Cpu).unwrap();
        let x = Tensor::randn([2, 1, h, w], (Kind::Float, Device::Cpu));
        let y = m.forward(&x, &mut Pass::plain(false));
        assert_eq!(y.size(), vec![2, 7], "{name}");
        // The planner's layer model agrees on the units of every layer.
        let plan = crate::registry::arch::layers(&a, false);
        assert_eq!(plan.len(), m.layers().len(), "{name}");
    }
}

#[test]
fn bad_calls_are_reported() {
    let _rng = crate::exec::engine::test_rng_lock();
    let s = Call::new("supervised");
    let e = Model::new(&Call::new("vgg"), &s, false, 0, Device::Cpu)
        .err()
        .unwrap();
    assert!(e.to_string().contains("vgg"));
    let e = Model::new(
        &Call::new("resnet18").with("version", Value::Int(3)),
        &s,
        false,
        0,
        Device::Cpu,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("version"));
    let e = Model::new(
        &Call::new("alexnet").with("input_size", Value::Int(8)),
        &s,
        false,
        0,
        Device::Cpu,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("input_size"));
}
