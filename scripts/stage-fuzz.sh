#!/usr/bin/env bash
# Fuzz stage: builds the libFuzzer target on pocketvec::load (clang-14, ASan + UBSan), writes the seed
# corpus (generated, plus the golden files), fuzzes for FUZZ_SECONDS (default 60) and fails on any
# finding. Crash/leak/timeout/OOM inputs are left in the build folder (artifacts/) for upload.
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
cmake --build "$build" -j "$jobs" --target pocketvec_fuzz_load pocketvec_fuzz_make_corpus

# The seed corpus is rebuilt every run; what the fuzzer adds goes to corpus/ (kept between local runs).
seeds=$build/seeds
rm -rf "$seeds"
"$build/tests/fuzz/pocketvec_fuzz_make_corpus" "$seeds"
cp "$root"/tests/data/*.pvx "$seeds/"
# Every finding, once fixed, is kept in tests/fuzz/regressions/ (replayed by ctest's fuzz.replay too).
find "$root/tests/fuzz/regressions" -maxdepth 1 -type f ! -name 'README*' -exec cp {} "$seeds/" \;
mkdir -p "$build/corpus" "$build/artifacts"
rm -f "$build"/artifacts/*

log=$build/fuzz.log
echo "fuzz: ${seconds}s on pocketvec::load, $(ls "$seeds" | wc -l) seed files"
status=0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$build/tests/fuzz/pocketvec_fuzz_load" "$build/corpus" "$seeds" \
  -dict="$root/tests/fuzz/format.dict" \
  -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
  -max_len=16384 -print_final_stats=1 -artifact_prefix="$build/artifacts/" \
  > "$log" 2>&1 || status=$?

# libFuzzer's final stats: stat::number_of_executed_units and the average exec/s.
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 || true)
echo "fuzz: ${execs:-?} executions, ${rate:-?} exec/s, $cov"

findings=$(ls "$build/artifacts" | wc -l)
if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
  tail -n 60 "$log"
  echo "fuzz: FAILED (exit $status), $findings finding(s) in $build/artifacts/"
  echo "fuzz: once fixed, copy each file from $build/artifacts/ to tests/fuzz/regressions/<what-it-broke>.pvx"
  exit 1
fi
echo "fuzz: no findings"
