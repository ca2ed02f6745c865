#!/usr/bin/env bash
# Integration test of `lrx submit --slurm` against a real Slurm (Debian's packages), started on
# loopback in a temporary directory and torn down on exit (recipe: docs/slurm.md, "Testing").
#
#  0. `--dry-run` submits nothing; a refused sbatch ends with sbatch's own message;
#  1. chunking: MaxArraySize = 3 splits the 8 runs of tests/slurm/study.lrx into 3 arrays that
#     together cover every manifest index exactly once;
#  2. the features and classifier results of the Slurm study equal those of a local `lrx run`;
#  3. one array task is cancelled mid-run (scancel); `lrx status` shows it; `lrx submit --resume`
#     resubmits only that run, the finished runs are not touched, and the final study again
#     equals the local one.
#
# Needs root (it starts munged, slurmctld and slurmd) and apt (once). LRX_SKIP_SLURM=1 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${LRX_SKIP_SLURM:-0}" = 1 ]; then
  echo "LRX_SKIP_SLURM=1: skipping the Slurm integration test"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: the Slurm test starts munged, slurmctld and slurmd and needs root (LRX_SKIP_SLURM=1 skips it)" >&2
  exit 1
fi
T0=$(date +%s)
eval "$(scripts/setup.sh --print-env)"
LRX=${LRX:-$PWD/target/debug/lrx}
[ -x "$LRX" ] && [ -x "$(dirname "$LRX")/lrx-engine" ] || cargo build --bin lrx --bin lrx-engine
PY=${LRX_PYTHON:-python3}
export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  echo "installing Slurm and munge from the Debian packages"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

R=$(mktemp -d /tmp/lrx-slurm.XXXXXX)
export SLURM_CONF=$R/etc/slurm.conf
mkdir -p "$R"/{etc,state,spool,log,run,w}
MUNGE_STARTED=0
teardown() {
  timeout 10 scontrol shutdown >/dev/null 2>&1 || true
  pids=""
  for p in "$R"/run/slurmctld.pid "$R"/run/slurmd.pid; do
    [ -f "$p" ] && pids="$pids $(cat "$p")"
  done
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  # wait (up to 15 s) for the daemons to exit: slurmctld still writes its state files while it
  # shuts down, and removing $R under it fails with "Directory not empty"
  for _ in $(seq 150); do
    alive=0
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
  if [ "$MUNGE_STARTED" = 1 ] && [ -f /run/munge/munged.pid ]; then
    kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
  fi
}
on_exit() {
  rc=$?
  if [ "$rc" != 0 ]; then
    echo "--- Slurm test failed (exit $rc); daemon logs and task logs follow" >&2
    tail -n 30 "$R"/log/*.log >&2 || true
    for f in "$R"/w/*/slurm/logs/*.out; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  fi
  teardown
  # cleanup of a passed test never fails it: retry once, then leave the folder and say so
  if [ "$rc" = 0 ]; then
    rm -rf "$R" 2>/dev/null || { sleep 1; rm -rf "$R" 2>/dev/null; } || echo "note: could not remove $R" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT

# munge (no systemd here: create its run directory by hand)
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --force
  chown munge: /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 755 /run/munge
if ! (echo | timeout 5 munge -n 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1); then
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  MUNGE_STARTED=1
fi
# slurm.conf before any Slurm command (else clients retry for 60 s)
cat > "$SLURM_CONF" <<CONF
ClusterName=lrxci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$R/state
SlurmdSpoolDir=$R/spool
SlurmctldPidFile=$R/run/slurmctld.pid
SlurmdPidFile=$R/run/slurmd.pid
SlurmctldLogFile=$R/log/slurmctld.log
SlurmdLogFile=$R/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MaxArraySize=3
NodeName=localhost NodeAddr=127.0.0.1 CPUs=8 Sockets=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld
slurmd -N localhost
for _ in $(seq 200); do [ "$(timeout 5 sinfo -h -n localhost -o %t 2>/dev/null)" = idle ] && break; sleep 0.1; done
[ "$(timeout 5 sinfo -h -n localhost -o %t)" = idle ] || { echo "error: slurmd did not come up" >&2; exit 1; }
echo "Slurm $(sinfo --version | awk '{print $2}') up after $(( $(date +%s) - T0 )) s"

W=$R/w
cp tests/slurm/study.lrx "$W/study.lrx"
fail() { echo "FAIL: $*" >&2; exit 1; }
# Waits until none of the comma-separated job ids is in the queue (10 min at most).
wait_jobs() {
  for _ in $(seq 3000); do
    timeout 10 squeue -h -j "$1" 2>/dev/null | grep -q . || return 0
    sleep 0.2
  done
  fail "jobs $1 still queued after 10 minutes"
}
job_ids() { grep -oE 'submitted (array|final) job [0-9]+' "$1" | awk '{print $4}' | paste -sd, -; }

# The local reference.
"$LRX" run "$W/study.lrx" -o "$W/local" -q

# --dry-run writes and prints, submits nothing.
"$LRX" submit --slurm "$W/study.lrx" -o "$W/dry" --cpus-per-task 1 --dry-run > "$W/dry.out"
[ "$(grep -c '^#SBATCH --array=' "$W/dry.out")" = 3 ] || fail "dry run: expected 3 array scripts"
[ -z "$(timeout 5 squeue -h)" ] || fail "the dry run submitted jobs"

# sbatch's refusal is reported with its own message, and nothing is recorded.
if "$LRX" submit --slurm "$W/study.lrx" -o "$W/refused" --cpus-per-task 1 --partition nope 2> "$W/refused.err"; then
  fail "a submission to a missing partition succeeded"
fi
grep -q 'invalid partition' "$W/refused.err" || { cat "$W/refused.err"; fail "sbatch's message is not shown"; }
[ ! -f "$W/refused/slurm/jobs.json" ] || fail "a refused submission was recorded"

# 1 + 2: submit, wait, check chunking and compare with the local study.
"$LRX" submit --slurm "$W/study.lrx" -o "$W/slurm" --cpus-per-task 1 --max-running 8 2> "$W/submit.err"
cat "$W/submit.err"
[ "$(grep -c 'submitted array job' "$W/submit.err")" = 3 ] || fail "expected 3 arrays under MaxArraySize=3"
wait_jobs "$(job_ids "$W/submit.err")"
"$PY" - "$W/slurm" <<'PY'
import json, sys
d = sys.argv[1]
jobs = json.load(open(f"{d}/slurm/jobs.json"))
n = len(json.load(open(f"{d}/manifest.json"))["run_ids"])
idx = [a["chunk"]["offset"] + i for s in jobs["submissions"] for a in s["arrays"] for i in a["chunk"]["array_ids"]]
assert sorted(idx) == list(range(n)), f"arrays cover {sorted(idx)}, want 0..{n - 1} once each"
assert all(i < 3 for s in jobs["submissions"] for a in s["arrays"] for i in a["chunk"]["array_ids"])
print(f"chunking: {len(jobs['submissions'][0]['arrays'])} arrays cover the {n} runs exactly once")
PY
"$PY" tests/python/compare_studies.py "$W/local" "$W/slurm"
[ -f "$W/slurm/results/report.html" ] || fail "the final job wrote no report"
"$LRX" status "$W/slurm"

# 3: cancel one task mid-run, then --resume.
"$LRX" submit --slurm "$W/study.lrx" -o "$W/cancel" --cpus-per-task 1 2> "$W/c.err"
J=$(grep -oE 'submitted array job [0-9]+' "$W/c.err" | head -1 | awk '{print $4}')
RID=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['run_ids'][0])" "$W/cancel/manifest.json")
for _ in $(seq 1500); do
  st=$(timeout 5 squeue -h -j "${J}_0" -o %T 2>/dev/null || true)
  [ "$st" = RUNNING ] && [ -n "$(ls "$W/cancel/runs/$RID/checkpoints" 2>/dev/null)" ] && break
  [ -f "$W/cancel/runs/$RID/status.json" ] && fail "run $RID finished before it could be cancelled"
  sleep 0.2
done
[ "$st" = RUNNING ] || fail "task ${J}_0 never ran"
scancel "${J}_0"
echo "cancelled task ${J}_0 (run $RID) mid-run"
wait_jobs "$(job_ids "$W/c.err")"
"$LRX" status "$W/cancel" | tee "$W/status.txt"
grep -q 'CANCELLED' "$W/status.txt" || fail "lrx status does not show the cancelled task"
grep -q 'lrx submit --slurm --resume' "$W/status.txt" || fail "lrx status does not suggest --resume"
"$PY" - "$W/cancel" "$RID" > "$W/before.json" <<'PY'
import json, os, sys
d, rid = sys.argv[1], sys.argv[2]
ids = json.load(open(f"{d}/manifest.json"))["run_ids"]
done = {i: os.stat(f"{d}/runs/{i}/status.json").st_mtime_ns for i in ids if i != rid}
states = {i: json.load(open(f"{d}/runs/{i}/status.json"))["status"] for i in done}
assert all(s in ("done", "diverged") for s in states.values()), states
print(json.dumps(done))
PY
"$LRX" submit --slurm --resume "$W/study.lrx" -o "$W/cancel" --cpus-per-task 1 2> "$W/r.err"
cat "$W/r.err"
grep -q 'submitted array job [0-9]*: 1 run(s)' "$W/r.err" || fail "--resume should resubmit exactly the cancelled run"
[ "$(grep -c 'submitted array job' "$W/r.err")" = 1 ] || fail "--resume submitted more than one array"
wait_jobs "$(job_ids "$W/r.err")"
"$PY" - "$W/cancel" "$W/before.json" <<'PY'
import json, os, sys
d, before = sys.argv[1], json.load(open(sys.argv[2]))
for i, t in before.items():
    assert os.stat(f"{d}/runs/{i}/status.json").st_mtime_ns == t, f"finished run {i} was redone"
print(f"{len(before)} finished runs untouched by --resume")
PY
"$PY" tests/python/compare_studies.py "$W/local" "$W/cancel"
"$LRX" submit --slurm --resume "$W/study.lrx" -o "$W/cancel" --cpus-per-task 1 2> "$W/r2.err"
grep -q 'nothing to submit' "$W/r2.err" || fail "a second --resume should have nothing to submit"
echo "Slurm integration test passed in $(( $(date +%s) - T0 )) s"
