#!/usr/bin/env bash
# Issue 19 on a GPU: KNet4 on all 60,000 Fashion-MNIST images for many epochs, the rows that the
# 2-core machine could only screen on 5,000 images × 3 epochs, all at once on one GPU (one process
# per row; the reference, scripts/ref/knet_ref.py, draws the init and the batch order on the CPU
# with the same seeds as on the CPU, then moves them). Usage:
#   scripts/ref/gpu_sweep.sh OUTDIR [EPOCHS] [SECONDS] [SET]
# SET 1 (default): the rules, their controls and IA at lower single rates; SET 2: the controls of
# the IA row that survived (Adam 1e-4) and IA at still lower rates.
# Each row writes OUTDIR/<row>.jsonl (knet_ref's epoch lines) as it goes; rows still running after
# SECONDS are stopped (their finished epochs stay). Summarise with scripts/ref/summarize.py.
set -uo pipefail
OUT="${1:?usage: gpu_sweep.sh OUTDIR [EPOCHS] [SECONDS]}"
EPOCHS="${2:-20}"
SECS="${3:-300}"
SET="${4:-1}"
PY="${PYTHON:-python3}"
DATA="${LRX_FASHION:-/usr/share/datasets/fashion-mnist}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"
run() {  # name, knet_ref arguments
  local name="$1"; shift
  PYTHONUNBUFFERED=1 timeout "$SECS" "$PY" "$HERE/knet_ref.py" --device cuda --data "$DATA" \
    --epochs "$EPOCHS" --batch 32 --seed 0 --data-seed 0 "$@" > "$OUT/$name.jsonl" 2> "$OUT/$name.err" &
}
if [ "$SET" = 2 ]; then
run readout_adam_1e-4   --rule readout --opt adam --lr 1e-4
run bp_adam_1e-4        --rule bp --opt adam --lr 1e-4
run ia_adam_1e-4_seed1  --rule ia --opt adam --lr 1e-4 --seed 1
run ia_adam_3e-5        --rule ia --opt adam --lr 3e-5
run ia_sgdm_1e-4        --rule ia --opt sgdm --lr 1e-4
run readout_adam_1e-3   --rule readout --opt adam --lr 1e-3
wait
echo "gpu_sweep: done ($(ls "$OUT"/*.jsonl | wc -l) rows in $OUT)"
exit 0
fi
# Controls and the rules at their regime settings (stdlib/paper.lrx).
run bp_sgdm_1e-2        --rule bp --opt sgdm --lr 1e-2
run readout_sgdm_1e-2   --rule readout --opt sgdm --lr 1e-2
run bp_sgdm_1e-3        --rule bp --opt sgdm --lr 1e-3
run fa_regime           --rule fa --opt adam --lr 1e-3 --lr-scale conv1=0.1,conv2=0.1,conv3=0.1
run ia_regime           --rule ia --opt sgdm --lr 1e-2 --lr-scale conv1=0.02,conv2=0.02,conv3=0.02 --b-opt sgdm --b-lr 2e-4 --wd 1e-12
# IA at the paper's single rate, lower than 1e-2 (which diverges), over a long budget.
run ia_sgdm_1e-3        --rule ia --opt sgdm --lr 1e-3
run ia_sgdm_3e-4        --rule ia --opt sgdm --lr 3e-4
run ia_adam_1e-4        --rule ia --opt adam --lr 1e-4
run ia_adam_3e-4        --rule ia --opt adam --lr 3e-4
run ia_sgdm_1e-3_beta0  --rule ia --opt sgdm --lr 1e-3 --beta 0
run ia_sgdm_1e-3_badam  --rule ia --opt sgdm --lr 1e-3 --b-opt adam --b-lr 1e-3
run ia_sgdm_1e-2_constr --rule ia --opt sgdm --lr 1e-2 --constrain
run fa_sgdm_1e-3        --rule fa --opt sgdm --lr 1e-3
run fa_adam_1e-4        --rule fa --opt adam --lr 1e-4
wait
echo "gpu_sweep: done ($(ls "$OUT"/*.jsonl | wc -l) rows in $OUT)"
