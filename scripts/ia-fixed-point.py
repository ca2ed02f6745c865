#!/usr/bin/env python3
"""IA at its fixed point: how well can the paper's alignment loss point the updates downhill?

Issue 19 (docs/learning.md "Session 15"). IA trains each layer's backward weights B by
R(B) = α·amp + β·null + γ·decay with W and the layer input x held fixed (shared/method.md §6).
R is a convex quadratic in B; for a dense layer (PyTorch layout W, B ∈ R^{out×in}, C = E[x x_bᵀ],
C0 = E[x xᵀ]) its gradient is −α·W·C + 2β·(W·C0·Wᵀ)·B + 2γ·B, so the fixed point is

    B* = (α/2) · (β·W·C0·Wᵀ + γ·I)⁻¹ · W·C,

W "preconditioned" by the input's second moment C rather than W itself. This script finds B*
for every layer of KNet4 on real Fashion-MNIST activity (the dense fc4 in closed form, the convs in closed form too (a linear
system over the kernel's taps), a full batch of --n images) and reports, per layer:
  - the W–B angle at B* (lrx's `wb_angle`, NA's weight angle),
  - the angle between the rule's weight update and backprop's gradient on a fixed batch with every
    layer's B at its B* (lrx's "update vs backprop"), against FA's (B random, at its initial draw).
That is the best direction IA's B can give for a given W, however fast B is trained: if the
update angles stay near 90° at B*, no optimizer or rate for B makes IA's hidden layers learn.

It reuses the independent PyTorch reference's network and data reader (scripts/ref/knet_ref.py).
Usage: scripts/ia-fixed-point.py [--n 2000] [--train-epochs 0,1] [--ratios 0,1,10,100,inf] [--center]
Output: a Markdown table on stdout (and JSON lines with --json).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref"))
import knet_ref as K  # noqa: E402


def fixed_point(model, rec, l, alpha, beta, gamma, center, cache):
    """B* of layer l (in W's layout) for the recorded input rec[l] and pre-bias output rec[l/z]."""
    x = rec[l].detach()
    n = x.shape[0]
    W = model.W[l].detach().double()
    xd = x.double()
    xb = xd - xd.mean(0, keepdim=True) if center else xd
    if l == "fc4":
        c0 = xd.t() @ xd / n
        cb = xd.t() @ xb / n
        m = W @ c0 @ W.t()
        a = beta * m + gamma * torch.eye(m.shape[0], dtype=m.dtype)
        return (0.5 * alpha * torch.linalg.solve(a, W @ cb)).float()
    # The conv case in closed form. rf = conv_transpose(P_f, B) is linear in B: with padding 2 and
    # 5×5 kernels, rf[n, ci, i, j] = Σ_{co,u,v} pad(P_f, 2)[n, co, i+u, j+v] · B[co, ci, 4−u, 4−v],
    # so with X = unfold(pad(P_f, 2)) (rows: image × position, columns: co × u × v) and
    # G = XᵀX / n, null = Σ_ci Bf[:, ci]ᵀ·G·Bf[:, ci] for the flipped kernel Bf; amp's gradient is
    # −α·A with A = ∂/∂B Σ P_f ⊙ conv(x_b, B) / n. Each input channel's column of Bf then solves
    # (β·G + γ·I)·Bf = (α/2)·A_f (one Cholesky-sized system shared by all input channels).
    co, ci, k, _ = W.shape
    pf = F.conv2d(xd, W, padding=2)
    if l not in cache:  # G and A depend on W and x only, not on the coefficients
        A = torch.nn.grad.conv2d_weight(xb, W.shape, pf, padding=2) / n
        G = torch.zeros(co * k * k, co * k * k, dtype=torch.float64)
        for chunk in pf.float().split(64):
            X = F.unfold(F.pad(chunk, (2, 2, 2, 2)), k).transpose(1, 2).reshape(-1, co * k * k)
            G += (X.t() @ X).double()
        cache[l] = (A, G / n)
    A, G = cache[l]
    af = A.flip(2, 3).permute(0, 2, 3, 1).reshape(co * k * k, ci)
    bf = torch.linalg.solve(beta * G + gamma * torch.eye(co * k * k, dtype=G.dtype), 0.5 * alpha * af)
    B = bf.reshape(co, k, k, ci).permute(0, 3, 1, 2).flip(2, 3).contiguous().requires_grad_(True)
    # Check: the gradient of R itself (autograd) at the solution, relative to amp's pull α·‖A‖.
    pb = F.conv2d(xb, B, padding=2)
    rf = F.conv_transpose2d(pf, B, padding=2)
    r = -alpha * (pf * pb).sum() / n + beta * (rf * rf).sum() / n + gamma * (B * B).sum()
    (g,) = torch.autograd.grad(r, B)
    rel = float(g.norm() / (alpha * A.norm() + 1e-30))
    return B.detach().float(), rel


def angles(model, x, y, w0):
    d = K.diagnostics(model, x, y, w0)
    return {l: (d[l].get("grad_angle"), d[l].get("wb_angle")) for l in K.LAYERS}


def train_bp(model, data, epochs, lr, bs, seed):
    """Backprop SGDM (Nesterov 0.9) on W and biases, to look at B* for a network that has learned."""
    params = model.params()
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)
    g = torch.Generator().manual_seed(seed)
    n = len(data["train_y"])
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(model.forward(data["train_x"][idx], "bp"), data["train_y"][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=K.DEFAULT_DATA)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=2000, help="images in the full batch that defines C")
    ap.add_argument("--train", type=int, default=5000, help="training images for --train-epochs")
    ap.add_argument("--diag", type=int, default=512, help="images in the diagnostic batch")
    ap.add_argument("--train-epochs", default="0,1", help="backprop epochs before each analysis (cumulative list)")
    ap.add_argument("--ratios", default="0,1,10,100,inf", help="beta/gamma ratios (alpha 2e-3, gamma 1e-3)")
    ap.add_argument("--center", action="store_true", help="batch-center x before the backward projection")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    raw = K.load_fashion(a.data, a.size)
    tx, ty = raw["train"]
    mean, std = [float(tx.mean() / 255.0)], [float((tx / 255.0).std())]
    x_all = K.normalise(tx[: a.train], mean, std)
    y_all = torch.from_numpy(ty[: a.train])
    data = {"train_x": x_all, "train_y": y_all}
    gen = torch.Generator().manual_seed(a.seed)
    model = K.KNet4(1, a.size, 10, a.width, "he", "ia", "fa", gen)
    b_init = {l: model.B[l].detach().clone() for l in model.B}
    xc, xd, yd = x_all[: a.n], x_all[-a.diag:], y_all[-a.diag:]
    alpha, gamma = 2e-3, 1e-3
    rows = []
    done = 0
    for ep in [int(e) for e in a.train_epochs.split(",")]:
        if ep > done:
            train_bp(model, data, ep - done, 0.01, 32, a.seed)
            done = ep
        w0 = {l: model.W[l].detach().clone() for l in K.LAYERS}
        with torch.no_grad():
            for l in model.B:
                model.B[l].copy_(b_init[l])
        fa = angles(model, xd, yd, w0)
        rows.append({"epochs": ep, "b": "random (FA)", **{l: fa[l] for l in K.LAYERS}})
        rec = {}
        with torch.no_grad():
            model.forward(xc, "bp", record=rec)
        cache = {}
        for r in a.ratios.split(","):
            if r == "inf":
                beta, gam = 1e-3, 1e-9
            else:
                beta, gam = float(r) * gamma, gamma
            info = {}
            for l in K.LAYERS:
                out = fixed_point(model, rec, l, alpha, beta, gam, a.center, cache)
                bstar, rel = (out, 0.0) if l == "fc4" else out
                info[l] = rel
                with torch.no_grad():
                    model.B[l].copy_(bstar)
            an = angles(model, xd, yd, w0)
            rows.append({"epochs": ep, "b": f"B* (β/γ = {r}{', centered' if a.center else ''})",
                         "grad_rel": info, **{l: an[l] for l in K.LAYERS}})
        with torch.no_grad():
            for l in model.B:
                model.B[l].copy_(b_init[l])
    f = lambda v: "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.0f}"  # noqa: E731
    print("| backprop epochs before | B | " + " | ".join(f"{l} u / W–B °" for l in K.LAYERS) + " |")
    print("|---|---|" + "---|" * len(K.LAYERS))
    for r in rows:
        print(f"| {r['epochs']} | {r['b']} | " + " | ".join(f"{f(r[l][0])} / {f(r[l][1])}" for l in K.LAYERS) + " |")
        if a.json:
            print(json.dumps(r), file=sys.stderr)


if __name__ == "__main__":
    main()
