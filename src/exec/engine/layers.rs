//! Learnable layers with forward weights W and backward weights B (method.md §6), BN, and the
//! TF-style pooling / LRN / padding helpers the architectures need (method.md §7).
//!
//! Layouts: dense W is [in, out] and B is [out, in]; conv W and B are both
//! [out, in, kh, kw] (PyTorch layout). With B present, the training forward uses the detach trick
//! `op(x.detach(), W) + op(x, B.detach()) − op(x, B.detach()).detach()`, whose value is op(x, W)
//! and whose gradients are dW = the true local gradient, dx = dy·B (conv: conv_transpose with B)
//! and dB = 0 (toolchain.md; verified in the tests below).

use crate::exec::observe::{JacobianVia, ObservableLayer};
use tch::{Kind, Tensor};

/// What a parameter tensor is; decides weight decay (kernels and biases only, method.md §6–§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Kernel,
    Bias,
    Backward,
    BnScale,
    BnShift,
    /// Non-trainable state (BN running statistics).
    Buffer,
}

/// A named parameter or buffer. The tensor is shared (shallow clone) with the layer that uses it.
pub struct Param {
    pub name: String,
    pub tensor: Tensor,
    pub role: Role,
}

impl Param {
    pub fn trainable(&self) -> bool {
        self.role != Role::Buffer
    }
    pub fn weight_decayed(&self) -> bool {
        matches!(self.role, Role::Kernel | Role::Bias)
    }
}

/// Weight initialisers of method.md §7 (all zero-mean).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    Normal(f64),
    TruncNormal(f64),
    GlorotUniform,
    /// TF `variance_scaling_initializer()` (scale 1, fan_in, truncated normal).
    VarianceScaling,
    Const(f64),
    /// N(0, scale / fan_in) (He et al. 2015 with scale 2 for ReLU layers).
    FanIn(f64),
}

/// TF truncated normal: N(0, std²) resampled outside ±2 std.
pub(crate) fn trunc_normal(shape: &[i64], std: f64) -> Tensor {
    let mut t = Tensor::randn(shape, (Kind::Float, tch::Device::Cpu)) * std;
    loop {
        let mask = t.abs().gt(2.0 * std);
        if mask.sum(Kind::Int64).int64_value(&[]) == 0 {
            return t;
        }
        let fresh = Tensor::randn(shape, (Kind::Float, tch::Device::Cpu)) * std;
        t = fresh.where_self(&mask, &t);
    }
}

impl Init {
    /// Draw a tensor of `shape` on the CPU from the global (seeded) torch generator.
    /// `fans` = (fan_in, fan_out).
    pub(crate) fn draw(self, shape: &[i64], fans: (i64, i64)) -> Tensor {
        let cpu = (Kind::Float, tch::Device::Cpu);
        match self {
            Init::Normal(std) => Tensor::randn(shape, cpu) * std,
            Init::TruncNormal(std) => trunc_normal(shape, std),
            Init::GlorotUniform => {
                let lim = (6.0 / (fans.0 + fans.1) as f64).sqrt();
                Tensor::rand(shape, cpu) * (2.0 * lim) - lim
            }
            Init::VarianceScaling => {
                // TF 1.x: stddev = sqrt(scale / fan_in) / .87962566103423978 (truncation correction).
                let std = (1.0 / fans.0 as f64).sqrt() / 0.879_625_661_034_239_8;
                trunc_normal(shape, std)
            }
            Init::Const(c) => Tensor::full(shape, c, cpu),
            Init::FanIn(scale) => Tensor::randn(shape, cpu) * (scale / fans.0 as f64).sqrt(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    None,
    Relu,
}

impl Act {
    pub fn apply(self, x: Tensor) -> Tensor {
        match self {
            Act::None => x,
            Act::Relu => x.relu(),
        }
    }
}

/// Convolution padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// TF SAME (asymmetric when needed: the extra row/column goes after).
    Same,
    Valid,
    /// ResNet "fixed padding": pad (k−1)//2 before and the rest after, then VALID, when stride > 1;
    /// SAME otherwise.
    Fixed,
}

/// TF SAME padding (before, after) along one axis.
pub(crate) fn same_pads(n: i64, k: i64, s: i64) -> (i64, i64) {
    let out = (n + s - 1) / s;
    let total = ((out - 1) * s + k - n).max(0);
    (total / 2, total - total / 2)
}

/// Layers with at most this many input channels (an RGB or grey first layer) reconstruct
/// through [`reconstruct_polyphase`] on the CPU.
const POLYPHASE_MAX_CHANNELS: i64 = 4;

/// One axis of the polyphase form of conv_transpose (see [`reconstruct_polyphase`]): the output
/// phase factor f, the stride m = f / s of the equivalent convolution, its kernel extent J and
/// left padding L, and the tap a(r, j) = r + p − s·(j − L) of the original kernel for output
/// phase r and equivalent tap j (None outside the kernel).
struct PhaseAxis {
    f: i64,
    m: i64,
    taps: i64,
    pad_left: i64,
    k: i64,
    p: i64,
    s: i64,
}

impl PhaseAxis {
    fn new(k: i64, s: i64, p: i64) -> Self {
        let f = if s >= 2 { s } else { 2 };
        // Output Y = f·u + r takes input i = m·u + j − L through tap a = r + p − s·(j − L):
        // j − L runs from ceil((p − k + 1)/s) (r = 0) to floor((f − 1 + p)/s) (r = f − 1).
        let lo = -(k - 1 - p).div_euclid(s);
        let hi = (f - 1 + p).div_euclid(s);
        PhaseAxis {
            f,
            m: f / s,
            taps: hi - lo + 1,
            pad_left: -lo,
            k,
            p,
            s,
        }
    }
    fn tap(&self, r: i64, j: i64) -> Option<i64> {
        let a = r + self.p - self.s * (j - self.pad_left);
        (0..self.k).contains(&a).then_some(a)
    }
    /// (left, right) padding of an input of `n` for an output of `u` coarse cells.
    fn pads(&self, n: i64, u: i64) -> (i64, i64) {
        (
            self.pad_left,
            (u - 1) * self.m + self.taps - n - self.pad_left,
        )
    }
}

/// conv_transpose(p, k) onto an input of `x_shape` (top/left padding `pad`), computed as an
/// ordinary convolution with C·f² output channels, one per channel and output phase, then
/// pixel_shuffle(f): the output is split into f×f phases (f = stride, or 2 for stride 1), and
/// the convolution runs over p with stride f / stride and a kernel rearranged from k. The same
/// products, summed in another order.
///
/// Why: libtorch's CPU (oneDNN) transposed convolution onto 3 channels runs at a third of the
/// speed of the forward convolution of the same size; with C·f² output channels the convolution
/// is efficient again. For a KNet or ResNet first layer this is IA's R_f (docs/engine.md
/// "Speed").
pub(crate) fn reconstruct_polyphase(
    p: &Tensor,
    k: &Tensor,
    x_shape: &[i64],
    stride: i64,
    pad: (i64, i64),
) -> Tensor {
    let (ks, ps) = (k.size(), p.size());
    let (o, c) = (ks[0], ks[1]);
    let ah = PhaseAxis::new(ks[2], stride, pad.0);
    let aw = PhaseAxis::new(ks[3], stride, pad.1);
    let f = ah.f;
    // The kernel [C·f², O, J_h, J_w] as a gather from k (flat index; taps outside the kernel
    // read an appended zero).
    let numel = o * c * ks[2] * ks[3];
    let mut idx = Vec::with_capacity((c * f * f * o * ah.taps * aw.taps) as usize);
    for ci in 0..c {
        for r1 in 0..f {
            for r2 in 0..f {
                for oi in 0..o {
                    for j1 in 0..ah.taps {
                        for j2 in 0..aw.taps {
                            idx.push(match (ah.tap(r1, j1), aw.tap(r2, j2)) {
                                (Some(a1), Some(a2)) => ((oi * c + ci) * ks[2] + a1) * ks[3] + a2,
                                _ => numel,
                            });
                        }
                    }
                }
            }
        }
    }
    let flat = Tensor::cat(
        &[k.reshape([-1]), k.new_zeros([1], (k.kind(), k.device()))],
        0,
    );
    let idx = Tensor::from_slice(&idx).to_device(k.device());
    let kernel = flat
        .index_select(0, &idx)
        .view([c * f * f, o, ah.taps, aw.taps]);
    let (uh, uw) = ((x_shape[2] + f - 1) / f, (x_shape[3] + f - 1) / f);
    let (hl, hr) = ah.pads(ps[2], uh);
    let (wl, wr) = aw.pads(ps[3], uw);
    let (xp, conv_pad) = if hl == hr && wl == wr && hl >= 0 && wl >= 0 {
        (p.shallow_clone(), [hl, wl])
    } else {
        (p.constant_pad_nd([wl, wr, hl, hr]), [0, 0])
    };
    // The padding makes the convolution's output exactly uh × uw coarse cells.
    xp.conv2d(&kernel, None::<Tensor>, [ah.m, aw.m], conv_pad, [1, 1], 1)
        .pixel_shuffle(f)
        .narrow(2, 0, x_shape[2])
        .narrow(3, 0, x_shape[3])
}

/// Output size along one axis.
pub(crate) fn out_size(n: i64, k: i64, s: i64, p: Padding) -> i64 {
    match p {
        Padding::Same => (n + s - 1) / s,
        Padding::Valid => (n - k + s) / s,
        Padding::Fixed if s > 1 => (n + k - 1 - k + s) / s,
        Padding::Fixed => n,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Dense,
    Conv { stride: i64, padding: Padding },
}

/// A learnable Dense or Conv2D layer with optional backward weights B.
pub struct AlignedLayer {
    pub name: String,
    pub kind: LayerKind,
    pub w: Tensor,
    pub bwd: Option<Tensor>,
    pub bias: Option<Tensor>,
    pub act: Act,
}

impl AlignedLayer {
    pub fn has_backward(&self) -> bool {
        self.bwd.is_some()
    }

    /// A tensor in W's layout in B's, or back (the map is its own inverse): transposed for a
    /// dense layer (W [in, out], B [out, in]), unchanged for a conv (same shape).
    pub fn swap_layout(&self, t: &Tensor) -> Tensor {
        match self.kind {
            LayerKind::Dense => t.tr(),
            LayerKind::Conv { .. } => t.shallow_clone(),
        }
    }

    /// W against B in W's layout (dense: Bᵀ): the angle in degrees between them,
    /// Neural-Alignment's "weight angle" diagnostic (method.md §6; 0° when B mirrors W as in
    /// backprop, about 90° for an independent random B), and ‖B‖/‖W‖, the backward pass's gain
    /// relative to backprop's. `None` without B, or when either is all zeros or not finite.
    pub fn weight_alignment(&self) -> Option<(f64, f64)> {
        let b = self.bwd.as_ref()?;
        tch::no_grad(|| {
            let w = self.w.to_kind(tch::Kind::Double).reshape([-1]);
            let bw = self.swap_layout(b).to_kind(tch::Kind::Double).reshape([-1]);
            let (ww, bb, wb) = (w.dot(&w), bw.dot(&bw), w.dot(&bw));
            let (ww, bb, wb) = (
                ww.double_value(&[]),
                bb.double_value(&[]),
                wb.double_value(&[]),
            );
            if ww <= 0.0 || bb <= 0.0 || !(ww.is_finite() && bb.is_finite() && wb.is_finite()) {
                return None;
            }
            let (nw, nb) = (ww.sqrt(), bb.sqrt());
            Some((
                (wb / (nw * nb)).clamp(-1.0, 1.0).acos().to_degrees(),
                nb / nw,
            ))
        })
    }
    pub fn kernel_size(&self) -> i64 {
        match self.kind {
            LayerKind::Dense => 1,
            LayerKind::Conv { .. } => self.w.size()[2],
        }
    }

    /// Pad a conv input as the layer's padding mode asks; returns the padded input and the
    /// symmetric padding still to pass to conv2d.
    pub fn pad_input(&self, x: &Tensor) -> (Tensor, [i64; 2]) {
        let sz = x.size();
        let (ph, pw) = self.pads(sz[2], sz[3]);
        if ph.0 == ph.1 && pw.0 == pw.1 {
            (x.shallow_clone(), [ph.0, pw.0])
        } else {
            (x.constant_pad_nd([pw.0, pw.1, ph.0, ph.1]), [0, 0])
        }
    }

    /// (before, after) padding along height and width for an input of h × w (zero for dense).
    pub fn pads(&self, h: i64, w: i64) -> ((i64, i64), (i64, i64)) {
        let LayerKind::Conv { stride, padding } = self.kind else {
            return ((0, 0), (0, 0));
        };
        let (kh, kw) = (self.w.size()[2], self.w.size()[3]);
        match padding {
            Padding::Valid => ((0, 0), (0, 0)),
            Padding::Same => (same_pads(h, kh, stride), same_pads(w, kw, stride)),
            Padding::Fixed if stride > 1 => {
                let f = |k: i64| ((k - 1) / 2, (k - 1) - (k - 1) / 2);
                (f(kh), f(kw))
            }
            Padding::Fixed => (same_pads(h, kh, 1), same_pads(w, kw, 1)),
        }
    }

    fn stride(&self) -> i64 {
        match self.kind {
            LayerKind::Conv { stride, .. } => stride,
            LayerKind::Dense => 1,
        }
    }

    /// op(x, W) without bias. `x` is the unpadded layer input.
    pub fn op_forward(&self, x: &Tensor, w: &Tensor) -> Tensor {
        match self.kind {
            LayerKind::Dense => x.matmul(w),
            LayerKind::Conv { stride, .. } => {
                let (xp, pad) = self.pad_input(x);
                xp.conv2d(w, None::<Tensor>, [stride, stride], pad, [1, 1], 1)
            }
        }
    }

    /// The backward projection op: dense x·Bᵀ (B is [out, in]); conv conv(x, B).
    pub fn op_backward(&self, x: &Tensor, b: &Tensor) -> Tensor {
        match self.kind {
            LayerKind::Dense => x.matmul(&b.tr()),
            LayerKind::Conv { .. } => self.op_forward(x, b),
        }
    }

    /// G(z, q) = ∂⟨op_backward(z, B), q⟩/∂B without computing op_backward: dense qᵀ·z, conv
    /// the filter gradient (`ext::conv2d_weight_grad`). IA's closed-form ∂R/∂B is a sum of these.
    pub fn backward_weight_grad(&self, z: &Tensor, q: &Tensor) -> Tensor {
        let b = self.bwd.as_ref().expect("a layer with backward weights");
        match self.kind {
            LayerKind::Dense => q.tr().matmul(z),
            LayerKind::Conv { stride, .. } => {
                let (zp, pad) = self.pad_input(z);
                super::ext::conv2d_weight_grad(q, &zp, b, stride, pad)
            }
        }
    }

    /// Transposed op: the reconstruction of an output-space tensor `p` back to the input space
    /// of shape `x_shape`, through a kernel `k` in W's layout (dense: p·kᵀ; conv:
    /// conv_transpose(p, k), cropped to x's unpadded region).
    pub fn op_transpose(&self, p: &Tensor, k: &Tensor, x_shape: &[i64]) -> Tensor {
        match self.kind {
            LayerKind::Dense => p.matmul(&k.tr()),
            LayerKind::Conv { stride, .. } => {
                // Reconstruct in the padded input space, then crop to x.
                let (ph, pw) = self.pads(x_shape[2], x_shape[3]);
                let hp = x_shape[2] + ph.0 + ph.1;
                let wp = x_shape[3] + pw.0 + pw.1;
                let (kh, kw) = (k.size()[2], k.size()[3]);
                let ps = p.size();
                let oh = hp - ((ps[2] - 1) * stride + kh);
                let ow = wp - ((ps[3] - 1) * stride + kw);
                let r = p.conv_transpose2d(
                    k,
                    None::<Tensor>,
                    [stride, stride],
                    [0, 0],
                    [oh, ow],
                    1,
                    [1, 1],
                );
                r.narrow(2, ph.0, x_shape[2]).narrow(3, pw.0, x_shape[3])
            }
        }
    }

    /// [`Self::op_transpose`] without autograd, through the input gradient of the conv
    /// (`ext::conv2d_input_grad`, the exact adjoint of op): only x's region is computed, where
    /// op_transpose reconstructs the padded space and crops it (4× the work on a 2×2 input with
    /// 3×3 kernels). For IA's closed-form gradient.
    pub fn reconstruct(&self, p: &Tensor, k: &Tensor, x_shape: &[i64]) -> Tensor {
        match self.kind {
            LayerKind::Dense => p.matmul(&k.tr()),
            LayerKind::Conv { stride, .. } => {
                let (ph, pw) = self.pads(x_shape[2], x_shape[3]);
                if x_shape[1] <= POLYPHASE_MAX_CHANNELS && p.device() == tch::Device::Cpu {
                    return reconstruct_polyphase(p, k, x_shape, stride, (ph.0, pw.0));
                }
                if ph.0 == ph.1 && pw.0 == pw.1 {
                    super::ext::conv2d_input_grad(p, x_shape, k, stride, [ph.0, pw.0])
                } else {
                    let padded = [
                        x_shape[0],
                        x_shape[1],
                        x_shape[2] + ph.0 + ph.1,
                        x_shape[3] + pw.0 + pw.1,
                    ];
                    super::ext::conv2d_input_grad(p, &padded, k, stride, [0, 0])
                        .narrow(2, ph.0, x_shape[2])
                        .narrow(3, pw.0, x_shape[3])
                }
            }
        }
    }

    /// Pre-activation output op(x, W) + bias. With `via_backward` and B present (and x needing a
    /// gradient), the value is the same but dx flows through B and W gets its local gradient.
    pub fn pre_activation(&self, x: &Tensor, via_backward: bool) -> Tensor {
        self.add_bias(self.projection(x, via_backward))
    }

    /// op(x, W), with dx through B as in [`Self::pre_activation`]: one forward op whose
    /// backward uses B (`ext::decoupled_*`), bit-identical in value and gradients to
    /// op(x.detach(), W) + op(x, B.detach()) − its value, at the cost of one op.
    fn projection(&self, x: &Tensor, via_backward: bool) -> Tensor {
        match (&self.bwd, via_backward && x.requires_grad()) {
            (Some(b), true) => match self.kind {
                LayerKind::Dense => super::ext::decoupled_linear(x, &self.w, &b.detach()),
                LayerKind::Conv { stride, .. } => {
                    let (xp, pad) = self.pad_input(x);
                    super::ext::decoupled_conv2d(&xp, &self.w, &b.detach(), stride, pad)
                }
            },
            _ => self.op_forward(x, &self.w),
        }
    }

    fn add_bias(&self, y: Tensor) -> Tensor {
        match &self.bias {
            None => y,
            Some(bias) => self.add_bias_of(y, bias),
        }
    }

    /// y + `bias` broadcast over an output of this layer (dense: per unit; conv: per channel).
    pub fn add_bias_of(&self, y: Tensor, bias: &Tensor) -> Tensor {
        match self.kind {
            LayerKind::Dense => y + bias,
            LayerKind::Conv { .. } => y + bias.view([1, -1, 1, 1]),
        }
    }

    /// The training output (as [`Self::forward`]) with the detached projection P_f = op(x, W),
    /// which IA's closed-form alignment gradient reuses (`rules::Rule::information_gradient`).
    pub fn forward_parts(&self, x: &Tensor) -> (Tensor, Tensor) {
        let y = self.projection(x, true);
        let pf = y.detach();
        (self.act.apply(self.add_bias(y)), pf)
    }

    /// The layer's output activation(op(x, W) + bias), as in training.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.act.apply(self.pre_activation(x, true))
    }

    /// Stride accessor for the alignment losses.
    pub fn conv_stride(&self) -> i64 {
        self.stride()
    }
}

impl ObservableLayer for AlignedLayer {
    fn name(&self) -> &str {
        &self.name
    }
    fn kernel(&self) -> Tensor {
        self.w.detach()
    }
    fn forward_layer(&self, x: &Tensor, via: JacobianVia) -> Tensor {
        self.act
            .apply(self.pre_activation(x, via == JacobianVia::Backward))
    }
}

/// Batch normalisation (TF semantics: `decay` d ↔ PyTorch momentum 1 − d).
pub(crate) struct BatchNorm {
    pub gamma: Option<Tensor>,
    pub beta: Option<Tensor>,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub momentum: f64,
    pub eps: f64,
}

impl BatchNorm {
    pub(crate) fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        x.batch_norm(
            self.gamma.as_ref(),
            self.beta.as_ref(),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            self.momentum,
            self.eps,
            true,
        )
    }
}

/// Max pool with TF SAME padding (padding never wins the max).
pub(crate) fn max_pool_same(x: &Tensor, k: i64, s: i64) -> Tensor {
    let sz = x.size();
    let (ph, pw) = (same_pads(sz[2], k, s), same_pads(sz[3], k, s));
    let xp = if ph == (0, 0) && pw == (0, 0) {
        x.shallow_clone()
    } else {
        x.pad(
            [pw.0, pw.1, ph.0, ph.1],
            "constant",
            Some(f64::NEG_INFINITY),
        )
    };
    if xp.device() != tch::Device::Cpu {
        return xp.max_pool2d([k, k], [s, s], [0, 0], [1, 1], false);
    }
    max_pool_by_gather(&xp, k, s)
}

/// Max pool (no padding) on the CPU: the window maxima's indices from libtorch's vectorised
/// channels-last kernel (the NCHW one is scalar and took ~18 % of a KNet training), then a
/// gather of those elements. The gather's backward scatter-adds into the same indices in the
/// same order as `max_pool2d`'s, so values and gradients are bit-identical to it, ties and
/// NaN included (`max_pool_by_gather_equals_max_pool2d`); it is 2–3× faster forward+backward.
fn max_pool_by_gather(x: &Tensor, k: i64, s: i64) -> Tensor {
    // NCHW shape with NHWC strides: libtorch picks its channels-last kernel from the strides.
    let cl = x
        .detach()
        .permute([0, 2, 3, 1])
        .contiguous()
        .permute([0, 3, 1, 2]);
    let (_, idx) =
        tch::no_grad(|| cl.max_pool2d_with_indices([k, k], [s, s], [0, 0], [1, 1], false));
    let sz = idx.size();
    x.flatten(2, -1)
        .gather(2, &idx.contiguous().view([sz[0], sz[1], -1]), false)
        .view(sz.as_slice())
}

/// Average pool with TF SAME padding (padded cells are not counted).
pub(crate) fn avg_pool_same(x: &Tensor, k: i64, s: i64) -> Tensor {
    let sz = x.size();
    let (ph, pw) = (same_pads(sz[2], k, s), same_pads(sz[3], k, s));
    if ph == (0, 0) && pw == (0, 0) {
        return x.avg_pool2d([k, k], [s, s], [0, 0], false, true, None::<i64>);
    }
    let pads = [pw.0, pw.1, ph.0, ph.1];
    let num = x
        .constant_pad_nd(pads)
        .avg_pool2d([k, k], [s, s], [0, 0], false, true, None::<i64>);
    let ones = Tensor::ones([1, 1, sz[2], sz[3]], (x.kind(), x.device()));
    let den =
        ones.constant_pad_nd(pads)
            .avg_pool2d([k, k], [s, s], [0, 0], false, true, None::<i64>);
    num / den
}

/// TF across-channel LRN: x / (bias + α·Σ_{|c'−c|≤r} x_{c'}²)^β (α not divided by the window).
pub(crate) fn lrn(x: &Tensor, depth_radius: i64, bias: f64, alpha: f64, beta: f64) -> Tensor {
    let sq = x.square().unsqueeze(1); // [N,1,C,H,W]
    let win = 2 * depth_radius + 1;
    let summed = sq
        .constant_pad_nd([0, 0, 0, 0, depth_radius, depth_radius])
        .avg_pool3d([win, 1, 1], [1, 1, 1], [0, 0, 0], false, true, None::<i64>)
        .squeeze_dim(1)
        * (win as f64);
    x / (summed * alpha + bias).pow_tensor_scalar(beta)
}

#[cfg(test)]
mod tests;
