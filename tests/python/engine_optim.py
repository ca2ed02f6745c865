"""Reference for lrx's manual optimizers: torch.optim.SGD(nesterov) and torch.optim.Adam.

Usage: engine_optim.py DIR OPT LR WD STEPS [w_only]
Reads DIR/{W0,b0,X,Y}.npy, minimises mean cross-entropy(X·W + b, Y) for STEPS steps with
weight decay WD (torch's `weight_decay`, i.e. gradient + WD·p; on W only with `w_only`),
writes DIR/{W,b}_torch.npy. torch.optim's default (per-parameter loop) implementation, not
the fused kernels lrx calls.
"""
import sys

import numpy as np
import torch

d, opt, lr, wd, steps = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(1)
W = torch.tensor(np.load(f"{d}/W0.npy"), requires_grad=True)
b = torch.tensor(np.load(f"{d}/b0.npy"), requires_grad=True)
X = torch.tensor(np.load(f"{d}/X.npy"))
Y = torch.tensor(np.load(f"{d}/Y.npy")).long()
w_only = len(sys.argv) > 6 and sys.argv[6] == "w_only"
groups = [{"params": [W]}, {"params": [b], "weight_decay": 0.0 if w_only else wd}]
kw = dict(foreach=False)
if opt == "sgdm":
    o = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd, **kw)
elif opt == "adam":
    o = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd, **kw)
else:
    raise SystemExit(f"unknown optimizer {opt}")
for _ in range(steps):
    o.zero_grad()
    loss = torch.nn.functional.cross_entropy(X @ W + b, Y)
    loss.backward()
    o.step()
np.save(f"{d}/W_torch.npy", W.detach().numpy())
np.save(f"{d}/b_torch.npy", b.detach().numpy())
