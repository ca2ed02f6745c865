#!/usr/bin/env bash
# Run the experiments listed in a queue file one at a time (never two trainings at once).
# Each line: NAME ARGS...  -> docs/learning/ref/NAME.jsonl (stdout) and NAME.err (stderr).
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
  echo "$(date +%T) start $name: $args"
  # shellcheck disable=SC2086
  "$py" scripts/ref/knet_ref.py $args > "$out/$name.jsonl" 2> "$out/$name.err"
  rc=$?
  echo "$(date +%T) done $name rc=$rc $(tail -1 "$out/$name.jsonl" | cut -c1-120)"
  [ -s "$out/$name.err" ] || rm -f "$out/$name.err"
done
