#!/usr/bin/env python3
"""Prints the tables of docs/validation.md from a study's results.

Usage: scripts/validation-tables.py runs/mini     (the study directory of `lrx run specs/mini.lrx`)

Reads runs.parquet (the learning table; needs pyarrow, as in the venv of scripts/setup.sh:
`$LRX_PYTHON scripts/validation-tables.py runs/mini`), results/evaluations.json and, for the
confusion matrices, results/eval/<id>.json. Every classifier number is mean ± s.e.m. over the
outer splits (holdout and realism rows: mean over held-out values / realism seeds of the
per-evaluation means).
"""
import json
import pathlib
import statistics
import sys
from collections import defaultdict

MEASURES = ["weight", "act", "gradavg", "all"]
# Rule labels of the regime presets (stdlib/paper.lrx) and their families.
FAMILY = {"sgdm": "sgdm", "adam": "adam", "fa": "fa", "ia": "ia", "fa_regime": "fa", "ia_regime": "ia"}


def learning_table(d):
    """Mean, min and max final validation accuracy per rule, and per rule × architecture."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        print("(learning table skipped: pyarrow is not installed; use $LRX_PYTHON)\n")
        return
    r = pq.read_table(d / "runs.parquet").to_pydict()
    by_rule, by_arch = defaultdict(list), defaultdict(list)
    for i, acc in enumerate(r["val_acc"]):
        if acc is None:
            continue
        by_rule[r["rule"][i]].append(acc)
        by_arch[(r["rule"][i], r["arch"][i])].append(acc)
    archs = sorted({a for _, a in by_arch})
    print("### 0. Learning: final validation accuracy (chance 0.10)\n")
    print("| rule | mean | min–max | runs | " + " | ".join(archs) + " |")
    print("|---|---|---|---" + "|---" * len(archs) + "|")
    for rule in sorted(by_rule):
        v = by_rule[rule]
        cells = [f"{statistics.mean(by_arch[(rule, a)]):.3f}" if by_arch.get((rule, a)) else "–" for a in archs]
        print(f"| {rule} | {statistics.mean(v):.3f} | {min(v):.3f}–{max(v):.3f} | {len(v)} | " + " | ".join(cells) + " |")
    print()
CLFS = ["random_forest", "linear_svm", "conv1d"]
SHORT = {"random_forest": "RF", "linear_svm": "SVM", "conv1d": "Conv1D"}


def fmt(a):
    return f"{a['mean']:.3f} ± {a['sem']:.3f}"


def main():
    d = pathlib.Path(sys.argv[1])
    ev = json.load(open(d / "results" / "evaluations.json"))
    es = ev["evaluations"]

    def pick(**kw):
        out = []
        for e in es:
            if all(e.get(k) == v for k, v in kw.items()):
                out.append(e)
        return out

    def main_acc(target, clf, meas):
        r = [
            e
            for e in pick(target=target, classifier=clf, measure=meas, split="balanced", layout="flat")
            if e["trajectory"] is None and e["portion"] is None and e["realism"] is None
            and not e.get("matched")
        ]
        return r[0] if r else None

    print(f"study `{ev['study']}` (spec {ev['spec_hash']}), {len(es)} evaluations\n")
    learning_table(d)
    print("### 1. 4-way accuracy (chance 0.25), balanced 75/25 splits\n")
    print("| classifier | " + " | ".join(MEASURES) + " |")
    print("|---" * (len(MEASURES) + 1) + "|")
    for c in CLFS:
        row = [main_acc("rule", c, m) for m in MEASURES]
        if any(row):
            print(f"| {SHORT[c]} | " + " | ".join(fmt(r["accuracy"]) if r else "–" for r in row) + " |")

    print("\n### 2. Confusions\n")
    print("Pairwise accuracy (chance 0.5), balanced splits:\n")
    pairs = sorted({e["target"] for e in es if e["target"].startswith("pair:")})
    print("| classifier | measure | " + " | ".join(p[5:] for p in pairs) + " |")
    print("|---|---" + "|---" * len(pairs) + "|")
    for c in CLFS:
        for m in MEASURES:
            row = [main_acc(p, c, m) for p in pairs]
            if any(row):
                print(f"| {SHORT[c]} | {m} | " + " | ".join(f"{r['accuracy']['mean']:.3f}" if r else "–" for r in row) + " |")
    print("\nShare of the 4-way test errors (split-averaged confusion matrix) that are Adam↔SGDM or FA↔IA:\n")
    print("| classifier | measure | errors / test examples | Adam↔SGDM | FA↔IA | other |")
    print("|---|---|---|---|---|---|")
    for c in CLFS:
        for m in MEASURES:
            e = main_acc("rule", c, m)
            if not e:
                continue
            f = d / "results" / e["result_file"]
            if not f.exists():
                print(f"| {SHORT[c]} | {m} | ({f.name} not present) | | | |")
                continue
            r = json.load(open(f))
            cls = [FAMILY.get(c, c) for c in r["classes"]]
            cm = r["summary"]["confusion_mean"]
            tot = sum(map(sum, cm))
            err = tot - sum(cm[i][i] for i in range(len(cls)))
            def conf(a, b):
                i, j = cls.index(a), cls.index(b)
                return cm[i][j] + cm[j][i]
            a_s = conf("adam", "sgdm") if {"adam", "sgdm"} <= set(cls) else 0
            f_i = conf("fa", "ia") if {"fa", "ia"} <= set(cls) else 0
            share = lambda v: f"{v / err:.2f}" if err > 0 else "–"
            print(f"| {SHORT[c]} | {m} | {err:.1f} / {tot:.0f} | {share(a_s)} | {share(f_i)} | {share(err - a_s - f_i)} |")

    print("\n### 3. Trajectory average vs the full trajectory (4-way)\n")
    print("| classifier | measure | full trajectory | trajectory average |")
    print("|---|---|---|---|")
    for c in CLFS:
        for m in MEASURES:
            full = main_acc("rule", c, m)
            avg = pick(target="rule", classifier=c, measure=m, layout="trajectory_average")
            if full and avg:
                print(f"| {SHORT[c]} | {m} | {fmt(full['accuracy'])} | {fmt(avg[0]['accuracy'])} |")

    print("\n### 4. Holdouts (4-way; mean over held-out values, min–max in brackets)\n")
    factors = sorted({e["holdout"]["factor"] for e in es if e["holdout"]})
    print("| classifier | measure | 75/25 | " + " | ".join(factors) + " |")
    print("|---|---|---" + "|---" * len(factors) + "|")
    for c in CLFS:
        for m in MEASURES:
            full = main_acc("rule", c, m)
            cells = []
            for f in factors:
                v = [e["accuracy"]["mean"] for e in pick(target="rule", classifier=c, measure=m, split="holdout") if e["holdout"]["factor"] == f]
                cells.append(f"{statistics.mean(v):.3f} [{min(v):.2f}–{max(v):.2f}]" if v else "–")
            if full and any(x != "–" for x in cells):
                print(f"| {SHORT[c]} | {m} | {full['accuracy']['mean']:.3f} | " + " | ".join(cells) + " |")

    print("\n### 5. Trajectory subsampling: period × samples (4-way)\n")
    traj = defaultdict(dict)
    for e in es:
        if e["target"] == "rule" and e["trajectory"]:
            t = e["trajectory"]
            traj[(e["classifier"], e["measure"])][(t["samples"], t["period"])] = e["accuracy"]["mean"]
    if traj:
        keys = sorted({k for v in traj.values() for k in v})
        print("| classifier | measure | " + " | ".join(f"n={n}, p={p}" for n, p in keys) + " |")
        print("|---|---" + "|---" * len(keys) + "|")
        for c in CLFS:
            for m in MEASURES:
                v = traj.get((c, m))
                if v:
                    print(f"| {SHORT[c]} | {m} | " + " | ".join(f"{v[k]:.3f}" if k in v else "–" for k in keys) + " |")

    print("\n### 6. Consecutive thirds: train on portion a, test on portion b (4-way)\n")
    por = defaultdict(dict)
    for e in es:
        if e["target"] == "rule" and e["portion"]:
            p = e["portion"]
            por[(e["classifier"], e["measure"])][(p["train"], p["test"])] = e["accuracy"]["mean"]
    if por:
        keys = sorted({k for v in por.values() for k in v})
        print("| classifier | measure | " + " | ".join(f"{a}→{b}" for a, b in keys) + " |")
        print("|---|---" + "|---" * len(keys) + "|")
        for c in CLFS:
            for m in MEASURES:
                v = por.get((c, m))
                if v:
                    print(f"| {SHORT[c]} | {m} | " + " | ".join(f"{v[k]:.3f}" if k in v else "–" for k in keys) + " |")

    print("\n### 7. Noise σ × unit fraction ρ (FA vs IA, chance 0.5; mean over realism seeds)\n")
    rea = defaultdict(lambda: defaultdict(list))
    for e in es:
        if e["realism"]:
            r = e["realism"]
            rea[(e["classifier"], e["measure"])][(r["sigma"], r["fraction"])].append(e["accuracy"]["mean"])
    if rea:
        sig = sorted({k[0] for v in rea.values() for k in v})
        fr = sorted({k[1] for v in rea.values() for k in v})
        for c in CLFS:
            for m in MEASURES:
                v = rea.get((c, m))
                if not v:
                    continue
                print(f"{SHORT[c]}, {m}:\n")
                print("| σ \\ ρ | " + " | ".join(f"{f:g}" for f in fr) + " |")
                print("|---" * (len(fr) + 1) + "|")
                for s in sig:
                    print(f"| {s:g} | " + " | ".join(f"{statistics.mean(v[(s, f)]):.3f}" if (s, f) in v else "–" for f in fr) + " |")
                print()
        print("Mean accuracy over the whole σ × ρ grid, and at the noisiest, sparsest corner:\n")
        print("| classifier | measure | grid mean | σ = max, ρ = min |")
        print("|---|---|---|---|")
        for c in CLFS:
            for m in MEASURES:
                v = rea.get((c, m))
                if v:
                    allv = [x for xs in v.values() for x in xs]
                    corner = v.get((max(sig), min(fr)), [])
                    print(f"| {SHORT[c]} | {m} | {statistics.mean(allv):.3f} | {statistics.mean(corner):.3f} |" if corner else f"| {SHORT[c]} | {m} | {statistics.mean(allv):.3f} | – |")

    print("\n### 8. Gini importance (RF, 4-way, balanced splits; mean over trees × splits)\n")
    for m in MEASURES:
        e = main_acc("rule", "random_forest", m)
        if not e:
            continue
        f = d / "results" / e["result_file"]
        if not f.exists():
            print(f"- {m}: ({f.name} not present)")
            continue
        r = json.load(open(f))
        g = r["summary"].get("gini_importance")
        if not g:
            continue
        ranked = sorted(zip(r["groups"], g), key=lambda t: -t[1]["mean"])
        top = ", ".join(f"{n} {v['mean']:.3f}" for n, v in ranked[:5])
        onehot = [(i, n) for i, (n, _) in enumerate(ranked) if n.startswith("grp_id")]
        print(f"- {m}: top 5: {top}; layer-position one-hot ranks {', '.join(str(i + 1) for i, _ in onehot)} of {len(ranked)}")

    print("\n### 9. Task-performance controls (4-way and pairs)\n")
    perf = {c: main_acc("rule", c, "perf") for c in CLFS}
    print("Task performance alone (`perf`: validation accuracy and loss at every checkpoint, one example per run):\n")
    print("| classifier | 4-way | " + " | ".join(p[5:] for p in pairs) + " |")
    print("|---|---" + "|---" * len(pairs) + "|")
    for c in CLFS:
        row = [main_acc(p, c, "perf") for p in pairs]
        if perf[c] or any(row):
            print(f"| {SHORT[c]} | {fmt(perf[c]['accuracy']) if perf[c] else '–'} | " + " | ".join(f"{x['accuracy']['mean']:.3f}" if x else "–" for x in row) + " |")

    def matched(target, c, m):
        r = [e for e in pick(target=target, classifier=c, measure=m) if e.get("matched")]
        return r[0] if r else None

    ms = [e for e in es if e.get("matched")]
    if ms:
        tol = ms[0]["matched"]["tolerance"]
        print(f"\nMatched-performance control (tolerance {tol:g}): runs kept / runs per class, and examples kept:\n")
        print("| target | runs kept per class | examples |")
        print("|---|---|---|")
        for target in ["rule"] + pairs:
            e = next((x for x in ms if x["target"] == target), None)
            if e:
                pc = e["matched"]["per_class"]
                print(f"| {target} | " + ", ".join(f"{k} {v['runs']}/{v['runs_total']}" for k, v in pc.items()) + " | " + ", ".join(f"{k} {v['examples']}" for k, v in pc.items()) + " |")
        print("\nAccuracy on every run (75/25) → on the matched runs only (– : not evaluated, too few runs):\n")
        print("| classifier | measure | 4-way | " + " | ".join(p[5:] for p in pairs) + " |")
        print("|---|---|---" + "|---" * len(pairs) + "|")
        for c in CLFS:
            for m in MEASURES + ["perf"]:
                cells = []
                for target in ["rule"] + pairs:
                    full, mt = main_acc(target, c, m), matched(target, c, m)
                    if not full:
                        cells.append("–")
                        continue
                    mv = f"{mt['accuracy']['mean']:.3f}" if mt and mt.get("accuracy") else "–"
                    cells.append(f"{full['accuracy']['mean']:.3f} → {mv}")
                if any(x != "–" for x in cells) and any(matched(t, c, m) for t in ["rule"] + pairs):
                    print(f"| {SHORT[c]} | {m} | " + " | ".join(cells) + " |")

    if ev.get("notes"):
        print("\nNotes of the stage:\n")
        for n in ev["notes"]:
            print(f"- {n}")


if __name__ == "__main__":
    main()
