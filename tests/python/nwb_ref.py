"""pynwb writer and numpy reference for `lrx import` of NWB 2.x sessions (src/exec/import/nwb.rs).

Usage: nwb_ref.py DIR
Writes, with pynwb as the independent writer (seed 23):
  DIR/units.nwb   5 units (ids 10..14) with spike times and electrodes (10-12 in `CA1`, 13-14
                  in `VISp`), a `trials` table of 24 presentations of 6 stimuli (column
                  `stimulus`, strings), and
  DIR/mixed.nwb   one unit (id 7) on electrodes in two locations, and
  DIR/ophys.nwb   a RoiResponseSeries (processing/ophys/Fluorescence/RoiResponseSeries) of 4 ROIs
                  at 10 Hz (starting_time + rate), and a `stims` TimeIntervals table of 12
                  presentations with an integer `image` column;
  DIR/bad_*.nwb   copies of units.nwb with /units/spike_times_index or /intervals/trials removed;
and DIR/expected.json: {"units": {"ids": [...], "rows": [[...]]}, "ophys": {...}}, the
per-stimulus responses (stimuli in order of first presentation; repeats averaged) computed with
numpy: spike count in [start, stop) / duration, and the mean of the samples in [start, stop).
"""
import json
import os
import shutil
import sys
import warnings
from datetime import datetime, timezone

import h5py
import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries


def new_file(ident):
    return NWBFile(
        session_description="lrx import test",
        identifier=ident,
        session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )


def per_stimulus(keys, per_pres):
    order = []
    for k in keys:
        if k not in order:
            order.append(k)
    return [per_pres[[i for i, k in enumerate(keys) if k == o]].mean(axis=0).tolist() for o in order]


def main():
    warnings.simplefilter("ignore")
    out = sys.argv[1]
    rng = np.random.default_rng(23)
    expected = {}

    # (a) spike-sorted units + trials.
    f = new_file("units")
    f.add_trial_column(name="stimulus", description="stimulus name")
    starts = np.arange(24) * 1.0 + 0.1
    stops = starts + 0.5 + 0.25 * (np.arange(24) % 2)
    keys = ["img%d" % (i % 6) for i in range(24)]
    for a, b, k in zip(starts, stops, keys):
        f.add_trial(start_time=a, stop_time=b, stimulus=k)
    ids = [10, 11, 12, 13, 14]
    # Electrodes in two areas: units 10-12 on CA1 electrodes (11 on two of them), 13-14 in VISp.
    probe = f.create_device(name="probe")
    shank = f.create_electrode_group(name="shank0", description="one shank", location="brain", device=probe)
    for loc in ["CA1", "CA1", "VISp"]:
        f.add_electrode(location=loc, group=shank)
    unit_electrodes = [[0], [0, 1], [1], [2], [2]]
    spikes = []
    for j, uid in enumerate(ids):
        st = np.sort(rng.uniform(0.0, 25.0, size=40 + 15 * j))
        spikes.append(st)
        f.add_unit(id=uid, spike_times=st, electrodes=unit_electrodes[j])
    with NWBHDF5IO(os.path.join(out, "units.nwb"), "w") as io:
        io.write(f)
    # A unit whose electrodes lie in two areas (CA1 and VISp): selecting by location is refused.
    g = new_file("mixed")
    g.add_trial_column(name="stimulus", description="stimulus name")
    g.add_trial(start_time=0.1, stop_time=0.6, stimulus="img0")
    probe = g.create_device(name="probe")
    shank = g.create_electrode_group(name="shank0", description="one shank", location="brain", device=probe)
    for loc in ["CA1", "VISp"]:
        g.add_electrode(location=loc, group=shank)
    g.add_unit(id=7, spike_times=[0.2, 0.3], electrodes=[0, 1])
    with NWBHDF5IO(os.path.join(out, "mixed.nwb"), "w") as io:
        io.write(g)
    per_pres = np.array(
        [[np.sum((st >= a) & (st < b)) / (b - a) for st in spikes] for a, b in zip(starts, stops)]
    )
    expected["units"] = {"ids": ids, "rows": per_stimulus(keys, per_pres)}

    # (b) ophys RoiResponseSeries + a stimulus presentation table.
    f = new_file("ophys")
    dev = f.create_device(name="scope")
    ch = OpticalChannel(name="ch", description="green", emission_lambda=520.0)
    plane = f.create_imaging_plane(
        name="plane", optical_channel=ch, description="V1", device=dev, excitation_lambda=920.0,
        imaging_rate=10.0, indicator="GCaMP6", location="VISp",
    )
    seg = ImageSegmentation()
    ps = seg.create_plane_segmentation(name="ps", description="rois", imaging_plane=plane)
    for _ in range(4):
        ps.add_roi(image_mask=rng.uniform(size=(4, 4)) > 0.5)
    mod = f.create_processing_module(name="ophys", description="ophys")
    mod.add(seg)
    region = ps.create_roi_table_region(region=[0, 1, 2, 3], description="all")
    data = rng.standard_normal((130, 4)) + np.arange(4)
    rrs = RoiResponseSeries(
        name="RoiResponseSeries", data=data, rois=region, unit="dF/F", starting_time=0.05, rate=10.0
    )
    mod.add(Fluorescence(roi_response_series=rrs))
    from pynwb.epoch import TimeIntervals

    ti = TimeIntervals(name="stims", description="presentations")
    ti.add_column(name="image", description="image index")
    pstarts = np.arange(12) * 1.0 + 0.3
    pstops = pstarts + 0.6
    images = [int(i % 4) for i in range(12)]
    for a, b, im in zip(pstarts, pstops, images):
        ti.add_row(start_time=a, stop_time=b, image=im)
    f.add_time_intervals(ti)
    with NWBHDF5IO(os.path.join(out, "ophys.nwb"), "w") as io:
        io.write(f)
    ts = 0.05 + np.arange(130) / 10.0
    per_pres = np.array([data[(ts >= a) & (ts < b)].mean(axis=0) for a, b in zip(pstarts, pstops)])
    expected["ophys"] = {"ids": [0, 1, 2, 3], "rows": per_stimulus(images, per_pres)}

    # (c) malformed copies.
    for name, obj in (("bad_index", "units/spike_times_index"), ("bad_intervals", "intervals/trials")):
        p = os.path.join(out, name + ".nwb")
        shutil.copy(os.path.join(out, "units.nwb"), p)
        with h5py.File(p, "a") as h:
            del h[obj]
    json.dump(expected, open(os.path.join(out, "expected.json"), "w"))


if __name__ == "__main__":
    main()
