#!/usr/bin/env python3
"""Independent plain-PyTorch reference for lrx's KNet4 with SGDM, Adam, FA and IA (issue 19).

Written from shared/method.md §6 (learning rules) and §7 (KNet), and for BatchNorm and IA's B-step
cap from docs/engine.md ("BN", "Regime options": b_step_cap, b_step_recheck), not from lrx's code.

Network (KNet4, method.md §7): conv1 5x5 SAME (no activation) -> max pool 3x3/2 SAME ->
conv2 5x5 SAME + ReLU -> avg pool 3x3/2 SAME -> conv3 5x5 SAME + ReLU -> avg pool 3x3/2 SAME ->
flatten (C, H, W order) -> fc4 (no activation). Filters 32/32/64 times `--width`.
TF SAME pooling: max pads with -inf, avg divides by the number of valid (unpadded) elements.
--batch-norm (lrx's knet4(batch_norm = true); not the paper's KNet): a BatchNorm on each conv
layer's output, after its activation and before its pool: decay 0.9 (PyTorch momentum 0.1),
eps 1e-5, gamma 1, beta 0; training steps normalise with the batch's statistics and update the
running ones (unbiased variance), evaluation and diagnostics use the running ones. Its backward is
exact under every rule (B replaces W only in a conv/dense layer's dx); gamma and beta are trained
by the run's optimizer at the run's rate without weight decay; IA's R reads each layer's own input
and P_f = op(x, W) as without the BN.

Rules:
  bp       plain autograd; the optimizer is --opt (sgdm: Nesterov 0.9; adam: 0.9/0.999/1e-8).
  readout  bp on fc4 only; conv1..conv3 (and their BatchNorms) stay at their initial values.
  fa       every layer owns W and a fixed random B (same init as W, drawn independently);
           dx = dy.B (conv: conv_transpose(dy, B)), dW = the true local gradient, dB = 0.
  ia       fa plus the alignment loss R = a*amp + b*null + g*decay per layer (stop-gradient on
           the layer input and on W, so R trains B only); B is trained by the same optimizer
           unless --b-opt adam gives it its own.
           --b-step-cap K (SGD on B only): each layer's B steps at a rate of at most K/lambda,
           lambda the largest eigenvalue of d2R_l/dB2 on the step's batch, by 10 power-iteration
           products from B of Hessian-vector products by double backward (torch.autograd), its
           estimate the last iterate's Rayleigh quotient; estimated at each epoch's first step and
           every 50 steps in it; the factor min(1, K/(lr_B*lambda)) multiplies B's learning rate
           (momentum buffer untouched). --b-step-recheck RHO also re-estimates a layer at any step
           where its output energy |P_f|^2/n exceeds RHO x its energy at its last estimate.
Weight decay --wd is L2 (gradient += wd*p) on W and biases, never on B or BatchNorm's gamma/beta.

Modes:
  standalone  Fashion-MNIST IDX files (gzip or plain) from --data (default
              /usr/share/datasets/fashion-mnist), own seeded init (--seed) and order (--data-seed).
  export      --export DIR: an lrx reference export (`lrx export-reference`; format in
              docs/learning.md): the same bytes, initial parameters and batch order as an lrx
              run; settings default to the manifest's.

Output: one JSON line per epoch on stdout (a first line {"config": ...} records the settings);
with --b-step-cap each layer also has b_step_factor (the factor of the epoch's last step),
b_curvature (lambda at the last estimate) and b_rechecks (the epoch's energy-triggered estimates).

Files (all in scripts/ref; run this one as a script, the others are its modules, imported from
its directory): knet_net.py the network (KNet4, SAME pooling, FA's local ops, BatchNorm),
knet_ia.py IA's alignment loss and b_step_cap / b_step_recheck, knet_data.py the IDX and export
readers and the schedules; this file the diagnostics, the training loop and the CLI. Their names
are re-exported here.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# the modules of this reference (sibling files); every name is re-exported for importers of knet_ref
from knet_net import (  # noqa: F401
    BN_EPS, BN_MOMENTUM, CONVS, LAYERS, FAConv, FADense, FADenseCentered, KNet4, RefError, avg_pool_same,
    max_pool_same, same_pads)
from knet_ia import (  # noqa: F401
    CURVATURE_EVERY, CURVATURE_ITERS, alignment_curvature, alignment_loss, alignment_terms, cap_b_steps,
    output_energy, projection)
from knet_data import (  # noqa: F401
    BN_BUFFERS, DEFAULT_DATA, RULE_OF_EXPORT, apply_init, find_idx, load_export, load_fashion, normalise,
    parse_schedule, read_idx, schedule_factor)


# ----------------------------------------------------------------------------------------------
# diagnostics


def angle(a, b):
    a, b = a.flatten().double(), b.flatten().double()
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return float("nan")
    return math.degrees(math.acos(max(-1.0, min(1.0, float(a @ b / (na * nb))))))


def diagnostics(model, x, y, w0):
    """Per layer: W-B angle, angle between the rule's dW (pseudo-gradient of the task loss) and
    backprop's dW on the batch (x, y), |W|/|W0|, |B|/|W|."""
    out = {}
    ws = [model.W[l] for l in LAYERS]
    req = [w.requires_grad for w in ws]
    for w in ws:
        w.requires_grad_(True)
    try:
        g_bp = torch.autograd.grad(F.cross_entropy(model.forward(x, "bp"), y), ws)
        if model.decoupled:
            g_rule = torch.autograd.grad(F.cross_entropy(model.forward(x, "fa"), y), ws)
    finally:
        for w, r in zip(ws, req):
            w.requires_grad_(r)
    for i, l in enumerate(LAYERS):
        n0 = float(w0[l].norm())
        d = {"w_growth": float(model.W[l].detach().norm() / w0[l].norm()) if n0 > 0 else float("nan")}
        if model.decoupled:
            d["grad_angle"] = angle(g_rule[i], g_bp[i])
        if l in model.B:
            B = model.feedback(l).detach()
            d["wb_angle"] = angle(model.W[l].detach(), B)
            d["b_over_w"] = float(B.norm() / model.W[l].detach().norm())
        out[l] = {k: round(v, 5) for k, v in d.items()}
    return out


# ----------------------------------------------------------------------------------------------
# training


def make_opt(name, params, lr, wd):
    if not params:
        return None
    if name == "sgdm":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    raise RefError(f"optimizer {name}: expected sgdm or adam")


def evaluate(model, x, y, bs=1000):
    tot_loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), bs):
            out = model.forward(x[i : i + bs], "bp")
            tot_loss += float(F.cross_entropy(out, y[i : i + bs], reduction="sum"))
            correct += int((out.argmax(1) == y[i : i + bs]).sum())
    return tot_loss / len(x), correct / len(x)



def train(model, data, cfg, order_fn, emit=print, on_step=None):
    """data: dict of float tensors train_x, train_y, val_x, val_y (already normalised).
    order_fn(epoch) -> int64 array of S*batch training indices for that epoch.
    Returns the list of epoch records."""
    wd = cfg["wd"]
    scale = cfg.get("lr_scale") or {}
    if scale:  # one group per layer, each at lr x its scale (default 1)
        w_groups = [{"params": [p for p in (model.W[l], model.b[l]) if p.requires_grad], "weight_decay": wd,
                     "lr": cfg["lr"] * scale.get(l, 1.0)} for l in LAYERS]
        # BatchNorm gamma/beta: the layer's rate, no weight decay
        w_groups += [{"params": model.trainable_bn([l]), "weight_decay": 0.0, "lr": cfg["lr"] * scale.get(l, 1.0)}
                     for l in CONVS]
        w_groups = [g for g in w_groups if g["params"]]
    else:
        w_groups = [{"params": [p for p in model.trainable_wb()], "weight_decay": wd}]
        if model.trainable_bn():  # BatchNorm gamma/beta: no weight decay
            w_groups.append({"params": model.trainable_bn(), "weight_decay": 0.0})
    cap = cfg.get("b_step_cap", 0.0)
    b_layers = [l for l in LAYERS if l in model.B and model.B[l].requires_grad]
    b_params = [model.B[l] for l in b_layers]
    b_opt = None
    # with b_step_cap one group per layer's B, so that each gets its own rate factor
    b_groups = ([{"params": [model.B[l]], "weight_decay": 0.0} for l in b_layers] if cap > 0 else
                [{"params": b_params, "weight_decay": 0.0}])
    if b_params and cfg["b_opt"] == "none":
        w_groups += b_groups
    elif b_params:
        b_opt = make_opt(cfg["b_opt"], b_groups, cfg["b_lr"], 0.0)
    opt = make_opt(cfg["opt"], w_groups, cfg["lr"], wd)
    b_group_of = dict(zip(b_layers, b_groups)) if cap > 0 and b_params else {}
    # every group's rate at the schedule's factor 1; each step sets base x factor
    all_groups = opt.param_groups + (b_opt.param_groups if b_opt else [])
    for g in all_groups:
        g["base_lr"] = g["lr"]
    lr_b = cfg["b_lr"] if b_opt else cfg["lr"]  # B's rate, which the cap's factor multiplies
    # b_step_cap state per layer: curvature (lambda at the last estimate), energy (|P_f|^2/n
    # then), factor (at the last step), rechecks (this epoch's energy-triggered estimates)
    b_step = {}
    w0 = {l: model.W[l].detach().clone() for l in LAYERS}
    norms0 = {l: w0[l].norm() for l in LAYERS}
    dx, dy = data["diag_x"], data["diag_y"]
    bs, lr, f = cfg["batch"], cfg["lr"], 1.0
    budget, b_budget, steps = 0.0, 0.0, 0
    records = []
    for epoch in range(1, cfg["epochs"] + 1):
        t0 = time.time()
        order = order_fn(epoch - 1)
        nsteps = len(order) // bs
        sum_loss, correct, seen, diverged = 0.0, 0, 0, False
        for s in range(nsteps):
            idx = order[s * bs : (s + 1) * bs]
            if on_step is not None:
                on_step(epoch - 1, s, idx)
            idx_t = torch.from_numpy(np.asarray(idx, dtype=np.int64)).to(data["train_x"].device)
            xb, yb = data["train_x"][idx_t], data["train_y"][idx_t]
            rec = {} if model.rule == "ia" else None
            out = model.forward(xb, record=rec, train=True)
            loss = F.cross_entropy(out, yb)
            total = loss
            if model.rule == "ia":
                total = loss + alignment_loss(model, rec, cfg["alpha"], cfg["beta"], cfg["gamma"])
            f = schedule_factor(cfg.get("schedule"), (epoch - 1) + s / nsteps)
            lr = cfg["lr"] * f
            for g in all_groups:
                g["lr"] = g["base_lr"] * f
            if b_group_of:
                cap_b_steps(model, rec, cfg, b_group_of, b_step, s, lr_b * f)
            opt.zero_grad(set_to_none=True)
            if b_opt:
                b_opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if b_opt:
                b_opt.step()
            if cfg["constrain"]:
                with torch.no_grad():
                    for l in LAYERS:
                        if model.W[l].requires_grad and norms0[l] > 0:
                            model.W[l].mul_(norms0[l] / model.W[l].norm())
            steps += 1
            budget += lr
            if b_opt:
                b_budget += cfg["b_lr"] * f
            lv = float(loss.detach())
            if not math.isfinite(lv):
                diverged = True
                break
            sum_loss += lv * len(idx)
            correct += int((out.detach().argmax(1) == yb).sum())
            seen += len(idx)
        rec_e = {
            "epoch": epoch,
            "train_loss": round(sum_loss / max(seen, 1), 5),
            "train_acc": round(correct / max(seen, 1), 5),
        }
        if diverged:
            rec_e.update({"diverged": True, "step": steps})
        else:
            vl, va = evaluate(model, data["val_x"], data["val_y"])
            rec_e.update({"val_loss": round(vl, 5), "val_acc": round(va, 5)})
        rec_e.update({"lr": lr, "steps": steps, "budget": round(budget, 6)})
        if b_opt:
            rec_e.update({"b_lr": cfg["b_lr"] * f, "b_budget": round(b_budget, 6)})
        if not diverged:
            rec_e["layers"] = diagnostics(model, dx, dy, w0)
            for l, st in b_step.items():
                # 7 significant digits: the factor of a tiny init's first layer is ~1e-4
                rec_e["layers"][l].update(b_step_factor=float(f"{st['factor']:.7g}"),
                                          b_curvature=float(f"{st['curvature']:.7g}"), b_rechecks=st["rechecks"])
        rec_e["secs"] = round(time.time() - t0, 1)
        records.append(rec_e)
        emit(json.dumps(rec_e))
        if diverged:
            break
    return records



# ----------------------------------------------------------------------------------------------
# CLI


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--export", metavar="DIR", help="an lrx reference export (`lrx export-reference`; format in docs/learning.md)")
    p.add_argument("--data", default=DEFAULT_DATA, help="standalone: Fashion-MNIST IDX directory")
    p.add_argument("--size", type=int, default=28, help="standalone: 28, or 32 (zero-padded)")
    p.add_argument("--train-subset", type=int, default=0, help="standalone: N training images (0 = all)")
    p.add_argument("--val", type=int, default=10000, help="standalone: validation images (test split)")
    p.add_argument("--rule", choices=["bp", "fa", "ia", "readout"], default=None)
    p.add_argument("--opt", choices=["sgdm", "adam"], default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--wd", type=float, default=None, help="L2 on W and biases")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--width", type=float, default=None)
    p.add_argument("--init", choices=["he", "paper"], default=None)
    p.add_argument("--top", choices=["fa", "tied", "shared", "centered"], default="fa")
    p.add_argument("--constrain", action="store_true", help="keep every |W| at its initial norm")
    p.add_argument("--top-scale", type=float, default=1.0,
                   help="standalone: multiply fc4's initial W by this (0 = zero init); B4 keeps the init's scale")
    p.add_argument("--b-scale", type=float, default=1.0,
                   help="standalone: multiply every initial B by this (FA, IA)")
    p.add_argument("--freeze", default="",
                   help="comma-separated layers whose W and bias are never updated (e.g. fc4)")
    p.add_argument("--feedback", choices=["random", "sign"], default="random",
                   help="standalone FA/IA: sign = B with |B|'s random magnitudes and W's initial signs "
                        "(sign-concordant; a diagnostic, not the paper's FA)")
    p.add_argument("--center-feedback", action="store_true",
                   help="FA/IA: fc4 sends (e - batch mean of e).B4 down, not e.B4 (a diagnostic, not the paper's FA)")
    p.add_argument("--center-features", action="store_true",
                   help="fc4 reads its input minus the batch mean (every batch, evaluation too: batches of 1000); "
                        "an architecture variant, not the paper's KNet4")
    p.add_argument("--freeze-bias", default="",
                   help="comma-separated layers whose bias alone is never updated (stays 0), e.g. conv1,conv2,conv3")
    p.add_argument("--lr-scale", default="",
                   help="per-layer learning-rate factors for W and bias, e.g. conv1=0.1,conv2=0.1,conv3=0.1")
    p.add_argument("--b-opt", choices=["none", "sgdm", "adam"], default="none",
                   help="separate optimizer for B (IA); none = the main one at --lr")
    p.add_argument("--b-lr", type=float, default=1e-3)
    p.add_argument("--batch-norm", action="store_true",
                   help="standalone: KNet4 with a BatchNorm on each conv layer's output, after its activation and "
                        "before its pool (lrx's knet4(batch_norm = true)); with --export the manifest's arch decides")
    # "%(default).0s" prints nothing; it only stops the formatter from appending "(default: None)"
    p.add_argument("--b-step-cap", type=float, default=None, metavar="K",
                   help="IA with B stepped by SGD: each layer's B steps at a rate of at most K/lambda_max(d2R/dB2) "
                        "(lrx's b_step_cap; 0 = off; default: the export's, else 0)%(default).0s")
    p.add_argument("--b-step-recheck", type=float, default=None, metavar="RHO",
                   help="with --b-step-cap: also re-estimate a layer's lambda when its output energy |P_f|^2/n "
                        "exceeds RHO (> 1) x its energy at the last estimate (lrx's b_step_recheck; 0 = off; "
                        "default: the export's, else 0)%(default).0s")
    p.add_argument("--alpha", type=float, default=None)
    p.add_argument("--beta", type=float, default=None)
    p.add_argument("--gamma", type=float, default=None)
    p.add_argument("--seed", type=int, default=0, help="standalone: init seed")
    p.add_argument("--data-seed", type=int, default=0, help="standalone: subset and order seed")
    p.add_argument("--diag-batch", type=int, default=256, help="fixed batch for the gradient angles")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (the init is drawn on the CPU, then moved)")
    return p.parse_args(argv)


def setup(a):
    """Returns (model, data, cfg, order_fn)."""
    torch.set_num_threads(a.threads)
    pick = lambda v, d: d if v is None else v  # noqa: E731
    lr_scale = {}
    for item in (t for t in a.lr_scale.split(",") if t):
        l, _, v = item.partition("=")
        try:
            lr_scale[l] = float(v)
        except ValueError:
            raise RefError(f"--lr-scale {a.lr_scale}: expected LAYER=FACTOR,... ") from None
        if l not in LAYERS or lr_scale[l] < 0:
            raise RefError(f"--lr-scale {a.lr_scale}: {item!r} (KNet4 has {LAYERS}, factors >= 0)")
    freeze = [l for l in a.freeze.split(",") if l]
    freeze_bias = [l for l in a.freeze_bias.split(",") if l]
    bad = [l for l in freeze + freeze_bias if l not in LAYERS]
    if bad:
        raise RefError(f"--freeze/--freeze-bias: unknown layer(s) {bad} (KNet4 has {LAYERS})")
    if a.export:
        man, arr, init = load_export(a.export)
        rule_name = man["rule"]["name"]
        if rule_name not in RULE_OF_EXPORT:
            raise RefError(f"{a.export}/manifest.json: rule {rule_name!r}: expected one of {list(RULE_OF_EXPORT)}")
        rule, opt = RULE_OF_EXPORT[rule_name]
        opt = opt or man["rule"].get("optimizer")
        st, task, arch = man["settings"], man["task"], man["arch"]
        cfg = dict(rule=pick(a.rule, rule), opt=pick(a.opt, opt), lr=pick(a.lr, st.get("base_lr", st["lr"])),
                   wd=pick(a.wd, st["weight_decay"]), epochs=pick(a.epochs, st["epochs"]),
                   batch=pick(a.batch, st["batch"]), width=pick(a.width, arch.get("width", 1.0)),
                   init=pick(a.init, arch.get("init", "he")),
                   alpha=pick(a.alpha, man["rule"].get("alpha", 2e-3)),
                   beta=pick(a.beta, man["rule"].get("beta", 1e-3)),
                   gamma=pick(a.gamma, man["rule"].get("gamma", 1e-3)))
        ru = man["rule"]
        cfg["schedule"] = parse_schedule(st.get("schedule"), f"{a.export}/manifest.json")
        cap = pick(a.b_step_cap, float(ru.get("b_step_cap", 0.0)))
        recheck = pick(a.b_step_recheck, float(ru.get("b_step_recheck", 0.0)))
        batch_norm = bool(arch.get("batch_norm", False))
        if a.batch_norm and not batch_norm:
            raise RefError(f"--batch-norm: the run of {a.export} has no BatchNorm "
                           "(with --export the manifest's arch decides)")
        unsupported = [f"{k} = {ru[k]!r}" for k, d in (
            ("alternate", 0), ("projection_bias", False), ("reconstruction_amp", False),
            ("reconstruction_reversal", False), ("use_sparse", False), ("batch_center_backward_input", False),
            ("alignment_rate", 1.0), ("top_feedback", "random"), ("input_scale", "raw"),
            ("constrain_b_norm", False)) if k in ru and ru[k] != d]
        if arch.get("lrn"):
            unsupported.append("arch lrn = true")
        if unsupported:
            raise RefError(f"{a.export}/manifest.json: the reference does not implement {', '.join(unsupported)}")
        if ru.get("constrain_norm"):
            a.constrain = True
        # lrx's hidden_lr_scale: every layer but the classifier (W and bias) at lr x s; B at lr.
        if ru.get("hidden_lr_scale", 1.0) != 1.0 and not lr_scale:
            lr_scale = {l: float(ru["hidden_lr_scale"]) for l in LAYERS[:-1]}
        if ru.get("b_optimizer", "same") != "same" or ru.get("b_lr_scale", 1.0) != 1.0:
            bo = ru.get("b_optimizer", "same")
            a.b_opt = cfg["opt"] if bo == "same" else bo
            a.b_lr = ru.get("b_lr_scale", 1.0) * cfg["lr"]
        if arch.get("name", "knet4") != "knet4":
            raise RefError(f"{a.export}/manifest.json: arch {arch.get('name')!r}; this reference is KNet4 only")
        if a.top != "fa":
            raise RefError("--top tied|shared|centered cannot be combined with --export (the export fixes fc4's B)")
        order = arr["order"]
        if order.ndim != 2 or order.shape[0] < cfg["epochs"]:
            raise RefError(f"{a.export}/order.npy: shape {list(order.shape)}, need [>= {cfg['epochs']}, S*B]")
        if order.size and (order.min() < 0 or order.max() >= len(arr["train_y"])):
            raise RefError(f"{a.export}/order.npy: index out of range 0..{len(arr['train_y'])}")
        mean, std = task["mean"], task["std"]
        data = {"train_x": normalise(arr["train_x"], mean, std), "train_y": torch.from_numpy(arr["train_y"]),
                "val_x": normalise(arr["val_x"], mean, std), "val_y": torch.from_numpy(arr["val_y"])}
        channels, size, classes = arr["train_x"].shape[1], arr["train_x"].shape[2], int(task.get("classes", 10))
        if a.top_scale != 1.0 or a.b_scale != 1.0 or a.feedback != "random":
            raise RefError("--top-scale, --b-scale and --feedback cannot be combined with --export (the export fixes the init)")
        model = KNet4(channels, size, classes, cfg["width"], cfg["init"], cfg["rule"], "fa", freeze=freeze,
                      center_feedback=a.center_feedback, freeze_bias=freeze_bias, center_features=a.center_features,
                      batch_norm=batch_norm)
        apply_init(model, init, a.export)
        order_fn = lambda e: order[e]  # noqa: E731
        source = {"export": os.path.abspath(a.export), "run_id": man.get("run_id")}
    else:
        cfg = dict(rule=pick(a.rule, "bp"), opt=pick(a.opt, "sgdm"), lr=pick(a.lr, 0.01), wd=pick(a.wd, 1e-5),
                   epochs=pick(a.epochs, 10), batch=pick(a.batch, 32), width=pick(a.width, 1.0),
                   init=pick(a.init, "he"), alpha=pick(a.alpha, 2e-3), beta=pick(a.beta, 1e-3),
                   gamma=pick(a.gamma, 1e-3))
        cap, recheck, batch_norm = pick(a.b_step_cap, 0.0), pick(a.b_step_recheck, 0.0), a.batch_norm
        raw = load_fashion(a.data, a.size)
        (tx, ty), (vx, vy) = raw["train"], raw["val"]
        rng = np.random.default_rng(a.data_seed)
        if a.train_subset:
            if a.train_subset > len(ty):
                raise RefError(f"--train-subset {a.train_subset}: only {len(ty)} training images")
            sel = np.sort(rng.permutation(len(ty))[: a.train_subset])
            tx, ty = tx[sel], ty[sel]
        vx, vy = vx[: a.val], vy[: a.val]
        mean = [float(tx.mean() / 255.0)]
        std = [float((tx / 255.0).std())]
        data = {"train_x": normalise(tx, mean, std), "train_y": torch.from_numpy(ty),
                "val_x": normalise(vx, mean, std), "val_y": torch.from_numpy(vy)}
        gen = torch.Generator().manual_seed(a.seed)
        model = KNet4(1, a.size, 10, cfg["width"], cfg["init"], cfg["rule"], a.top, gen,
                      top_scale=a.top_scale, b_scale=a.b_scale, freeze=freeze, center_feedback=a.center_feedback,
                      feedback=a.feedback, freeze_bias=freeze_bias, center_features=a.center_features,
                      batch_norm=batch_norm)
        n, bs = len(ty), cfg["batch"]
        orders = [rng.permutation(n)[: (n // bs) * bs] for _ in range(cfg["epochs"])]
        order_fn = lambda e: orders[e]  # noqa: E731
        source = {"data": a.data, "size": a.size, "n_train": n, "n_val": len(vy), "seed": a.seed,
                  "data_seed": a.data_seed}
    if cfg["rule"] == "bp" and a.top != "fa":
        raise RefError("--top applies to fa and ia")
    if a.center_feedback and (cfg["rule"] not in ("fa", "ia") or a.top == "tied"):
        raise RefError("--center-feedback needs --rule fa|ia and a random top B (not --top tied)")
    cfg.update(top=a.top, constrain=a.constrain, b_opt=a.b_opt, b_lr=a.b_lr)
    if cap < 0 or not math.isfinite(cap):
        raise RefError(f"--b-step-cap {cap}: expected a finite value >= 0 (0 = off)")
    if cap > 0 and cfg["rule"] != "ia":
        raise RefError(f"--b-step-cap {cap}: applies to --rule ia only (the rule here is {cfg['rule']})")
    if cap > 0 and (a.b_opt == "adam" or (a.b_opt == "none" and cfg["opt"] == "adam")):
        raise RefError(f"--b-step-cap {cap}: B is stepped by Adam, whose step does not grow with the curvature; "
                       "the cap needs B stepped by SGD (--opt sgdm, or --b-opt sgdm)")
    if recheck != 0 and (recheck <= 1 or not math.isfinite(recheck)):
        raise RefError(f"--b-step-recheck {recheck}: expected a factor > 1 (0 = off)")
    if recheck > 0 and cap <= 0:
        raise RefError(f"--b-step-recheck {recheck}: needs --b-step-cap")
    for k, v, d in (("top_scale", a.top_scale, 1.0), ("b_scale", a.b_scale, 1.0), ("freeze", freeze, []),
                    ("lr_scale", lr_scale, {}), ("center_feedback", a.center_feedback, False),
                    ("feedback", a.feedback, "random"), ("freeze_bias", freeze_bias, []),
                    ("center_features", a.center_features, False), ("batch_norm", batch_norm, False),
                    ("b_step_cap", cap, 0.0), ("b_step_recheck", recheck, 0.0)):
        if v != d:  # recorded only when set, so the default config lines are unchanged
            cfg[k] = v
    if cfg["rule"] != "ia":
        cfg["b_opt"] = "none"
    if cfg["lr"] <= 0 or cfg["batch"] <= 0 or cfg["epochs"] <= 0:
        raise RefError("--lr, --batch and --epochs must be positive")
    # the fixed diagnostic batch: the first --diag-batch training images
    data["diag_x"] = data["train_x"][: a.diag_batch]
    data["diag_y"] = data["train_y"][: a.diag_batch]
    cfg["source"] = source
    if a.device != "cpu":  # everything drawn and read on the CPU above, then moved: same init and order
        dev = torch.device(a.device)
        for d in (model.W, model.b, model.B, model.bn_g, model.bn_b, model.bn_mean, model.bn_var):
            for l in list(d):
                d[l] = d[l].detach().to(dev).requires_grad_(d[l].requires_grad)
        for k in list(data):
            data[k] = data[k].to(dev)
        cfg["device"] = a.device
    return model, data, cfg, order_fn


def main(argv=None):
    a = parse(argv if argv is not None else sys.argv[1:])
    try:
        model, data, cfg, order_fn = setup(a)
    except RefError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"config": {**cfg, "argv": argv if argv is not None else sys.argv[1:]}}), flush=True)
    train(model, data, cfg, order_fn, emit=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
