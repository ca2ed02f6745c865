"""PyTorch autograd reference for lrx's gradavg (layer-wise activity change, method.md §1.1, §5).

Usage: observe_grad_ref.py IN.json OUT.json

For every layer: the exact per-stimulus Jacobian dy/dx (torch.autograd.functional.jacobian,
[N_out, N_in]) of y = act(op(x, W) + b). With backward weights B and via == "backward", the
Jacobian is the one the training backward pass uses: act'(op(x, W) + b) (elementwise, on the
forward pre-activation) times the Jacobian of op(x, B) -- computed here from B directly, not with
lrx's detach trick.
  g_b = sum(J) / N_out
and for each realism entry (output subset S_out, input subset S_in, noise [B, |S_in|], sigma):
  g_b = (sum_{i in S_in} (sum_{j in S_out} J[j, i] + sigma * noise[b, i])) / |S_out|
Floats travel as IEEE bits (u64) in both directions.
"""
import json
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def from_bits(bits, shape):
    vals = [struct.unpack("<d", struct.pack("<Q", b))[0] for b in bits]
    return torch.tensor(vals, dtype=torch.float64).reshape(shape)


def to_bits(t):
    return [struct.unpack("<Q", struct.pack("<d", float(v)))[0] for v in t.flatten().tolist()]


def op(spec, x, k):
    if spec["kind"] == "dense":
        return x @ k.T
    return F.conv2d(x, k, None, stride=spec["stride"], padding=spec["padding"])


def main():
    inp = json.load(open(sys.argv[1]))
    out = {}
    for spec in inp["layers"]:
        w = from_bits(spec["w"], spec["w_shape"])
        b = from_bits(spec["b"], spec["b_shape"])
        bwd = from_bits(spec["bwd"], spec["w_shape"]) if spec.get("bwd") is not None else None
        x = from_bits(spec["x"], spec["x_shape"])
        relu = spec["relu"]
        via_b = bwd is not None and spec["via"] == "backward"

        def pre(xb, k):
            p = op(spec, xb.unsqueeze(0), k)
            bias = b.reshape((1, -1) + (1,) * (p.dim() - 2))
            return (p + bias)[0].flatten()

        gs, reals = [], [[] for _ in spec["realism"]]
        for i in range(x.shape[0]):
            xb = x[i]
            n_in = xb.numel()
            if via_b:
                mask = (pre(xb, w) > 0).double() if relu else torch.ones_like(pre(xb, w))
                jac = torch.autograd.functional.jacobian(lambda v: op(spec, v.unsqueeze(0), bwd)[0].flatten(), xb)
                jac = mask[:, None] * jac.reshape(-1, n_in)
            else:
                f = (lambda v: torch.relu(pre(v, w))) if relu else (lambda v: pre(v, w))
                jac = torch.autograd.functional.jacobian(f, xb).reshape(-1, n_in)
            n_out = jac.shape[0]
            gs.append(jac.sum() / n_out)
            for r, real in enumerate(spec["realism"]):
                s_out = torch.tensor(real["out_idx"], dtype=torch.long)
                s_in = torch.tensor(real["in_idx"], dtype=torch.long)
                noise = from_bits(real["noise"], [x.shape[0], len(real["in_idx"])])
                col = jac[s_out].sum(0)[s_in] + real["sigma"] * noise[i]
                reals[r].append(col.sum() / len(real["out_idx"]))
        out[spec["name"]] = {
            "g": to_bits(torch.stack(gs)),
            "realism": [to_bits(torch.stack(v)) for v in reals],
        }
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
