#!/usr/bin/env bash
# Sets everything up (idempotent, cached in ~/.cache/lrx) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup.sh --print-env)"
cargo test --all-targets --no-fail-fast 2>&1
# Issue 23 end to end: a study under a calcium model, its saved classifier, simulated NWB
# recordings of held-out networks, lrx import, lrx predict (docs/recordings.md).
scripts/e2e/run.sh "$(mktemp -d)"
# A real single-node Slurm on loopback (needs root; LRX_SKIP_SLURM=1 skips it).
scripts/test-slurm.sh
