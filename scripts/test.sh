#!/usr/bin/env bash
# Runs every pocketvec test, installing what it needs first. README's test command; .ci/run calls it.
#   bash scripts/test.sh            all stages
#   STAGES="native asan" bash scripts/test.sh   a subset (names below)
# Build trees go to build/ (gitignored). Each stage prints its wall time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${POCKETVEC_BUILD_DIR:-$root/build}
jobs=${JOBS:-2}
all_stages="native asan wasm js memory demo cross fuzz gate"
stages=${STAGES:-$all_stages}
export NODE_PATH=/usr/share/nodejs

bash "$root/scripts/deps.sh"
mkdir -p "$build"

cmake_build() {  # dir, extra cmake args...
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -G Ninja "$@" > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs"
}

stage_native() {   # the Catch2 suite + consumer projects, optimised
  cmake_build "$build/native" -DCMAKE_BUILD_TYPE=Release
  ctest --test-dir "$build/native" --no-tests=error --output-on-failure -j "$jobs"
}

stage_asan() {     # the same suite but its [scale] cases, under AddressSanitizer + UndefinedBehaviorSanitizer
  # -O1 -g1 (line tables: file:line in every report) compiles a test file in 0.4x the time of -O2 -g.
  cmake_build "$build/asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOCKETVEC_SANITIZE=address,undefined \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$build/asan" --no-tests=error --output-on-failure -j "$jobs" -E '^consumer\.'
}

stage_wasm() {     # the same Catch2 suite compiled with em++ (wasm SIMD kernels), run under Node
  local dir=$build/wasm-tests
  mkdir -p "$dir"
  emcmake cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPOCKETVEC_INSTALL=OFF \
    -DCMAKE_CROSSCOMPILING_EMULATOR=/usr/bin/node > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs" --target pocketvec_tests pocketvec_alloc_tests
  ctest --test-dir "$dir" --no-tests=error --output-on-failure -j "$jobs"
}

stage_js() {       # the npm package: WASM module, node:test suites, real chromium, packed-tarball consumers
  (
    cd "$root/js"
    npm ci --prefer-offline --no-audit --no-fund
    POCKETVEC_WASM_BUILD_DIR="$build/wasm-module" npm run build:wasm
    npm test
    POCKETVEC_ARTIFACTS_DIR="$build/artifacts" npm run test:browser
    POCKETVEC_SKIP_WASM_BUILD=1 npm run test:consumer
  )
}

stage_memory() {   # WASM memory after a 30k x 768 batched build vs memoryBytes (POCKETVEC_MEM_BOUND_*)
  POCKETVEC_BUILD_DIR="$build" bash "$root/scripts/stage-memory.sh"
}

stage_demo() {     # the browser demo in chromium: builds, searches, class agreement, reload from IndexedDB
  POCKETVEC_ARTIFACTS_DIR="$build/artifacts" bash "$root/scripts/stage-demo.sh"
}

stage_cross() {    # the binary format across builds: native writes -> WASM reads, and back
  POCKETVEC_BUILD_DIR="$build" bash "$root/scripts/stage-cross.sh"
}

stage_fuzz() {     # libFuzzer on the loader, bounded (FUZZ_SECONDS, default 60)
  POCKETVEC_BUILD_DIR="$build" bash "$root/scripts/stage-fuzz.sh"
}

stage_gate() {     # instruction-count + recall regression gate (valgrind callgrind)
  bash "$root/scripts/bench-gate.sh" "$build/gate"
}

failed=()
for s in $stages; do
  echo "=== stage $s"
  start=$(date +%s)
  # Each stage runs in a background subshell so that `set -e` applies inside it (it is ignored in a
  # function called as an `if` condition), and its first failing command fails the stage.
  "stage_$s" &
  if wait $!; then
    echo "=== stage $s passed in $(( $(date +%s) - start ))s"
  else
    echo "=== stage $s FAILED after $(( $(date +%s) - start ))s"
    failed+=("$s")
  fi
done

n_stages=$(wc -w <<< "$stages")
echo "stages: $(( n_stages - ${#failed[@]} )) passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ] || { echo "failed stages: ${failed[*]}"; exit 1; }
