"""numpy/scipy reference for `lrx import` of plain recordings (src/exec/import.rs).

Usage: import_ref.py DIR
Writes, with numpy as the independent writer, two sessions DIR/s0.npy (float64, 30 x 7) and
DIR/s1.npy (float32, 30 x 7) from seed 23, and DIR/expected.json:
  {"<session>": {"<layer>": {"<observable>": bits}}}
for the layers `a` (units 0..3) and `b` (units 4, 5, 6): the mean over stimuli of each
per-stimulus statistic over the layer's units (method.md §1.2-1.3, conventions tf_nearest,
pearson2, pearson; the statistics of observe_stats_ref.py).
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from observe_stats_ref import f_to_bits, stats  # noqa: E402

CONV = {"quantile": "tf_nearest", "skew": "pearson2", "kurtosis": "pearson"}
STATS = ["norm", "mean", "median", "thirdquartile", "var", "skew", "kurtosis"]
FUNCS = [("raw", lambda v: v), ("abs", np.abs), ("sq", lambda v: v * v)]
LAYERS = {"a": [0, 1, 2, 3], "b": [4, 5, 6]}


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(23)
    expected = {}
    for name, dtype in (("s0", np.float64), ("s1", np.float32)):
        x = (rng.standard_normal((30, 7)) * 2.0 + 0.5).astype(dtype)
        np.save(os.path.join(out, name + ".npy"), x)
        x = x.astype(np.float64)
        per_layer = {}
        for layer, units in LAYERS.items():
            y = x[:, units]
            vals = {}
            for fname, f in FUNCS:
                rows = np.array([stats(f(y[r]), CONV) for r in range(y.shape[0])])
                means = rows.mean(axis=0)
                for s, v in zip(STATS, means):
                    vals["act" + fname + "_" + s] = f_to_bits(v)
            per_layer[layer] = vals
        expected[name] = per_layer
    json.dump(expected, open(os.path.join(out, "expected.json"), "w"))


if __name__ == "__main__":
    main()
