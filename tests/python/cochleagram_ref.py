"""Reference cochleagram in numpy/scipy for lrx's tests (docs/audio.md).

Usage: cochleagram_ref.py IN.json OUT.json
IN:  {"params": {sample_rate, filters, low_hz, high_hz, sample_factor, env_rate, power,
                 duration}, "wav": [[...], ...]}
OUT: {"coch": [B][F][T] floats, "centres_hz": [F]}

Written from the description in docs/audio.md, independently of the Rust code, and computed the
direct way: every sub-band at the full sampling rate, its Hilbert envelope with
scipy.signal.hilbert, then scipy.signal.resample to the envelope rate.
"""
import json
import sys

import numpy as np
import scipy.signal


def freq2erb(f):
    return 9.265 * np.log(1 + np.asarray(f, dtype=np.float64) / (24.7 * 9.265))


def erb2freq(e):
    return 24.7 * 9.265 * (np.exp(np.asarray(e, dtype=np.float64) / 9.265) - 1)


def filterbank(p, n_samples):
    sf = p["sample_factor"]
    nf = sf * (p["filters"] + 1) - 1
    freqs = np.fft.rfftfreq(n_samples, 1.0 / p["sample_rate"])
    e = freq2erb(freqs)
    grid = np.linspace(freq2erb(p["low_hz"]), freq2erb(p["high_hz"]), nf + 2)
    delta = grid[1] - grid[0]
    centres = grid[1:-1]
    half = sf * delta
    H = np.zeros((nf, freqs.size))
    for i, c in enumerate(centres):
        d = e - c
        inside = np.abs(d) < half
        H[i, inside] = np.cos(np.pi * d[inside] / (2 * half))
    return H / np.sqrt(sf), erb2freq(centres)


def cochleagram(wav, p):
    n = wav.shape[-1]
    frames = int(round(p["duration"] * p["env_rate"]))
    H, centres = filterbank(p, n)
    X = np.fft.rfft(wav, axis=-1)  # [B, K]
    sub = np.fft.irfft(X[:, None, :] * H[None, :, :], n=n, axis=-1)  # [B, F, n]
    env = np.abs(scipy.signal.hilbert(sub, axis=-1))
    ds = scipy.signal.resample(env, frames, axis=-1)
    return np.clip(ds, 0, None) ** p["power"], centres


def main():
    inp = json.load(open(sys.argv[1]))
    wav = np.asarray(inp["wav"], dtype=np.float64)
    coch, centres = cochleagram(wav, inp["params"])
    json.dump({"coch": coch.tolist(), "centres_hz": centres.tolist()}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
