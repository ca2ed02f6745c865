//! Autograd functions tch cannot express, from `ext/decoupled.cpp` (see there for why):
//! layers whose input gradient flows through the backward weights B in one forward
//! convolution, and a filter gradient without a forward pass.
//!
//! Errors from libtorch (bad shapes, out of memory) panic with libtorch's message, as tch's
//! own infallible methods do; the run's child process reports the panic.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char};
use tch::Tensor;
use torch_sys::C_tensor;

unsafe extern "C" {
    fn lrx_decoupled_conv2d(
        x: *const C_tensor,
        w: *const C_tensor,
        b: *const C_tensor,
        stride: i64,
        ph: i64,
        pw: i64,
        err: *mut *mut c_char,
    ) -> *mut C_tensor;
    fn lrx_decoupled_linear(
        x: *const C_tensor,
        w: *const C_tensor,
        b: *const C_tensor,
        err: *mut *mut c_char,
    ) -> *mut C_tensor;
    fn lrx_conv2d_weight_grad(
        g: *const C_tensor,
        x: *const C_tensor,
        w: *const C_tensor,
        stride: i64,
        ph: i64,
        pw: i64,
        err: *mut *mut c_char,
    ) -> *mut C_tensor;
    fn lrx_conv2d_input_grad(
        g: *const C_tensor,
        sizes: *const i64,
        nd: usize,
        w: *const C_tensor,
        stride: i64,
        ph: i64,
        pw: i64,
        err: *mut *mut c_char,
    ) -> *mut C_tensor;
    fn lrx_fused_sgd(
        params: *const *const C_tensor,
        grads: *const *const C_tensor,
        bufs: *const *const C_tensor,
        n: usize,
        wd: f64,
        momentum: f64,
        lr: f64,
        nesterov: bool,
        first: bool,
        err: *mut *mut c_char,
    ) -> i32;
    fn lrx_fused_adam(
        params: *const *const C_tensor,
        grads: *const *const C_tensor,
        ms: *const *const C_tensor,
        vs: *const *const C_tensor,
        steps: *const *const C_tensor,
        n: usize,
        lr: f64,
        beta1: f64,
        beta2: f64,
        wd: f64,
        eps: f64,
        err: *mut *mut c_char,
    ) -> i32;
    fn lrx_free_error(err: *mut c_char);
}

/// The message in a C error slot (freed here), for a panic.
fn take_message(err: *mut c_char) -> String {
    if err.is_null() {
        return "unknown libtorch error".to_string();
    }
    // SAFETY: a non-null err is a NUL-terminated string from strdup, freed once here.
    let m = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    unsafe { lrx_free_error(err) };
    m
}

/// Run one of the C functions (given the error slot it reports into) and wrap its tensor, or
/// panic with the C++ exception's message.
fn call(what: &str, f: impl FnOnce(*mut *mut c_char) -> *mut C_tensor) -> Tensor {
    let mut err = std::ptr::null_mut();
    let t = f(&mut err);
    if t.is_null() {
        panic!("{what}: {}", take_message(err));
    }
    // SAFETY: a non-null result is a new heap at::Tensor that we now own.
    unsafe { Tensor::from_ptr(t) }
}

/// Run one of the C functions that return a status (0 = done), or panic with the message.
fn call_status(what: &str, f: impl FnOnce(*mut *mut c_char) -> i32) {
    let mut err = std::ptr::null_mut();
    if f(&mut err) != 0 {
        panic!("{what}: {}", take_message(err));
    }
}

fn ptrs(ts: &[&Tensor]) -> Vec<*const C_tensor> {
    ts.iter().map(|t| t.as_ptr()).collect()
}

// SAFETY (the three calls below): the tensors outlive the call; the C++ side copies what it
// keeps.

/// conv2d(x, W) (no bias, dilation 1, groups 1) whose backward sends dx = conv_transpose(dy, B)
/// and gives W its filter gradient; B gets none. `x` is already padded beyond `pad`.
pub(crate) fn decoupled_conv2d(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    stride: i64,
    pad: [i64; 2],
) -> Tensor {
    call("decoupled conv2d", |err| unsafe {
        lrx_decoupled_conv2d(
            x.as_ptr(),
            w.as_ptr(),
            b.as_ptr(),
            stride,
            pad[0],
            pad[1],
            err,
        )
    })
}

/// x·W (x [n, in], W [in, out]) whose backward sends dx = dy·B (B [out, in]) and gives W its
/// gradient xᵀ·dy; B gets none.
pub(crate) fn decoupled_linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    call("decoupled linear", |err| unsafe {
        lrx_decoupled_linear(x.as_ptr(), w.as_ptr(), b.as_ptr(), err)
    })
}

/// The filter gradient ∂⟨conv2d(x, W), g⟩/∂W, without computing the convolution (W gives only
/// the shape). `x` is already padded beyond `pad`.
pub(crate) fn conv2d_weight_grad(
    g: &Tensor,
    x: &Tensor,
    w: &Tensor,
    stride: i64,
    pad: [i64; 2],
) -> Tensor {
    call("conv2d weight gradient", |err| unsafe {
        lrx_conv2d_weight_grad(
            g.as_ptr(),
            x.as_ptr(),
            w.as_ptr(),
            stride,
            pad[0],
            pad[1],
            err,
        )
    })
}

/// The input gradient ∂⟨conv2d(x, W), g⟩/∂x for an input of `x_sizes` (x itself is not
/// needed): conv_transpose(g, W) cropped to x, as autograd's conv backward computes it. Not
/// differentiable (used without autograd).
pub(crate) fn conv2d_input_grad(
    g: &Tensor,
    x_sizes: &[i64],
    w: &Tensor,
    stride: i64,
    pad: [i64; 2],
) -> Tensor {
    // SAFETY: the tensors and the sizes outlive the call.
    call("conv2d input gradient", |err| unsafe {
        lrx_conv2d_input_grad(
            g.as_ptr(),
            x_sizes.as_ptr(),
            x_sizes.len(),
            w.as_ptr(),
            stride,
            pad[0],
            pad[1],
            err,
        )
    })
}

/// One torch.optim.SGD step (momentum, dampening 0, `nesterov`, L2 decay `wd`) of every
/// parameter in `params` with libtorch's fused kernel, in place on `params` and `bufs`. `first`:
/// the buffers are set to the (decayed) gradients instead of updated. All slices have the same
/// length; tensors are contiguous, on one device.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fused_sgd(
    params: &[&Tensor],
    grads: &[&Tensor],
    bufs: &[&Tensor],
    wd: f64,
    momentum: f64,
    lr: f64,
    nesterov: bool,
    first: bool,
) {
    assert!(params.len() == grads.len() && params.len() == bufs.len());
    let (p, g, b) = (ptrs(params), ptrs(grads), ptrs(bufs));
    // SAFETY: the pointer arrays hold params.len() live tensors each, borrowed for the call.
    call_status("fused SGD step", |err| unsafe {
        lrx_fused_sgd(
            p.as_ptr(),
            g.as_ptr(),
            b.as_ptr(),
            p.len(),
            wd,
            momentum,
            lr,
            nesterov,
            first,
            err,
        )
    })
}

/// One torch.optim.Adam step (L2 decay `wd`, no amsgrad) with libtorch's fused kernel, in
/// place on `params`, `ms` (first moments) and `vs` (second moments). `steps[i]`: parameter i's
/// step count including this step, a float scalar tensor on its device.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fused_adam(
    params: &[&Tensor],
    grads: &[&Tensor],
    ms: &[&Tensor],
    vs: &[&Tensor],
    steps: &[&Tensor],
    lr: f64,
    (beta1, beta2, eps): (f64, f64, f64),
    wd: f64,
) {
    let n = params.len();
    assert!(grads.len() == n && ms.len() == n && vs.len() == n && steps.len() == n);
    let (p, g, m, v, s) = (ptrs(params), ptrs(grads), ptrs(ms), ptrs(vs), ptrs(steps));
    // SAFETY: the pointer arrays hold n live tensors each, borrowed for the call.
    call_status("fused Adam step", |err| unsafe {
        lrx_fused_adam(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            s.as_ptr(),
            n,
            lr,
            beta1,
            beta2,
            wd,
            eps,
            err,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The decoupled functions give bit for bit the values and gradients of the two-op
    /// construction they replace: conv(x.detach(), W) + conv(x, B.detach()) − its value.
    #[test]
    fn decoupled_equals_two_op_construction() {
        let _rng = crate::exec::engine::test_rng_lock();
        tch::manual_seed(3);
        let o = (Kind::Float, Device::Cpu);
        for (stride, pad) in [(1, [1, 1]), (2, [0, 0]), (2, [1, 0])] {
            let x = Tensor::randn([3, 4, 9, 8], o).set_requires_grad(true);
            let w = Tensor::randn([5, 4, 3, 3], o).set_requires_grad(true);
            let b = Tensor::randn([5, 4, 3, 3], o);
            let y = decoupled_conv2d(&x, &w, &b, stride, pad);
            let dy = Tensor::randn(y.size(), o);
            let g = Tensor::run_backward(&[(&y * &dy).sum(Kind::Float)], &[&x, &w], false, false);
            let xd = x.detach().set_requires_grad(true);
            let wd = w.detach().set_requires_grad(true);
            let yf = xd
                .detach()
                .conv2d(&wd, None::<Tensor>, [stride, stride], pad, [1, 1], 1);
            let yb = xd.conv2d(&b, None::<Tensor>, [stride, stride], pad, [1, 1], 1);
            let y2 = &yf + (&yb - yb.detach());
            let g2 =
                Tensor::run_backward(&[(&y2 * &dy).sum(Kind::Float)], &[&xd, &wd], false, false);
            assert!(y.equal(&y2), "forward, stride {stride} pad {pad:?}");
            assert!(g[0].equal(&g2[0]), "dx, stride {stride} pad {pad:?}");
            assert!(g[1].equal(&g2[1]), "dW, stride {stride} pad {pad:?}");
            let gw = conv2d_weight_grad(&dy, &x.detach(), &w, stride, pad);
            assert!(gw.equal(&g2[1]), "weight grad, stride {stride} pad {pad:?}");
        }
        let x = Tensor::randn([6, 7], o).set_requires_grad(true);
        let w = Tensor::randn([7, 4], o).set_requires_grad(true);
        let b = Tensor::randn([4, 7], o);
        let y = decoupled_linear(&x, &w, &b);
        let dy = Tensor::randn(y.size(), o);
        let g = Tensor::run_backward(&[(&y * &dy).sum(Kind::Float)], &[&x, &w], false, false);
        let xd = x.detach().set_requires_grad(true);
        let wd = w.detach().set_requires_grad(true);
        let yb = xd.matmul(&b.tr());
        let y2 = xd.detach().matmul(&wd) + (&yb - yb.detach());
        let g2 = Tensor::run_backward(&[(&y2 * &dy).sum(Kind::Float)], &[&xd, &wd], false, false);
        assert!(y.equal(&y2));
        assert!(g[0].equal(&g2[0]), "dense dx");
        assert!(g[1].equal(&g2[1]), "dense dW");
    }

    /// On a GPU machine: the same functions on CUDA against the two-op construction there (to
    /// rounding: cuDNN may pick other algorithms call to call). Skipped without CUDA.
    #[test]
    fn decoupled_on_cuda_when_available() {
        if !tch::Cuda::is_available() {
            eprintln!("no CUDA device: skipped");
            return;
        }
        let _rng = crate::exec::engine::test_rng_lock();
        tch::manual_seed(5);
        let o = (Kind::Float, Device::Cuda(0));
        let close = |a: &Tensor, b: &Tensor| {
            let scale = b.abs().max().double_value(&[]);
            (a - b).abs().max().double_value(&[]) <= 1e-4 * (1.0 + scale)
        };
        let x = Tensor::randn([4, 8, 12, 12], o).set_requires_grad(true);
        let w = Tensor::randn([6, 8, 3, 3], o).set_requires_grad(true);
        let b = Tensor::randn([6, 8, 3, 3], o);
        let y = decoupled_conv2d(&x, &w, &b, 2, [1, 1]);
        let dy = Tensor::randn(y.size(), o);
        let g = Tensor::run_backward(&[(&y * &dy).sum(Kind::Float)], &[&x, &w], false, false);
        let want_dx = dy.conv_transpose2d(&b, None::<Tensor>, [2, 2], [1, 1], [1, 1], 1, [1, 1]);
        assert!(close(&g[0], &want_dx), "CUDA dx");
        let gw = conv2d_weight_grad(&dy, &x.detach(), &w, 2, [1, 1]);
        assert!(close(&g[1], &gw), "CUDA dW");
    }

    #[test]
    fn libtorch_errors_panic_with_the_message() {
        let o = (Kind::Float, Device::Cpu);
        let x = Tensor::zeros([1, 3, 4, 4], o);
        let w = Tensor::zeros([2, 5, 3, 3], o);
        let r = std::panic::catch_unwind(|| decoupled_conv2d(&x, &w, &w, 1, [0, 0]));
        let msg = r.unwrap_err();
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.starts_with("decoupled conv2d:"), "{msg}");
    }
}
