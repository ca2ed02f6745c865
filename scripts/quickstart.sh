#!/usr/bin/env bash
# Sets everything up (idempotent, cached in ~/.cache/lrx), builds lrx and runs the quickstart
# study end to end: check, plan, train + observe 64 networks, classify, report.
# The study directory is runs/quickstart; rerunning skips what is finished.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup.sh --print-env)"
cargo build --release
./target/release/lrx check specs/quickstart.lrx
./target/release/lrx plan specs/quickstart.lrx
start=$(date +%s)
./target/release/lrx run specs/quickstart.lrx "$@"
echo "lrx run took $(( $(date +%s) - start )) s; report: runs/quickstart/results/report.html"
