#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with real inputs from rules/ and the hand-picked fuzz/seeds/:
#   manifest_parse_never_panics    every rules/*/contract.toml
#   script_eval_bounded            every rules/*/terms/*.rhai
#   facts_json_never_panics        every rules/*/examples/*.json and the facts of every test case
#   test_file_parse_never_panics   every rules/*/tests/*.toml
#   plugin_inputs_bounded          the hand-picked seeds only (facts shaped for its fixed contract)
# Files are named by content hash (as libFuzzer names what it adds), so re-seeding a corpus
# that already grew adds nothing twice and removes nothing libFuzzer found.
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
rules="$fuzz/../rules"
corpus="$fuzz/corpus"

put() { # put <target> <file>...
  local target="$1"; shift
  mkdir -p "$corpus/$target"
  local file
  for file in "$@"; do
    [ -f "$file" ] || continue
    cp "$file" "$corpus/$target/$(sha1sum "$file" | cut -c1-40)"
  done
}

shopt -s nullglob
put manifest_parse_never_panics "$rules"/*/contract.toml "$fuzz"/seeds/manifest_parse_never_panics/*
put script_eval_bounded "$rules"/*/terms/*.rhai "$fuzz"/seeds/script_eval_bounded/*
put facts_json_never_panics "$rules"/*/examples/*.json "$fuzz"/seeds/facts_json_never_panics/*
put test_file_parse_never_panics "$rules"/*/tests/*.toml "$fuzz"/seeds/test_file_parse_never_panics/*
put plugin_inputs_bounded "$fuzz"/seeds/plugin_inputs_bounded/*

# Each test case's facts as one JSON file (python3's tomllib; without it, the examples suffice).
if command -v python3 >/dev/null 2>&1 && python3 -c 'import tomllib' 2>/dev/null; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 - "$tmp" "$rules"/*/tests/*.toml <<'PY'
import datetime, decimal, json, sys, tomllib
out, files = sys.argv[1], sys.argv[2:]
def dump(v):  # JSON with every decimal's written digits (json.dumps would go through float)
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dump(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    if isinstance(v, decimal.Decimal):
        return str(v) if v.is_finite() else json.dumps(str(v))
    if isinstance(v, (datetime.date, datetime.time, datetime.datetime)):
        return json.dumps(v.isoformat())
    return json.dumps(v)
n = 0
for path in files:
    with open(path, "rb") as f:
        doc = tomllib.load(f, parse_float=decimal.Decimal)
    for case in doc.get("case", []):
        n += 1
        with open(f"{out}/case-{n}.json", "w") as f:
            f.write(dump(case.get("facts", {})))
PY
  put facts_json_never_panics "$tmp"/*.json
fi

for target in manifest_parse_never_panics script_eval_bounded facts_json_never_panics test_file_parse_never_panics plugin_inputs_bounded; do
  printf '%-32s %5d inputs\n' "$target" "$(find "$corpus/$target" -type f | wc -l)"
done
