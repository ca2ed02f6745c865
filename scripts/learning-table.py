#!/usr/bin/env python3
"""The learning table of a study directory written by `lrx run` (docs/learning.md).

Usage: scripts/learning-table.py STUDY_DIR [--epochs 1,4,8,12]

Prints two Markdown tables from `manifest.json` and `runs/<id>/status.json` (no lrx needed):
1. one row per run: rule, model seed, run id, validation accuracy at the chosen epochs (default:
   the checkpoints after 0), the last and the best epoch, the learning budget Σ lr of the
   classifier and of the hidden layers (lr × steps, × hidden_lr_scale for the hidden layers;
   SGDM in lr units, Adam in "lr units" = the step size), and for rules with backward weights the
   last epoch's angles per layer: the rule's update against backprop's gradient (u) and W–B;
2. one row per rule: mean ± half the range over seeds of the last and best validation accuracy.
"""
import argparse
import json
import math
import os
import sys


def fmt(x, d=3):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("study")
    ap.add_argument("--epochs", default="")
    a = ap.parse_args()
    man = json.load(open(os.path.join(a.study, "manifest.json")))
    rows, by_rule = [], {}
    for r in man["runs"]:
        sp = os.path.join(a.study, "runs", r["id"], "status.json")
        if not os.path.exists(sp):
            continue
        st = json.load(open(sp))
        hist = st.get("history") or []
        acc = {h["epoch"]: h.get("val_acc") for h in hist}
        epochs = [int(e) for e in a.epochs.split(",") if e] or [c for c in r["checkpoints"] if c > 0]
        params = r["rule"]["call"]["params"]
        task = r["task"]["call"]["params"]
        n_train = task.get("train") or 60000
        # The trainer takes floor(n_train / batch) steps per epoch (the last partial batch is
        # dropped); a run that stopped early (diverged, interrupted) spent only its epochs.
        trained = r["epochs"] if st.get("status") == "done" else len(hist)
        per_epoch = max(n_train // r["batch"], 1)
        steps = trained * per_epoch
        scale = params.get("hidden_lr_scale", 1.0)
        sigma = r["lr"] * steps
        lrs = [h.get("lr") for h in hist[:trained]]
        if r.get("schedule") and all(x is not None for x in lrs) and lrs:
            # A schedule: each epoch's record holds the rate at its last step. A rising rate
            # (a linear warm-up of at least one epoch, from 0 before the first) is summed as the
            # trapezoid between the previous epoch's end and this one's; a fall is a decay at the
            # epoch's start.
            sched = r["schedule"]
            warm = sched.get("name") == "warmup_steps" and sched.get("params", {}).get("warmup", 0) > 0
            start = 0.0 if warm else lrs[0]
            sigma = 0.0
            for x in lrs:
                sigma += per_epoch * ((start + x) / 2 if x > start else x)
                start = x
        budget = f"{sigma:.3g} / {sigma * scale:.3g}"
        last = hist[-1] if hist else {}
        accs = [v for v in acc.values() if v is not None]
        angles = " ".join(
            f"{x['layer']} u{fmt(x.get('update_angle'), 0)}/wb{fmt(x.get('angle'), 0)}"
            for x in (last.get("alignment") or [])
            if x.get("layer") != "fc4" or x.get("angle") is not None
        )
        rows.append([
            r["rule"]["label"], str(r["model_seed"]), r["id"][:8], st["status"],
            *[fmt(acc.get(e)) for e in epochs],
            fmt(last.get("val_acc")), fmt(max(accs) if accs else None), budget, angles or "–",
        ])
        if st["status"] == "done" and accs:
            by_rule.setdefault(r["rule"]["label"], []).append((last.get("val_acc"), max(accs)))
    if not rows:
        sys.exit(f"no run of {a.study} has a status.json yet")
    head = ["rule", "seed", "run", "status", *[f"ep {e}" for e in epochs], "last", "best",
            "Σ lr (classifier / hidden)", "last epoch: update vs backprop (u) / W–B, °"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in sorted(rows):
        print("| " + " | ".join(row) + " |")
    print()
    print("| rule | runs | last (mean ± half range) | best (mean ± half range) |")
    print("|---|---|---|---|")
    for rule, v in sorted(by_rule.items()):
        la = [x[0] for x in v]
        be = [x[1] for x in v]
        pm = lambda xs: f"{sum(xs) / len(xs):.3f} ± {(max(xs) - min(xs)) / 2:.3f}"
        print(f"| {rule} | {len(v)} | {pm(la)} | {pm(be)} |")


if __name__ == "__main__":
    main()
