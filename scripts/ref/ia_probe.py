#!/usr/bin/env python3
"""Where does IA diverge with the paper's init (docs/learning.md "Session 17")?  Trains like
knet_ref.py (same arguments) and, every --probe-every steps (before the step), measures on the
fixed diagnostic batch (knet_ref's first --diag-batch training images), with no gradient:

  - the logits' largest |value| and RMS, and the task loss;
  - per layer: the RMS and largest |value| of its input x and of its output z (pre-pooling,
    bias included), |W|, |B|, |b|, and its IA alignment term R_l = alpha*amp + beta*null +
    gamma*decay (knet_ref.alignment_loss on that layer alone).

Output: knet_ref's epoch lines, plus one {"probe": ...} line per probe, on stdout; the last
probe is the step before the divergence when the run diverges.
Usage: ia_probe.py --probe-every 25 --rule ia --opt sgdm --lr 1e-2 --init paper \\
                   --train-subset 20000 --epochs 2
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import knet_ref as k  # noqa: E402


def rms(t):
    return float(t.double().pow(2).mean().sqrt())


def probe(model, x, y, cfg):
    out = {}
    with torch.no_grad():
        rec = {}
        logits = model.forward(x, record=rec)
        out["loss"] = float(torch.nn.functional.cross_entropy(logits, y))
        out["logit_max"] = float(logits.abs().max())
        out["logit_rms"] = rms(logits)
        for l in k.LAYERS:
            xin, z = rec[l], rec[l + "/z"]
            one = {
                "x_rms": rms(xin), "x_max": float(xin.abs().max()),
                "z_rms": rms(z), "z_max": float(z.abs().max()),
                "W": float(model.W[l].norm()), "b": float(model.b[l].norm()),
            }
            if l in model.B:
                one["B"] = float(model.feedback(l).norm())
            out[l] = one
    if model.rule == "ia":
        # Each layer's alignment term alone: the loss restricted to that layer's record.
        for l in k.LAYERS:
            if l not in model.B:
                continue
            sub = {kk: v for kk, v in rec.items() if kk == l or kk == l + "/z"}
            saved = model.B
            try:
                model.B = {l: saved[l]}
                with torch.no_grad():
                    out[l]["R"] = float(k.alignment_loss(model, sub, cfg["alpha"], cfg["beta"], cfg["gamma"]))
            finally:
                model.B = saved
    return {kk: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for kk, v in out.items()}


def main(argv=None):
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--probe-every", type=int, default=25)
    pa, rest = p.parse_known_args(argv if argv is not None else sys.argv[1:])
    a = k.parse(rest)
    try:
        model, data, cfg, order_fn = k.setup(a)
    except k.RefError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"config": {**cfg, "argv": sys.argv[1:] if argv is None else argv,
                                 "probe_every": pa.probe_every}}), flush=True)
    x, y = data["diag_x"], data["diag_y"]
    steps = [0]

    def on_step(epoch, s, idx):
        if steps[0] % pa.probe_every == 0:
            print(json.dumps({"probe": {"step": steps[0], "epoch": epoch, **probe(model, x, y, cfg)}}), flush=True)
        steps[0] += 1

    k.train(model, data, cfg, order_fn, emit=lambda s: print(s, flush=True), on_step=on_step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
