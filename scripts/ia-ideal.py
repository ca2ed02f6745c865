#!/usr/bin/env python3
"""IA with B held at its loss's fixed point: the most IA's feedback could give (issue 19).

docs/learning.md "Session 15" shows that at a random initialisation the fixed point B* of IA's
alignment loss does not point the hidden updates downhill, and that it does once W has learned.
This script asks the question that follows: if B tracked B*(W) exactly while W trains, would
the hidden layers learn? It trains the full-width KNet4 of the PyTorch reference
(scripts/ref/knet_ref.py) on Fashion-MNIST with SGDM (Nesterov 0.9), the classifier at --lr
and the hidden layers at --lr x --hidden-scale, four ways from the same initial weights and
batch order:
  bp        backprop (the ceiling at these rates);
  readout   hidden layers frozen (the floor);
  fa        every B at its random initial draw;
  ideal_ia  every B set to B*(W) every --every steps, for IA's decay-dominant, batch-centered
            loss (β = 0, x_b centered: B* = (α/2γ)·∂/∂B Σ P_f ⊙ op(x_c, B) / n, W times the
            input's covariance), rescaled to ‖W‖ (the direction is the loss's; the scale is
            the initial one, as with `constrain_b_norm`), from --n training images.
Output: one JSON line per (rule, epoch) with validation accuracy and, for fa and ideal_ia, the
angle between the rule's update and backprop's gradient per layer on a fixed batch.
Usage: scripts/ia-ideal.py [--train 5000] [--epochs 3] [--hidden-scale 0.1] [--every 20]
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


def ideal_b(model, x):
    """B*(W) of every layer with a B for the input batch x, scaled to ‖W‖ (see the module doc)."""
    rec = {}
    with torch.no_grad():
        model.forward(x, "bp", record=rec)
        for l in model.B:
            xi = rec[l]
            xc = xi - xi.mean(0, keepdim=True)
            W = model.W[l]
            if l == "fc4":
                pf = xi @ W.t()
                a = pf.t() @ xc / len(xi)
            else:
                pf = F.conv2d(xi, W, padding=2)
                a = torch.nn.grad.conv2d_weight(xc, W.shape, pf, padding=2) / len(xi)
            n = a.norm()
            if n > 0:
                model.B[l].copy_(a * (W.norm() / n))


def run(rule, data, a, init):
    gen = torch.Generator().manual_seed(a.seed)
    model = K.KNet4(1, 28, 10, 1.0, "he", "fa" if rule in ("fa", "ideal_ia") else "bp", "fa", gen)
    with torch.no_grad():  # the same initial W (and B) in every variant
        for l in K.LAYERS:
            model.W[l].copy_(init["W"][l])
            if l in model.B:
                model.B[l].copy_(init["B"][l])
    for l in model.B:
        model.B[l].requires_grad_(False)
    hid = 0.0 if rule == "readout" else a.hidden_scale
    groups = [{"params": [model.W[l], model.b[l]], "lr": a.lr * (1.0 if l == "fc4" else hid)} for l in K.LAYERS]
    opt = torch.optim.SGD(groups, lr=a.lr, momentum=0.9, nesterov=True, weight_decay=a.wd)
    rng = np.random.default_rng(a.data_seed)
    n, bs = len(data["train_y"]), 32
    ref_x = data["train_x"][: a.n]
    w0 = {l: model.W[l].detach().clone() for l in K.LAYERS}
    mode = "fa" if rule in ("fa", "ideal_ia") else "bp"
    step = 0
    for epoch in range(1, a.epochs + 1):
        order = rng.permutation(n)[: (n // bs) * bs]
        diverged = False
        for s in range(len(order) // bs):
            if rule == "ideal_ia" and step % a.every == 0:
                ideal_b(model, ref_x)
            idx = torch.from_numpy(order[s * bs:(s + 1) * bs])
            loss = F.cross_entropy(model.forward(data["train_x"][idx], mode), data["train_y"][idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if not math.isfinite(float(loss.detach())):
                diverged = True
                break
        rec = {"rule": rule, "epoch": epoch, "hidden_scale": a.hidden_scale, "lr": a.lr}
        if diverged:
            rec["diverged"] = True
        else:
            rec["val_acc"] = round(K.evaluate(model, data["val_x"], data["val_y"])[1], 4)
            if mode == "fa":
                if rule == "ideal_ia":
                    ideal_b(model, ref_x)
                d = K.diagnostics(model, data["diag_x"], data["diag_y"], w0)
                rec["u"] = {l: round(d[l]["grad_angle"], 1) for l in K.LAYERS[:3]}
                rec["wb"] = {l: round(d[l]["wb_angle"], 1) for l in K.LAYERS}
        print(json.dumps(rec), flush=True)
        if diverged:
            break


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=K.DEFAULT_DATA)
    ap.add_argument("--train", type=int, default=5000)
    ap.add_argument("--val", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--hidden-scale", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=1e-12)
    ap.add_argument("--every", type=int, default=20, help="steps between recomputations of B*")
    ap.add_argument("--n", type=int, default=256, help="training images that define B*")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--rules", default="bp,readout,fa,ideal_ia")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    raw = K.load_fashion(a.data, 28)
    (tx, ty), (vx, vy) = raw["train"], raw["val"]
    tx, ty, vx, vy = tx[: a.train], ty[: a.train], vx[: a.val], vy[: a.val]
    mean, std = [float(tx.mean() / 255.0)], [float((tx / 255.0).std())]
    data = {"train_x": K.normalise(tx, mean, std), "train_y": torch.from_numpy(ty),
            "val_x": K.normalise(vx, mean, std), "val_y": torch.from_numpy(vy)}
    data["diag_x"], data["diag_y"] = data["train_x"][-512:], data["train_y"][-512:]
    gen = torch.Generator().manual_seed(a.seed)
    m = K.KNet4(1, 28, 10, 1.0, "he", "fa", "fa", gen)
    init = {"W": {l: m.W[l].detach().clone() for l in K.LAYERS},
            "B": {l: m.B[l].detach().clone() for l in m.B}}
    for rule in a.rules.split(","):
        run(rule, data, a, init)


if __name__ == "__main__":
    main()
