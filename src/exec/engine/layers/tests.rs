//! Tests of `layers.rs`.

use super::*;
use tch::Device;

fn dense(bwd: bool) -> AlignedLayer {
    tch::manual_seed(3);
    let w = Tensor::randn([5, 4], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let b = Tensor::randn([4, 5], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let bias = Tensor::randn([4], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    AlignedLayer {
        name: "fc".into(),
        kind: LayerKind::Dense,
        w,
        bwd: bwd.then_some(b),
        bias: Some(bias),
        act: Act::Relu,
    }
}

fn conv(stride: i64, padding: Padding, k: i64) -> AlignedLayer {
    tch::manual_seed(4);
    let w = Tensor::randn([6, 3, k, k], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let b = Tensor::randn([6, 3, k, k], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let bias = Tensor::randn([6], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    AlignedLayer {
        name: "conv".into(),
        kind: LayerKind::Conv { stride, padding },
        w,
        bwd: Some(b),
        bias: Some(bias),
        act: Act::None,
    }
}

fn maxdiff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// `reconstruct` (the conv's input gradient, or the polyphase form for ≤ 4 input channels)
/// equals `op_transpose` (conv_transpose2d in the padded space, cropped) for every padding,
/// stride 1–3, odd and even kernels and odd and even input sizes; and the input-gradient
/// path is checked on 5 input channels.
#[test]
fn reconstruct_equals_op_transpose() {
    let o = (Kind::Double, Device::Cpu);
    let mut checked = 0;
    for padding in [Padding::Same, Padding::Valid, Padding::Fixed] {
        for stride in 1..=3 {
            for k in [1, 2, 3, 4, 5, 7] {
                for (h, w) in [(9, 9), (8, 11), (16, 16)] {
                    for c in [3, 5] {
                        if padding == Padding::Valid && (h < k || w < k) {
                            continue;
                        }
                        tch::manual_seed(k * 10 + stride);
                        let l = AlignedLayer {
                            w: Tensor::randn([6, c, k, k], o),
                            bwd: Some(Tensor::randn([6, c, k, k], o)),
                            ..conv(stride, padding, k)
                        };
                        let x = Tensor::randn([2, c, h, w], o);
                        let p = l.op_forward(&x, &l.w);
                        let kk = l.bwd.as_ref().unwrap();
                        let want = l.op_transpose(&p, kk, &x.size());
                        let got = l.reconstruct(&p, kk, &x.size());
                        assert_eq!(got.size(), x.size());
                        let e = maxdiff(&got, &want);
                        let scale = want.abs().max().double_value(&[]);
                        assert!(
                            e <= 1e-12 * (1.0 + scale),
                            "{padding:?} stride {stride} k {k} {h}x{w} c {c}: {e}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn fa_dense_gradients() {
    let _rng = crate::exec::engine::test_rng_lock();
    let l = dense(true);
    let x = Tensor::randn([7, 5], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let dy = Tensor::randn([7, 4], (Kind::Double, Device::Cpu));
    let y = l.forward(&x);
    // value identical to the plain forward
    let y0 = (x.matmul(&l.w) + l.bias.as_ref().unwrap()).relu();
    assert!(maxdiff(&y, &y0) < 1e-12);
    (&y * &dy).sum(Kind::Double).backward();
    let pre = x.matmul(&l.w) + l.bias.as_ref().unwrap();
    let g = &dy * pre.gt(0.0).to_kind(Kind::Double); // dy through the ReLU
    let b = l.bwd.as_ref().unwrap();
    assert!(maxdiff(&x.grad(), &g.matmul(b)) < 1e-12, "dx = dy·B");
    assert!(
        maxdiff(&l.w.grad(), &x.tr().matmul(&g)) < 1e-12,
        "dW = xᵀ dy"
    );
    assert!(!b.grad().defined() || b.grad().abs().sum(Kind::Double).double_value(&[]) == 0.0);
    // without B: ordinary backprop dx = dy·Wᵀ
    let l2 = dense(false);
    let x2 = x.detach().set_requires_grad(true);
    (l2.forward(&x2) * &dy).sum(Kind::Double).backward();
    assert!(maxdiff(&x2.grad(), &g.matmul(&l2.w.tr())) < 1e-12);
}

#[test]
fn weight_alignment_cases() {
    let _rng = crate::exec::engine::test_rng_lock();
    for l in [dense(true), conv(1, Padding::Same, 3)] {
        let b = l.bwd.as_ref().unwrap().shallow_clone();
        let wl = l.swap_layout(&l.w);
        let set = |t: &Tensor| tch::no_grad(|| b.shallow_clone().copy_(t));
        set(&wl);
        assert!(l.weight_alignment().unwrap().0 < 1e-3, "B = W is 0°");
        set(&(&wl * -2.0));
        assert!(
            (l.weight_alignment().unwrap().0 - 180.0).abs() < 1e-3
                && (l.weight_alignment().unwrap().1 - 2.0).abs() < 1e-6
        );
        // B = W + an orthogonal part of the same norm: 45°
        let w = wl.reshape([-1]).to_kind(Kind::Double);
        let r = Tensor::randn(w.size(), (Kind::Double, Device::Cpu));
        let o = &r - &w * (r.dot(&w) / w.dot(&w));
        let o = &o * (w.norm() / o.norm());
        set(&(&w + &o).view(wl.size().as_slice()).to_kind(b.kind()));
        assert!((l.weight_alignment().unwrap().0 - 45.0).abs() < 1e-3);
        set(&wl.zeros_like());
        assert_eq!(l.weight_alignment(), None);
    }
    assert_eq!(dense(false).weight_alignment(), None);
}

#[test]
fn fa_conv_gradients() {
    let _rng = crate::exec::engine::test_rng_lock();
    for (stride, pad, k) in [
        (1, Padding::Same, 5),
        (2, Padding::Same, 3),
        (2, Padding::Fixed, 3),
        (4, Padding::Valid, 5),
        (1, Padding::Same, 4),
    ] {
        let l = conv(stride, pad, k);
        let x = Tensor::randn([2, 3, 11, 11], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let y = l.forward(&x);
        let dy = Tensor::randn(y.size(), (Kind::Double, Device::Cpu));
        (&y * &dy).sum(Kind::Double).backward();
        // explicit: value and dW from a plain conv; dx from the transposed conv with B
        let xr = x.detach().set_requires_grad(true);
        let wr = l.w.detach().set_requires_grad(true);
        let br = l.bwd.as_ref().unwrap().detach().set_requires_grad(true);
        let y0 = l.op_forward(&xr, &wr) + l.bias.as_ref().unwrap().detach().view([1, -1, 1, 1]);
        assert!(maxdiff(&y, &y0) < 1e-12);
        (&y0 * &dy).sum(Kind::Double).backward();
        assert!(
            maxdiff(&l.w.grad(), &wr.grad()) < 1e-10,
            "dW local gradient"
        );
        // dx via B: the transposed conv of dy with B, written out explicitly
        let dx = l.op_transpose(&dy, &br.detach(), &x.size());
        assert!(
            maxdiff(&x.grad(), &dx) < 1e-10,
            "dx = conv_transpose(dy, B) {stride} {pad:?} {k}"
        );
        assert!(
            maxdiff(&x.grad(), &xr.grad()) > 1e-3,
            "dx must differ from dy·W"
        );
        let bg = l.bwd.as_ref().unwrap().grad();
        assert!(!bg.defined() || bg.abs().sum(Kind::Double).double_value(&[]) == 0.0);
    }
}

#[test]
fn max_pool_by_gather_equals_max_pool2d() {
    let _rng = crate::exec::engine::test_rng_lock();
    for (shape, k, s) in [
        ([4i64, 3, 17, 17], 3i64, 2i64),
        ([2, 5, 16, 15], 3, 2),
        ([3, 2, 9, 9], 2, 2),
        ([2, 4, 11, 11], 3, 1),
    ] {
        // Half-integer values: many ties; a NaN and a -inf too.
        let x0 = (Tensor::randn(shape, (Kind::Float, Device::Cpu)) * 2.0).round() / 2.0;
        let _ = x0.get(0).get(0).get(1).get(1).fill_(f64::NAN);
        let _ = x0.get(1).get(1).get(2).get(3).fill_(f64::NEG_INFINITY);
        let run = |gather: bool| {
            let x = x0.detach().set_requires_grad(true);
            let y = if gather {
                max_pool_by_gather(&x, k, s)
            } else {
                x.max_pool2d([k, k], [s, s], [0, 0], [1, 1], false)
            };
            let dy = Tensor::arange(y.numel() as i64, (Kind::Float, Device::Cpu))
                .view(y.size().as_slice())
                * 1e-3;
            (&y * &dy).sum(Kind::Float).backward();
            (y.detach().nan_to_num(0.0, None, None), x.grad())
        };
        let (ya, ga) = run(false);
        let (yb, gb) = run(true);
        assert!(ya.equal(&yb), "values {shape:?} k={k} s={s}");
        assert!(ga.equal(&gb), "gradients {shape:?} k={k} s={s}");
    }
}

#[test]
fn same_pool_and_lrn() {
    let _rng = crate::exec::engine::test_rng_lock();
    assert_eq!(same_pads(32, 3, 2), (0, 1));
    assert_eq!(same_pads(32, 4, 1), (1, 2));
    let x = Tensor::arange(16, (Kind::Float, Device::Cpu)).view([1, 1, 4, 4]) - 20.0;
    let m = max_pool_same(&x, 3, 2);
    assert_eq!(m.size(), vec![1, 1, 2, 2]);
    // bottom-right window covers rows 2..3, cols 2..3 only (pad never wins even if values < 0)
    assert_eq!(m.double_value(&[0, 0, 1, 1]), 15.0 - 20.0);
    let a = avg_pool_same(&x, 3, 2);
    // bottom-right window: cells (2,2),(2,3),(3,2),(3,3) = 10,11,14,15 mean 12.5
    assert!((a.double_value(&[0, 0, 1, 1]) - (12.5 - 20.0)).abs() < 1e-6);
    let y = Tensor::ones([1, 8, 2, 2], (Kind::Float, Device::Cpu)) * 2.0;
    let r = lrn(&y, 3, 1.0, 0.5, 0.75);
    // channel 0 window = channels 0..3 → 4 terms of 4 → 16·0.5 + 1 = 9
    assert!((r.double_value(&[0, 0, 0, 0]) - 2.0 / 9f64.powf(0.75)).abs() < 1e-5);
    // channel 4 window = channels 1..7 → 7 terms of 4 → 14 + 1 = 15
    assert!((r.double_value(&[0, 4, 0, 0]) - 2.0 / 15f64.powf(0.75)).abs() < 1e-5);
}
