#!/usr/bin/env bash
# CI stage for the browser demo: unit-tests the .npy/.fvecs parser, prepares the data and runs the demo's browser test (js/demo/test/run.mjs)
# in Debian's chromium, firefox-esr and WebKitGTK (POCKETVEC_BROWSERS picks). Assumes scripts/deps.sh and `npm ci` in js/ have run;
# builds js/dist if it is missing. Screenshots: $POCKETVEC_ARTIFACTS_DIR (default build/artifacts)/demo-<engine>.png.
# POCKETVEC_DEMO_N sets the number of images the test indexes (default 20000 in chromium, 5000 in the others; the page's own default
# is all 70 000).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ ! -f js/dist/pocketvec.js ] || [ ! -f js/dist/pocketvec.wasm ]; then
  echo "stage-demo: js/dist is missing; building it"
  (cd js && NODE_PATH=/usr/share/nodejs npm run --silent build:wasm)
fi
[ -d js/node_modules/playwright-core ] || { echo "stage-demo: run 'npm ci' in js/ first" >&2; exit 1; }

node --test js/demo/test/vectors.test.mjs
node js/demo/prepare-data.mjs
export POCKETVEC_ARTIFACTS_DIR=${POCKETVEC_ARTIFACTS_DIR:-$root/build/artifacts}
node js/demo/test/run.mjs
