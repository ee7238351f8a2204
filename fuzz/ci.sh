#!/usr/bin/env bash
# CI's fuzzing step: every target for FUZZ_SECONDS (default 30), built for speed of the build.
#
# Unlike run.sh (cargo-fuzz, nightly, AddressSanitizer: for long runs), this builds with plain
# cargo on the stable toolchain CI already has, with the SanitizerCoverage flags cargo-fuzz
# passes, minus AddressSanitizer and its single codegen unit: nothing to install, no nightly,
# `--locked` as everywhere else, and a build that uses both cores. What it loses: without
# ASan a stack overflow kills the process with a bare SIGSEGV and libFuzzer writes no input
# (the core grows the stack of deep evaluations, so one would be a new bug): then rerun the
# target with run.sh, which does write it.
#
# Exits 1 when a target found something (the input's path is printed: reproduce with
# `fuzz/run.sh` or `cargo +nightly fuzz run <target> <path>`), 2 on a setup or build problem.
set -uo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
cd "$fuzz"

seconds="${FUZZ_SECONDS:-30}"
targets=(manifest_parse_never_panics script_eval_bounded facts_json_never_panics test_file_parse_never_panics plugin_inputs_bounded)
# The longest input per target, as run.sh sets it (above every seed).
max_len() {
  case "$1" in
    manifest_parse_never_panics) echo 8192 ;;
    test_file_parse_never_panics) echo 12288 ;;
    plugin_inputs_bounded) echo 8192 ;;
    *) echo 4096 ;;
  esac
}
# The time one input may take, as run.sh sets it (21 evaluations an input for plugins).
timeout_of() {
  case "$1" in
    plugin_inputs_bounded) echo 30 ;;
    *) echo 10 ;;
  esac
}

die() { echo "fuzz ci: $*" >&2; exit 2; }
start=$(date +%s)
export CARGO_TERM_COLOR=never
host="$(rustc -vV | sed -n 's/^host: //p')"
target_dir="${CARGO_TARGET_DIR:-$fuzz/target}"
[ -n "$host" ] || die "cannot tell the host triple (rustc -vV)"

./seed.sh >/dev/null || die "seeding failed"

# cargo-fuzz's instrumentation (`cargo fuzz build -s none`), on stable. `--target` keeps
# these flags off build scripts and proc macros, as cargo-fuzz does.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing -Cdebug-assertions"
build_start=$(date +%s)
cargo build --profile fuzz-ci --locked --bins --target "$host" \
  || die "build failed (fuzz/Cargo.lock out of date? run 'cargo fetch' in fuzz/ and commit it)"
build_seconds=$(( $(date +%s) - build_start ))
unset RUSTFLAGS

mkdir -p logs
status=0
for target in "${targets[@]}"; do
  mkdir -p "artifacts/$target"
  marker="$(mktemp)"
  log="logs/$target.log"
  "$target_dir/$host/fuzz-ci/$target" "corpus/$target" -artifact_prefix="artifacts/$target/" \
    -max_total_time="$seconds" -timeout="$(timeout_of "$target")" -rss_limit_mb=2048 -max_len="$(max_len "$target")" \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz ci: $target ok ($seconds s): ${last:-no status line}"
  else
    status=1
    echo "fuzz ci: $target FAILED (exit $rc); log: fuzz/$log"
    grep -E -m1 -A30 'ERROR:|panicked at|deadly signal' "$log" | sed 's/^/  | /'
    found=$(find "artifacts/$target" -type f -newer "$marker" | head -3)
    if [ -n "$found" ]; then
      echo "fuzz ci: reproducer(s):"
      for input in $found; do
        echo "  fuzz/$input   (cargo +nightly fuzz run $target $input, from fuzz/)"
      done
    else
      echo "fuzz ci: no input written (a bare crash, e.g. a stack overflow without ASan):"
      echo "  rerun with ASan to get it: fuzz/run.sh $seconds $target"
      tail -5 "$log" | sed 's/^/  | /'
    fi
  fi
  rm -f "$marker"
done
echo "fuzz ci: build ${build_seconds}s; whole step $(( $(date +%s) - start ))s; exit $status"
exit "$status"
