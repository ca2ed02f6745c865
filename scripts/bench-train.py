"""PyTorch-eager side of scripts/bench-train: the same KNet4 / ResNet-18 (v1) training step
(forward, cross-entropy, backward, SGD Nesterov 0.9 with weight decay) as lrx, same batch
and threads. Prints one JSON object per model."""
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(os.environ.get("LRX_BENCH_THREADS", "2"))
steps = int(os.environ.get("LRX_BENCH_STEPS", "20"))
only = [m for m in os.environ.get("LRX_BENCH_MODELS", "").split(",") if m]
# LRX_BENCH_DEVICE as for the lrx side (cpu, cuda, cuda:N); `loss.item()` waits for the device.
device = os.environ.get("LRX_BENCH_DEVICE", "cpu")
device = "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
torch.set_num_threads(threads)


def same_pads(n, k, s):
    out = (n + s - 1) // s
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def pad_same(x, k, s, value=0.0):
    ph = same_pads(x.shape[2], k, s)
    pw = same_pads(x.shape[3], k, s)
    if ph == (0, 0) and pw == (0, 0):
        return x
    return F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=value)


def max_pool_same(x, k=3, s=2):
    return F.max_pool2d(pad_same(x, k, s, float("-inf")), k, s)


def avg_pool_same(x, k=3, s=2):
    num = F.avg_pool2d(pad_same(x, k, s), k, s)
    ones = torch.ones(1, 1, x.shape[2], x.shape[3], device=x.device)
    den = F.avg_pool2d(pad_same(ones, k, s), k, s)
    return num / den


class Conv(nn.Module):
    def __init__(self, cin, cout, k, stride=1, bias=True, fixed=False):
        super().__init__()
        self.w = nn.Parameter(torch.randn(cout, cin, k, k) * 0.01)
        self.b = nn.Parameter(torch.zeros(cout)) if bias else None
        self.k, self.s, self.fixed = k, stride, fixed

    def forward(self, x):
        k, s = self.k, self.s
        if self.fixed and s > 1:
            x = F.pad(x, ((k - 1) // 2, k - 1 - (k - 1) // 2, (k - 1) // 2, k - 1 - (k - 1) // 2))
            return F.conv2d(x, self.w, self.b, s)
        ph = same_pads(x.shape[2], k, s)
        pw = same_pads(x.shape[3], k, s)
        if ph[0] == ph[1] and pw[0] == pw[1]:
            return F.conv2d(x, self.w, self.b, s, (ph[0], pw[0]))
        return F.conv2d(pad_same(x, k, s), self.w, self.b, s)


class KNet4(nn.Module):
    def __init__(self, size=32, classes=10):
        super().__init__()
        self.c1, self.c2, self.c3 = Conv(3, 32, 5), Conv(32, 32, 5), Conv(32, 64, 5)
        s = size
        for _ in range(3):
            s = (s + 1) // 2
        self.fc = nn.Linear(64 * s * s, classes)

    def forward(self, x):
        h = max_pool_same(self.c1(x))
        h = avg_pool_same(F.relu(self.c2(h)))
        h = avg_pool_same(F.relu(self.c3(h)))
        return self.fc(h.flatten(1))


class Block(nn.Module):
    def __init__(self, cin, cout, stride, proj):
        super().__init__()
        self.proj = Conv(cin, cout, 1, stride, False, True) if proj else None
        self.bnp = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1) if proj else None
        self.c1, self.bn1 = Conv(cin, cout, 3, stride, False, True), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.c2, self.bn2 = Conv(cout, cout, 3, 1, False, True), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)

    def forward(self, x):
        short = self.bnp(self.proj(x)) if self.proj is not None else x
        r = F.relu(self.bn1(self.c1(x)))
        r = self.bn2(self.c2(r))
        return F.relu(r + short)


class ResNet18(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.c0, self.bn0 = Conv(3, 64, 7, 2, False, True), nn.BatchNorm2d(64, eps=1e-5, momentum=0.1)
        blocks, cin = [], 64
        for g, f in enumerate([64, 128, 256, 512]):
            for b in range(2):
                blocks.append(Block(cin, f, (1 if g == 0 else 2) if b == 0 else 1, b == 0))
                cin = f
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        h = max_pool_same(F.relu(self.bn0(self.c0(x))))
        h = self.blocks(h)
        return self.fc(h.mean((2, 3)))


for name, size, batch, ctor in [("knet4", 32, 64, lambda: KNet4(32)), ("resnet18", 64, 32, ResNet18)]:
    if only and name not in only:
        continue
    torch.manual_seed(0)
    m = ctor().to(device)
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9, nesterov=True, weight_decay=1e-5)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    ms = (time.perf_counter() - t0) * 1000 / steps
    print(json.dumps({"impl": "pytorch", "device": device, "model": name, "size": size, "batch": batch, "rule": "sgdm", "threads": threads, "ms_per_step": round(ms, 3)}))
    sys.stdout.flush()
