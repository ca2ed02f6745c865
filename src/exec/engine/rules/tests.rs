//! Tests of `rules.rs`.

use super::*;
use crate::exec::engine::layers::{Act, LayerKind, Padding};
use crate::value::{Call, Value};
use tch::{Device, Kind};

fn layer(conv: bool) -> AlignedLayer {
    tch::manual_seed(11);
    let o = (Kind::Double, Device::Cpu);
    let (w, b, kind) = if conv {
        (
            Tensor::randn([4, 3, 3, 3], o),
            Tensor::randn([4, 3, 3, 3], o),
            LayerKind::Conv {
                stride: 2,
                padding: Padding::Same,
            },
        )
    } else {
        (
            Tensor::randn([5, 4], o),
            Tensor::randn([4, 5], o),
            LayerKind::Dense,
        )
    };
    AlignedLayer {
        name: "l".into(),
        kind,
        w: w.set_requires_grad(true),
        bwd: Some(b.set_requires_grad(true)),
        bias: Some(Tensor::randn([4], o).set_requires_grad(true)),
        act: Act::Relu,
    }
}

fn rules() -> Vec<Call> {
    let mut v: Vec<Call> = [
        "ia",
        "symmetric",
        "activation",
        "weight_mirror",
        "kolen_pollack",
    ]
    .iter()
    .map(|n| Call::new(*n))
    .collect();
    for flags in [
        ("reconstruction_amp", true, "reconstruction_reversal", false),
        ("reconstruction_amp", true, "reconstruction_reversal", true),
        ("use_sparse", true, "batch_center_backward_input", true),
        ("reconstruction_reversal", true, "use_sparse", false),
        ("projection_bias", true, "reconstruction_amp", false),
        ("projection_bias", true, "use_sparse", true),
        ("projection_bias", true, "reconstruction_reversal", true),
    ] {
        v.push(
            Call::new("ia")
                .with(flags.0, Value::Bool(flags.1))
                .with(flags.2, Value::Bool(flags.3)),
        );
    }
    v.push(Call::new("activation").with("batch_center_backward_input", Value::Bool(true)));
    // Larger coefficients make the finite-difference check sharper.
    v.into_iter()
        .map(|c| {
            c.with("alpha", Value::Float(0.7))
                .with("beta", Value::Float(0.3))
        })
        .collect()
}

/// Gradient of each alignment loss w.r.t. B equals central finite differences; W, bias and
/// x receive no gradient.
#[test]
fn alignment_gradients_match_finite_differences() {
    let _rng = crate::exec::engine::test_rng_lock();
    for conv in [false, true] {
        for call in rules() {
            let rule = build_rule(&call).unwrap();
            let l = layer(conv);
            let x = if conv {
                Tensor::randn([3, 3, 7, 7], (Kind::Double, Device::Cpu))
            } else {
                Tensor::randn([6, 5], (Kind::Double, Device::Cpu))
            };
            let r = rule.alignment_loss(&l, &x).unwrap();
            r.backward();
            let g = l.bwd.as_ref().unwrap().grad();
            assert!(
                !l.w.grad().defined(),
                "{} W must not get a gradient",
                call.name
            );
            let b = l.bwd.as_ref().unwrap();
            let flat = b.detach().view([-1]);
            let n = flat.size()[0];
            let h = 1e-6;
            let gflat = g.view([-1]);
            let mut worst: f64 = 0.0;
            for i in 0..n {
                let v0 = flat.double_value(&[i]);
                let eval = |v: f64| {
                    tch::no_grad(|| {
                        let _ = flat.get(i).fill_(v);
                        rule.alignment_loss(&l, &x).unwrap().double_value(&[])
                    })
                };
                let fd = (eval(v0 + h) - eval(v0 - h)) / (2.0 * h);
                let _ = tch::no_grad(|| flat.get(i).fill_(v0));
                let an = gflat.double_value(&[i]);
                worst = worst.max((fd - an).abs() / (1.0 + an.abs()));
            }
            assert!(
                worst < 1e-6,
                "{:?} conv={conv}: worst rel err {worst}",
                call
            );
            assert!(g.abs().sum(Kind::Double).double_value(&[]) > 0.0);
        }
    }
}

/// IA with α, β, γ = 0.7, 0.3, 0.2 and the six options as the bits of `flags`:
/// reconstruction_amp, reconstruction_reversal, use_sparse, batch_center_backward_input,
/// projection_bias, `input_scale = "rms"`.
fn ia_flags(flags: u32) -> Call {
    let f = |k: u32| Value::Bool(flags >> k & 1 == 1);
    Call::new("ia")
        .with("reconstruction_amp", f(0))
        .with("reconstruction_reversal", f(1))
        .with("use_sparse", f(2))
        .with("batch_center_backward_input", f(3))
        .with("projection_bias", f(4))
        .with(
            "input_scale",
            Value::Str(if flags >> 5 & 1 == 1 { "rms" } else { "raw" }.into()),
        )
        .with("alpha", Value::Float(0.7))
        .with("beta", Value::Float(0.3))
        .with("gamma", Value::Float(0.2))
}

/// A layer of kind `kind` with random (double) W and B of shapes `ws` and `bs`, both needing a
/// gradient, and a random bias of its output width.
fn random_layer(kind: LayerKind, ws: &[i64], bs: &[i64]) -> AlignedLayer {
    let o = (Kind::Double, Device::Cpu);
    let out = match kind {
        LayerKind::Dense => ws[1],
        _ => ws[0],
    };
    AlignedLayer {
        name: "l".into(),
        kind,
        w: Tensor::randn(ws, o).set_requires_grad(true),
        bwd: Some(Tensor::randn(bs, o).set_requires_grad(true)),
        bias: Some(Tensor::randn([out], o)),
        act: Act::Relu,
    }
}

/// IA's closed form (value and ∂R/∂B of `information_gradient`) equals autograd of
/// `alignment_loss` for all 64 option combinations (`projection_bias` and `input_scale`
/// included), on dense and conv layers (strides, paddings, even kernels), with P_f from a
/// forward whose input needs a gradient or not.
#[test]
fn information_gradient_matches_autograd() {
    let _rng = crate::exec::engine::test_rng_lock();
    let o = (Kind::Double, Device::Cpu);
    // (kind, W shape, B shape, x shape)
    type Case = (LayerKind, Vec<i64>, Vec<i64>, Vec<i64>);
    let shapes: Vec<Case> = vec![
        (LayerKind::Dense, vec![5, 4], vec![4, 5], vec![6, 5]),
        (
            LayerKind::Conv {
                stride: 2,
                padding: Padding::Same,
            },
            vec![4, 3, 3, 3],
            vec![4, 3, 3, 3],
            vec![3, 3, 7, 7],
        ),
        (
            LayerKind::Conv {
                stride: 1,
                padding: Padding::Same,
            },
            vec![4, 3, 4, 4],
            vec![4, 3, 4, 4],
            vec![2, 3, 6, 5],
        ),
        (
            LayerKind::Conv {
                stride: 2,
                padding: Padding::Fixed,
            },
            vec![5, 2, 3, 3],
            vec![5, 2, 3, 3],
            vec![3, 2, 8, 8],
        ),
        (
            LayerKind::Conv {
                stride: 3,
                padding: Padding::Valid,
            },
            vec![4, 3, 5, 5],
            vec![4, 3, 5, 5],
            vec![2, 3, 11, 11],
        ),
    ];
    let mut checked = 0;
    for (kind, ws, bs, xs) in shapes {
        for flags in 0..64u32 {
            let call = ia_flags(flags);
            let rule = build_rule(&call).unwrap();
            assert!(rule.closed_form_alignment());
            tch::manual_seed(i64::from(flags) + 17);
            let l = random_layer(kind, &ws, &bs);
            let x = Tensor::randn(xs.as_slice(), o);
            let b = l.bwd.as_ref().unwrap();
            // Reference: autograd of the alignment loss.
            let r = rule.alignment_loss(&l, &x).unwrap();
            if flags & 16 != 0 {
                // The bias takes part: the loss differs from the one without it.
                let nb =
                    build_rule(&call.clone().with("projection_bias", Value::Bool(false))).unwrap();
                let r0 = nb.alignment_loss(&l, &x).unwrap().double_value(&[]);
                let d = (r.double_value(&[]) - r0).abs();
                assert!(
                    d > 1e-6,
                    "{kind:?} flags {flags:05b}: bias changes R by {d}"
                );
            }
            let want = tch::Tensor::run_backward(&[&r], &[b], false, false).remove(0);
            for from_forward in [false, true] {
                // As the training forward records it (x needing a gradient) or not.
                let xin = if from_forward {
                    x.detach().set_requires_grad(true)
                } else {
                    x.shallow_clone()
                };
                let (_, pf) = l.forward_parts(&xin);
                let parts = AlignParts {
                    index: 0,
                    x: x.shallow_clone(),
                    pf,
                };
                let (v, g, c) = rule.information_gradient(&l, &parts).unwrap();
                let got = g + b.detach() * c;
                let rv = r.double_value(&[]);
                assert!(
                    (v.double_value(&[]) - rv).abs() <= 1e-10 * (1.0 + rv.abs()),
                    "{kind:?} flags {flags:05b}: value {} vs {rv}",
                    v.double_value(&[])
                );
                let err = (&got - &want).abs().max().double_value(&[]);
                let scale = want.abs().max().double_value(&[]);
                assert!(
                    err <= 1e-10 * (1.0 + scale),
                    "{kind:?} flags {flags:05b} from the training forward {from_forward}: dB differs by {err} (scale {scale})"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 5 * 64 * 2);
}

#[test]
fn rule_flags() {
    let _rng = crate::exec::engine::test_rng_lock();
    let fa = build_rule(&Call::new("fa")).unwrap();
    assert!(fa.has_backward_weights());
    assert_eq!(
        fa.optimizer,
        OptSpec::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8
        }
    );
    assert!(
        fa.alignment_loss(
            &layer(false),
            &Tensor::zeros([2, 5], (Kind::Double, Device::Cpu))
        )
        .is_none()
    );
    assert!(
        !build_rule(&Call::new("sgdm"))
            .unwrap()
            .has_backward_weights()
    );
    assert!(
        build_rule(&Call::new("kolen_pollack"))
            .unwrap()
            .tied_backward_gradient()
    );
    assert!(build_rule(&Call::new("hebb")).is_err());
    // Every rule the language knows builds from its registry defaults alone: the engine
    // reads no parameter the registry does not describe.
    for b in crate::registry::BUILTINS
        .iter()
        .filter(|b| b.kind == crate::registry::Kind::Rule)
    {
        let r = build_rule(&Call::new(b.name));
        assert!(r.is_ok(), "{}: {:?}", b.name, r.err());
    }
    let m = Call::new("weight_mirror").with("input_noise", Value::Str("uniform".into()));
    assert!(build_rule(&m).is_ok());
    let bad = Call::new("ia").with("optimizer", Value::Str("rmsprop".into()));
    assert!(
        build_rule(&bad)
            .unwrap_err()
            .to_string()
            .contains("optimizer")
    );
}

/// `b_step_cap`'s curvature: the closed-form Hessian-vector product (`information_hvp`)
/// equals the full Hessian ∂²R/∂B² that autograd of `alignment_loss` gives (double backward)
/// times v, for all 64 option combinations on a dense and two conv layers; the power iteration
/// (`information_curvature`) converges to the Hessian's largest eigenvalue (`eigvalsh`), and the
/// 10-product estimate training uses never exceeds it (the Rayleigh quotient) and is within a
/// factor 2 of it here.
#[test]
fn information_curvature_matches_autograd_hessian() {
    let _rng = crate::exec::engine::test_rng_lock();
    let o = (Kind::Double, Device::Cpu);
    type Case = (LayerKind, Vec<i64>, Vec<i64>, Vec<i64>);
    let shapes: Vec<Case> = vec![
        (LayerKind::Dense, vec![5, 4], vec![4, 5], vec![6, 5]),
        (
            LayerKind::Conv {
                stride: 1,
                padding: Padding::Same,
            },
            vec![3, 2, 3, 3],
            vec![3, 2, 3, 3],
            vec![3, 2, 6, 6],
        ),
        (
            LayerKind::Conv {
                stride: 2,
                padding: Padding::Valid,
            },
            vec![4, 2, 3, 3],
            vec![4, 2, 3, 3],
            vec![2, 2, 9, 9],
        ),
    ];
    let mut checked = 0;
    for (kind, ws, bs, xs) in shapes {
        for flags in 0..64u32 {
            let rule = build_rule(&ia_flags(flags)).unwrap();
            tch::manual_seed(i64::from(flags) + 101);
            let l = random_layer(kind, &ws, &bs);
            let x = Tensor::randn(xs.as_slice(), o);
            let b = l.bwd.as_ref().unwrap();
            // Reference: the full Hessian by autograd, row by row.
            let r = rule.alignment_loss(&l, &x).unwrap();
            let g = Tensor::run_backward(&[&r], &[b], true, true)
                .remove(0)
                .reshape([-1]);
            let n = g.size()[0];
            let rows: Vec<Tensor> = (0..n)
                .map(|i| {
                    Tensor::run_backward(&[&g.get(i)], &[b], true, false)
                        .remove(0)
                        .reshape([-1])
                })
                .collect();
            let h = Tensor::stack(&rows, 0);
            let sym = (&h - h.transpose(0, 1)).abs().max().double_value(&[]);
            assert!(
                sym < 1e-9,
                "flags {flags:05b}: Hessian not symmetric ({sym})"
            );
            let want = h.linalg_eigvalsh("L").max().double_value(&[]);
            let (_, pf) = l.forward_parts(&x);
            let parts = AlignParts {
                index: 0,
                x: x.shallow_clone(),
                pf,
            };
            let g0 = rule.information_grad_at_zero(&l, &parts).unwrap();
            for k in 0..3 {
                tch::manual_seed(k);
                let v = Tensor::randn(bs.as_slice(), o);
                let got = rule.information_hvp(&l, &parts, &v, &g0).unwrap();
                let want = h.mv(&v.reshape([-1]));
                let err = (got.reshape([-1]) - &want).abs().max().double_value(&[]);
                let scale = want.abs().max().double_value(&[]);
                assert!(
                    err <= 1e-10 * (1.0 + scale),
                    "{kind:?} flags {flags:05b}: H·v differs by {err} (scale {scale})"
                );
            }
            let got = rule.information_curvature(&l, &parts, 300).unwrap();
            assert!(
                (got - want).abs() <= 1e-2 * want,
                "{kind:?} flags {flags:05b}: λ_max {got} vs autograd {want}"
            );
            let quick = rule.information_curvature(&l, &parts, 10).unwrap();
            assert!(
                quick <= want * (1.0 + 1e-9) && quick >= 0.5 * want,
                "{kind:?} flags {flags:05b}: 10-product estimate {quick} vs {want}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * 64);
}
