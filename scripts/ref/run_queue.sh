#!/usr/bin/env bash
# Run the experiments listed in a queue file one at a time (never two trainings at once).
# Each line: NAME ARGS...  -> docs/learning/ref/NAME.jsonl (stdout) and NAME.err (stderr).
# ARGS go to knet_ref.py, unless the first one names another script of scripts/ref (e.g. fa_probe.py).
# Lines are popped from the top as they start, so the queue can be edited while it runs.
set -u
q=${1:?usage: run_queue.sh QUEUE_FILE}
cd "$(dirname "$0")/../.."
py=${PYTHON:-/root/.cache/lrx/venv/bin/python}
out=docs/learning/ref
mkdir -p "$out"
while true; do
  line=$(grep -v '^\s*\(#\|$\)' "$q" | head -1)
  [ -z "$line" ] && break
  grep -vxF -- "$line" "$q" > "$q.tmp"; mv "$q.tmp" "$q"
  name=${line%% *}; args=${line#* }
  script=knet_ref.py
  first=${args%% *}
  case "$first" in *.py) script=$first; args=${args#* } ;; esac
  echo "$(date +%T) start $name: $script $args"
  # shellcheck disable=SC2086
  "$py" "scripts/ref/$script" $args > "$out/$name.jsonl" 2> "$out/$name.err"
  rc=$?
  echo "$(date +%T) done $name rc=$rc $(tail -1 "$out/$name.jsonl" | cut -c1-120)"
  [ -s "$out/$name.err" ] || rm -f "$out/$name.err"
done
