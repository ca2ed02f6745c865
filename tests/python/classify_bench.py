"""Benchmark data and scikit-learn side of scripts/bench-classify.

Usage: classify_bench.py DIR
Writes DIR/{x.npy, y.npy, train.npy, test.npy} (20,000 × 507: a 3-way one-hot then 24 statistics ×
21 checkpoints, 4 balanced classes, column scales 10^U(-3,3)) and DIR/sklearn.json with fit+predict
times and test accuracies of RandomForestClassifier(100, n_jobs=-1), LinearSVC (raw and
standardized) and a per-tree timing for the paper grid estimate.
"""
import json
import os
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def make(n=20000, k=4, n_stats=24, t=21, seed=0):
    rng = np.random.RandomState(seed)
    dim = 6
    y = np.arange(n) % k
    mu = 0.5 * rng.randn(k, dim)
    z = mu[y] + rng.randn(n, dim)
    a = rng.randn(n_stats, dim)
    growth = np.linspace(0.0, 1.0, t)
    cols = []
    for s in range(n_stats):
        lin = z @ a[s]
        if s % 3 == 0:
            lin = np.abs(lin)
        traj = lin[:, None] * (0.3 + growth[None, :]) + 1.5 * rng.randn(n, t)
        cols.append(traj)
    x = np.concatenate(cols, axis=1)
    x *= 10.0 ** rng.uniform(-3, 3, size=x.shape[1])[None, :]
    pos = rng.randint(0, 3, size=n)
    onehot = np.eye(3)[pos]
    x = np.concatenate([onehot, x], axis=1)
    perm = rng.permutation(n)
    test = np.sort(np.concatenate([perm[y[perm] == c][: n // k // 4] for c in range(k)]))
    mask = np.ones(n, bool)
    mask[test] = False
    train = np.nonzero(mask)[0]
    return x, y.astype(np.int64), train.astype(np.int64), test.astype(np.int64)


def main(d):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    os.makedirs(d, exist_ok=True)
    x, y, train, test = make()
    for name, a in (("x", x), ("y", y), ("train", train), ("test", test)):
        np.save(os.path.join(d, name + ".npy"), a)
    xtr, ytr, xte, yte = x[train], y[train], x[test], y[test]
    res = {"n_train": len(train), "n_test": len(test), "n_features": x.shape[1],
           "n_jobs": os.cpu_count()}

    def timed(make_model, xa, xb):
        t0 = time.perf_counter()
        m = make_model().fit(xa, ytr)
        acc = float((m.predict(xb) == yte).mean())
        return time.perf_counter() - t0, acc

    res["rf_time"], res["rf_acc"] = timed(
        lambda: RandomForestClassifier(100, n_jobs=-1, random_state=0), xtr, xte)
    print("sklearn rf", res["rf_time"], res["rf_acc"], flush=True)
    res["svc_std_time"], res["svc_std_acc"] = timed(
        lambda: make_pipeline(StandardScaler(), LinearSVC(C=1.0, random_state=0, dual=True)), xtr, xte)
    print("sklearn svc (standardized)", res["svc_std_time"], res["svc_std_acc"], flush=True)
    res["svc_raw_time"], res["svc_raw_acc"] = timed(
        lambda: LinearSVC(C=1.0, random_state=0, dual=True), xtr, xte)
    print("sklearn svc (raw)", res["svc_raw_time"], res["svc_raw_acc"], flush=True)
    # per-tree fit time on a CV fold (4/5 of train) for each max_features, for the grid estimate
    fold = xtr[: len(xtr) * 4 // 5]
    yf = ytr[: len(ytr) * 4 // 5]
    per_tree = {}
    for mf, nt in (("sqrt", 20), ("log2", 20), (None, 4)):
        t0 = time.perf_counter()
        RandomForestClassifier(nt, max_features=mf, n_jobs=-1, random_state=0).fit(fold, yf)
        per_tree[str(mf)] = (time.perf_counter() - t0) / nt
    res["per_tree_fold_fit"] = per_tree
    print("sklearn per-tree fold fit", per_tree, flush=True)
    json.dump(res, open(os.path.join(d, "sklearn.json"), "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
