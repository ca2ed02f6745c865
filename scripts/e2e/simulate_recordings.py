#!/usr/bin/env python3
"""Simulated recordings from held-out networks, written as a lab would record them (issue 23).

Reads the plain activations a study saved (`observe { save_activations = true }`:
RUNS/runs/<id>/activations/epoch_NNNN/<layer>.npy, float32 [stimuli, units]), passes a seeded
subset of each layer's units through a measurement model, and writes, per network, one session
file per checkpoint plus a recordings file for `lrx import`:

  OUT/<run id>/epoch_NNNN.nwb   NWB 2.x (pynwb): calcium -> an ophys RoiResponseSeries of
                                ΔF/F (processing/ophys/DfOverF/RoiResponseSeries, frames x ROIs)
                                and a `trials` TimeIntervals table (start, stop, stimulus);
                                poisson -> /units spike times and the same `trials` table
  OUT/<run id>/epoch_NNNN.npy   --format plain: the per-stimulus responses [stimuli, units]
  OUT/recordings.lrx            the mapping, a recordings spec (`lrx check`, `lrx import`): one
                                `recording` block per network, its layers (ROI or unit indices,
                                layer position), its sessions (epoch: file) and, for evaluation,
                                its true rule
  OUT/recordings.json           the same mapping in the JSON form

The models follow docs/reference/realism.md "Measurement models" and are written here from those
equations with numpy (independently of lrx's Rust): calcium = stimuli shown one after another for
`frames_per_stimulus` frames, Poisson spikes per frame at rate baseline + rate_scale*max(x, 0),
a peak-normalised double-exponential kernel, Hill saturation F = 1 + c^n/(c^n + kd^n) (units of
F0), shot noise of variance shot*F and read noise of sd `read`, ΔF/F = F - 1 per frame; poisson
= spikes at that rate, uniform in a window of `window` seconds per presentation.

Usage: simulate_recordings.py RUNS OUT [--model calcium|poisson] [--params JSON]
                              [--fraction 0.25] [--seed 0] [--format nwb|plain]
"""
import argparse
import datetime
import json
import math
import os
import sys

import numpy as np

CALCIUM = dict(rate_scale=20.0, baseline=0.0, frame_rate=30.0, rise=0.05, decay=0.4, kd=10.0,
               hill=2.5, shot=0.01, read=0.01, frames_per_stimulus=15)
POISSON = dict(rate_scale=20.0, baseline=0.0, window=0.5, repeats=1)


def kernel(p, n):
    t = np.arange(n) / p["frame_rate"]
    h = lambda s: np.exp(-s / p["decay"]) - np.exp(-s / p["rise"])  # noqa: E731
    tp = math.log(p["decay"] / p["rise"]) * p["rise"] * p["decay"] / (p["decay"] - p["rise"])
    return h(t) / h(tp)


def calcium_traces(x, p, rng):
    """x [stimuli, units] -> ΔF/F traces [frames, units] (stimuli in order, each fps frames)."""
    fps, fr = int(p["frames_per_stimulus"]), p["frame_rate"]
    rate = p["baseline"] + p["rate_scale"] * np.maximum(x, 0.0)          # Hz
    lam = np.repeat(rate, fps, axis=0) / fr                               # per frame
    spikes = rng.poisson(lam).astype(np.float64)
    k = kernel(p, spikes.shape[0])
    c = np.stack([np.convolve(spikes[:, u], k)[: spikes.shape[0]] for u in range(spikes.shape[1])], 1)
    cn = np.maximum(c, 0.0) ** p["hill"]
    F = 1.0 + cn / (cn + p["kd"] ** p["hill"])
    dff = F + np.sqrt(p["shot"] * F) * rng.standard_normal(F.shape) + p["read"] * rng.standard_normal(F.shape) - 1.0
    return dff


def poisson_spikes(x, p, rng):
    """x [stimuli, units] -> per unit, sorted spike times; presentation s is [s*w, (s+1)*w)."""
    w = p["window"]
    rate = p["baseline"] + p["rate_scale"] * np.maximum(x, 0.0)
    times = [[] for _ in range(x.shape[1])]
    for s in range(x.shape[0]):
        n = rng.poisson(rate[s] * w)
        for u in np.nonzero(n)[0]:
            times[u].extend(np.sort(s * w + rng.uniform(0.0, w, n[u])).tolist())
    return [np.array(sorted(t)) for t in times]


def write_nwb_calcium(path, dff, p, n_stimuli):
    from hdmf.backends.hdf5.h5_utils import H5DataIO  # noqa: F401  (pynwb's own dependency)
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel, RoiResponseSeries

    f = NWBFile(session_description="lrx simulated recording", identifier=os.path.basename(path),
                session_start_time=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    dev = f.create_device(name="scope")
    ch = OpticalChannel(name="green", description="GCaMP", emission_lambda=510.0)
    plane = f.create_imaging_plane(name="plane", optical_channel=ch, description="simulated",
                                   device=dev, excitation_lambda=920.0, imaging_rate=p["frame_rate"],
                                   indicator="GCaMP6f", location="model layer")
    seg = ImageSegmentation()
    ps = seg.create_plane_segmentation(name="rois", description="one ROI per model unit",
                                       imaging_plane=plane)
    for _ in range(dff.shape[1]):
        ps.add_roi(pixel_mask=[(0, 0, 1.0)])
    mod = f.create_processing_module(name="ophys", description="simulated ΔF/F")
    mod.add(seg)
    region = ps.create_roi_table_region(region=list(range(dff.shape[1])), description="all ROIs")
    rrs = RoiResponseSeries(name="RoiResponseSeries", data=dff.astype(np.float32), rois=region,
                            unit="dF/F", rate=float(p["frame_rate"]), starting_time=0.0)
    mod.add(DfOverF(roi_response_series=rrs))
    fps, fr = int(p["frames_per_stimulus"]), p["frame_rate"]
    f.add_trial_column(name="stimulus", description="index of the stimulus shown")
    for s in range(n_stimuli):  # half a frame early, so that frame times never sit on an edge
        f.add_trial(start_time=(s * fps - 0.5) / fr, stop_time=((s + 1) * fps - 0.5) / fr, stimulus=s)
    with NWBHDF5IO(path, "w") as io:
        io.write(f)


def write_nwb_units(path, spikes, p, n_stimuli):
    from pynwb import NWBHDF5IO, NWBFile

    f = NWBFile(session_description="lrx simulated recording", identifier=os.path.basename(path),
                session_start_time=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    for u, t in enumerate(spikes):
        f.add_unit(id=u, spike_times=t)
    f.add_trial_column(name="stimulus", description="index of the stimulus shown")
    w = p["window"]
    for s in range(n_stimuli):
        f.add_trial(start_time=s * w, stop_time=(s + 1) * w, stimulus=s)
    with NWBHDF5IO(path, "w") as io:
        io.write(f)


def main(argv=None):
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("runs")
    a.add_argument("out")
    a.add_argument("--model", choices=["calcium", "poisson"], default="calcium")
    a.add_argument("--params", default="{}", help="JSON: model parameters over the defaults")
    a.add_argument("--fraction", type=float, default=0.25, help="units recorded per layer")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--format", choices=["nwb", "plain"], default="nwb")
    a = a.parse_args(argv)
    p = dict(CALCIUM if a.model == "calcium" else POISSON)
    extra = json.loads(a.params)
    unknown = set(extra) - set(p)
    if unknown:
        sys.exit(f"error: --params: unknown {a.model} parameters {sorted(unknown)}")
    p.update(extra)
    rng = np.random.default_rng(a.seed)
    rd = os.path.join(a.runs, "runs")
    recordings = []
    for run in sorted(os.listdir(rd)):
        adir = os.path.join(rd, run, "activations")
        if not os.path.isdir(adir):
            continue
        spec = json.load(open(os.path.join(rd, run, "spec.json")))
        rule = spec["rule"]["label"]
        layers = [(l["name"], l["position"]) for l in spec["layers"]]
        epochs = sorted(int(e[len("epoch_"):]) for e in os.listdir(adir) if e.startswith("epoch_"))
        acts = {e: {n: np.load(os.path.join(adir, f"epoch_{e:04d}", n + ".npy")) for n, _ in layers}
                for e in epochs}
        # The same neurons over the whole trajectory: a seeded subset per layer.
        keep = {}
        for n, _ in layers:
            units = acts[epochs[0]][n].shape[1]
            k = max(1, math.ceil(a.fraction * units))
            keep[n] = np.sort(rng.permutation(units)[:k])
        os.makedirs(os.path.join(a.out, run), exist_ok=True)
        sessions = []
        for e in epochs:
            x = np.concatenate([acts[e][n][:, keep[n]] for n, _ in layers], 1).astype(np.float64)
            name = os.path.join(run, f"epoch_{e:04d}." + ("nwb" if a.format == "nwb" else "npy"))
            path = os.path.join(a.out, name)
            if a.model == "calcium":
                dff = calcium_traces(x, p, rng)
                if a.format == "nwb":
                    write_nwb_calcium(path, dff, p, x.shape[0])
                else:
                    fps = int(p["frames_per_stimulus"])
                    np.save(path, dff.reshape(x.shape[0], fps, -1).mean(1))
            else:
                spikes = poisson_spikes(x, p, rng)
                if a.format == "nwb":
                    write_nwb_units(path, spikes, p, x.shape[0])
                else:
                    w = p["window"]
                    r = np.stack([np.histogram(t, bins=np.arange(x.shape[0] + 1) * w)[0] for t in spikes], 1) / w
                    np.save(path, r)
            sessions.append({"epoch": e, "file": name})
        start, ls = 0, []
        for n, pos in layers:
            ls.append({"name": n, "position": pos, "units": list(range(start, start + len(keep[n])))})
            start += len(keep[n])
        rec = {"id": run, "rule": rule, "format": a.format, "layers": ls, "sessions": sessions}
        if a.format == "nwb":
            rec["nwb"] = ({"responses": "processing/ophys/DfOverF/RoiResponseSeries", "intervals": "trials",
                           "stimulus": "stimulus"} if a.model == "calcium"
                          else {"responses": "units", "intervals": "trials", "stimulus": "stimulus"})
        recordings.append(rec)
    if not recordings:
        sys.exit(f"error: {rd}: no run has saved activations (observe {{ save_activations = true }})")
    json.dump({"observables": None, "recordings": recordings}, open(os.path.join(a.out, "recordings.json"), "w"),
              indent=1)
    with open(os.path.join(a.out, "recordings.lrx"), "w") as f:
        f.write(recordings_spec(recordings, a))
    print(f"{len(recordings)} recordings, {sum(len(r['sessions']) for r in recordings)} sessions -> {a.out}")


def recordings_spec(recordings, a):
    """The mapping as a recordings spec (docs/reference/recordings.md)."""
    q = json.dumps  # a JSON string is a valid .lrx string (no escapes beyond \\ and \")
    out = [f"// Simulated recordings ({a.model}, {a.format}), written by scripts/e2e/simulate_recordings.py.", ""]
    for i, r in enumerate(recordings):
        out.append(f"recording net{i} {{")
        out.append(f"  id = {q(r['id'])}")
        out.append(f"  rule = {q(r['rule'])}")
        if "nwb" in r:
            n = r["nwb"]
            out.append(f"  nwb {{ responses = {q(n['responses'])}, intervals = {q(n['intervals'])}, "
                       f"stimulus = {q(n['stimulus'])} }}")
        sessions = ", ".join(f"{s['epoch']}: {q(s['file'])}" for s in r["sessions"])
        out.append(f"  sessions = {{ {sessions} }}")
        for l in r["layers"]:
            u = l["units"]
            units = f"range({u[0]}, {u[-1] + 1})" if u == list(range(u[0], u[-1] + 1)) else str(u)
            out.append(f"  layer {l['name']} {{ position = {l['position']}, units = {units} }}")
        out.append("}")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
