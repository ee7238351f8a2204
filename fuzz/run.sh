#!/usr/bin/env bash
# Builds and runs every fuzz target for a while, then reports and fails on any finding.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     SECONDS per target (default 60); default all targets
#
# Needs the nightly toolchain (`rustup toolchain list`) and cargo-fuzz (installed here from
# crates.io when missing). Seeds the corpora from rules/ and fuzz/seeds/ first (fuzz/seed.sh).
# Prints, per target, libFuzzer's closing figures: executions, exec/s, corpus size, cov, ft.
# Exits 1 if a target crashed, leaked, timed out or ran out of memory (the input is written
# to fuzz/artifacts/<target>/), 2 on a setup or build problem.
set -uo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
cd "$fuzz"

seconds="${1:-60}"
shift || true
all_targets=(manifest_parse_never_panics script_eval_bounded facts_json_never_panics test_file_parse_never_panics plugin_inputs_bounded)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
case "$seconds" in ''|*[!0-9]*) echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

# Per target: the longest input (above every seed, so none is truncated) and the time one
# input may take before libFuzzer calls it a hang. Scripts stop at `max_duration_ms` (1 s)
# in production; instrumented code runs several times slower, and a plugin call is not
# interrupted, so 10 s means "far beyond anything the limits allow".
max_len() {
  case "$1" in
    manifest_parse_never_panics) echo 8192 ;;
    script_eval_bounded) echo 4096 ;;
    facts_json_never_panics) echo 4096 ;;
    test_file_parse_never_panics) echo 12288 ;;
    plugin_inputs_bounded) echo 8192 ;;
    *) echo 4096 ;;
  esac
}
# plugin_inputs_bounded evaluates 21 terms per input, each of which may run up to
# `max_duration_ms` (500 ms): 30 s for the whole input. It checks each evaluation itself
# (a panic past 5 s of its thread's CPU time, naming the term).
timeout_of() {
  case "$1" in
    plugin_inputs_bounded) echo 30 ;;
    *) echo 10 ;;
  esac
}

# Leak detection, on for every target. Scripts leaked until 2026-11-24 (closures holding
# themselves, a reference cycle rhai never frees; now refused at load, see fuzz/README.md
# finding 3); FUZZ_DETECT_LEAKS=0 turns it off for scripts, to look past such a finding.
detect_leaks() {
  case "$1" in
    script_eval_bounded) echo "${FUZZ_DETECT_LEAKS:-1}" ;;
    *) echo 1 ;;
  esac
}
RSS_LIMIT_MB=2048

# ASan's fake stacks (stack-use-after-return) halve the speed of these targets, which start
# a worker thread per input; safe Rust cannot return a reference to a dead frame anyway.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_stack_use_after_return=0}"
export CARGO_TERM_COLOR=never

die() { echo "fuzz: $*" >&2; exit 2; }

command -v cargo >/dev/null || die "cargo not found"
rustup toolchain list 2>/dev/null | grep -q '^nightly' || die "the nightly toolchain is missing (rustup toolchain install nightly)"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked || die "cannot install cargo-fuzz"
fi
echo "fuzz: $(cargo +nightly fuzz --version), $(rustc +nightly --version)"

# Cargo.lock must already say what to build (cargo-fuzz has no --locked of its own).
cargo +nightly fetch --locked -q || die "fuzz/Cargo.lock is out of date (the main crates changed their dependencies?): run 'cargo +nightly fetch' in fuzz/ and commit fuzz/Cargo.lock"

./seed.sh || die "seeding failed"

build_start=$(date +%s)
cargo +nightly fuzz build --features asan || die "build failed"
build_seconds=$(( $(date +%s) - build_start ))
echo "fuzz: build took ${build_seconds}s"

mkdir -p artifacts logs
status=0
summary=()
for target in "${targets[@]}"; do
  mkdir -p "artifacts/$target"
  before=$(ls "artifacts/$target" | grep -cE '^(crash|leak|timeout|oom)-' || true)
  log="logs/$target.log"
  echo "fuzz: $target for ${seconds}s (log: fuzz/$log)"
  cargo +nightly fuzz run --features asan "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout="$(timeout_of "$target")" -rss_limit_mb="$RSS_LIMIT_MB" \
    -max_len="$(max_len "$target")" -detect_leaks="$(detect_leaks "$target")" -print_final_stats=1 -print_pcs=0 >"$log" 2>&1
  rc=$?
  after=$(ls "artifacts/$target" | grep -cE '^(crash|leak|timeout|oom)-' || true)

  # libFuzzer's last status line (`#N DONE cov: .. ft: .. corp: N/size ..`) and final stats.
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  rate=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" | cut -d' ' -f2 || true)
  files=$(find "corpus/$target" -type f | wc -l)
  verdict=ok
  if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
    verdict="FOUND ($(grep -m1 -oE 'ERROR: [^ ]+: [^(]*|deadly signal|panicked at [^:]*:[0-9]+:[0-9]+' "$log" || echo "exit $rc"))"
    status=1
    echo "fuzz: $target found a problem; input(s) in fuzz/artifacts/$target/:"
    ls -t "artifacts/$target" | grep -E '^(crash|leak|timeout|oom)-' | head -3 | sed 's/^/  /'
    grep -E -m1 -A25 'ERROR:|panicked at|deadly signal' "$log" | sed 's/^/  | /'
  fi
  summary+=("$(printf '%-30s %10s %7s %14s %6s %7s %7s  %s' "$target" "${execs:-?}" "${rate:-?}" "${corp:-?}" "$files" "${cov:-?}" "${ft:-?}" "$verdict")")
done

echo
printf '%-30s %10s %7s %14s %6s %7s %7s  %s\n' target executions exec/s corpus files cov ft result
printf '%s\n' "${summary[@]}"
echo "(corpus: units/bytes libFuzzer kept; files: in fuzz/corpus/<target>; cov/ft: edges and features covered; build ${build_seconds}s, ${seconds}s per target)"
exit "$status"
