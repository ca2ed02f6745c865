"""IA's alignment loss and B-step cap for the independent PyTorch reference (scripts/ref/knet_ref.py).

Written from shared/method.md §6 (IA's R = alpha*amp + beta*null + gamma*decay) and, for the B-step
cap, from docs/engine.md ("Regime options": b_step_cap, b_step_recheck), not from lrx's code.
Holds the per-layer alignment terms and R, the curvature lambda_max(d2R_l/dB2) (power iteration on
Hessian-vector products by double backward), the output energy |P_f|^2/n that b_step_recheck
watches, and cap_b_steps, which sets each layer's B rate from them during training.
"""
import math

import torch
import torch.nn.functional as F

from knet_net import LAYERS

# b_step_cap (docs/engine.md "Regime options"): steps between scheduled curvature estimates
# within an epoch, and power-iteration products per estimate.
CURVATURE_EVERY = 50
CURVATURE_ITERS = 10


# ----------------------------------------------------------------------------------------------
# IA: alignment loss R, its curvature (b_step_cap) and output energy (b_step_recheck)


def alignment_terms(model, l, x, pf, B, W=None):
    """Layer l's amp, null and decay (method.md §6) for the layer input x, P_f = op(x, W) (both
    constants) and the backward weights B (the parameter's shape; the shared top one is expanded
    over positions). W defaults to the layer's W, detached."""
    n = x.shape[0]
    W = model.W[l].detach() if W is None else W
    Bf = B.repeat_interleave(model.spatial * model.spatial, dim=1) if (l == "fc4" and model.top == "shared") else B
    if l == "fc4":
        pb = x @ Bf.t()
        rf = pf @ Bf
    else:
        pb = F.conv2d(x, Bf, padding=2)
        rf = F.conv_transpose2d(pf, Bf, padding=2)
    amp = -(pf * pb).sum() / n
    null = (rf * rf).sum() / n
    decay = (W * W).sum() + (B * B).sum()
    return amp, null, decay


def projection(model, rec, l):
    """P_f = op(x, W) of layer l from a forward's record (its output before the bias), detached."""
    return (rec[l + "/z"] - (model.b[l] if l == "fc4" else model.b[l][:, None, None])).detach()


def alignment_loss(model, rec, alpha, beta, gamma):
    """IA's R = alpha*amp + beta*null + gamma*decay summed over the layers with a trained B
    (method.md §6); stop-gradient on the layer input x and on W, so only B gets a gradient.
    amp = -sum_units mean_batch(P_f*P_b), null = sum mean_batch(R_f^2), decay = |W|^2 + |B|^2."""
    total = 0.0
    for l in LAYERS:
        if l not in model.B:
            continue
        amp, null, decay = alignment_terms(model, l, rec[l].detach(), projection(model, rec, l), model.B[l])
        total = total + alpha * amp + beta * null + gamma * decay
    return total


def alignment_curvature(model, rec, l, alpha, beta, gamma, iters=CURVATURE_ITERS):
    """lambda_max(d2R_l/dB2) of layer l on the batch of `rec` (b_step_cap), in float64: power
    iteration from B itself (B/|B|; a constant tensor if B = 0), `iters` Hessian-vector products
    by double backward through R_l, each iterate normalised; returns the last iterate's Rayleigh
    quotient v.Hv (at least 0). R_l is quadratic in B, so H does not depend on where it is taken."""
    x = rec[l].detach().double()
    pf = projection(model, rec, l).double()
    B = model.B[l].detach().double().clone().requires_grad_(True)
    amp, null, decay = alignment_terms(model, l, x, pf, B, W=model.W[l].detach().double())
    (g,) = torch.autograd.grad(alpha * amp + beta * null + gamma * decay, B, create_graph=True)
    if not g.requires_grad:  # beta = gamma = 0: R is linear in B
        return 0.0

    def hvp(v):
        (hv,) = torch.autograd.grad(g, B, grad_outputs=v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(v) if hv is None else hv

    def unit(t):
        n = float(t.norm())
        return t / n if n > 0 and math.isfinite(n) else None

    v = unit(B.detach())
    if v is None:
        v = unit(torch.ones_like(B))
    lam = 0.0
    for _ in range(iters):
        hv = hvp(v)
        lam = float((v * hv).sum())
        u = unit(hv)
        if u is None:
            break
        v = u
    return max(lam, 0.0)


def output_energy(model, rec, l):
    """Layer l's output energy |P_f|^2/n (n the batch size, summed over positions; b_step_recheck)."""
    pf = projection(model, rec, l).double()
    e = float((pf * pf).sum()) / pf.shape[0]
    return e if math.isfinite(e) else math.inf


def cap_b_steps(model, rec, cfg, b_group_of, b_step, s, lr_b):
    """b_step_cap at step s of an epoch, after the forward of `rec` and before the update: re-estimate
    each layer's curvature where due (the epoch's first step, every CURVATURE_EVERY steps, a layer
    without an estimate, and with b_step_recheck a layer whose output energy grew past rho x its
    energy at its last estimate), then set its B's rate to lr_B x min(1, cap/(lr_B x lambda))."""
    cap, recheck = cfg["b_step_cap"], cfg.get("b_step_recheck", 0.0)
    scheduled = s % CURVATURE_EVERY == 0
    if s == 0:  # the per-epoch count of triggered estimates restarts
        for st in b_step.values():
            st["rechecks"] = 0
    for l, group in b_group_of.items():
        st = b_step.get(l)
        energy = output_energy(model, rec, l) if recheck > 0 else 0.0
        grown = recheck > 0 and st is not None and energy > recheck * st["energy"]
        if scheduled or grown or st is None:
            lam = alignment_curvature(model, rec, l, cfg["alpha"], cfg["beta"], cfg["gamma"])
            rechecks = st["rechecks"] if st is not None else 0
            # docs/engine.md: b_rechecks counts the triggered estimates, scheduled ones not counted
            st = b_step[l] = {"curvature": lam, "energy": energy, "factor": 1.0,
                              "rechecks": rechecks + int(grown and not scheduled)}
        step = lr_b * st["curvature"]
        st["factor"] = cap / step if step > cap else 1.0
        group["lr"] = lr_b * st["factor"]
