#!/usr/bin/env bash
# Memory stage (issue 16): builds 30k x 768 random vectors through the npm package in insertBatch
# calls of 1000 rows (no reserve), f32 and SQ8, each in a fresh Node process (bench/memory/memory.mjs),
# and fails when the WebAssembly memory the tab pays is too far above what the index holds:
#   heapBytes / memoryBytes       <= POCKETVEC_MEM_BOUND_F32 (default 1.15), POCKETVEC_MEM_BOUND_SQ8 (1.15)
#   SQ8 heapBytes / raw f32 bytes <= POCKETVEC_MEM_BOUND_SQ8_RAW (default 0.33); 30k x 768 x 4 B is
#                                    87.9 MiB, above the 64 MiB from which bench/memory/check.mjs applies it
#   bash scripts/stage-memory.sh     results: ${POCKETVEC_BUILD_DIR:-build}/memory/ci.{json,md}
# Assumes scripts/deps.sh and `npm ci` in js/ have run; builds js/dist if it is missing (as stage-demo.sh).
# About 1 min on 2 shared cores (efConstruction 32: memory does not depend on it, the time does).
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

node "$root/bench/memory/memory.mjs" --n 30000 --dim 768 --m 16 --ef-construction 32 --seed 1 \
  --batch 1000 --quant f32,sq8 --scenarios batch --out "$out/ci.json" --md "$out/ci.md" 2>"$out/ci.log" \
  || { cat "$out/ci.log"; exit 1; }
cat "$out/ci.md"
node "$root/bench/memory/check.mjs" "$out/ci.json" --f32 "${POCKETVEC_MEM_BOUND_F32:-1.15}" \
  --sq8 "${POCKETVEC_MEM_BOUND_SQ8:-1.15}" --sq8-raw "${POCKETVEC_MEM_BOUND_SQ8_RAW:-0.33}"
