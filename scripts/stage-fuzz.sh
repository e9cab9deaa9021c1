#!/usr/bin/env bash
# Fuzz stage: builds the libFuzzer targets on pocketvec::load and on the JS <-> WASM wire formats (clang-14,
# ASan + UBSan), writes their seed corpora (generated, plus the golden files), fuzzes both side by side for
# FUZZ_SECONDS (default 60) and fails on any finding. Crash/leak/timeout/OOM inputs are left in the build folder (artifacts/) for upload.
#   bash scripts/stage-fuzz.sh               build dir: ${POCKETVEC_BUILD_DIR:-build}/fuzz
#   FUZZ_SECONDS=600 bash scripts/stage-fuzz.sh
# Assumes scripts/deps.sh has run (clang-14, libclang-rt-14-dev, cmake, ninja).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${POCKETVEC_BUILD_DIR:-$root/build}/fuzz
jobs=${JOBS:-2}
seconds=${FUZZ_SECONDS:-60}

mkdir -p "$build"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPOCKETVEC_BUILD_FUZZ=ON -DPOCKETVEC_BUILD_TESTS=OFF -DPOCKETVEC_INSTALL=OFF \
  > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target pocketvec_fuzz_load pocketvec_fuzz_wire pocketvec_fuzz_make_corpus

# The seed corpora are rebuilt every run; what the fuzzers add goes to corpus*/ (kept between local runs).
seeds=$build/seeds wire_seeds=$build/wire-seeds
rm -rf "$seeds" "$wire_seeds"
"$build/tests/fuzz/pocketvec_fuzz_make_corpus" "$seeds" "$wire_seeds"
cp "$root"/tests/data/*.pvx "$seeds/"
# Every finding, once fixed, is kept in tests/fuzz/regressions/ (replayed by ctest's fuzz.replay too).
find "$root/tests/fuzz/regressions" -maxdepth 1 -type f ! -name 'README*' -exec cp {} "$seeds/" \;
mkdir -p "$build/corpus" "$build/corpus-wire" "$build/artifacts"
rm -f "$build"/artifacts/*

# The two targets are single-threaded: they run side by side, each for the full time.
fuzz() {  # name corpus seeds [libFuzzer flags...]
  local name=$1 corpus=$2 seed_dir=$3; shift 3
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/pocketvec_fuzz_$name" "$corpus" "$seed_dir" "$@" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" > "$build/fuzz-$name.log" 2>&1
}
echo "fuzz: ${seconds}s on pocketvec::load ($(ls "$seeds" | wc -l) seed files) and on the wire formats ($(ls "$wire_seeds" | wc -l))"
status=0
fuzz load "$build/corpus" "$seeds" -dict="$root/tests/fuzz/format.dict" -max_len=16384 & load_pid=$!
fuzz wire "$build/corpus-wire" "$wire_seeds" -max_len=4096 & wire_pid=$!
wait $load_pid || status=$?
wait $wire_pid || status=$?

for name in load wire; do
  log=$build/fuzz-$name.log
  # libFuzzer's final stats: stat::number_of_executed_units and the average exec/s.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 || true)
  echo "fuzz $name: ${execs:-?} executions, ${rate:-?} exec/s, $cov"
done

findings=$(ls "$build/artifacts" | wc -l)
if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
  tail -n 40 "$build"/fuzz-load.log "$build"/fuzz-wire.log
  echo "fuzz: FAILED (exit $status), $findings finding(s) in $build/artifacts/"
  echo "fuzz: once fixed, copy each file from $build/artifacts/ to tests/fuzz/regressions/<what-it-broke>.pvx"
  exit 1
fi
echo "fuzz: no findings"
