#!/usr/bin/env bash
# The README's test command, RUNS times in a row (default 10), on a machine kept busy by
# another build: the check that no test depends on the machine's speed (issue "Hardening II").
#
#   .ci/loaded-tests.sh [RUNS]
#
# The load: a release build of this workspace, in a target folder of its own, over and over
# (`cargo clean` between rounds), plus one busy loop per core, all at normal priority, so that
# the tests compete for every core. Prints the load average and the result of every run; exits 1
# at the first failing run, with its log.
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
load_dir="$(mktemp -d)"
log_dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null
    kill "$pid" 2>/dev/null
  done
  rm -rf "$load_dir"
}
trap cleanup EXIT

cargo test --workspace --locked --no-run -q 2>/dev/null || { echo "loaded-tests: build failed" >&2; exit 2; }

( while true; do
    cargo build --release --workspace --locked -q --target-dir "$load_dir" >/dev/null 2>&1
    cargo clean -q --target-dir "$load_dir" >/dev/null 2>&1
  done ) &
pids+=($!)
for _ in $(seq "$(nproc)"); do
  ( while true; do :; done ) &
  pids+=($!)
done
sleep 20

for i in $(seq "$runs"); do
  start=$(date +%s)
  if cargo test --workspace --locked >"$log_dir/run-$i.log" 2>&1; then
    result=passed
  else
    result=FAILED
  fi
  passed=$(grep -E '^test result' "$log_dir/run-$i.log" | awk '{s += $4} END {print s}')
  echo "run $i/$runs: $result, $passed tests passed, $(( $(date +%s) - start )) s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ "$result" = FAILED ]; then
    grep -E -B2 -A20 'panicked|FAILED|failures:' "$log_dir/run-$i.log" | head -80
    exit 1
  fi
done
echo "loaded-tests: $runs runs in a row passed"
