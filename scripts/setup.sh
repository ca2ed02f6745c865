#!/usr/bin/env bash
# lrx setup: idempotent, cached outside the repo.
#
#   scripts/setup.sh            Python venv with torch 2.11.0 (its libtorch is what lrx links,
#                               CPU and CUDA alike) and the test references (numpy, scipy, sklearn, ...);
#                               headless chromium through apt when missing (report test; optional);
#                               Fashion-MNIST (Debian's dataset-fashion-mnist) through apt when
#                               missing (the fashion_mnist task and its tests; optional)
#
# Cache: $LRX_CACHE (default ~/.cache/lrx). Prints `export` lines to stdout
# when called with --print-env, so callers can `eval "$(scripts/setup.sh --print-env)"`.
set -euo pipefail
TORCH_VERSION=2.11.0
CACHE="${LRX_CACHE:-$HOME/.cache/lrx}"
PRINT_ENV=0
for a in "$@"; do
  case "$a" in
    --print-env) PRINT_ENV=1 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
log() { echo "[setup] $*" >&2; }
mkdir -p "$CACHE"

VENV="$CACHE/venv"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
  log "creating Python venv at $VENV"
  python3 -m venv "$VENV"
fi
REQS="numpy==2.3.5 scipy==1.16.3 scikit-learn==1.7.2 pyarrow==22.0.0 polars==1.35.2 pynwb==4.2.0 h5py==3.16.0"
STAMP="$VENV/.lrx-reqs"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$REQS" ]; then
  log "installing Python test references: $REQS"
  "$PY" -m pip install -q --disable-pip-version-check $REQS >&2
  echo "$REQS" > "$STAMP"
fi

STAMP2="$VENV/.lrx-torch"
if [ "$(cat "$STAMP2" 2>/dev/null)" != "$TORCH_VERSION" ]; then
  log "installing torch==$TORCH_VERSION from PyPI (about 4.6 GB with its CUDA wheels, once; cached in $VENV)"
  "$PY" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" >&2
  echo "$TORCH_VERSION" > "$STAMP2"
fi
# The wheel's package directory has the include/ + lib/ layout torch-sys expects.
LIBTORCH_DIR="$VENV/lib/python3.11/site-packages/torch"
[ -d "$LIBTORCH_DIR/lib" ] || LIBTORCH_DIR="$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__))')"

# HDF5 for `lrx import` of NWB recordings (the default `nwb` feature links the system library,
# found by pkg-config): Debian's libhdf5-dev. Without apt-get, install HDF5 1.10-1.14 yourself or
# build with `--no-default-features --features torch`.
if ! pkg-config --exists hdf5 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  log "installing libhdf5-dev (HDF5, for lrx import of NWB files)"
  if ! { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libhdf5-dev pkg-config >&2 \
         || { $SUDO apt-get update -q >&2 \
              && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libhdf5-dev pkg-config >&2; }; }; then
    log "could not install libhdf5-dev: build with --no-default-features --features torch (no NWB import)"
  fi
fi

# Optional: headless Chromium for the HTML report's browser test (tests/report_browser.rs).
# Skipped when it is already there, when LRX_SKIP_BROWSER=1, or without apt-get; a failed
# install is reported, not fatal (the test then says how to skip it).
if [ "${LRX_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1 \
   && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  log "installing chromium (headless browser for the HTML report test)"
  if ! { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >&2 \
         || { $SUDO apt-get update -q >&2 \
              && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >&2; }; }; then
    log "could not install chromium: the report browser test fails unless LRX_SKIP_BROWSER=1"
  fi
fi

# Optional: Fashion-MNIST, the `fashion_mnist` task's data (specs/fashion.lrx and the tests that
# read the real files), as Debian packages it in /usr/share/datasets/fashion-mnist. Skipped when
# it is already there, when LRX_SKIP_DATASETS=1, or without apt-get; a failed install is
# reported, not fatal (those tests then skip, and `lrx check` warns about the missing data).
FASHION_DIR=/usr/share/datasets/fashion-mnist
if [ "${LRX_SKIP_DATASETS:-0}" != 1 ] && [ ! -e "$FASHION_DIR/train-images-idx3-ubyte.gz" ] \
   && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  log "installing dataset-fashion-mnist (Fashion-MNIST, 30 MB, for the fashion_mnist task)"
  if ! { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dataset-fashion-mnist >&2 \
         || { $SUDO apt-get update -q >&2 \
              && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dataset-fashion-mnist >&2; }; }; then
    log "could not install dataset-fashion-mnist: the fashion_mnist task needs it (sudo apt-get install dataset-fashion-mnist); set LRX_SKIP_DATASETS=1 to skip"
  fi
fi

if [ "$PRINT_ENV" = 1 ]; then
  echo "export LIBTORCH='$LIBTORCH_DIR'"
  echo "export LRX_PYTHON='$PY'"
  echo "export LIBTORCH_BYPASS_VERSION_CHECK=1"
else
  log "libtorch: $LIBTORCH_DIR"
  log "python:   $PY"
fi
