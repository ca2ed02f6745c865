#!/usr/bin/env python3
"""Markdown table of reference runs: summarize.py FILE.jsonl...  (output of knet_ref.py)

Columns: run, rule/options, images x epochs, steps, budget (sum of lr over steps; B's own
budget after a slash when B has its own optimizer), val acc after epoch 4, final and best val acc, and at the end of
training: fc4's and conv3's W-B angle, conv3's update angle to backprop, the largest |W|/|W0|.
"""
import json
import os
import sys


def describe(c):
    s = f"{c['rule']} {c['opt']} {c['lr']:g}"
    if c.get("wd") not in (None, 1e-5):
        s += f" wd {c['wd']:g}"
    if c.get("init") != "he":
        s += f" init {c['init']}"
    if c.get("top") != "fa":
        s += f" top {c['top']}"
    if c.get("constrain"):
        s += " constrain"
    if c.get("top_scale", 1.0) != 1.0:
        s += f" fc4 W×{c['top_scale']:g}"
    if c.get("b_scale", 1.0) != 1.0:
        s += f" B×{c['b_scale']:g}"
    if c.get("lr_scale"):
        s += " lr×{" + ",".join(f"{k}={v:g}" for k, v in c["lr_scale"].items()) + "}"
    if c.get("feedback", "random") != "random":
        s += f" feedback {c['feedback']}"
    if c.get("center_features"):
        s += " centred h"
    if c.get("center_feedback"):
        s += " centred feedback"
    if c.get("freeze_bias"):
        s += " fixed bias " + ",".join(c["freeze_bias"])
    if c.get("freeze"):
        s += " frozen " + ",".join(c["freeze"])
    src = c.get("source", {})
    if src.get("seed", 0) or src.get("data_seed", 0):
        s += f" seed {src.get('seed', 0)}/{src.get('data_seed', 0)}"
    if c["rule"] == "ia":
        if (c["alpha"], c["beta"], c["gamma"]) != (2e-3, 1e-3, 1e-3):
            s += f" α {c['alpha']:g} β {c['beta']:g} γ {c['gamma']:g}"
        if c.get("b_opt") not in (None, "none"):
            s += f" B: {c['b_opt']} {c['b_lr']:g}"
    return s


def fmt(v, f="{:.1f}"):
    return "–" if v is None else f.format(v)


def main(paths):
    print("| run | setting | images × epochs | steps | Σ lr | val acc @4 | val acc (last) | best | fc4 W–B ° | conv3 W–B ° | conv3 update ° | max ‖W‖/‖W₀‖ |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for p in paths:
        lines = [json.loads(s) for s in open(p) if s.strip()]
        cfg = next(x["config"] for x in lines if "config" in x)
        ep = [x for x in lines if "epoch" in x]
        if not ep:
            continue
        last = ep[-1]
        ok = [x for x in ep if "val_acc" in x]
        best = max((x["val_acc"] for x in ok), default=None)
        lay = (ok[-1] if ok else {}).get("layers", {})
        g = lambda l, k: lay.get(l, {}).get(k)  # noqa: E731
        growth = max((v.get("w_growth", 0) for v in lay.values()), default=None)
        budget = f"{last['budget']:.3g}"
        if "b_budget" in last:
            budget += f" / B {last['b_budget']:.3g}"
        at4 = next((x.get("val_acc") for x in ep if x["epoch"] == 4), None)
        va = fmt(last.get("val_acc"), "{:.3f}") if "val_acc" in last else f"diverged (epoch {last['epoch']})"
        src = cfg["source"]
        n = src.get("n_train", "export")
        print(f"| {os.path.basename(p)[:-6]} | {describe(cfg)} | {n} × {last['epoch']} | {last['steps']} | {budget} | "
              f"{fmt(at4, '{:.3f}')} | {va} | {fmt(best, '{:.3f}')} | {fmt(g('fc4', 'wb_angle'))} | {fmt(g('conv3', 'wb_angle'))} | "
              f"{fmt(g('conv3', 'grad_angle'))} | {fmt(growth, '{:.2f}')} |")


if __name__ == "__main__":
    main(sys.argv[1:])
