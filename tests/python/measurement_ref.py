"""Independent numpy/scipy reference for src/measurement.rs (issue 23).

Reads a JSON file (argv[1]) with
  kernel:  {rise, decay, frame_rate, kd, hill, shot, read, spikes, z1, z2}
  poisson: [{lam, counts: {k: n}}]
and prints JSON:
  calcium: the calcium trace of `spikes` (np.convolve with the sampled, peak-normalised
           double-exponential kernel), and the per-frame dF/F given the normals z1, z2;
  poisson: per lambda, the chi-square statistic and p-value of the observed counts against
           scipy.stats.poisson's pmf (bins with expectation < 5 pooled).
"""
import json
import sys

import numpy as np
from scipy import optimize, stats

d = json.load(open(sys.argv[1]))
k = d["kernel"]
rise, decay, fr = k["rise"], k["decay"], k["frame_rate"]
# Peak located numerically (independent of the closed form used in Rust).
h = lambda t: np.exp(-t / decay) - np.exp(-t / rise)
res = optimize.minimize_scalar(lambda t: -h(t), bounds=(0, 10 * decay), method="bounded",
                               options={"xatol": 1e-12})
peak = h(res.x)
spikes = np.array(k["spikes"], dtype=float)
t = np.arange(len(spikes)) / fr
kern = h(t) / peak
c = np.convolve(spikes, kern)[: len(spikes)]
cn = np.maximum(c, 0) ** k["hill"]
F = 1 + cn / (cn + k["kd"] ** k["hill"])
dff = F + np.sqrt(k["shot"] * F) * np.array(k["z1"]) + k["read"] * np.array(k["z2"]) - 1

out_p = []
for p in d["poisson"]:
    lam = p["lam"]
    counts = {int(a): b for a, b in p["counts"].items()}
    n = sum(counts.values())
    kmax = max(counts) + 1
    ks = np.arange(kmax + 1)
    exp = stats.poisson.pmf(ks, lam) * n
    exp[-1] += stats.poisson.sf(kmax, lam) * n
    obs = np.array([counts.get(i, 0) for i in ks], dtype=float)
    # pool bins with expectation < 5 into neighbours (left to right, then the tail)
    eo, ee = [], []
    acc_o = acc_e = 0.0
    for o, e in zip(obs, exp):
        acc_o += o
        acc_e += e
        if acc_e >= 5:
            eo.append(acc_o)
            ee.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0:
        eo[-1] += acc_o
        ee[-1] += acc_e
    eo, ee = np.array(eo), np.array(ee)
    chi2 = float(((eo - ee) ** 2 / ee).sum())
    dof = len(ee) - 1
    out_p.append({"lam": lam, "chi2": chi2, "dof": dof, "p": float(stats.chi2.sf(chi2, dof))})

print(json.dumps({"calcium": c.tolist(), "dff": dff.tolist(), "peak_time": float(res.x),
                  "poisson": out_p}))
