#!/usr/bin/env bash
# The browser demo in one command (fresh Debian 12; root or sudo): installs what it needs, builds the
# WASM package, prepares Fashion-MNIST and serves the demo on 127.0.0.1 (prints the URL; Ctrl-C stops).
#   bash scripts/demo.sh            # PORT=9000 bash scripts/demo.sh for another port (default 8080;
#                                   # a free one is used if that is busy)
# Environment: POCKETVEC_SKIP_DEPS=1 skips scripts/deps.sh; POCKETVEC_WASM_BUILD_DIR as in js/scripts/build-wasm.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ "${POCKETVEC_SKIP_DEPS:-}" != 1 ]; then
  echo "demo: system packages (scripts/deps.sh)"
  bash scripts/deps.sh
fi

echo "demo: npm ci in js/"
(cd js && npm ci --no-audit --no-fund --loglevel=error)

echo "demo: building the WASM module (js/dist)"
(cd js && NODE_PATH=/usr/share/nodejs npm run --silent build:wasm)

echo "demo: preparing Fashion-MNIST (js/demo/data)"
node js/demo/prepare-data.mjs

echo "demo: serving; open the URL below in a browser"
exec node js/demo/serve.mjs
