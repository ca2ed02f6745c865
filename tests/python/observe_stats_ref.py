"""numpy/scipy reference for lrx's statistic kernels (src/exec/observe/stats.rs).

Usage: observe_stats_ref.py IN.json OUT.json
IN:  {"cases": [{"name", "rows", "units", "bits": [u64 IEEE bits, row-major]}],
      "conventions": [{"quantile": "tf_nearest"|"linear", "skew": "pearson2"|"fisher",
                       "kurtosis": "pearson"|"excess"}]}
OUT: {"<case>": [ per convention: [ per row: bits of 21 values ] ]}, values ordered
     functions (raw, abs, sq) x statistics (norm, mean, median, thirdquartile, var, skew, kurtosis).
Floats travel as IEEE bits so NaN/inf and every last bit survive.
"""
import json
import struct
import sys
import warnings

import numpy as np
import scipy.stats

warnings.simplefilter("ignore")


def bits_to_f(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def f_to_bits(x):
    return struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def tf_nearest(z, q):
    """method.md §1.2: sort descending, idx = round_half_even((n-1)(1-q/100)), clipped."""
    if np.isnan(z).any():
        return np.nan
    n = len(z)
    desc = np.sort(z)[::-1]
    idx = int(round((n - 1) * (1.0 - q / 100.0)))  # Python round() is half-to-even
    idx = min(max(idx, 0), n - 1)
    return desc[idx]


def linear(z, q):
    """numpy 'linear' (np.percentile default), but an exact index returns the order statistic
    itself (np.percentile gives NaN there when the next value is infinite)."""
    if np.isnan(z).any():
        return np.nan
    n = len(z)
    s = np.sort(z)
    pos = (n - 1) * (q / 100.0)
    lo = int(np.floor(pos))
    t = pos - lo
    if t == 0.0 or lo + 1 >= n:
        return s[lo]
    a, b = s[lo], s[lo + 1]
    d = b - a
    v = a + d * t if t < 0.5 else b - d * (1 - t)
    if np.isfinite(z).all():  # the formula above is numpy's own
        ref = np.percentile(z, q)
        assert v == ref or abs(v - ref) <= 1e-12 * abs(ref), (v, ref)
    return v


def stats(z, conv):
    n = len(z)
    quant = tf_nearest if conv["quantile"] == "tf_nearest" else linear
    mean = np.mean(z)
    var = np.var(z)  # population (ddof=0)
    norm = np.sqrt(np.sum(z * z))
    med = quant(z, 50)
    q3 = quant(z, 75)
    if conv["skew"] == "pearson2":
        skew = 3.0 * (mean - med) / np.sqrt(var)
    else:
        skew = scipy.stats.skew(z, bias=True)
    kurt = scipy.stats.kurtosis(z, fisher=(conv["kurtosis"] == "excess"), bias=True)
    if n == 1 or var == 0.0:
        # scipy returns NaN for (near-)constant data; m3/m2^1.5 and m4/m2^2 are 0/0 there too.
        skew = skew if conv["skew"] == "pearson2" else np.nan
        kurt = np.nan
    return [norm, mean, med, q3, var, skew, kurt]


def main():
    inp = json.load(open(sys.argv[1]))
    out = {}
    for case in inp["cases"]:
        vals = np.array([bits_to_f(b) for b in case["bits"]], dtype=np.float64)
        x = vals.reshape(case["rows"], case["units"])
        per_conv = []
        for conv in inp["conventions"]:
            rows = []
            for r in range(x.shape[0]):
                z = x[r]
                row = []
                for f in (lambda v: v, np.abs, lambda v: v * v):
                    row.extend(stats(f(z), conv))
                rows.append([f_to_bits(v) for v in row])
            per_conv.append(rows)
        out[case["name"]] = per_conv
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
