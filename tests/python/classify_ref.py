"""scikit-learn / scipy references for the Rust classifier-stage tests (src/classify).

Usage: classify_ref.py COMMAND ARGS... ; data come in as .npy files, results go out as JSON.
  kfold   Y.npy N_SPLITS OUT.json          StratifiedKFold(N_SPLITS).split index sets
  models  XTR YTR XTE YTE SEEDS OUT.json   test accuracies of RF / LinearSVC / PCA+LinearSVC
  pca     X.npy K OUT.json                 PCA(K, svd_solver='full') explained variance (+ratio)
  ppf     P.npy OUT.json                   scipy.stats.norm.ppf
  stage   STUDY STATS.json TRAIN TEST C OUT.json X.npy
          independent pyarrow read of a study's plain features → flat [one-hot | stat-major]
          matrix (examples sorted by run_id, layer_index), LinearSVC(C) on the given split
"""
import json
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

# C of the LinearSVC comparison (src/classify/sklearn_tests.rs uses the same value)
SVC_C = 0.05


def kfold(y_path, n_splits, out):
    from sklearn.model_selection import StratifiedKFold

    y = np.load(y_path)
    folds = [
        [tr.tolist(), te.tolist()]
        for tr, te in StratifiedKFold(int(n_splits)).split(np.zeros(len(y)), y)
    ]
    json.dump(folds, open(out, "w"))


def models(xtr, ytr, xte, yte, seeds, out):
    """RandomForestClassifier(100) on the raw features (seeds 0..SEEDS-1); LinearSVC(C=SVC_C) and
    make_pipeline(PCA(20), LinearSVC(C=SVC_C)) after StandardScaler fitted on the training rows."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    xtr, ytr, xte, yte = (np.load(p) for p in (xtr, ytr, xte, yte))
    res = {"rf": [], "svc": [], "pca_svc": []}
    for s in range(int(seeds)):
        rf = RandomForestClassifier(n_estimators=100, random_state=s, n_jobs=-1).fit(xtr, ytr)
        res["rf"].append(float((rf.predict(xte) == yte).mean()))
    sc = StandardScaler().fit(xtr)
    ztr, zte = sc.transform(xtr), sc.transform(xte)
    svc = LinearSVC(C=SVC_C, random_state=0, dual=True).fit(ztr, ytr)
    res["svc"].append(float((svc.predict(zte) == yte).mean()))
    res["svc_n_iter"] = int(svc.n_iter_)
    ps = make_pipeline(PCA(20), LinearSVC(C=SVC_C, random_state=0, dual=True)).fit(ztr, ytr)
    res["pca_svc"].append(float((ps.predict(zte) == yte).mean()))
    json.dump(res, open(out, "w"))


def pca(x_path, k, out):
    from sklearn.decomposition import PCA

    x = np.load(x_path)
    p = PCA(int(k), svd_solver="full").fit(x)
    json.dump(
        {
            "explained_variance": p.explained_variance_.tolist(),
            "explained_variance_ratio": p.explained_variance_ratio_.tolist(),
            "components": p.components_.tolist(),
        },
        open(out, "w"),
    )


def ppf(p_path, out):
    from scipy.stats import norm

    json.dump(norm.ppf(np.load(p_path)[:, 0]).tolist(), open(out, "w"))


def stage(study, stats_path, train, test, c, out, x_out):
    import glob
    import os

    import pyarrow.parquet as pq
    from sklearn.svm import LinearSVC

    stats = json.load(open(stats_path))
    rows = []
    for f in sorted(glob.glob(os.path.join(study, "features", "**", "*.parquet"), recursive=True)):
        if os.path.basename(f).startswith((".", "_")):
            continue
        rows.append(pq.read_table(f).to_pydict())
    runs = pq.read_table(os.path.join(study, "runs.parquet")).to_pydict()
    rule_of = dict(zip(runs["run_id"], runs["rule"]))
    vals, pos, epochs = {}, {}, set()
    for d in rows:
        for i in range(len(d["value"])):
            if d["realism_seed"][i] != -1:
                continue
            ex = (d["run_id"][i], d["layer_index"][i])
            vals[(ex, d["observable"][i], d["epoch"][i])] = d["value"][i]
            pos[ex] = d["layer_position"][i]
            epochs.add(d["epoch"][i])
    examples = sorted(pos)
    epochs = sorted(epochs)
    t = len(epochs)
    x = np.zeros((len(examples), 3 + len(stats) * t))
    for n, ex in enumerate(examples):
        x[n, ["early", "middle", "deep"].index(pos[ex])] = 1.0
        for k, s in enumerate(stats):
            for j, e in enumerate(epochs):
                x[n, 3 + k * t + j] = vals[(ex, s, e)]
    labels = [rule_of[ex[0]] for ex in examples]
    classes = sorted(set(labels))
    y = np.array([classes.index(l) for l in labels])
    tr, te = np.load(train), np.load(test)
    svc = LinearSVC(C=float(c), random_state=0, dual=True).fit(x[tr], y[tr])
    acc = float((svc.predict(x[te]) == y[te]).mean())
    np.save(x_out, x)
    json.dump({"accuracy": acc, "n_iter": int(svc.n_iter_), "classes": classes}, open(out, "w"))


if __name__ == "__main__":
    {"kfold": kfold, "models": models, "pca": pca, "ppf": ppf, "stage": stage}[sys.argv[1]](
        *sys.argv[2:]
    )
