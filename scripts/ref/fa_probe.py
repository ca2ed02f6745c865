#!/usr/bin/env python3
"""Why does FA's conv3 update point uphill?  Trains like knet_ref.py (same arguments) and, every
--probe-every steps (before the step) and at the end, decomposes the inner product between FA's
and backprop's conv3 pseudo-gradients on the fixed diagnostic batch (knet_ref's first
--diag-batch training images).

With h the fc4 input (flattened conv3 -> ReLU -> avg pool), e_n = (softmax - onehot)/N the
per-example error of the mean cross-entropy, E = [e_n] (N x 10) and G(V) = sum_n J_n^T V_n the
vector-Jacobian product of h with respect to W3 (J_n = dh_n/dW3):

  FA's conv3 pseudo-gradient  g_fa = G(E B4),  backprop's  g_bp = G(E W4),
  cos = <g_fa, g_bp> / (|g_fa| |g_bp|)   (the `grad_angle` of knet_ref is acos of this).

Because G is linear, cos splits exactly into parts (each normalised by |g_fa| |g_bp|, so the
parts of one split sum to cos):
  init / learned:   W4 = W4_0 + dW4                      -> c_init + c_learned
  spatial:          W4 = W4m + W4r, B4 = B4m + B4r, m = the per-channel mean over the 4x4
                    positions (replicated), r = the rest  -> c_mm + c_mr + c_rm + c_rr
  classes:          A_ij = <G(E_i B4_i), G(E_j W4_j)>     -> c_diag (sum_i A_ii) + c_off
  batch mean:       E = Ebar + Ec, Ebar the batch-mean error (the gradient of fc4's bias, a class
                    offset shared by all examples)  -> c_bar_bar + c_bar_c + c_c_bar + c_c_c;
                    cos_centered = cos(G(Ec B4), G(Ec W4))
And weight-space quantities: cos(W4, B4), cos(dW4, B4), the same for the per-channel sums
(10 x 64), cos in the feature metric S = H^T H / N (H the diagnostic batch's features):
tr(W S B4^T)/sqrt(tr(W S W^T) tr(B4 S B4^T)), and the eigenvalues of the symmetric part of the
10 x 10 A (normalised by |g_fa| |g_bp|).  Also the radial part of g_fa: cos(g_fa, W3).
Per channel c: s_c = cos(W4c[:, c], B4c[:, c]) between the channel's readout and feedback columns
(10-dim, summed over positions), averaged plainly, weighted by the channel's squared mean activation
and by its common-mode responsiveness k_c = |G(1 x u_c)|^2; and the share of that weight held by
channels with s_c < 0 (chan_f2_share_neg, chan_k_share_neg).

Output: the knet_ref epoch lines, plus {"probe": ...} lines, one per probe, on stdout.
Usage: fa_probe.py --probe-every 39 --rule fa --opt adam --lr 1e-3 --train-subset 10000 --epochs 2
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import knet_ref as k  # noqa: E402


def cos(a, b):
    a, b = a.flatten().double(), b.flatten().double()
    d = float(a.norm() * b.norm())
    return float(a @ b) / d if d > 0 else float("nan")


def spatial_mean(M, chans, s):
    """Per-channel mean over the s*s positions of a [rows, chans*s*s] matrix, replicated."""
    v = M.view(M.shape[0], chans, s * s)
    return v.mean(2, keepdim=True).expand_as(v).reshape(M.shape)


def probe(model, x, y, W4_0):
    W3 = model.W["conv3"]
    req = W3.requires_grad
    W3.requires_grad_(True)
    try:
        rec = {}
        with torch.enable_grad():
            logits = model.forward(x, "bp", record=rec)
            h = rec["fc4"]
            n = x.shape[0]
            E = (torch.softmax(logits, 1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)).detach() / n

            def G(V):
                return torch.autograd.grad(h, W3, V, retain_graph=True)[0].double()

            W4 = model.W["fc4"].detach()
            B4 = model.feedback("fc4").detach()
            dW4 = W4 - W4_0
            c, s = model.chans[3], model.spatial
            g_fa, g_bp = G(E @ B4), G(E @ W4)
            nfa, nbp = float(g_fa.norm()), float(g_bp.norm())
            den = nfa * nbp
            ip = lambda a, b: float((a * b).sum()) / den  # noqa: E731
            out = {"cos": ip(g_fa, g_bp), "angle": math.degrees(math.acos(max(-1, min(1, ip(g_fa, g_bp)))))}
            out["c_init"] = ip(g_fa, G(E @ W4_0))
            out["c_learned"] = ip(g_fa, G(E @ dW4))
            B4m, W4m = spatial_mean(B4, c, s), spatial_mean(W4, c, s)
            g_fa_m, g_fa_r = G(E @ B4m), G(E @ (B4 - B4m))
            g_bp_m, g_bp_r = G(E @ W4m), G(E @ (W4 - W4m))
            out.update(c_mm=ip(g_fa_m, g_bp_m), c_mr=ip(g_fa_m, g_bp_r), c_rm=ip(g_fa_r, g_bp_m),
                       c_rr=ip(g_fa_r, g_bp_r))
            out["norm_share_fa_mean"] = float(g_fa_m.norm()) / nfa
            out["norm_share_bp_mean"] = float(g_bp_m.norm()) / nbp
            Ebar = E.mean(0, keepdim=True).expand_as(E)  # the batch-mean error (class-offset part)
            g_fa_bar, g_fa_c = G(Ebar @ B4), G((E - Ebar) @ B4)
            g_bp_bar, g_bp_c = G(Ebar @ W4), G((E - Ebar) @ W4)
            out.update(c_bar_bar=ip(g_fa_bar, g_bp_bar), c_bar_c=ip(g_fa_bar, g_bp_c), c_c_bar=ip(g_fa_c, g_bp_bar),
                       c_c_c=ip(g_fa_c, g_bp_c), cos_centered=cos(g_fa_c, g_bp_c),
                       norm_share_fa_bar=float(g_fa_bar.norm()) / nfa, norm_share_bp_bar=float(g_bp_bar.norm()) / nbp,
                       ebar_norm=float(E.mean(0).norm() * n), e_norm=float(E.norm() * n / math.sqrt(n)))
            K = logits.shape[1]
            Gf = torch.stack([G(E[:, i : i + 1] * B4[i]).flatten() for i in range(K)])
            Gb = torch.stack([G(E[:, j : j + 1] * W4[j]).flatten() for j in range(K)])
            A = (Gf @ Gb.t()) / den
            out["c_diag"] = float(A.diagonal().sum())
            out["c_off"] = float(A.sum() - A.diagonal().sum())
            ev = torch.linalg.eigvalsh((A + A.t()) / 2)
            out["A_sym_eig"] = [round(float(v), 4) for v in ev]
            out["A_diag"] = [round(float(v), 4) for v in A.diagonal()]
            out["g_fa_radial"] = cos(g_fa, W3.detach())
            out["g_bp_radial"] = cos(g_bp, W3.detach())
            Hd = h.detach().double()
            S = Hd.t() @ Hd / n
            Sc = torch.cov(Hd.t())

            def cos_metric(P, Q, M):
                P, Q = P.double(), Q.double()
                return float(torch.trace(P @ M @ Q.t())) / math.sqrt(
                    float(torch.trace(P @ M @ P.t())) * float(torch.trace(Q @ M @ Q.t())))

            out["wb_cos"] = cos(W4, B4)
            out["dw_b_cos"] = cos(dW4, B4)
            sum_c = lambda M: M.view(M.shape[0], c, s * s).sum(2)  # noqa: E731
            out["wb_cos_chan"] = cos(sum_c(W4), sum_c(B4))
            out["dw_b_cos_chan"] = cos(sum_c(dW4), sum_c(B4))
            out["wb_cos_S"] = cos_metric(W4, B4, S)
            out["dw_b_cos_S"] = cos_metric(dW4, B4, S) if float(dW4.norm()) > 0 else float("nan")
            out["wb_cos_Scov"] = cos_metric(W4, B4, Sc)
            out["dw_b_cos_Scov"] = cos_metric(dW4, B4, Sc) if float(dW4.norm()) > 0 else float("nan")
            # per channel c: s_c = cos(W4c[:, c], B4c[:, c]) (the channel's 10-dim readout and feedback
            # columns, summed over positions); weighted by the channel's mean activation squared and by
            # its common-mode responsiveness k_c = |G(1 x u_c)|^2 (u_c: ones on channel c's positions)
            W4s, B4s = sum_c(W4).double(), sum_c(B4).double()
            sc = (W4s * B4s).sum(0) / (W4s.norm(dim=0) * B4s.norm(dim=0)).clamp_min(1e-30)
            fc = Hd.view(n, c, s * s).mean((0, 2))
            f2 = fc * fc
            kc = torch.stack([G((torch.arange(c * s * s) // (s * s) == j).to(h.dtype).expand(n, -1) / n).pow(2).sum()
                              for j in range(c)])
            out["chan_s_mean"] = float(sc.mean())
            out["chan_s_fweighted"] = float((f2 * sc).sum() / f2.sum())
            out["chan_s_kweighted"] = float((kc * sc).sum() / kc.sum())
            out["chan_f2_share_neg"] = float(f2[sc < 0].sum() / f2.sum())
            out["chan_k_share_neg"] = float(kc[sc < 0].sum() / kc.sum())
            out["w4_growth"] = float(W4.norm() / W4_0.norm()) if float(W4_0.norm()) > 0 else float("nan")
            out["dw4_over_w4_0"] = float(dW4.norm() / W4_0.norm()) if float(W4_0.norm()) > 0 else float("nan")
            out["loss"] = float(F.cross_entropy(logits, y))
            out["bias_mean"] = {l: round(float(model.b[l].detach().mean()), 5) for l in k.LAYERS[:3]}
            out["h_mean"] = float(Hd.mean())
            out["h_mean_share"] = float(Hd.mean(0).norm() ** 2 / (Hd.pow(2).sum(1).mean()))
    finally:
        W3.requires_grad_(req)
    return {kk: (round(v, 5) if isinstance(v, float) else v) for kk, v in out.items()}


def main(argv=None):
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--probe-every", type=int, default=39)
    pa, rest = p.parse_known_args(argv if argv is not None else sys.argv[1:])
    a = k.parse(rest)
    try:
        model, data, cfg, order_fn = k.setup(a)
    except k.RefError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"config": {**cfg, "argv": sys.argv[1:] if argv is None else argv,
                                 "probe_every": pa.probe_every}}), flush=True)
    W4_0 = model.W["fc4"].detach().clone()
    x, y = data["diag_x"], data["diag_y"]
    steps = [0]

    def on_step(epoch, s, idx):
        if steps[0] % pa.probe_every == 0:
            print(json.dumps({"probe": {"step": steps[0], "epoch": epoch, **probe(model, x, y, W4_0)}}), flush=True)
        steps[0] += 1

    k.train(model, data, cfg, order_fn, emit=lambda s: print(s, flush=True), on_step=on_step)
    print(json.dumps({"probe": {"step": steps[0], "end": True, **probe(model, x, y, W4_0)}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
