#!/usr/bin/env bash
# Sets everything up (idempotent, cached in ~/.cache/lrx), builds lrx and runs the quickstart
# study as far as lrx can run it today.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup.sh --print-env)"
cargo build --release
./target/release/lrx check specs/quickstart.lrx
./target/release/lrx plan specs/quickstart.lrx
if ./target/release/lrx run --help >/dev/null 2>&1; then
  ./target/release/lrx run specs/quickstart.lrx
else
  echo "lrx run is not available yet in this version: check and plan only (see README)."
fi
