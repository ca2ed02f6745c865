#!/usr/bin/env python3
"""Independent plain-PyTorch reference for lrx's KNet4 with SGDM, Adam, FA and IA (issue 19).

Written from shared/method.md §6 (learning rules) and §7 (KNet), and for BatchNorm and IA's B-step
cap from docs/engine.md ("BN", "Regime options": b_step_cap, b_step_recheck), not from lrx's code.

Network (KNet4, method.md §7): conv1 5x5 SAME (no activation) -> max pool 3x3/2 SAME ->
conv2 5x5 SAME + ReLU -> avg pool 3x3/2 SAME -> conv3 5x5 SAME + ReLU -> avg pool 3x3/2 SAME ->
flatten (C, H, W order) -> fc4 (no activation). Filters 32/32/64 times `--width`.
TF SAME pooling: max pads with -inf, avg divides by the number of valid (unpadded) elements.
--batch-norm (lrx's knet4(batch_norm = true); not the paper's KNet): a BatchNorm on each conv
layer's output, after its activation and before its pool: decay 0.9 (PyTorch momentum 0.1),
eps 1e-5, gamma 1, beta 0; training steps normalise with the batch's statistics and update the
running ones (unbiased variance), evaluation and diagnostics use the running ones. Its backward is
exact under every rule (B replaces W only in a conv/dense layer's dx); gamma and beta are trained
by the run's optimizer at the run's rate without weight decay; IA's R reads each layer's own input
and P_f = op(x, W) as without the BN.

Rules:
  bp       plain autograd; the optimizer is --opt (sgdm: Nesterov 0.9; adam: 0.9/0.999/1e-8).
  readout  bp on fc4 only; conv1..conv3 (and their BatchNorms) stay at their initial values.
  fa       every layer owns W and a fixed random B (same init as W, drawn independently);
           dx = dy.B (conv: conv_transpose(dy, B)), dW = the true local gradient, dB = 0.
  ia       fa plus the alignment loss R = a*amp + b*null + g*decay per layer (stop-gradient on
           the layer input and on W, so R trains B only); B is trained by the same optimizer
           unless --b-opt adam gives it its own.
           --b-step-cap K (SGD on B only): each layer's B steps at a rate of at most K/lambda,
           lambda the largest eigenvalue of d2R_l/dB2 on the step's batch, by 10 power-iteration
           products from B of Hessian-vector products by double backward (torch.autograd), its
           estimate the last iterate's Rayleigh quotient; estimated at each epoch's first step and
           every 50 steps in it; the factor min(1, K/(lr_B*lambda)) multiplies B's learning rate
           (momentum buffer untouched). --b-step-recheck RHO also re-estimates a layer at any step
           where its output energy |P_f|^2/n exceeds RHO x its energy at its last estimate.
Weight decay --wd is L2 (gradient += wd*p) on W and biases, never on B or BatchNorm's gamma/beta.

Modes:
  standalone  Fashion-MNIST IDX files (gzip or plain) from --data (default
              /usr/share/datasets/fashion-mnist), own seeded init (--seed) and order (--data-seed).
  export      --export DIR: an lrx reference export (`lrx export-reference`; format in
              docs/learning.md): the same bytes, initial parameters and batch order as an lrx
              run; settings default to the manifest's.

Output: one JSON line per epoch on stdout (a first line {"config": ...} records the settings);
with --b-step-cap each layer also has b_step_factor (the factor of the epoch's last step),
b_curvature (lambda at the last estimate) and b_rechecks (the epoch's energy-triggered estimates).
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

LAYERS = ["conv1", "conv2", "conv3", "fc4"]
CONVS = LAYERS[:3]
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
# BatchNorm (docs/engine.md "BN"): TF decay 0.9 <-> PyTorch momentum 1 - 0.9; eps as ResNet v1's.
BN_MOMENTUM = 0.1
BN_EPS = 1e-5
# b_step_cap (docs/engine.md "Regime options"): steps between scheduled curvature estimates
# within an epoch, and power-iteration products per estimate.
CURVATURE_EVERY = 50
CURVATURE_ITERS = 10


class RefError(Exception):
    """A user error: bad file, bad option. Printed as `error: ...` with exit status 2."""


# ----------------------------------------------------------------------------------------------
# data


def read_idx(path):
    """Read an IDX file (gzip or plain). Returns a uint8 array (images [N, H, W] or labels [N])."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise RefError(f"{path}: cannot read: {e.strerror}") from e
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise RefError(f"{path}: corrupt gzip data: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise RefError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise RefError(f"{path}: IDX element type 0x{raw[2]:02x}, expected 0x08 (unsigned byte)")
    nd = raw[3]
    if nd not in (1, 3):
        raise RefError(f"{path}: IDX with {nd} dimensions, expected 1 (labels) or 3 (images)")
    if len(raw) < 4 + 4 * nd:
        raise RefError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * nd, raw[4 : 4 + 4 * nd])
    n = int(np.prod(dims))
    body = raw[4 + 4 * nd :]
    if len(body) != n:
        raise RefError(f"{path}: {len(body)} data bytes, the header {list(dims)} says {n}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def find_idx(d, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise RefError(
        f"{d}: no {stem}[.gz]; install the data set with `apt-get install dataset-fashion-mnist` "
        f"or pass --data DIR"
    )


def load_fashion(d, size):
    out = {}
    for split, pre in (("train", "train"), ("val", "t10k")):
        x = read_idx(find_idx(d, f"{pre}-images-idx3-ubyte"))
        y = read_idx(find_idx(d, f"{pre}-labels-idx1-ubyte"))
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise RefError(f"{d}: {split} images {x.shape} and labels {y.shape} do not match")
        if size != x.shape[1]:
            p = size - x.shape[1]
            if p < 0 or p % 2:
                raise RefError(f"--size {size}: can only zero-pad {x.shape[1]} evenly")
            x = np.pad(x, ((0, 0), (p // 2, p // 2), (p // 2, p // 2)))
        out[split] = (x[:, None, :, :].copy(), y.astype(np.int64))
    return out


# ----------------------------------------------------------------------------------------------
# layers


def same_pads(n, k, s):
    out = -(-n // s)
    tot = max((out - 1) * s + k - n, 0)
    return tot // 2, tot - tot // 2


def max_pool_same(x, k=3, s=2):
    ph, pw = same_pads(x.shape[2], k, s), same_pads(x.shape[3], k, s)
    x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
    return F.max_pool2d(x, k, s)


def avg_pool_same(x, k=3, s=2):
    ph, pw = same_pads(x.shape[2], k, s), same_pads(x.shape[3], k, s)
    pads = (pw[0], pw[1], ph[0], ph[1])
    num = F.avg_pool2d(F.pad(x, pads), k, s)
    ones = torch.ones(1, 1, x.shape[2], x.shape[3], dtype=x.dtype, device=x.device)
    den = F.avg_pool2d(F.pad(ones, pads), k, s)
    return num / den


class FAConv(torch.autograd.Function):
    """y = conv(x, W) + b (5x5 SAME, stride 1); dx through B, dW and db local, dB = 0."""

    @staticmethod
    def forward(ctx, x, w, b, bw):
        ctx.save_for_backward(x, w, bw)
        return F.conv2d(x, w, b, padding=w.shape[-1] // 2)

    @staticmethod
    def backward(ctx, dy):
        x, w, bw = ctx.saved_tensors
        p = w.shape[-1] // 2
        dx = torch.nn.grad.conv2d_input(x.shape, bw, dy, padding=p) if ctx.needs_input_grad[0] else None
        dw = torch.nn.grad.conv2d_weight(x, w.shape, dy, padding=p)
        return dx, dw, dy.sum((0, 2, 3)), None


class FADense(torch.autograd.Function):
    """y = x.W^T + b with W [out, in]; dx = dy.B with B [out, in], dW = dy^T.x, dB = 0."""

    @staticmethod
    def forward(ctx, x, w, b, bw):
        ctx.save_for_backward(x, bw)
        return F.linear(x, w, b)

    @staticmethod
    def backward(ctx, dy):
        x, bw = ctx.saved_tensors
        dx = dy @ bw if ctx.needs_input_grad[0] else None
        return dx, dy.t() @ x, dy.sum(0), None


class FADenseCentered(FADense):
    """FADense whose feedback is batch-centred: dx = (dy - mean_batch dy).B (--center-feedback).
    The hidden layers then get no signal from the batch-mean error (the gradient of fc4's bias)."""

    @staticmethod
    def backward(ctx, dy):
        x, bw = ctx.saved_tensors
        dx = (dy - dy.mean(0, keepdim=True)) @ bw if ctx.needs_input_grad[0] else None
        return dx, dy.t() @ x, dy.sum(0), None


# ----------------------------------------------------------------------------------------------
# model


class KNet4:
    """Parameters: W[l], b[l] for every layer; B[l] for the layers with feedback weights.

    `top`: fa (fc4 has its own random B), tied (fc4's dx uses W4 itself: exact feedback),
    shared (fc4's B is one [classes, channels] matrix repeated over each channel's positions),
    centered (fc4's own random B minus its mean over each channel's positions: no feedback along
    the spatially uniform, per-channel-mean feature directions; a diagnostic, not the paper's FA).
    `batch_norm`: a BatchNorm after each conv layer's activation, before its pool, with gamma
    bn_g[l] (1), beta bn_b[l] (0) and running statistics bn_mean[l] (0), bn_var[l] (1); it draws
    nothing, so every other parameter is the plain KNet4's for a generator state.
    """

    def __init__(self, channels, size, classes=10, width=1.0, init="he", rule="fa", top="fa", gen=None,
                 top_scale=1.0, b_scale=1.0, freeze=(), center_feedback=False, feedback="random", freeze_bias=(),
                 center_features=False, batch_norm=False):
        c = lambda n: max(1, int(round(n * width)))  # noqa: E731
        self.chans = [channels, c(32), c(32), c(64)]
        s = size
        for _ in range(3):
            s = -(-s // 2)
        self.spatial = s
        self.shapes = {
            "conv1": (self.chans[1], channels, 5, 5),
            "conv2": (self.chans[2], self.chans[1], 5, 5),
            "conv3": (self.chans[3], self.chans[2], 5, 5),
            "fc4": (classes, self.chans[3] * s * s),
        }
        self.rule, self.top = rule, top
        self.center_feedback = center_feedback
        self.center_features = center_features
        self.W, self.b, self.B = {}, {}, {}
        if init == "he":  # N(0, gain / fan_in): gain 2 before a ReLU (conv2, conv3), 1 otherwise
            std = {l: math.sqrt(g / float(np.prod(self.shapes[l][1:]))) for l, g in zip(LAYERS, (1, 2, 2, 1))}
        elif init == "paper":  # method.md §7
            std = {"conv1": 1e-4, "conv2": 0.01, "conv3": 0.01, "fc4": 0.01}
        else:
            raise RefError(f"--init {init}: expected he or paper")
        self.std = std
        for l in LAYERS:
            self.W[l] = (torch.randn(self.shapes[l], generator=gen) * std[l]).requires_grad_()
            self.b[l] = torch.zeros(self.shapes[l][0], requires_grad=True)
        if self.decoupled:
            for l in LAYERS:  # drawn after every W, independently
                if l == "fc4" and top == "tied":
                    continue
                shape = (classes, self.chans[3]) if (l == "fc4" and top == "shared") else self.shapes[l]
                self.B[l] = (torch.randn(shape, generator=gen) * (std[l] * b_scale)).requires_grad_(rule == "ia")
            if feedback == "sign":  # sign-concordant: |B| with W's initial signs (a diagnostic, not FA)
                with torch.no_grad():
                    for l in self.B:
                        if self.B[l].shape == self.W[l].shape:
                            self.B[l].copy_(self.B[l].abs() * torch.sign(self.W[l]))
            if top == "centered" and "fc4" in self.B:
                with torch.no_grad():
                    v = self.B["fc4"].view(classes, self.chans[3], s * s)
                    v.sub_(v.mean(2, keepdim=True))
        if top_scale != 1.0:  # after every draw, so the other parameters are those of the default run
            with torch.no_grad():
                self.W["fc4"].mul_(top_scale)
        frozen = set(freeze) | (set(LAYERS[:3]) if rule == "readout" else set())
        self.batch_norm = batch_norm
        self.bn_g, self.bn_b, self.bn_mean, self.bn_var = {}, {}, {}, {}
        if batch_norm:
            for l, ch in zip(CONVS, self.chans[1:]):
                self.bn_g[l] = torch.ones(ch, requires_grad=True)
                self.bn_b[l] = torch.zeros(ch, requires_grad=True)
                self.bn_mean[l] = torch.zeros(ch)
                self.bn_var[l] = torch.ones(ch)
        for l in frozen:
            self.W[l].requires_grad_(False)
            self.b[l].requires_grad_(False)
            if l in self.bn_g:
                self.bn_g[l].requires_grad_(False)
                self.bn_b[l].requires_grad_(False)
        for l in freeze_bias:  # the bias alone stays at its initial value (0)
            self.b[l].requires_grad_(False)

    @property
    def decoupled(self):
        return self.rule in ("fa", "ia")

    def feedback(self, l):
        """B of layer l in W's layout (the shared top one expanded over positions)."""
        if l == "fc4" and self.top == "shared":
            return self.B[l].repeat_interleave(self.spatial * self.spatial, dim=1)
        return self.B[l]

    def layer(self, l, x, mode):
        W, b = self.W[l], self.b[l]
        if mode == "fa" and l in self.B:
            f = (FADenseCentered if self.center_feedback else FADense) if l == "fc4" else FAConv
            return f.apply(x, W, b, self.feedback(l))
        if l == "fc4":
            return F.linear(x, W, b)
        return F.conv2d(x, W, b, padding=2)

    def norm(self, l, h, train):
        """Layer l's BatchNorm (identity without --batch-norm). train: normalise with the batch's
        statistics and update the running ones; else normalise with the running ones."""
        if l not in self.bn_g:
            return h
        return F.batch_norm(h, self.bn_mean[l], self.bn_var[l], self.bn_g[l], self.bn_b[l],
                            training=train, momentum=BN_MOMENTUM, eps=BN_EPS)

    def forward(self, x, mode=None, record=None, train=False):
        """Logits. mode: 'fa' (feedback weights) or 'bp' (autograd); default from the rule.
        record: a dict that receives each layer's input and output before its bias (z; P_f = z - b).
        train: BatchNorm in training mode (a training step); else evaluation mode. Without
        --batch-norm the two are the same."""
        mode = mode or ("fa" if self.decoupled else "bp")
        h = x
        for l in LAYERS:
            if l == "fc4":
                h = h.flatten(1)
                if self.center_features:  # fc4 reads h minus its batch mean (mean-only batch norm, no running stats)
                    h = h - h.mean(0, keepdim=True)
            if record is not None:
                record[l] = h
            z = self.layer(l, h, mode)
            if record is not None:
                record[l + "/z"] = z
            if l == "conv1":
                h = max_pool_same(self.norm(l, z, train))
            elif l == "conv2":
                h = avg_pool_same(self.norm(l, torch.relu(z), train))
            elif l == "conv3":
                h = avg_pool_same(self.norm(l, torch.relu(z), train))
            else:
                h = z
        return h

    def params(self):
        return [self.W[l] for l in LAYERS] + [self.b[l] for l in LAYERS]

    def trainable_wb(self):
        return [p for p in self.params() if p.requires_grad]

    def trainable_bn(self, layers=CONVS):
        """The BatchNorms' trained gamma and beta (of `layers`)."""
        return [p for l in layers if l in self.bn_g for p in (self.bn_g[l], self.bn_b[l]) if p.requires_grad]


def alignment_terms(model, l, x, pf, B, W=None):
    """Layer l's amp, null and decay (method.md §6) for the layer input x, P_f = op(x, W) (both
    constants) and the backward weights B (the parameter's shape; the shared top one is expanded
    over positions). W defaults to the layer's W, detached."""
    n = x.shape[0]
    W = model.W[l].detach() if W is None else W
    Bf = B.repeat_interleave(model.spatial * model.spatial, dim=1) if (l == "fc4" and model.top == "shared") else B
    if l == "fc4":
        pb = x @ Bf.t()
        rf = pf @ Bf
    else:
        pb = F.conv2d(x, Bf, padding=2)
        rf = F.conv_transpose2d(pf, Bf, padding=2)
    amp = -(pf * pb).sum() / n
    null = (rf * rf).sum() / n
    decay = (W * W).sum() + (B * B).sum()
    return amp, null, decay


def projection(model, rec, l):
    """P_f = op(x, W) of layer l from a forward's record (its output before the bias), detached."""
    return (rec[l + "/z"] - (model.b[l] if l == "fc4" else model.b[l][:, None, None])).detach()


def alignment_loss(model, rec, alpha, beta, gamma):
    """IA's R = alpha*amp + beta*null + gamma*decay summed over the layers with a trained B
    (method.md §6); stop-gradient on the layer input x and on W, so only B gets a gradient.
    amp = -sum_units mean_batch(P_f*P_b), null = sum mean_batch(R_f^2), decay = |W|^2 + |B|^2."""
    total = 0.0
    for l in LAYERS:
        if l not in model.B:
            continue
        amp, null, decay = alignment_terms(model, l, rec[l].detach(), projection(model, rec, l), model.B[l])
        total = total + alpha * amp + beta * null + gamma * decay
    return total


def alignment_curvature(model, rec, l, alpha, beta, gamma, iters=CURVATURE_ITERS):
    """lambda_max(d2R_l/dB2) of layer l on the batch of `rec` (b_step_cap), in float64: power
    iteration from B itself (B/|B|; a constant tensor if B = 0), `iters` Hessian-vector products
    by double backward through R_l, each iterate normalised; returns the last iterate's Rayleigh
    quotient v.Hv (at least 0). R_l is quadratic in B, so H does not depend on where it is taken."""
    x = rec[l].detach().double()
    pf = projection(model, rec, l).double()
    B = model.B[l].detach().double().clone().requires_grad_(True)
    amp, null, decay = alignment_terms(model, l, x, pf, B, W=model.W[l].detach().double())
    (g,) = torch.autograd.grad(alpha * amp + beta * null + gamma * decay, B, create_graph=True)
    if not g.requires_grad:  # beta = gamma = 0: R is linear in B
        return 0.0

    def hvp(v):
        (hv,) = torch.autograd.grad(g, B, grad_outputs=v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(v) if hv is None else hv

    def unit(t):
        n = float(t.norm())
        return t / n if n > 0 and math.isfinite(n) else None

    v = unit(B.detach())
    if v is None:
        v = unit(torch.ones_like(B))
    lam = 0.0
    for _ in range(iters):
        hv = hvp(v)
        lam = float((v * hv).sum())
        u = unit(hv)
        if u is None:
            break
        v = u
    return max(lam, 0.0)


def output_energy(model, rec, l):
    """Layer l's output energy |P_f|^2/n (n the batch size, summed over positions; b_step_recheck)."""
    pf = projection(model, rec, l).double()
    e = float((pf * pf).sum()) / pf.shape[0]
    return e if math.isfinite(e) else math.inf


# ----------------------------------------------------------------------------------------------
# diagnostics


def angle(a, b):
    a, b = a.flatten().double(), b.flatten().double()
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return float("nan")
    return math.degrees(math.acos(max(-1.0, min(1.0, float(a @ b / (na * nb))))))


def diagnostics(model, x, y, w0):
    """Per layer: W-B angle, angle between the rule's dW (pseudo-gradient of the task loss) and
    backprop's dW on the batch (x, y), |W|/|W0|, |B|/|W|."""
    out = {}
    ws = [model.W[l] for l in LAYERS]
    req = [w.requires_grad for w in ws]
    for w in ws:
        w.requires_grad_(True)
    try:
        g_bp = torch.autograd.grad(F.cross_entropy(model.forward(x, "bp"), y), ws)
        if model.decoupled:
            g_rule = torch.autograd.grad(F.cross_entropy(model.forward(x, "fa"), y), ws)
    finally:
        for w, r in zip(ws, req):
            w.requires_grad_(r)
    for i, l in enumerate(LAYERS):
        n0 = float(w0[l].norm())
        d = {"w_growth": float(model.W[l].detach().norm() / w0[l].norm()) if n0 > 0 else float("nan")}
        if model.decoupled:
            d["grad_angle"] = angle(g_rule[i], g_bp[i])
        if l in model.B:
            B = model.feedback(l).detach()
            d["wb_angle"] = angle(model.W[l].detach(), B)
            d["b_over_w"] = float(B.norm() / model.W[l].detach().norm())
        out[l] = {k: round(v, 5) for k, v in d.items()}
    return out


# ----------------------------------------------------------------------------------------------
# training


def make_opt(name, params, lr, wd):
    if not params:
        return None
    if name == "sgdm":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    raise RefError(f"optimizer {name}: expected sgdm or adam")


def evaluate(model, x, y, bs=1000):
    tot_loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), bs):
            out = model.forward(x[i : i + bs], "bp")
            tot_loss += float(F.cross_entropy(out, y[i : i + bs], reduction="sum"))
            correct += int((out.argmax(1) == y[i : i + bs]).sum())
    return tot_loss / len(x), correct / len(x)


def cap_b_steps(model, rec, cfg, b_group_of, b_step, s, lr_b):
    """b_step_cap at step s of an epoch, after the forward of `rec` and before the update: re-estimate
    each layer's curvature where due (the epoch's first step, every CURVATURE_EVERY steps, a layer
    without an estimate, and with b_step_recheck a layer whose output energy grew past rho x its
    energy at its last estimate), then set its B's rate to lr_B x min(1, cap/(lr_B x lambda))."""
    cap, recheck = cfg["b_step_cap"], cfg.get("b_step_recheck", 0.0)
    scheduled = s % CURVATURE_EVERY == 0
    if s == 0:  # the per-epoch count of triggered estimates restarts
        for st in b_step.values():
            st["rechecks"] = 0
    for l, group in b_group_of.items():
        st = b_step.get(l)
        energy = output_energy(model, rec, l) if recheck > 0 else 0.0
        grown = recheck > 0 and st is not None and energy > recheck * st["energy"]
        if scheduled or grown or st is None:
            lam = alignment_curvature(model, rec, l, cfg["alpha"], cfg["beta"], cfg["gamma"])
            rechecks = st["rechecks"] if st is not None else 0
            # docs/engine.md: b_rechecks counts the triggered estimates, scheduled ones not counted
            st = b_step[l] = {"curvature": lam, "energy": energy, "factor": 1.0,
                              "rechecks": rechecks + int(grown and not scheduled)}
        step = lr_b * st["curvature"]
        st["factor"] = cap / step if step > cap else 1.0
        group["lr"] = lr_b * st["factor"]


def schedule_factor(sched, pos):
    """The learning-rate schedule's factor at the epoch position pos = e + s/S (epoch e and step s
    from 0, S steps an epoch), as docs/reference/builtins.md defines the schedules: `constant` 1;
    `warmup_steps` a linear warm-up from 0 over `warmup_epochs`, then x `gamma` for each milestone
    epoch m with pos >= m."""
    if sched is None or sched["name"] == "constant":
        return 1.0
    w = sched["warmup_epochs"]
    if w > 0 and pos < w:
        return pos / w
    return sched["gamma"] ** sum(1 for m in sched["milestones"] if pos >= m)


def parse_schedule(raw, where):
    """The manifest's `settings.schedule`: {"name": ...} (lrx from session 23 on); an older
    export's Debug string is read only when it is the constant schedule."""
    if raw is None or raw == "Constant":
        return None
    if isinstance(raw, dict) and raw.get("name") == "constant":
        return None
    if isinstance(raw, dict) and raw.get("name") == "warmup_steps":
        return {"name": "warmup_steps", "warmup_epochs": float(raw["warmup_epochs"]),
                "milestones": [int(m) for m in raw["milestones"]], "gamma": float(raw["gamma"])}
    raise RefError(f"{where}: schedule {raw!r}: this script replays `constant` and `warmup_steps` "
                   "(re-export the run with this lrx if the schedule is a bare name)")


def train(model, data, cfg, order_fn, emit=print, on_step=None):
    """data: dict of float tensors train_x, train_y, val_x, val_y (already normalised).
    order_fn(epoch) -> int64 array of S*batch training indices for that epoch.
    Returns the list of epoch records."""
    wd = cfg["wd"]
    scale = cfg.get("lr_scale") or {}
    if scale:  # one group per layer, each at lr x its scale (default 1)
        w_groups = [{"params": [p for p in (model.W[l], model.b[l]) if p.requires_grad], "weight_decay": wd,
                     "lr": cfg["lr"] * scale.get(l, 1.0)} for l in LAYERS]
        # BatchNorm gamma/beta: the layer's rate, no weight decay
        w_groups += [{"params": model.trainable_bn([l]), "weight_decay": 0.0, "lr": cfg["lr"] * scale.get(l, 1.0)}
                     for l in CONVS]
        w_groups = [g for g in w_groups if g["params"]]
    else:
        w_groups = [{"params": [p for p in model.trainable_wb()], "weight_decay": wd}]
        if model.trainable_bn():  # BatchNorm gamma/beta: no weight decay
            w_groups.append({"params": model.trainable_bn(), "weight_decay": 0.0})
    cap = cfg.get("b_step_cap", 0.0)
    b_layers = [l for l in LAYERS if l in model.B and model.B[l].requires_grad]
    b_params = [model.B[l] for l in b_layers]
    b_opt = None
    # with b_step_cap one group per layer's B, so that each gets its own rate factor
    b_groups = ([{"params": [model.B[l]], "weight_decay": 0.0} for l in b_layers] if cap > 0 else
                [{"params": b_params, "weight_decay": 0.0}])
    if b_params and cfg["b_opt"] == "none":
        w_groups += b_groups
    elif b_params:
        b_opt = make_opt(cfg["b_opt"], b_groups, cfg["b_lr"], 0.0)
    opt = make_opt(cfg["opt"], w_groups, cfg["lr"], wd)
    b_group_of = dict(zip(b_layers, b_groups)) if cap > 0 and b_params else {}
    # every group's rate at the schedule's factor 1; each step sets base x factor
    all_groups = opt.param_groups + (b_opt.param_groups if b_opt else [])
    for g in all_groups:
        g["base_lr"] = g["lr"]
    lr_b = cfg["b_lr"] if b_opt else cfg["lr"]  # B's rate, which the cap's factor multiplies
    # b_step_cap state per layer: curvature (lambda at the last estimate), energy (|P_f|^2/n
    # then), factor (at the last step), rechecks (this epoch's energy-triggered estimates)
    b_step = {}
    w0 = {l: model.W[l].detach().clone() for l in LAYERS}
    norms0 = {l: w0[l].norm() for l in LAYERS}
    dx, dy = data["diag_x"], data["diag_y"]
    bs, lr, f = cfg["batch"], cfg["lr"], 1.0
    budget, b_budget, steps = 0.0, 0.0, 0
    records = []
    for epoch in range(1, cfg["epochs"] + 1):
        t0 = time.time()
        order = order_fn(epoch - 1)
        nsteps = len(order) // bs
        sum_loss, correct, seen, diverged = 0.0, 0, 0, False
        for s in range(nsteps):
            idx = order[s * bs : (s + 1) * bs]
            if on_step is not None:
                on_step(epoch - 1, s, idx)
            idx_t = torch.from_numpy(np.asarray(idx, dtype=np.int64)).to(data["train_x"].device)
            xb, yb = data["train_x"][idx_t], data["train_y"][idx_t]
            rec = {} if model.rule == "ia" else None
            out = model.forward(xb, record=rec, train=True)
            loss = F.cross_entropy(out, yb)
            total = loss
            if model.rule == "ia":
                total = loss + alignment_loss(model, rec, cfg["alpha"], cfg["beta"], cfg["gamma"])
            f = schedule_factor(cfg.get("schedule"), (epoch - 1) + s / nsteps)
            lr = cfg["lr"] * f
            for g in all_groups:
                g["lr"] = g["base_lr"] * f
            if b_group_of:
                cap_b_steps(model, rec, cfg, b_group_of, b_step, s, lr_b * f)
            opt.zero_grad(set_to_none=True)
            if b_opt:
                b_opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if b_opt:
                b_opt.step()
            if cfg["constrain"]:
                with torch.no_grad():
                    for l in LAYERS:
                        if model.W[l].requires_grad and norms0[l] > 0:
                            model.W[l].mul_(norms0[l] / model.W[l].norm())
            steps += 1
            budget += lr
            if b_opt:
                b_budget += cfg["b_lr"] * f
            lv = float(loss.detach())
            if not math.isfinite(lv):
                diverged = True
                break
            sum_loss += lv * len(idx)
            correct += int((out.detach().argmax(1) == yb).sum())
            seen += len(idx)
        rec_e = {
            "epoch": epoch,
            "train_loss": round(sum_loss / max(seen, 1), 5),
            "train_acc": round(correct / max(seen, 1), 5),
        }
        if diverged:
            rec_e.update({"diverged": True, "step": steps})
        else:
            vl, va = evaluate(model, data["val_x"], data["val_y"])
            rec_e.update({"val_loss": round(vl, 5), "val_acc": round(va, 5)})
        rec_e.update({"lr": lr, "steps": steps, "budget": round(budget, 6)})
        if b_opt:
            rec_e.update({"b_lr": cfg["b_lr"] * f, "b_budget": round(b_budget, 6)})
        if not diverged:
            rec_e["layers"] = diagnostics(model, dx, dy, w0)
            for l, st in b_step.items():
                # 7 significant digits: the factor of a tiny init's first layer is ~1e-4
                rec_e["layers"][l].update(b_step_factor=float(f"{st['factor']:.7g}"),
                                          b_curvature=float(f"{st['curvature']:.7g}"), b_rechecks=st["rechecks"])
        rec_e["secs"] = round(time.time() - t0, 1)
        records.append(rec_e)
        emit(json.dumps(rec_e))
        if diverged:
            break
    return records


# ----------------------------------------------------------------------------------------------
# export mode (the `lrx export-reference` format, docs/learning.md)


def load_export(d):
    mpath = os.path.join(d, "manifest.json")
    try:
        with open(mpath) as f:
            man = json.load(f)
    except OSError as e:
        raise RefError(f"{mpath}: cannot read: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise RefError(f"{mpath}: not JSON: {e}") from e
    if man.get("format") != 1:
        raise RefError(f"{mpath}: format {man.get('format')!r}, this script reads format 1")

    def npy(name, dtype=None):
        p = os.path.join(d, name)
        try:
            a = np.load(p)
        except (OSError, ValueError) as e:
            raise RefError(f"{p}: cannot read as .npy: {e}") from e
        if dtype is not None and a.dtype != dtype:
            raise RefError(f"{p}: dtype {a.dtype}, expected {np.dtype(dtype)}")
        return a

    arrays = {k: npy(f"{k}.npy", dt) for k, dt in (
        ("train_x", np.uint8), ("train_y", np.int64), ("val_x", np.uint8), ("val_y", np.int64),
        ("order", np.int64))}
    init = {}
    for p in man["params"]:
        a = npy(p["file"], np.float32)
        if list(a.shape) != list(p["shape"]):
            raise RefError(f"{os.path.join(d, p['file'])}: shape {list(a.shape)}, manifest says {p['shape']}")
        init[p["name"]] = (p["role"], a)
    return man, arrays, init


BN_BUFFERS = {"running_mean": "bn_mean", "running_var": "bn_var"}


def apply_init(model, init, where):
    """Copy the export's initial parameters into the model (by layer prefix and role; a buffer by
    its name's last part) and check that every parameter of the model got one."""
    seen = set()
    for name, (role, a) in init.items():
        l = name.split("/")[0]
        if l not in LAYERS:
            raise RefError(f"{where}: parameter {name}: unknown layer {l!r} (KNet4 has {LAYERS})")
        key = role
        if role == "buffer":
            key = BN_BUFFERS.get(name.split("/")[-1])
            if key is None:
                raise RefError(f"{where}: buffer {name}: expected a BatchNorm's {' or '.join(BN_BUFFERS)}")
        tgt = {"forward": model.W, "bias": model.b, "backward": model.B, "bn_scale": model.bn_g,
               "bn_shift": model.bn_b, "bn_mean": model.bn_mean, "bn_var": model.bn_var}.get(key)
        if tgt is None:
            raise RefError(f"{where}: parameter {name}: unknown role {role!r}")
        if l not in tgt:
            if key.startswith("bn_"):
                raise RefError(f"{where}: parameter {name}: the model has no BatchNorm in {l} (arch batch_norm)")
            raise RefError(f"{where}: parameter {name}: this rule/--top has no {role} weights in {l}")
        if tuple(tgt[l].shape) != a.shape:
            raise RefError(f"{where}: parameter {name}: shape {list(a.shape)}, the model has {list(tgt[l].shape)}")
        with torch.no_grad():
            tgt[l].copy_(torch.from_numpy(a))
        seen.add((l, key))
    for l in LAYERS:
        for role, tgt in (("forward", model.W), ("bias", model.b), ("backward", model.B), ("bn_scale", model.bn_g),
                          ("bn_shift", model.bn_b), ("bn_mean", model.bn_mean), ("bn_var", model.bn_var)):
            if l in tgt and (l, role) not in seen:
                what = {"bn_mean": "BatchNorm running_mean", "bn_var": "BatchNorm running_var"}.get(role, role)
                raise RefError(f"{where}: no {what} parameter for {l} in the export")


RULE_OF_EXPORT = {"sgdm": ("bp", "sgdm"), "adam": ("bp", "adam"), "fa": ("fa", None), "ia": ("ia", None)}


def normalise(x_u8, mean, std):
    x = torch.from_numpy(x_u8).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
    s = torch.tensor(std, dtype=torch.float32)[None, :, None, None]
    return (x - m) / s


# ----------------------------------------------------------------------------------------------
# CLI


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--export", metavar="DIR", help="an lrx reference export (`lrx export-reference`; format in docs/learning.md)")
    p.add_argument("--data", default=DEFAULT_DATA, help="standalone: Fashion-MNIST IDX directory")
    p.add_argument("--size", type=int, default=28, help="standalone: 28, or 32 (zero-padded)")
    p.add_argument("--train-subset", type=int, default=0, help="standalone: N training images (0 = all)")
    p.add_argument("--val", type=int, default=10000, help="standalone: validation images (test split)")
    p.add_argument("--rule", choices=["bp", "fa", "ia", "readout"], default=None)
    p.add_argument("--opt", choices=["sgdm", "adam"], default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--wd", type=float, default=None, help="L2 on W and biases")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--width", type=float, default=None)
    p.add_argument("--init", choices=["he", "paper"], default=None)
    p.add_argument("--top", choices=["fa", "tied", "shared", "centered"], default="fa")
    p.add_argument("--constrain", action="store_true", help="keep every |W| at its initial norm")
    p.add_argument("--top-scale", type=float, default=1.0,
                   help="standalone: multiply fc4's initial W by this (0 = zero init); B4 keeps the init's scale")
    p.add_argument("--b-scale", type=float, default=1.0,
                   help="standalone: multiply every initial B by this (FA, IA)")
    p.add_argument("--freeze", default="",
                   help="comma-separated layers whose W and bias are never updated (e.g. fc4)")
    p.add_argument("--feedback", choices=["random", "sign"], default="random",
                   help="standalone FA/IA: sign = B with |B|'s random magnitudes and W's initial signs "
                        "(sign-concordant; a diagnostic, not the paper's FA)")
    p.add_argument("--center-feedback", action="store_true",
                   help="FA/IA: fc4 sends (e - batch mean of e).B4 down, not e.B4 (a diagnostic, not the paper's FA)")
    p.add_argument("--center-features", action="store_true",
                   help="fc4 reads its input minus the batch mean (every batch, evaluation too: batches of 1000); "
                        "an architecture variant, not the paper's KNet4")
    p.add_argument("--freeze-bias", default="",
                   help="comma-separated layers whose bias alone is never updated (stays 0), e.g. conv1,conv2,conv3")
    p.add_argument("--lr-scale", default="",
                   help="per-layer learning-rate factors for W and bias, e.g. conv1=0.1,conv2=0.1,conv3=0.1")
    p.add_argument("--b-opt", choices=["none", "sgdm", "adam"], default="none",
                   help="separate optimizer for B (IA); none = the main one at --lr")
    p.add_argument("--b-lr", type=float, default=1e-3)
    p.add_argument("--batch-norm", action="store_true",
                   help="standalone: KNet4 with a BatchNorm on each conv layer's output, after its activation and "
                        "before its pool (lrx's knet4(batch_norm = true)); with --export the manifest's arch decides")
    # "%(default).0s" prints nothing; it only stops the formatter from appending "(default: None)"
    p.add_argument("--b-step-cap", type=float, default=None, metavar="K",
                   help="IA with B stepped by SGD: each layer's B steps at a rate of at most K/lambda_max(d2R/dB2) "
                        "(lrx's b_step_cap; 0 = off; default: the export's, else 0)%(default).0s")
    p.add_argument("--b-step-recheck", type=float, default=None, metavar="RHO",
                   help="with --b-step-cap: also re-estimate a layer's lambda when its output energy |P_f|^2/n "
                        "exceeds RHO (> 1) x its energy at the last estimate (lrx's b_step_recheck; 0 = off; "
                        "default: the export's, else 0)%(default).0s")
    p.add_argument("--alpha", type=float, default=None)
    p.add_argument("--beta", type=float, default=None)
    p.add_argument("--gamma", type=float, default=None)
    p.add_argument("--seed", type=int, default=0, help="standalone: init seed")
    p.add_argument("--data-seed", type=int, default=0, help="standalone: subset and order seed")
    p.add_argument("--diag-batch", type=int, default=256, help="fixed batch for the gradient angles")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (the init is drawn on the CPU, then moved)")
    return p.parse_args(argv)


def setup(a):
    """Returns (model, data, cfg, order_fn)."""
    torch.set_num_threads(a.threads)
    pick = lambda v, d: d if v is None else v  # noqa: E731
    lr_scale = {}
    for item in (t for t in a.lr_scale.split(",") if t):
        l, _, v = item.partition("=")
        try:
            lr_scale[l] = float(v)
        except ValueError:
            raise RefError(f"--lr-scale {a.lr_scale}: expected LAYER=FACTOR,... ") from None
        if l not in LAYERS or lr_scale[l] < 0:
            raise RefError(f"--lr-scale {a.lr_scale}: {item!r} (KNet4 has {LAYERS}, factors >= 0)")
    freeze = [l for l in a.freeze.split(",") if l]
    freeze_bias = [l for l in a.freeze_bias.split(",") if l]
    bad = [l for l in freeze + freeze_bias if l not in LAYERS]
    if bad:
        raise RefError(f"--freeze/--freeze-bias: unknown layer(s) {bad} (KNet4 has {LAYERS})")
    if a.export:
        man, arr, init = load_export(a.export)
        rule_name = man["rule"]["name"]
        if rule_name not in RULE_OF_EXPORT:
            raise RefError(f"{a.export}/manifest.json: rule {rule_name!r}: expected one of {list(RULE_OF_EXPORT)}")
        rule, opt = RULE_OF_EXPORT[rule_name]
        opt = opt or man["rule"].get("optimizer")
        st, task, arch = man["settings"], man["task"], man["arch"]
        cfg = dict(rule=pick(a.rule, rule), opt=pick(a.opt, opt), lr=pick(a.lr, st.get("base_lr", st["lr"])),
                   wd=pick(a.wd, st["weight_decay"]), epochs=pick(a.epochs, st["epochs"]),
                   batch=pick(a.batch, st["batch"]), width=pick(a.width, arch.get("width", 1.0)),
                   init=pick(a.init, arch.get("init", "he")),
                   alpha=pick(a.alpha, man["rule"].get("alpha", 2e-3)),
                   beta=pick(a.beta, man["rule"].get("beta", 1e-3)),
                   gamma=pick(a.gamma, man["rule"].get("gamma", 1e-3)))
        ru = man["rule"]
        cfg["schedule"] = parse_schedule(st.get("schedule"), f"{a.export}/manifest.json")
        cap = pick(a.b_step_cap, float(ru.get("b_step_cap", 0.0)))
        recheck = pick(a.b_step_recheck, float(ru.get("b_step_recheck", 0.0)))
        batch_norm = bool(arch.get("batch_norm", False))
        if a.batch_norm and not batch_norm:
            raise RefError(f"--batch-norm: the run of {a.export} has no BatchNorm "
                           "(with --export the manifest's arch decides)")
        unsupported = [f"{k} = {ru[k]!r}" for k, d in (
            ("alternate", 0), ("projection_bias", False), ("reconstruction_amp", False),
            ("reconstruction_reversal", False), ("use_sparse", False), ("batch_center_backward_input", False),
            ("alignment_rate", 1.0), ("top_feedback", "random"), ("input_scale", "raw"),
            ("constrain_b_norm", False)) if k in ru and ru[k] != d]
        if arch.get("lrn"):
            unsupported.append("arch lrn = true")
        if unsupported:
            raise RefError(f"{a.export}/manifest.json: the reference does not implement {', '.join(unsupported)}")
        if ru.get("constrain_norm"):
            a.constrain = True
        # lrx's hidden_lr_scale: every layer but the classifier (W and bias) at lr x s; B at lr.
        if ru.get("hidden_lr_scale", 1.0) != 1.0 and not lr_scale:
            lr_scale = {l: float(ru["hidden_lr_scale"]) for l in LAYERS[:-1]}
        if ru.get("b_optimizer", "same") != "same" or ru.get("b_lr_scale", 1.0) != 1.0:
            bo = ru.get("b_optimizer", "same")
            a.b_opt = cfg["opt"] if bo == "same" else bo
            a.b_lr = ru.get("b_lr_scale", 1.0) * cfg["lr"]
        if arch.get("name", "knet4") != "knet4":
            raise RefError(f"{a.export}/manifest.json: arch {arch.get('name')!r}; this reference is KNet4 only")
        if a.top != "fa":
            raise RefError("--top tied|shared|centered cannot be combined with --export (the export fixes fc4's B)")
        order = arr["order"]
        if order.ndim != 2 or order.shape[0] < cfg["epochs"]:
            raise RefError(f"{a.export}/order.npy: shape {list(order.shape)}, need [>= {cfg['epochs']}, S*B]")
        if order.size and (order.min() < 0 or order.max() >= len(arr["train_y"])):
            raise RefError(f"{a.export}/order.npy: index out of range 0..{len(arr['train_y'])}")
        mean, std = task["mean"], task["std"]
        data = {"train_x": normalise(arr["train_x"], mean, std), "train_y": torch.from_numpy(arr["train_y"]),
                "val_x": normalise(arr["val_x"], mean, std), "val_y": torch.from_numpy(arr["val_y"])}
        channels, size, classes = arr["train_x"].shape[1], arr["train_x"].shape[2], int(task.get("classes", 10))
        if a.top_scale != 1.0 or a.b_scale != 1.0 or a.feedback != "random":
            raise RefError("--top-scale, --b-scale and --feedback cannot be combined with --export (the export fixes the init)")
        model = KNet4(channels, size, classes, cfg["width"], cfg["init"], cfg["rule"], "fa", freeze=freeze,
                      center_feedback=a.center_feedback, freeze_bias=freeze_bias, center_features=a.center_features,
                      batch_norm=batch_norm)
        apply_init(model, init, a.export)
        order_fn = lambda e: order[e]  # noqa: E731
        source = {"export": os.path.abspath(a.export), "run_id": man.get("run_id")}
    else:
        cfg = dict(rule=pick(a.rule, "bp"), opt=pick(a.opt, "sgdm"), lr=pick(a.lr, 0.01), wd=pick(a.wd, 1e-5),
                   epochs=pick(a.epochs, 10), batch=pick(a.batch, 32), width=pick(a.width, 1.0),
                   init=pick(a.init, "he"), alpha=pick(a.alpha, 2e-3), beta=pick(a.beta, 1e-3),
                   gamma=pick(a.gamma, 1e-3))
        cap, recheck, batch_norm = pick(a.b_step_cap, 0.0), pick(a.b_step_recheck, 0.0), a.batch_norm
        raw = load_fashion(a.data, a.size)
        (tx, ty), (vx, vy) = raw["train"], raw["val"]
        rng = np.random.default_rng(a.data_seed)
        if a.train_subset:
            if a.train_subset > len(ty):
                raise RefError(f"--train-subset {a.train_subset}: only {len(ty)} training images")
            sel = np.sort(rng.permutation(len(ty))[: a.train_subset])
            tx, ty = tx[sel], ty[sel]
        vx, vy = vx[: a.val], vy[: a.val]
        mean = [float(tx.mean() / 255.0)]
        std = [float((tx / 255.0).std())]
        data = {"train_x": normalise(tx, mean, std), "train_y": torch.from_numpy(ty),
                "val_x": normalise(vx, mean, std), "val_y": torch.from_numpy(vy)}
        gen = torch.Generator().manual_seed(a.seed)
        model = KNet4(1, a.size, 10, cfg["width"], cfg["init"], cfg["rule"], a.top, gen,
                      top_scale=a.top_scale, b_scale=a.b_scale, freeze=freeze, center_feedback=a.center_feedback,
                      feedback=a.feedback, freeze_bias=freeze_bias, center_features=a.center_features,
                      batch_norm=batch_norm)
        n, bs = len(ty), cfg["batch"]
        orders = [rng.permutation(n)[: (n // bs) * bs] for _ in range(cfg["epochs"])]
        order_fn = lambda e: orders[e]  # noqa: E731
        source = {"data": a.data, "size": a.size, "n_train": n, "n_val": len(vy), "seed": a.seed,
                  "data_seed": a.data_seed}
    if cfg["rule"] == "bp" and a.top != "fa":
        raise RefError("--top applies to fa and ia")
    if a.center_feedback and (cfg["rule"] not in ("fa", "ia") or a.top == "tied"):
        raise RefError("--center-feedback needs --rule fa|ia and a random top B (not --top tied)")
    cfg.update(top=a.top, constrain=a.constrain, b_opt=a.b_opt, b_lr=a.b_lr)
    if cap < 0 or not math.isfinite(cap):
        raise RefError(f"--b-step-cap {cap}: expected a finite value >= 0 (0 = off)")
    if cap > 0 and cfg["rule"] != "ia":
        raise RefError(f"--b-step-cap {cap}: applies to --rule ia only (the rule here is {cfg['rule']})")
    if cap > 0 and (a.b_opt == "adam" or (a.b_opt == "none" and cfg["opt"] == "adam")):
        raise RefError(f"--b-step-cap {cap}: B is stepped by Adam, whose step does not grow with the curvature; "
                       "the cap needs B stepped by SGD (--opt sgdm, or --b-opt sgdm)")
    if recheck != 0 and (recheck <= 1 or not math.isfinite(recheck)):
        raise RefError(f"--b-step-recheck {recheck}: expected a factor > 1 (0 = off)")
    if recheck > 0 and cap <= 0:
        raise RefError(f"--b-step-recheck {recheck}: needs --b-step-cap")
    for k, v, d in (("top_scale", a.top_scale, 1.0), ("b_scale", a.b_scale, 1.0), ("freeze", freeze, []),
                    ("lr_scale", lr_scale, {}), ("center_feedback", a.center_feedback, False),
                    ("feedback", a.feedback, "random"), ("freeze_bias", freeze_bias, []),
                    ("center_features", a.center_features, False), ("batch_norm", batch_norm, False),
                    ("b_step_cap", cap, 0.0), ("b_step_recheck", recheck, 0.0)):
        if v != d:  # recorded only when set, so the default config lines are unchanged
            cfg[k] = v
    if cfg["rule"] != "ia":
        cfg["b_opt"] = "none"
    if cfg["lr"] <= 0 or cfg["batch"] <= 0 or cfg["epochs"] <= 0:
        raise RefError("--lr, --batch and --epochs must be positive")
    # the fixed diagnostic batch: the first --diag-batch training images
    data["diag_x"] = data["train_x"][: a.diag_batch]
    data["diag_y"] = data["train_y"][: a.diag_batch]
    cfg["source"] = source
    if a.device != "cpu":  # everything drawn and read on the CPU above, then moved: same init and order
        dev = torch.device(a.device)
        for d in (model.W, model.b, model.B, model.bn_g, model.bn_b, model.bn_mean, model.bn_var):
            for l in list(d):
                d[l] = d[l].detach().to(dev).requires_grad_(d[l].requires_grad)
        for k in list(data):
            data[k] = data[k].to(dev)
        cfg["device"] = a.device
    return model, data, cfg, order_fn


def main(argv=None):
    a = parse(argv if argv is not None else sys.argv[1:])
    try:
        model, data, cfg, order_fn = setup(a)
    except RefError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"config": {**cfg, "argv": argv if argv is not None else sys.argv[1:]}}), flush=True)
    train(model, data, cfg, order_fn, emit=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
