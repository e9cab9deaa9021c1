#!/usr/bin/env bash
# Memory stage: builds random 768-d vectors through the npm package in insertBatch calls of 1000
# rows (no reserve), f32 (30k) and SQ8 (100k), each in a fresh Node process (bench/memory/memory.mjs),
# and fails when the WebAssembly memory the tab pays is too far above what the index holds:
#   heapBytes / memoryBytes       <= POCKETVEC_MEM_BOUND_F32 (default 1.15), POCKETVEC_MEM_BOUND_SQ8 (1.15)
#   SQ8 heapBytes / raw f32 bytes <= POCKETVEC_MEM_BOUND_SQ8_RAW (default 0.33)
#   bash scripts/stage-memory.sh     results: ${POCKETVEC_BUILD_DIR:-build}/memory/ci-{f32,sq8}.{json,md}
# Assumes scripts/deps.sh and `npm ci` in js/ have run; builds js/dist if it is missing (as stage-demo.sh).
# About 1 min on 2 shared cores (efConstruction 16: memory does not depend on it, the time does).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${POCKETVEC_BUILD_DIR:-$root/build}
out=$build/memory
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}  # em++ runs acorn from Debian's node modules
mkdir -p "$out"

if [ ! -f "$root/js/dist/pocketvec.js" ] || [ ! -f "$root/js/dist/pocketvec.wasm" ]; then
  echo "stage-memory: js/dist is missing; building it"
  (cd "$root/js" && npm run --silent build:wasm)
fi

# SQ8 at the issue's own size, 100k x 768: what the module itself holds (stack, static data, one
# staging piece, up to 2 MiB of growth beyond a request: about 5 MiB) is a third of a 30k SQ8 index's
# 24 MiB but 6 % of 100k's 82 MiB. f32 at 30k (90 MiB) already measures the bound.
# The two builds are single-threaded and measure memory, not time: they run side by side.
run() {  # quant n
  node "$root/bench/memory/memory.mjs" --n "$2" --dim 768 --m 16 --ef-construction 16 --seed 1 \
    --batch 1000 --quant "$1" --scenarios batch --out "$out/ci-$1.json" --md "$out/ci-$1.md" 2>"$out/ci-$1.log" \
    || { cat "$out/ci-$1.log"; return 1; }
}
run f32 30000 & f32=$!
run sq8 100000 & sq8=$!
status=0
wait $f32 || status=1
wait $sq8 || status=1
[ $status -eq 0 ] || exit 1
cat "$out/ci-f32.md" "$out/ci-sq8.md"
for q in f32 sq8; do
  node "$root/bench/memory/check.mjs" "$out/ci-$q.json" --f32 "${POCKETVEC_MEM_BOUND_F32:-1.15}" \
    --sq8 "${POCKETVEC_MEM_BOUND_SQ8:-1.15}" --sq8-raw "${POCKETVEC_MEM_BOUND_SQ8_RAW:-0.33}" || status=1
done
exit $status
