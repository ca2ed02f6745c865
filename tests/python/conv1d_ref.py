"""Reference for lrx's Conv1D classifier (src/classify/conv1d.rs, method.md §3.4).

Reads the input [N, C*T] (channels-first, flattened), labels, the initial weights and the batch
order that lrx used, trains the same network with torch.nn.functional.conv1d, cross-entropy plus
wd * 0.5 * sum of squares of all kernels and biases, and torch.optim.Adam(0.9, 0.999, 1e-8), then
compares the final weights with lrx's. Exit 1 with the largest difference when they disagree.

Usage: conv1d_ref.py DIR --channels C --times T --filters F --kernel K --stride S
                     --pool none|max|mean --classes N --lr LR --wd WD
"""

import argparse
import sys

import numpy as np
import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    for a in ["channels", "times", "filters", "kernel", "stride", "classes"]:
        ap.add_argument("--" + a, type=int, required=True)
    ap.add_argument("--pool", choices=["none", "max", "mean"], required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--wd", type=float, required=True)
    a = ap.parse_args()
    d = a.dir
    torch.set_num_threads(1)
    x = torch.tensor(np.load(f"{d}/x.npy"), dtype=torch.float32).reshape(-1, a.channels, a.times)
    y = torch.tensor(np.load(f"{d}/y.npy"), dtype=torch.int64)
    batches = np.load(f"{d}/batches.npy").astype(np.int64)
    k = min(a.kernel, a.times)
    tp = (a.times - k) // a.stride + 1
    dense_in = a.filters * tp if a.pool == "none" else a.filters
    shapes = {
        "w1": (a.filters, a.channels, k),
        "b1": (a.filters,),
        "w2": (a.classes, dense_in),
        "b2": (a.classes,),
    }
    p = {
        n: torch.tensor(np.load(f"{d}/init_{n}.npy"), dtype=torch.float32)
        .reshape(s)
        .requires_grad_(True)
        for n, s in shapes.items()
    }
    opt = torch.optim.Adam(p.values(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    for idx in batches:
        idx = torch.tensor(idx)
        h = F.relu(F.conv1d(x[idx], p["w1"], p["b1"], stride=a.stride))
        if a.pool == "max":
            h = h.amax(2)
        elif a.pool == "mean":
            h = h.mean(2)
        else:
            h = h.permute(0, 2, 1).flatten(1)
        logits = h @ p["w2"].T + p["b2"]
        loss = F.cross_entropy(logits, y[idx])
        if a.wd > 0:
            loss = loss + 0.5 * a.wd * sum((v**2).sum() for v in p.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    worst = 0.0
    for n, s in shapes.items():
        ours = np.load(f"{d}/final_{n}.npy").reshape(s)
        ref = p[n].detach().numpy()
        diff = np.abs(ours - ref).max() / max(1.0, np.abs(ref).max())
        worst = max(worst, diff)
        print(f"{n}: max |lrx - torch| / max(1, |torch|) = {diff:.3e}")
    if worst > 2e-4:
        print(f"MISMATCH: {worst:.3e} > 2e-4", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
