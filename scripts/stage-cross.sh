#!/usr/bin/env bash
# Cross-build stage: tests/cross/cross.cpp built natively and with em++ (run under Node). Native writes
# index files + query answers and the WASM build checks them; then the other way round. Each check
# loads the other build's files, re-saves them, answers the same queries and compares its own
# seeded build's bytes (see cross.cpp). Fails if any comparison fails.
#   bash scripts/stage-cross.sh      build dirs: ${POCKETVEC_BUILD_DIR:-build}/cross-{native,wasm}
# Assumes scripts/deps.sh has run (cmake, ninja, emscripten, nodejs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${POCKETVEC_BUILD_DIR:-$root/build}
jobs=${JOBS:-2}
native=$build/cross-native
wasm=$build/cross-wasm
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}  # em++ runs acorn from Debian's node modules
mkdir -p "$native" "$wasm"

cmake -S "$root" -B "$native" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPOCKETVEC_BUILD_CROSS=ON \
  -DPOCKETVEC_BUILD_TESTS=OFF -DPOCKETVEC_INSTALL=OFF > "$native.configure.log" 2>&1 \
  || { cat "$native.configure.log"; exit 1; }
cmake --build "$native" -j "$jobs" --target pocketvec_cross
emcmake cmake -S "$root" -B "$wasm" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPOCKETVEC_BUILD_CROSS=ON \
  -DPOCKETVEC_BUILD_TESTS=OFF -DPOCKETVEC_INSTALL=OFF > "$wasm.configure.log" 2>&1 \
  || { cat "$wasm.configure.log"; exit 1; }
cmake --build "$wasm" -j "$jobs" --target pocketvec_cross

run_native() { "$native/tests/cross/cross" "$@"; }
run_wasm() { node --no-experimental-fetch "$wasm/tests/cross/cross.js" "$@"; }

from_native=$build/cross-files/from-native
from_wasm=$build/cross-files/from-wasm
rm -rf "$from_native" "$from_wasm"
status=0
run_native write "$from_native"
run_wasm write "$from_wasm"
run_wasm check "$from_native" || status=1
run_native check "$from_wasm" || status=1

echo "cross: index files of the two builds, compared directly:"
for f in "$from_native"/*.pvx; do
  name=$(basename "$f")
  if cmp -s "$f" "$from_wasm/$name"; then echo "  same    $name"; else echo "  DIFFER  $name"; status=1; fi
done
if [ "$status" -eq 0 ]; then echo "cross: passed"; else echo "cross: FAILED"; fi
exit "$status"
