#!/usr/bin/env bash
# CI's fuzzing step: every target for 20 s (fuzz/run.sh 20), with the time the whole step
# and its build took. On this 2-core machine, from a cold fuzz/target: 5 min 21 s in all, of
# which 228 s building (see fuzz/README.md).
set -uo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$fuzz/logs"
start=$(date +%s)
"$fuzz/run.sh" 20 2>&1 | tee "$fuzz/logs/ci.txt"
status=${PIPESTATUS[0]}
build=$(grep -oE 'build took [0-9]+s' "$fuzz/logs/ci.txt" | tail -1)
echo "fuzz ci: ${build:-build time unknown}; whole step $(( $(date +%s) - start ))s; exit $status"
exit "$status"
