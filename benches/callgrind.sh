#!/usr/bin/env bash
# Instructions per decision for every bundle in rules/, counted by valgrind's callgrind (the
# same binary and inputs give the same count, however busy the machine): the count of 300
# decisions minus that of 100, over 200, so loading and start-up are left out.
#
#   cargo build --release -p aftersale-benches --bin profile
#   benches/callgrind.sh [path/to/profile] [--trace]
#
# car-warranty decides its example claim as of 2026-06-20 (inside every cover), the others
# their first example as of the profile binary's default.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-target/release/profile}"
shift || true
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for bundle in car-warranty consumer-electronics eu-legal-guarantee fleet-maintenance helpdesk-sla; do
  extra=()
  [ "$bundle" = car-warranty ] && extra=(--as-of 2026-06-20)
  declare -A count=()
  for n in 100 300; do
    valgrind --tool=callgrind --callgrind-out-file="$out/$bundle.$n" \
      "$profile" "$bundle" "$n" "${extra[@]}" "$@" >/dev/null 2>"$out/$bundle.$n.err"
    count[$n]=$(awk '/^summary:/ {print $2; exit}' "$out/$bundle.$n")
  done
  echo "$bundle $(( (count[300] - count[100]) / 200 ))"
done
