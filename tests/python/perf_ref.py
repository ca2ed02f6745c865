#!/usr/bin/env python3
"""Independent reference for lrx's task-performance controls (issue 20), from runs.parquet.

Usage: perf_ref.py STUDY_DIR TOLERANCE OUT.json

Reads STUDY_DIR/runs.parquet with pyarrow (not lrx's reader) and writes OUT.json with
- "matched": for the all-classes target "rule" and every pair "a|b" of rules, the run ids kept by
  the matched-performance control: a run is kept when, for every other class of the target, some
  kept run of that class has a final validation accuracy (column `val_acc`) within TOLERANCE of
  its own; applied until nothing changes (computed here with numpy distance matrices);
- "perf": run id -> [val_acc_e<E>, val_loss_e<E> for each checkpoint epoch E >= 1 ascending],
  the features of the `perf` measure.
"""
import itertools
import json
import re
import sys

import numpy as np
import pyarrow.parquet as pq


def matched(ids, cls, acc, classes, tol):
    ids = np.asarray(ids)
    cls = np.asarray(cls)
    acc = np.asarray(acc, dtype=float)
    keep = np.isin(cls, classes) & np.isfinite(acc)
    close = np.abs(acc[:, None] - acc[None, :]) <= tol + 1e-12
    while True:
        new = keep.copy()
        for c in classes:
            has = (close & (keep & (cls == c))[None, :]).any(axis=1)
            new &= has | (cls == c)
        if (new == keep).all():
            break
        keep = new
    return sorted(ids[keep].tolist())


def main():
    study, tol, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    t = pq.read_table(f"{study}/runs.parquet").to_pydict()
    ids, rules, acc = t["run_id"], t["rule"], [np.nan if v is None else v for v in t["val_acc"]]
    classes = sorted(set(rules))
    res = {"matched": {"rule": matched(ids, rules, acc, classes, tol)}, "perf": {}}
    for a, b in itertools.combinations(classes, 2):
        res["matched"][f"{a}|{b}"] = matched(ids, rules, acc, [a, b], tol)
    epochs = sorted({int(m.group(1)) for k in t for m in [re.fullmatch(r"val_acc_e(\d+)", k)] if m})
    for i, r in enumerate(ids):
        row = []
        for e in epochs:
            row += [t[f"val_acc_e{e}"][i], t[f"val_loss_e{e}"][i]]
        res["perf"][r] = row
    json.dump(res, open(out, "w"))


if __name__ == "__main__":
    main()
