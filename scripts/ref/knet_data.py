"""Data and export reader of the independent PyTorch reference (scripts/ref/knet_ref.py, issue 19).

Written from the documented formats (IDX files; lrx's reference export, `lrx export-reference`,
docs/learning.md; schedules, docs/reference/builtins.md), not from lrx's code. Holds the
Fashion-MNIST IDX reader, the export reader (manifest.json, the .npy arrays, batch order, initial
parameters and their copy into a KNet4), input normalisation, and the learning-rate schedules
(parse_schedule reads the manifest's, schedule_factor evaluates one).
"""
import gzip
import json
import os
import struct

import numpy as np
import torch

from knet_net import LAYERS, RefError

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


# ----------------------------------------------------------------------------------------------
# data


def read_idx(path):
    """Read an IDX file (gzip or plain). Returns a uint8 array (images [N, H, W] or labels [N])."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise RefError(f"{path}: cannot read: {e.strerror}") from e
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise RefError(f"{path}: corrupt gzip data: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise RefError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise RefError(f"{path}: IDX element type 0x{raw[2]:02x}, expected 0x08 (unsigned byte)")
    nd = raw[3]
    if nd not in (1, 3):
        raise RefError(f"{path}: IDX with {nd} dimensions, expected 1 (labels) or 3 (images)")
    if len(raw) < 4 + 4 * nd:
        raise RefError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * nd, raw[4 : 4 + 4 * nd])
    n = int(np.prod(dims))
    body = raw[4 + 4 * nd :]
    if len(body) != n:
        raise RefError(f"{path}: {len(body)} data bytes, the header {list(dims)} says {n}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def find_idx(d, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise RefError(
        f"{d}: no {stem}[.gz]; install the data set with `apt-get install dataset-fashion-mnist` "
        f"or pass --data DIR"
    )


def load_fashion(d, size):
    out = {}
    for split, pre in (("train", "train"), ("val", "t10k")):
        x = read_idx(find_idx(d, f"{pre}-images-idx3-ubyte"))
        y = read_idx(find_idx(d, f"{pre}-labels-idx1-ubyte"))
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise RefError(f"{d}: {split} images {x.shape} and labels {y.shape} do not match")
        if size != x.shape[1]:
            p = size - x.shape[1]
            if p < 0 or p % 2:
                raise RefError(f"--size {size}: can only zero-pad {x.shape[1]} evenly")
            x = np.pad(x, ((0, 0), (p // 2, p // 2), (p // 2, p // 2)))
        out[split] = (x[:, None, :, :].copy(), y.astype(np.int64))
    return out


# ----------------------------------------------------------------------------------------------
# export mode (the `lrx export-reference` format, docs/learning.md)


def load_export(d):
    mpath = os.path.join(d, "manifest.json")
    try:
        with open(mpath) as f:
            man = json.load(f)
    except OSError as e:
        raise RefError(f"{mpath}: cannot read: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise RefError(f"{mpath}: not JSON: {e}") from e
    if man.get("format") != 1:
        raise RefError(f"{mpath}: format {man.get('format')!r}, this script reads format 1")

    def npy(name, dtype=None):
        p = os.path.join(d, name)
        try:
            a = np.load(p)
        except (OSError, ValueError) as e:
            raise RefError(f"{p}: cannot read as .npy: {e}") from e
        if dtype is not None and a.dtype != dtype:
            raise RefError(f"{p}: dtype {a.dtype}, expected {np.dtype(dtype)}")
        return a

    arrays = {k: npy(f"{k}.npy", dt) for k, dt in (
        ("train_x", np.uint8), ("train_y", np.int64), ("val_x", np.uint8), ("val_y", np.int64),
        ("order", np.int64))}
    init = {}
    for p in man["params"]:
        a = npy(p["file"], np.float32)
        if list(a.shape) != list(p["shape"]):
            raise RefError(f"{os.path.join(d, p['file'])}: shape {list(a.shape)}, manifest says {p['shape']}")
        init[p["name"]] = (p["role"], a)
    return man, arrays, init


BN_BUFFERS = {"running_mean": "bn_mean", "running_var": "bn_var"}


def apply_init(model, init, where):
    """Copy the export's initial parameters into the model (by layer prefix and role; a buffer by
    its name's last part) and check that every parameter of the model got one."""
    seen = set()
    for name, (role, a) in init.items():
        l = name.split("/")[0]
        if l not in LAYERS:
            raise RefError(f"{where}: parameter {name}: unknown layer {l!r} (KNet4 has {LAYERS})")
        key = role
        if role == "buffer":
            key = BN_BUFFERS.get(name.split("/")[-1])
            if key is None:
                raise RefError(f"{where}: buffer {name}: expected a BatchNorm's {' or '.join(BN_BUFFERS)}")
        tgt = {"forward": model.W, "bias": model.b, "backward": model.B, "bn_scale": model.bn_g,
               "bn_shift": model.bn_b, "bn_mean": model.bn_mean, "bn_var": model.bn_var}.get(key)
        if tgt is None:
            raise RefError(f"{where}: parameter {name}: unknown role {role!r}")
        if l not in tgt:
            if key.startswith("bn_"):
                raise RefError(f"{where}: parameter {name}: the model has no BatchNorm in {l} (arch batch_norm)")
            raise RefError(f"{where}: parameter {name}: this rule/--top has no {role} weights in {l}")
        if tuple(tgt[l].shape) != a.shape:
            raise RefError(f"{where}: parameter {name}: shape {list(a.shape)}, the model has {list(tgt[l].shape)}")
        with torch.no_grad():
            tgt[l].copy_(torch.from_numpy(a))
        seen.add((l, key))
    for l in LAYERS:
        for role, tgt in (("forward", model.W), ("bias", model.b), ("backward", model.B), ("bn_scale", model.bn_g),
                          ("bn_shift", model.bn_b), ("bn_mean", model.bn_mean), ("bn_var", model.bn_var)):
            if l in tgt and (l, role) not in seen:
                what = {"bn_mean": "BatchNorm running_mean", "bn_var": "BatchNorm running_var"}.get(role, role)
                raise RefError(f"{where}: no {what} parameter for {l} in the export")


RULE_OF_EXPORT = {"sgdm": ("bp", "sgdm"), "adam": ("bp", "adam"), "fa": ("fa", None), "ia": ("ia", None)}


def normalise(x_u8, mean, std):
    x = torch.from_numpy(x_u8).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
    s = torch.tensor(std, dtype=torch.float32)[None, :, None, None]
    return (x - m) / s



# ----------------------------------------------------------------------------------------------
# learning-rate schedules


def schedule_factor(sched, pos):
    """The learning-rate schedule's factor at the epoch position pos = e + s/S (epoch e and step s
    from 0, S steps an epoch), as docs/reference/builtins.md defines the schedules: `constant` 1;
    `warmup_steps` a linear warm-up from 0 over `warmup_epochs`, then x `gamma` for each milestone
    epoch m with pos >= m."""
    if sched is None or sched["name"] == "constant":
        return 1.0
    w = sched["warmup_epochs"]
    if w > 0 and pos < w:
        return pos / w
    return sched["gamma"] ** sum(1 for m in sched["milestones"] if pos >= m)


def parse_schedule(raw, where):
    """The manifest's `settings.schedule`: {"name": ...} (lrx from session 23 on); an older
    export's Debug string is read only when it is the constant schedule."""
    if raw is None or raw == "Constant":
        return None
    if isinstance(raw, dict) and raw.get("name") == "constant":
        return None
    if isinstance(raw, dict) and raw.get("name") == "warmup_steps":
        return {"name": "warmup_steps", "warmup_epochs": float(raw["warmup_epochs"]),
                "milestones": [int(m) for m in raw["milestones"]], "gamma": float(raw["gamma"])}
    raise RefError(f"{where}: schedule {raw!r}: this script replays `constant` and `warmup_steps` "
                   "(re-export the run with this lrx if the schedule is a bare name)")
