#!/usr/bin/env bash
# Builds the WASM module with Emscripten and copies it into js/dist/ (what `npm pack` ships), and the
# small-heap variant of it (same objects and flags, a 32 MB heap) into js/build/small-heap/, which
# test/heap-limit.test.js loads to run out of memory cheaply; it is never shipped.
# Run by `npm run build:wasm` and by `prepack`. Environment:
#   POCKETVEC_WASM_BUILD_DIR  CMake build folder (default: js/build/wasm, gitignored)
#   POCKETVEC_WASM_COMPILE_OPT / POCKETVEC_WASM_LINK_OPT   default -O2 / -O3 (see wasm/CMakeLists.txt)
#   POCKETVEC_SKIP_WASM_BUILD=1  use the dist/ already built (e.g. CI packing right after a build)
# Writes lib/ (src/ minified, scripts/minify.mjs) and prints the raw and gzip sizes of what is shipped.
set -euo pipefail

js_dir=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$js_dir/.." && pwd)
build=${POCKETVEC_WASM_BUILD_DIR:-$js_dir/build/wasm}
compile_opt=${POCKETVEC_WASM_COMPILE_OPT:--O2}
link_opt=${POCKETVEC_WASM_LINK_OPT:--O3}
# Emscripten's JS optimizer (-O2 and up) needs acorn, which Debian installs here.
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}

if [ "${POCKETVEC_SKIP_WASM_BUILD:-}" = 1 ]; then
  [ -f "$js_dir/dist/pocketvec.js" ] && [ -f "$js_dir/dist/pocketvec.wasm" ] ||
    { echo "build-wasm: POCKETVEC_SKIP_WASM_BUILD=1 but js/dist/ is empty" >&2; exit 1; }
  node "$js_dir/scripts/minify.mjs"
  exec bash "$js_dir/scripts/size-report.sh"
fi

command -v emcmake >/dev/null || { echo "build-wasm: emcmake not found (apt-get install emscripten)" >&2; exit 1; }
# Closure Compiler minifies the glue (wasm/CMakeLists.txt); it is a devDependency of the package.
closure=$js_dir/node_modules/.bin/google-closure-compiler
[ -x "$closure" ] || { echo "build-wasm: $closure not found (run npm ci in js/)" >&2; exit 1; }
emcmake cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPOCKETVEC_BUILD_WASM=ON \
  -DPOCKETVEC_BUILD_TESTS=OFF -DPOCKETVEC_INSTALL=OFF "-DPOCKETVEC_WASM_COMPILE_OPT=$compile_opt" "-DPOCKETVEC_WASM_LINK_OPT=$link_opt" \
  "-DPOCKETVEC_WASM_CLOSURE_COMPILER=$closure" >/dev/null
cmake --build "$build" --target pocketvec_wasm pocketvec_wasm_small_heap -j"${JOBS:-2}"

mkdir -p "$js_dir/dist" "$js_dir/build/small-heap"
cp "$build/wasm/pocketvec.js" "$build/wasm/pocketvec.wasm" "$js_dir/dist/"
cp "$build/wasm/small-heap/pocketvec.js" "$build/wasm/small-heap/pocketvec.wasm" "$js_dir/build/small-heap/"
node "$js_dir/scripts/minify.mjs"  # lib/: the minified src/ the package exports
bash "$js_dir/scripts/size-report.sh"
