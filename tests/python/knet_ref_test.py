"""Tests of scripts/ref/knet_ref.py (the independent PyTorch KNet4 reference, issue 19).

Run: /root/.cache/lrx/venv/bin/python tests/python/knet_ref_test.py   (a few seconds; pytest also works)
"""
import gzip
import json
import math
import os
import struct
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "ref"))
import knet_ref as k  # noqa: E402

torch.set_num_threads(1)


def double(model):
    """Cast every parameter of a KNet4 to float64, keeping requires_grad."""
    for d in (model.W, model.b, model.B):
        for l in list(d):
            d[l] = d[l].detach().double().requires_grad_(d[l].requires_grad)
    return model


def rel(a, b):
    return float((a - b).abs().max() / max(float(b.abs().max()), 1e-30))


def test_pools_match_tf_same():
    """SAME pooling, written out with loops: max over the valid window, avg over valid elements."""
    g = torch.Generator().manual_seed(1)
    for n in (7, 8, 28):
        x = torch.randn(2, 3, n, n, generator=g, dtype=torch.float64)
        out = -(-n // 2)
        top = max((out - 1) * 2 + 3 - n, 0) // 2
        mx = torch.empty(2, 3, out, out, dtype=torch.float64)
        av = torch.empty_like(mx)
        for i in range(out):
            for j in range(out):
                r0, c0 = i * 2 - top, j * 2 - top
                win = x[:, :, max(r0, 0) : min(r0 + 3, n), max(c0, 0) : min(c0 + 3, n)]
                mx[:, :, i, j] = win.amax((2, 3))
                av[:, :, i, j] = win.mean((2, 3))
        assert torch.allclose(k.max_pool_same(x), mx), n
        assert torch.allclose(k.avg_pool_same(x), av), n


def test_fa_local_ops():
    """FAConv/FADense: dx is what autograd gives through B, dW and db what it gives through W."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 4, 9, 9, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(5, 4, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    B = torch.randn(5, 4, 5, 5, generator=g, dtype=torch.float64)
    dy = torch.randn(3, 5, 9, 9, generator=g, dtype=torch.float64)
    y = k.FAConv.apply(x, W, b, B)
    assert torch.allclose(y, F.conv2d(x, W, b, padding=2))
    dx, dW, db = torch.autograd.grad(y, (x, W, b), dy)
    ex = torch.autograd.grad(F.conv2d(x, B.requires_grad_(), None, padding=2), x, dy)[0]
    eW, eb = torch.autograd.grad(F.conv2d(x, W, b, padding=2), (W, b), dy)
    assert rel(dx, ex) < 1e-12 and rel(dW, eW) < 1e-12 and rel(db, eb) < 1e-12

    x = torch.randn(6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(3, 7, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    B = torch.randn(3, 7, generator=g, dtype=torch.float64)
    dy = torch.randn(6, 3, generator=g, dtype=torch.float64)
    dx, dW, db = torch.autograd.grad(k.FADense.apply(x, W, b, B), (x, W, b), dy)
    assert rel(dx, dy @ B) < 1e-12 and rel(dW, dy.t() @ x) < 1e-12 and rel(db, dy.sum(0)) < 1e-12


def test_fa_with_mirrored_b_is_backprop():
    """With B := W in every layer, FA's pseudo-gradients equal autograd's gradients, and the
    diagnostic's update angles are 0 (also with the exact 'tied' top)."""
    for top in ("fa", "tied"):
        torch.manual_seed(3)
        m = double(k.KNet4(1, 28, 10, 0.25, "he", "fa", top))
        for l in m.B:
            with torch.no_grad():
                m.B[l].copy_(m.W[l])
        x = torch.randn(8, 1, 28, 28, dtype=torch.float64)
        y = torch.randint(0, 10, (8,))
        ps = m.params()
        g_fa = torch.autograd.grad(F.cross_entropy(m.forward(x, "fa"), y), ps)
        g_bp = torch.autograd.grad(F.cross_entropy(m.forward(x, "bp"), y), ps)
        for a, b in zip(g_fa, g_bp):
            assert rel(a, b) < 1e-10
        d = k.diagnostics(m, x, y, {l: m.W[l].detach() for l in k.LAYERS})
        for l in k.LAYERS:
            assert d[l]["grad_angle"] < 1e-3 and abs(d[l]["w_growth"] - 1) < 1e-9
            if l in m.B:
                assert d[l]["wb_angle"] < 1e-3 and abs(d[l]["b_over_w"] - 1) < 1e-9


def test_fa_random_b_differs_and_top_is_local():
    torch.manual_seed(4)
    m = double(k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa"))
    x = torch.randn(16, 1, 28, 28, dtype=torch.float64)
    y = torch.randint(0, 10, (16,))
    d = k.diagnostics(m, x, y, {l: m.W[l].detach() for l in k.LAYERS})
    assert d["fc4"]["grad_angle"] < 1e-3  # fc4's dW is local: FA's equals backprop's
    assert d["conv3"]["grad_angle"] > 45 and d["conv3"]["wb_angle"] > 60


def test_shared_top_feedback():
    """--top shared: fc4's B is constant over the positions of each channel (C, H, W flatten)."""
    torch.manual_seed(5)
    m = k.KNet4(1, 28, 10, 0.5, "he", "ia", "shared")
    B = m.feedback("fc4")
    c, s = m.chans[3], m.spatial
    assert B.shape == m.W["fc4"].shape == (10, c * s * s)
    Bv = B.detach().view(10, c, s * s)
    assert torch.equal(Bv, Bv[:, :, :1].expand_as(Bv))
    # IA's alignment loss reaches the shared parameter
    x = torch.randn(4, 1, 28, 28)
    rec = {}
    m.forward(x, record=rec)
    k.alignment_loss(m, rec, 2e-3, 1e-3, 1e-3).backward()
    assert m.B["fc4"].grad is not None and m.B["fc4"].grad.shape == (10, c)


def test_centered_top_feedback():
    """--top centered: fc4's B is the default draw minus its mean over each channel's positions."""
    base = k.KNet4(1, 28, 10, 0.5, "he", "fa", "fa", torch.Generator().manual_seed(13))
    m = k.KNet4(1, 28, 10, 0.5, "he", "fa", "centered", torch.Generator().manual_seed(13))
    c, s = m.chans[3], m.spatial
    v = m.B["fc4"].detach().view(10, c, s * s)
    assert float(v.mean(2).abs().max()) < 1e-7
    bv = base.B["fc4"].detach().view(10, c, s * s)
    assert torch.allclose(v, bv - bv.mean(2, keepdim=True), atol=1e-7)
    for l in ("conv1", "conv2", "conv3"):
        assert torch.equal(m.B[l], base.B[l]) and torch.equal(m.W[l], base.W[l])
    assert torch.equal(m.W["fc4"], base.W["fc4"])


def test_center_feedback():
    """--center-feedback: fc4's dx is (dy - mean dy).B; W and bias gradients are unchanged."""
    g = torch.Generator().manual_seed(14)
    x = torch.randn(6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(3, 7, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    B = torch.randn(3, 7, generator=g, dtype=torch.float64)
    dy = torch.randn(6, 3, generator=g, dtype=torch.float64)
    dx, dW, db = torch.autograd.grad(k.FADenseCentered.apply(x, W, b, B), (x, W, b), dy)
    assert rel(dx, (dy - dy.mean(0)) @ B) < 1e-12 and rel(dW, dy.t() @ x) < 1e-12 and rel(db, dy.sum(0)) < 1e-12
    torch.manual_seed(15)
    m = double(k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa", center_feedback=True))
    xb = torch.randn(8, 1, 28, 28, dtype=torch.float64)
    yb = torch.randint(0, 10, (8,))
    rec = {}
    out = m.forward(xb, record=rec)
    h = rec["fc4"]
    gh = torch.autograd.grad(F.cross_entropy(out, yb), h)[0]
    e = (torch.softmax(out, 1) - F.one_hot(yb, 10).double()).detach() / 8
    assert rel(gh, (e - e.mean(0)) @ m.B["fc4"].detach()) < 1e-10
    for argv in (["--rule", "bp", "--center-feedback"], ["--rule", "fa", "--top", "tied", "--center-feedback"]):
        try:
            k.setup(k.parse(argv))
            raise AssertionError("no error")
        except k.RefError as e:
            assert "--center-feedback" in str(e)


def test_sign_concordant_feedback():
    """--feedback sign: B has the default draw's magnitudes and W's signs; --top shared's B is left random."""
    base = k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa", torch.Generator().manual_seed(16))
    m = k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa", torch.Generator().manual_seed(16), feedback="sign")
    for l in k.LAYERS:
        assert torch.equal(m.B[l].abs(), base.B[l].abs()) and torch.equal(m.W[l], base.W[l])
        assert bool((torch.sign(m.B[l]) == torch.sign(m.W[l])).all())
    d = k.diagnostics(m, torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,)), {l: m.W[l].detach() for l in k.LAYERS})
    assert d["conv3"]["wb_angle"] < 60 and d["fc4"]["wb_angle"] < 60
    sh = k.KNet4(1, 28, 10, 0.25, "he", "fa", "shared", torch.Generator().manual_seed(16), feedback="sign")
    assert sh.B["fc4"].shape == (10, sh.chans[3])


def test_center_features():
    """--center-features: fc4 reads h - mean_batch(h); under FA, conv3's error is then the batch-centred
    (e - mean e).B4, and with B := W backprop is still exact."""
    torch.manual_seed(17)
    m = double(k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa", center_features=True))
    x = torch.randn(8, 1, 28, 28, dtype=torch.float64)
    y = torch.randint(0, 10, (8,))
    rec = {}
    out = m.forward(x, record=rec)
    assert float(rec["fc4"].mean(0).abs().max()) < 1e-12
    assert rel(out, rec["fc4"] @ m.W["fc4"].detach().t() + m.b["fc4"].detach()) < 1e-12
    g3 = torch.autograd.grad(F.cross_entropy(out, y), m.W["conv3"])[0]
    e = (torch.softmax(out, 1) - F.one_hot(y, 10).double()).detach() / 8
    m.center_features = False  # the uncentred h of the same weights, for J^T
    rec_u = {}
    m.forward(x, "bp", record=rec_u)
    want = torch.autograd.grad(rec_u["fc4"], m.W["conv3"], (e - e.mean(0)) @ m.B["fc4"].detach())[0]
    assert rel(g3, want) < 1e-10
    m.center_features = True
    for l in m.B:
        with torch.no_grad():
            m.B[l].copy_(m.W[l])
    ps = m.params()
    g_fa = torch.autograd.grad(F.cross_entropy(m.forward(x, "fa"), y), ps)
    g_bp = torch.autograd.grad(F.cross_entropy(m.forward(x, "bp"), y), ps)
    assert all(rel(a, b) < 1e-10 for a, b in zip(g_fa, g_bp))


def test_ia_terms_and_b_gradient():
    """The alignment loss against explicit formulas (dense) and the adjoint identity (conv), and
    its B-gradient against central finite differences, in float64."""
    torch.manual_seed(6)
    m = double(k.KNet4(2, 8, 10, 0.25, "he", "ia", "fa"))
    x = torch.randn(5, 2, 8, 8, dtype=torch.float64)
    rec = {}
    m.forward(x, record=rec)
    a, b_, c = 0.7, 0.3, 0.2
    # dense layer by hand: amp = -mean_n sum_o (xW^T)(xB^T), null = mean_n |(xW^T)B|^2
    h, W, B = rec["fc4"].detach(), m.W["fc4"].detach(), m.B["fc4"].detach()
    pf, pb = h @ W.t(), h @ B.t()
    want = a * -(pf * pb).sum(1).mean() + b_ * ((pf @ B) ** 2).sum(1).mean() + c * ((W ** 2).sum() + (B ** 2).sum())
    only_fc4 = {l: m.B.pop(l) for l in ["conv1", "conv2", "conv3"]}
    got = k.alignment_loss(m, rec, a, b_, c)
    assert abs(float(got - want)) < 1e-10 * abs(float(want)) + 1e-12
    m.B.update(only_fc4)
    # conv reconstruction is the adjoint of the backward projection: <conv(x,B), P> = <x, convT(P,B)>
    xc = torch.randn(3, 4, 7, 7, dtype=torch.float64)
    Bc = torch.randn(6, 4, 5, 5, dtype=torch.float64)
    P = torch.randn(3, 6, 7, 7, dtype=torch.float64)
    lhs = (F.conv2d(xc, Bc, padding=2) * P).sum()
    rhs = (xc * F.conv_transpose2d(P, Bc, padding=2)).sum()
    assert abs(float(lhs - rhs)) < 1e-9 * abs(float(lhs))
    # d R / d B by finite differences, a few entries per layer
    loss = lambda: k.alignment_loss(m, rec, a, b_, c)  # noqa: E731
    grads = torch.autograd.grad(loss(), [m.B[l] for l in k.LAYERS])
    g = torch.Generator().manual_seed(7)
    eps = 1e-6
    for l, gr in zip(k.LAYERS, grads):
        flat = m.B[l].data.view(-1)
        for i in torch.randint(0, flat.numel(), (4,), generator=g).tolist():
            old = float(flat[i])
            flat[i] = old + eps
            up = float(loss())
            flat[i] = old - eps
            dn = float(loss())
            flat[i] = old
            fd = (up - dn) / (2 * eps)
            assert abs(fd - float(gr.view(-1)[i])) < 1e-6 * max(1.0, abs(fd)), (l, i, fd, float(gr.view(-1)[i]))
    # stop-gradient: R gives W and the layer inputs no gradient
    for l in k.LAYERS:
        m.W[l].requires_grad_(True)
    gw = torch.autograd.grad(loss(), [m.W[l] for l in k.LAYERS], allow_unused=True)
    assert all(t is None or float(t.abs().max()) == 0 for t in gw)


def write_export(d, rule="sgdm", optimizer="sgdm", n=64, nval=16, size=8, batch=8, epochs=2, lr=0.05, seed=0):
    """A synthetic tiny lrx export (coord/EXPORT.md)."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(d, "init"), exist_ok=True)
    m = k.KNet4(1, size, 10, 0.25, "he", "fa", "fa", torch.Generator().manual_seed(seed))
    params = []
    for l in k.LAYERS:
        for role, src, suffix in (("forward", m.W, "weight"), ("bias", m.b, "bias"), ("backward", m.B, "backward")):
            if role == "backward" and rule not in ("fa", "ia"):
                continue
            a = src[l].detach().numpy().astype(np.float32)
            if role == "bias":
                a = rng.normal(0, 0.1, a.shape).astype(np.float32)  # nonzero, to see them loaded
            f = f"init/{l}.{suffix}.npy"
            np.save(os.path.join(d, f), a)
            params.append({"name": f"{l}/{suffix}", "file": f, "shape": list(a.shape), "role": role})
    np.save(os.path.join(d, "train_x.npy"), rng.integers(0, 256, (n, 1, size, size), dtype=np.uint8))
    np.save(os.path.join(d, "train_y.npy"), rng.integers(0, 10, n).astype(np.int64))
    np.save(os.path.join(d, "val_x.npy"), rng.integers(0, 256, (nval, 1, size, size), dtype=np.uint8))
    np.save(os.path.join(d, "val_y.npy"), rng.integers(0, 10, nval).astype(np.int64))
    steps = n // batch
    order = np.stack([rng.permutation(n)[: steps * batch] for _ in range(epochs)]).astype(np.int64)
    np.save(os.path.join(d, "order.npy"), order)
    man = {"format": 1, "run_id": "test-run",
           "task": {"name": "synthetic_images", "channels": 1, "height": size, "width": size, "classes": 10,
                    "n_train": n, "n_val": nval, "mean": [0.45], "std": [0.3]},
           "arch": {"name": "knet4", "width": 0.25, "init": "he"},
           "rule": {"name": rule, "optimizer": optimizer, "momentum": 0.9, "nesterov": True,
                    "alpha": 2e-3, "beta": 1e-3, "gamma": 1e-3},
           "settings": {"lr": lr, "batch": batch, "epochs": epochs, "weight_decay": 1e-3, "steps_per_epoch": steps},
           "params": params}
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(man, f)
    return man, order


def independent_sgdm(d, man, order):
    """Backprop SGDM on the export written with torch.nn modules and ceil-mode pools (TF SAME with
    all padding at the bottom/right, true for 8 -> 4 -> 2 -> 1), torch.optim.SGD."""
    ld = lambda f: torch.from_numpy(np.load(os.path.join(d, f)))  # noqa: E731
    P = {p["name"]: ld(p["file"]).clone().requires_grad_() for p in man["params"]}
    x = (ld("train_x.npy").float() / 255 - 0.45) / 0.3
    y = ld("train_y.npy")
    st = man["settings"]
    opt = torch.optim.SGD(list(P.values()), lr=st["lr"], momentum=0.9, nesterov=True, weight_decay=st["weight_decay"])
    for e in range(st["epochs"]):
        for s in range(st["steps_per_epoch"]):
            idx = torch.from_numpy(order[e, s * st["batch"] : (s + 1) * st["batch"]])
            h = F.conv2d(x[idx], P["conv1/weight"], P["conv1/bias"], padding=2)
            h = F.max_pool2d(h, 3, 2, ceil_mode=True)
            h = F.avg_pool2d(F.conv2d(h, P["conv2/weight"], P["conv2/bias"], padding=2).relu(), 3, 2, ceil_mode=True)
            h = F.avg_pool2d(F.conv2d(h, P["conv3/weight"], P["conv3/bias"], padding=2).relu(), 3, 2, ceil_mode=True)
            out = F.linear(h.flatten(1), P["fc4/weight"], P["fc4/bias"])
            opt.zero_grad()
            F.cross_entropy(out, y[idx]).backward()
            opt.step()
    return P


def test_export_roundtrip():
    with tempfile.TemporaryDirectory() as d:
        man, order = write_export(d)
        a = k.parse(["--export", d])
        model, data, cfg, order_fn = k.setup(a)
        assert cfg["rule"] == "bp" and cfg["opt"] == "sgdm" and cfg["lr"] == 0.05 and cfg["epochs"] == 2
        # the initial parameters are the exported ones, bit for bit
        for p in man["params"]:
            l, role = p["name"].split("/")[0], p["role"]
            t = {"forward": model.W, "bias": model.b}[role][l]
            assert np.array_equal(t.detach().numpy(), np.load(os.path.join(d, p["file"])))
        # the data are the exported bytes, normalised with the manifest's mean and std
        tx = np.load(os.path.join(d, "train_x.npy"))
        assert torch.allclose(data["train_x"], torch.from_numpy((tx / 255.0 - 0.45) / 0.3).float(), atol=1e-6)
        seen = []
        lines = []
        recs = k.train(model, data, cfg, order_fn, emit=lines.append, on_step=lambda e, s, idx: seen.append(np.array(idx)))
        assert np.array_equal(np.stack(seen).reshape(order.shape), order)
        assert [r["epoch"] for r in recs] == [1, 2] and all(json.loads(s)["epoch"] for s in lines)
        assert abs(recs[-1]["budget"] - 0.05 * order.size / 8) < 1e-9 and recs[-1]["steps"] == 16
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "budget", "layers"):
            assert key in recs[-1]
        ref = independent_sgdm(d, man, order)
        for p in man["params"]:
            l, role = p["name"].split("/")[0], p["role"]
            t = {"forward": model.W, "bias": model.b}[role][l]
            assert rel(t.detach(), ref[p["name"]].detach()) < 1e-4, p["name"]


def test_export_fa_ia_and_constrain():
    for rule, opt in (("fa", "adam"), ("ia", "sgdm")):
        with tempfile.TemporaryDirectory() as d:
            man, order = write_export(d, rule=rule, optimizer=opt, lr=1e-3)
            model, data, cfg, order_fn = k.setup(k.parse(["--export", d, "--constrain"]))
            assert cfg["rule"] == rule and cfg["opt"] == opt
            B0 = {l: model.B[l].detach().clone() for l in k.LAYERS}
            for p in man["params"]:
                if p["role"] == "backward":
                    assert np.array_equal(B0[p["name"].split("/")[0]].numpy(), np.load(os.path.join(d, p["file"])))
            n0 = {l: float(model.W[l].detach().norm()) for l in k.LAYERS}
            recs = k.train(model, data, cfg, order_fn, emit=lambda s: None)
            for l in k.LAYERS:
                assert abs(float(model.W[l].norm()) / n0[l] - 1) < 1e-5  # --constrain
                moved = not torch.equal(model.B[l].detach(), B0[l])
                assert moved == (rule == "ia"), (rule, l)  # FA's B fixed, IA's B trained
                assert "wb_angle" in recs[-1]["layers"][l] and "grad_angle" in recs[-1]["layers"][l]


def test_export_errors_name_the_file():
    with tempfile.TemporaryDirectory() as d:
        man, _ = write_export(d)
        np.save(os.path.join(d, "init", "conv2.weight.npy"), np.zeros((3, 3), np.float32))
        try:
            k.setup(k.parse(["--export", d]))
            raise AssertionError("no error")
        except k.RefError as e:
            assert "conv2.weight.npy" in str(e) and "shape" in str(e)


def test_export_regime_options():
    """lrx's regime parameters in the manifest's rule: mapped (B's optimizer, constrain_norm) or refused."""
    with tempfile.TemporaryDirectory() as d:
        man, _ = write_export(d, rule="ia", optimizer="sgdm", lr=1e-3)
        man["rule"].update(b_optimizer="adam", b_lr_scale=0.8, constrain_norm=True)
        json.dump(man, open(os.path.join(d, "manifest.json"), "w"))
        _, _, cfg, _ = k.setup(k.parse(["--export", d]))
        assert cfg["b_opt"] == "adam" and abs(cfg["b_lr"] - 8e-4) < 1e-15 and cfg["constrain"]
        man["rule"].update(hidden_lr_scale=0.25)
        json.dump(man, open(os.path.join(d, "manifest.json"), "w"))
        _, _, cfg, _ = k.setup(k.parse(["--export", d]))
        assert cfg["lr_scale"] == {"conv1": 0.25, "conv2": 0.25, "conv3": 0.25}
        man["rule"].update(alternate=1)
        json.dump(man, open(os.path.join(d, "manifest.json"), "w"))
        try:
            k.setup(k.parse(["--export", d]))
            raise AssertionError("no error")
        except k.RefError as e:
            assert "alternate = 1" in str(e) and "manifest.json" in str(e)


def test_top_scale_b_scale_freeze():
    """--top-scale multiplies fc4's initial W only, --b-scale every initial B; neither changes any
    other draw. --freeze keeps a layer's W and bias fixed through training."""
    base = k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa", torch.Generator().manual_seed(8))
    m = k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa", torch.Generator().manual_seed(8),
                top_scale=0.25, b_scale=2.0, freeze=("conv1", "fc4"))
    for l in k.LAYERS:
        want = base.W[l] * (0.25 if l == "fc4" else 1.0)
        assert torch.allclose(m.W[l], want, rtol=1e-6, atol=0), l
        assert torch.allclose(m.B[l], base.B[l] * 2.0, rtol=1e-6, atol=0), l
    z = k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa", torch.Generator().manual_seed(8), top_scale=0.0)
    assert float(z.W["fc4"].abs().max()) == 0 and torch.equal(z.B["fc4"], base.B["fc4"])
    assert not m.W["conv1"].requires_grad and not m.b["fc4"].requires_grad and m.W["conv2"].requires_grad
    g = torch.Generator().manual_seed(9)
    x = torch.randn(64, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    data = {"train_x": x, "train_y": y, "val_x": x[:16], "val_y": y[:16], "diag_x": x[:16], "diag_y": y[:16]}
    cfg = dict(wd=1e-5, b_opt="none", b_lr=1e-3, opt="adam", lr=1e-3, batch=16, epochs=1, constrain=False,
               alpha=2e-3, beta=1e-3, gamma=1e-3)
    before = {l: (m.W[l].detach().clone(), m.b[l].detach().clone()) for l in k.LAYERS}
    recs = k.train(m, data, cfg, lambda e: np.arange(64), emit=lambda s: None)
    for l in k.LAYERS:
        same = torch.equal(m.W[l], before[l][0]) and torch.equal(m.b[l], before[l][1])
        assert same == (l in ("conv1", "fc4")), l
    assert recs[0]["layers"]["fc4"]["grad_angle"] < 1e-3
    # --freeze-bias: the bias stays, the kernel trains
    fb = k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa", torch.Generator().manual_seed(8), freeze_bias=("conv2",))
    w2 = fb.W["conv2"].detach().clone()
    k.train(fb, data, cfg, lambda e: np.arange(64), emit=lambda s: None)
    assert float(fb.b["conv2"].abs().max()) == 0 and not torch.equal(fb.W["conv2"], w2)
    assert float(fb.b["conv3"].abs().max()) > 0
    # the zero-init top trains, and its diagnostics do not fail
    recs = k.train(z, data, cfg, lambda e: np.arange(64), emit=lambda s: None)
    assert float(z.W["fc4"].abs().max()) > 0 and "w_growth" in recs[0]["layers"]["fc4"]
    # the CLI: defaults leave the config as before; bad layer names and --export are errors
    a = k.parse(["--rule", "fa", "--freeze", "conv1,fc4", "--top-scale", "0", "--b-scale", "2"])
    assert (a.freeze, a.top_scale, a.b_scale) == ("conv1,fc4", 0.0, 2.0)
    d0 = k.parse([])
    assert (d0.freeze, d0.top_scale, d0.b_scale) == ("", 1.0, 1.0)
    for argv, want in ((["--freeze", "conv9"], "conv9"), (["--freeze-bias", "conv0"], "conv0"), (["--export", "/nonexistent", "--top-scale", "0"], None)):
        try:
            k.setup(k.parse(argv))
            raise AssertionError("no error")
        except k.RefError as e:
            assert want is None or want in str(e), str(e)
    with tempfile.TemporaryDirectory() as d:
        write_export(d, rule="fa", optimizer="adam", lr=1e-3)
        _, _, cfg, _ = k.setup(k.parse(["--export", d]))
        assert not {"top_scale", "b_scale", "freeze", "freeze_bias", "lr_scale", "feedback", "center_feedback"} & set(cfg)
        try:
            k.setup(k.parse(["--export", d, "--top-scale", "0"]))
            raise AssertionError("no error")
        except k.RefError as e:
            assert "--top-scale" in str(e)
        _, _, cfg, _ = k.setup(k.parse(["--export", d, "--freeze", "fc4"]))
        assert cfg["freeze"] == ["fc4"]


def test_lr_scale():
    """--lr-scale: each layer's W and bias move at lr x its factor; factor 0 is a frozen layer;
    all factors 1 is the default run exactly."""
    g = torch.Generator().manual_seed(11)
    x = torch.randn(64, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    data = {"train_x": x, "train_y": y, "val_x": x[:16], "val_y": y[:16], "diag_x": x[:16], "diag_y": y[:16]}
    cfg = dict(wd=0.0, b_opt="none", b_lr=1e-3, opt="sgdm", lr=1e-2, batch=64, epochs=1, constrain=False,
               alpha=2e-3, beta=1e-3, gamma=1e-3)
    runs = {}
    for name, sc in (("none", None), ("ones", {l: 1.0 for l in k.LAYERS}), ("half", {"conv2": 0.5, "fc4": 0.0})):
        m = k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa", torch.Generator().manual_seed(12))
        w0 = {l: m.W[l].detach().clone() for l in k.LAYERS}
        k.train(m, data, dict(cfg, lr_scale=sc), lambda e: np.arange(64), emit=lambda s: None)
        runs[name] = {l: m.W[l].detach() - w0[l] for l in k.LAYERS}
    for l in k.LAYERS:  # one SGD step from the same point: the step is lr x factor x the same gradient
        assert torch.equal(runs["ones"][l], runs["none"][l]), l
        f = {"conv2": 0.5, "fc4": 0.0}.get(l, 1.0)
        assert rel(runs["half"][l], f * runs["none"][l]) < 1e-4 if f else float(runs["half"][l].abs().max()) == 0, l
    a = k.parse(["--lr-scale", "conv1=0.1,conv3=0"])
    assert a.lr_scale == "conv1=0.1,conv3=0"
    for bad in ("conv9=1", "conv1=x", "conv1=-1"):
        try:
            k.setup(k.parse(["--lr-scale", bad]))
            raise AssertionError("no error")
        except k.RefError as e:
            assert "--lr-scale" in str(e)


def test_fa_probe_decomposition():
    """scripts/ref/fa_probe.py: its angle is knet_ref's conv3 grad_angle, and each split of the
    inner product sums to the cosine."""
    import fa_probe
    torch.manual_seed(10)
    m = double(k.KNet4(1, 28, 10, 0.25, "he", "fa", "fa"))
    W4_0 = m.W["fc4"].detach().clone()
    with torch.no_grad():
        m.W["fc4"].add_(0.3 * m.B["fc4"] - 0.01 * torch.randn_like(W4_0))
    x = torch.randn(32, 1, 28, 28, dtype=torch.float64)
    y = torch.randint(0, 10, (32,))
    p = fa_probe.probe(m, x, y, W4_0)
    d = k.diagnostics(m, x, y, {l: m.W[l].detach() for l in k.LAYERS})
    assert abs(p["angle"] - d["conv3"]["grad_angle"]) < 1e-3, (p["angle"], d["conv3"]["grad_angle"])
    c = p["cos"]
    assert abs(p["c_init"] + p["c_learned"] - c) < 1e-4
    assert abs(p["c_mm"] + p["c_mr"] + p["c_rm"] + p["c_rr"] - c) < 1e-4
    assert abs(p["c_diag"] + p["c_off"] - c) < 1e-4
    assert abs(p["c_bar_bar"] + p["c_bar_c"] + p["c_c_bar"] + p["c_c_c"] - c) < 1e-4
    assert 0 <= p["chan_f2_share_neg"] <= 1 and 0 <= p["chan_k_share_neg"] <= 1 and p["chan_s_mean"] > 0.1
    assert p["dw_b_cos"] > 0.8 and abs(p["wb_cos"] - math.cos(math.radians(d["fc4"]["wb_angle"]))) < 1e-4


def write_idx(path, arr, gz):
    a = np.asarray(arr, np.uint8)
    raw = bytes([0, 0, 8, a.ndim]) + struct.pack(">" + "I" * a.ndim, *a.shape) + a.tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(raw)


def test_idx_reader():
    with tempfile.TemporaryDirectory() as d:
        imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
        for gz in (True, False):
            p = os.path.join(d, f"x{gz}")
            write_idx(p, imgs, gz)
            assert np.array_equal(k.read_idx(p), imgs)
        bad = os.path.join(d, "bad")
        with open(bad, "wb") as f:
            f.write(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + b"abc")
        for path, want in ((bad, "3 data bytes"), (os.path.join(d, "missing"), "cannot read")):
            try:
                k.read_idx(path)
                raise AssertionError("no error")
            except k.RefError as e:
                assert path in str(e) and want in str(e), str(e)
    real = k.DEFAULT_DATA
    if os.path.exists(os.path.join(real, "train-labels-idx1-ubyte.gz")):
        y = k.read_idx(os.path.join(real, "train-labels-idx1-ubyte.gz"))
        assert np.array_equal(np.bincount(y), np.full(10, 6000))
        x = k.read_idx(os.path.join(real, "t10k-images-idx3-ubyte.gz"))
        assert x.shape == (10000, 28, 28)


if __name__ == "__main__":
    names = [n for n in sorted(globals()) if n.startswith("test_")]
    for n in names:
        globals()[n]()
        print("ok", n)
    print(f"{len(names)} tests passed")
