#!/usr/bin/env bash
# End to end, from a virtual study to predictions on (simulated) recordings (issue 23, the
# tutorial docs/recordings.md): train a study under a calcium measurement model and save its
# classifier; train held-out networks (other seeds) saving their activations; turn those into
# two-photon recordings written as NWB with pynwb (scripts/e2e/simulate_recordings.py); `lrx
# import` them; `lrx predict`. Checks that the accuracy on the recordings agrees with the same
# classifier's accuracy on lrx's own calcium features of the same held-out networks (within two
# standard errors of their difference), that every recording is predicted with probabilities
# summing to 1, and prints both beside the classifier's cross-validated accuracy.
# Usage: scripts/e2e/run.sh [WORKDIR]   (about 2 min on 2 cores; needs target/debug/lrx built)
set -euo pipefail
cd "$(dirname "$0")/../.."
W="${1:-$(mktemp -d)}"
PY="${LRX_PYTHON:-python3}"
LRX="${LRX:-target/debug/lrx}"
mkdir -p "$W" && rm -rf "$W/train" "$W/heldout" "$W/rec" "$W/imported"
echo "[e2e] 1/5 train the study (calcium realism, classify { save = true }) -> $W/train"
"$LRX" run scripts/e2e/train.lrx -o "$W/train" --jobs 2 > "$W/train.log" 2>&1 || { tail -20 "$W/train.log"; exit 1; }
M=$(ls "$W"/train/results/models/rule.act.random_forest.realism-calcium-*.lrxc.json)
echo "[e2e] 2/5 held-out networks (saved activations) -> $W/heldout"
"$LRX" run scripts/e2e/heldout.lrx -o "$W/heldout" --no-classify --jobs 2 > "$W/heldout.log" 2>&1 || { tail -20 "$W/heldout.log"; exit 1; }
echo "[e2e] 3/5 simulate two-photon recordings, write NWB -> $W/rec"
"$PY" scripts/e2e/simulate_recordings.py "$W/heldout" "$W/rec" --model calcium --fraction 0.25 \
  --params '{"frames_per_stimulus": 4}' --seed 7 2> "$W/simulate.err"
echo "[e2e] 4/5 lrx check + lrx import (the recordings spec) -> $W/imported"
"$LRX" check "$W/rec/recordings.lrx" --deny warnings
"$LRX" import "$W/rec/recordings.lrx" --out "$W/imported"
echo "[e2e] 5/5 lrx predict"
"$LRX" predict "$M" "$W/imported" --plain --format json > "$W/pred_recordings.json"
"$LRX" predict "$M" "$W/heldout" --format json > "$W/pred_lrx.json"
"$PY" - "$W" <<'PYEOF'
import json, math, sys
w = sys.argv[1]
rec = json.load(open(f"{w}/pred_recordings.json"))
ref = json.load(open(f"{w}/pred_lrx.json"))
ev = json.load(open(f"{w}/train/results/evaluations.json"))
cv = [e for e in ev["evaluations"] if e["id"] == rec["eval_id"]][0]
n1, n2 = rec["n_labelled"], ref["n_labelled"]
assert n1 == n2 == 32, (n1, n2)
p1, p2 = rec["accuracy"], ref["accuracy"]
for p in rec["predictions"]:
    s = sum(p["probabilities"].values()) if isinstance(p["probabilities"], dict) else sum(p["probabilities"])
    assert abs(s - 1) < 1e-9, p
se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
print(f"[e2e] accuracy on the NWB recordings {p1:.3f} ({n1} layer recordings of 8 held-out networks)")
print(f"[e2e] accuracy on lrx's calcium features of the same networks {p2:.3f}; difference {p1 - p2:+.3f}, s.e. {se:.3f}")
acc = cv.get("accuracy") or cv.get("summary", {}).get("accuracy")
print(f"[e2e] the classifier's cross-validated accuracy (examples of the training networks): {json.dumps(acc)}")
print(f"[e2e] held-out calibration: {json.dumps(rec.get('calibration'))}")
assert rec["n_recordings_labelled"] == 8 and len(rec["recordings"]) == 8, rec["recordings"]
for r in rec["recordings"]:
    assert r["layers"] == 4 and abs(sum(r["probabilities"].values()) - 1) < 1e-9, r
print(f"[e2e] per recording (mean of its 4 layers' probabilities): accuracy {rec['recording_accuracy']:.3f} "
      f"on the recordings, {ref['recording_accuracy']:.3f} on lrx's features (8 networks)")
assert abs(p1 - p2) <= 2 * se + 1e-12, "recordings and lrx's own features disagree beyond two standard errors"
print("[e2e] passed")
PYEOF
