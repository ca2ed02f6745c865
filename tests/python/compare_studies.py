"""Compares two lrx study directories: the same feature files with equal values (bit for bit
unless --tol), and the same classifier accuracies. Exit 1 with what differs.

Usage: compare_studies.py A B [--tol T]
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import pyarrow.parquet as pq


def features(d):
    files = sorted(pathlib.Path(d, "features").glob("rule=*/run=*/part-0.parquet"))
    return {str(f.relative_to(d)): f for f in files}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tol", type=float, default=0.0)
    a = ap.parse_args()
    fa, fb = features(a.a), features(a.b)
    bad = []
    if set(fa) != set(fb):
        bad.append(f"feature files differ: only in A {sorted(set(fa) - set(fb))}, only in B {sorted(set(fb) - set(fa))}")
    n = 0
    for k in sorted(set(fa) & set(fb)):
        ta, tb = pq.read_table(fa[k]), pq.read_table(fb[k])
        if ta.column_names != tb.column_names or ta.num_rows != tb.num_rows:
            bad.append(f"{k}: columns or rows differ")
            continue
        for c in ta.column_names:
            x, y = ta[c].to_pylist(), tb[c].to_pylist()
            if ta.schema.field(c).type in ("double", "float"):
                x = np.array([np.nan if v is None else v for v in x], dtype=float)
                y = np.array([np.nan if v is None else v for v in y], dtype=float)
                same_nan = np.isnan(x) == np.isnan(y)
                diff = np.abs(x - y)[~np.isnan(x) & ~np.isnan(y)]
                if not same_nan.all() or (diff.size and diff.max() > a.tol * max(1.0, np.nanmax(np.abs(y)))):
                    bad.append(f"{k}: column {c} differs (max {diff.max() if diff.size else 'nan pattern'})")
            elif x != y:
                bad.append(f"{k}: column {c} differs")
        n += 1
    ea = json.load(open(pathlib.Path(a.a, "results", "evaluations.json")))["evaluations"]
    eb = json.load(open(pathlib.Path(a.b, "results", "evaluations.json")))["evaluations"]
    acc = lambda es: {e["id"]: e["accuracy"]["mean"] for e in es}
    if acc(ea) != acc(eb):
        bad.append(f"accuracies differ: {acc(ea)} vs {acc(eb)}")
    if bad:
        print("\n".join(bad), file=sys.stderr)
        sys.exit(1)
    print(f"{n} feature files equal, {len(ea)} evaluations equal")


if __name__ == "__main__":
    main()
