"""The network of the independent PyTorch reference (scripts/ref/knet_ref.py, issue 19): KNet4.

Written from shared/method.md §7 (KNet) and §6 (FA's feedback weights), and for BatchNorm from
docs/engine.md ("BN"), not from lrx's code. Holds the layer names, RefError (a user error), TF SAME
pooling, the FA local ops (FAConv, FADense, FADenseCentered: dx through B, dW and db local) and
KNet4 itself (init, forward with optional BatchNorm after each conv layer's activation, parameter
lists). knet_ref.py's docstring describes the network and the options.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

LAYERS = ["conv1", "conv2", "conv3", "fc4"]
CONVS = LAYERS[:3]
# BatchNorm (docs/engine.md "BN"): TF decay 0.9 <-> PyTorch momentum 1 - 0.9; eps as ResNet v1's.
BN_MOMENTUM = 0.1
BN_EPS = 1e-5


class RefError(Exception):
    """A user error: bad file, bad option. Printed as `error: ...` with exit status 2."""


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
