#!/usr/bin/env bash
# Consumer test: packs pocketvec (prepack builds the WASM), then installs the tarball into fresh projects
# the way users do and uses it as the README shows:
#   1. a Node 20 project: `import { Index } from 'pocketvec'`, no flags; IndexedDB via fake-indexeddb
#   2. a Vite 7 app: `vite build`, the built app served on 127.0.0.1 and run in chromium (it must find
#      its .wasm asset), then the Vite dev server (optimizeDeps.exclude) in chromium
# Environment: POCKETVEC_SKIP_WASM_BUILD=1 packs the js/dist already built; KEEP=1 keeps the temp dir.
# Registry access: installs use --prefer-offline (the npm cache serves repeats).
set -euo pipefail

js_dir=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pocketvec-consumer.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
npm_install() { npm install --prefer-offline --no-audit --no-fund --loglevel=error "$@"; }
passed=0 failed=0
check() { # name command...
  if "${@:2}"; then passed=$((passed + 1)); echo "consumer: ok: $1"; else failed=$((failed + 1)); echo "consumer: FAILED: $1"; fi
}

echo "consumer: packing in $js_dir"
(cd "$js_dir" && npm pack --pack-destination "$work" --loglevel=warn >/dev/null)
tarball=$(ls "$work"/pocketvec-*.tgz)
echo "consumer: $(basename "$tarball"): $(tar tzf "$tarball" | tr '\n' ' ')"
if tar tzf "$tarball" | grep -Eq 'package/(test|demo|build|node_modules)/'; then
  echo "consumer: the tarball ships files outside the whitelist" >&2; exit 1
fi

# --- 1. Node -----------------------------------------------------------------------------------------
mkdir -p "$work/node-app"
cat >"$work/node-app/package.json" <<'EOF'
{ "name": "node-app", "private": true, "type": "module" }
EOF
cat >"$work/node-app/main.js" <<'EOF'
import assert from 'node:assert/strict';
import { IDBFactory } from 'fake-indexeddb';
import { Index, PocketvecError, openStore } from 'pocketvec';

const dim = 16;
const index = await Index.create({ dim, metric: 'cosine', quantization: 'none', m: 16, efConstruction: 200, seed: 42 });
const flat = new Float32Array(100 * dim).map((_, i) => Math.sin(i * 0.37));
const ids = index.insertBatch(flat);
const id = index.insert(new Float32Array(dim).fill(1));
const hits = index.search(new Float32Array(dim).fill(1), 5, { ef: 64 });
assert.equal(hits[0].id, id);
assert.equal(ids.length, 100);
index.delete(ids[0]);
index.compact();
assert.throws(() => index.insert(new Float32Array(3)), (e) => e instanceof PocketvecError && e.code === 'dimension_mismatch');
const copy = await Index.fromBytes(index.toBytes());
assert.deepEqual(copy.search(flat.subarray(0, dim), 3), index.search(flat.subarray(0, dim), 3));
const store = openStore({ indexedDB: new IDBFactory() });
await index.save('notes', { store });
const again = await Index.load('notes', { store });
assert.deepEqual(again.search(flat.subarray(0, dim), 3), index.search(flat.subarray(0, dim), 3));
assert.deepEqual(await Index.list({ store }), ['notes']);
assert.equal(await Index.remove('notes', { store }), true);
for (const i of [index, copy, again]) i.dispose();
// The worker API: the same index in a worker_threads Worker.
const { WorkerIndex } = await import('pocketvec/worker');
const w = await WorkerIndex.create({ dim, metric: 'cosine' });
const wids = await w.insertBatch(flat.slice(), { transfer: true, onProgress: () => {} });
assert.equal(wids.length, 100);
const direct = await Index.create({ dim, metric: 'cosine' });
direct.insertBatch(flat);
assert.deepEqual(await w.search(flat.subarray(0, dim), 3), direct.search(flat.subarray(0, dim), 3));
direct.dispose();
await assert.rejects(w.insert(new Float32Array(3)), (e) => e instanceof PocketvecError && e.code === 'dimension_mismatch');
await w.dispose();
console.log(`node consumer: ok (top hit ${hits[0].id}, distance ${hits[0].distance}; worker API ok)`);
EOF
(cd "$work/node-app" && npm_install "$tarball" fake-indexeddb@6)
check "node: import from an installed tarball" node "$work/node-app/main.js"

# --- 2. Vite ----------------------------------------------------------------------------------------
mkdir -p "$work/vite-app"
cat >"$work/vite-app/package.json" <<'EOF'
{ "name": "vite-app", "private": true, "type": "module" }
EOF
cat >"$work/vite-app/vite.config.js" <<'EOF'
import { defineConfig } from 'vite';
// Pre-bundling would move pocketvec's glue away from its .wasm (found via import.meta.url).
export default defineConfig({ optimizeDeps: { exclude: ['pocketvec'] } });
EOF
cat >"$work/vite-app/index.html" <<'EOF'
<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>pocketvec + vite</title>
<pre id="out">running…</pre>
<script type="module" src="/main.js"></script>
EOF
cat >"$work/vite-app/main.js" <<'EOF'
import { Index } from 'pocketvec';
import { WorkerIndex } from 'pocketvec/worker';

async function run() {
  const dim = 8;
  const index = await Index.create({ dim, metric: 'l2' });
  const flat = new Float32Array(200 * dim).map((_, i) => Math.cos(i * 0.11));
  index.insertBatch(flat);
  const before = index.search(flat.subarray(0, dim), 5);
  await index.save('vite-notes');
  const again = await Index.load('vite-notes');
  const after = again.search(flat.subarray(0, dim), 5);
  if (JSON.stringify(before) !== JSON.stringify(after) || before[0].distance !== 0) throw new Error('mismatch');
  await Index.remove('vite-notes');
  // The worker API: the package's own module worker, bundled by Vite (and its .wasm with it).
  const w = await WorkerIndex.create({ dim, metric: 'l2' });
  let last = null;
  await w.insertBatch(flat.slice(), { transfer: true, onProgress: (p) => { last = p; } });
  const fromWorker = await w.search(flat.subarray(0, dim), 5);
  if (JSON.stringify(fromWorker) !== JSON.stringify(before) || last?.fraction !== 1) throw new Error('worker mismatch');
  await w.save('vite-worker');
  const loaded = await WorkerIndex.load('vite-worker');
  if (JSON.stringify(await loaded.search(flat.subarray(0, dim), 5)) !== JSON.stringify(before)) throw new Error('worker load mismatch');
  await Promise.all([w.dispose(), loaded.dispose(), WorkerIndex.remove('vite-worker')]);
  return `ok: ${after.length} hits, nearest id ${after[0].id}; worker API ok`;
}
run().then(
  (r) => { document.getElementById('out').textContent = r; window.pocketvecResult = r; },
  (e) => { window.pocketvecResult = `error: ${e.code ?? ''} ${e.message}`; });
EOF
(cd "$work/vite-app" && npm_install "$tarball" vite@7)
(cd "$work/vite-app" && node node_modules/vite/bin/vite.js build --logLevel warn)
if ls "$work"/vite-app/dist/assets/*.wasm >/dev/null 2>&1; then
  echo "consumer: vite emitted $(cd "$work/vite-app/dist/assets" && ls *.wasm)"
else
  echo "consumer: vite build emitted no .wasm asset" >&2; failed=$((failed + 1))
fi

# Serve the built app with the browser test's static server and run it in chromium.
cat >"$work/serve-dist.mjs" <<EOF
import { serve } from '$js_dir/test/browser/server.mjs';
const s = await serve(process.argv[2]);
console.log(s.url);
EOF
node "$work/serve-dist.mjs" "$work/vite-app/dist" >"$work/serve.url" & pids+=($!)
for _ in $(seq 50); do [ -s "$work/serve.url" ] && break; sleep 0.1; done
check "vite build: the built app runs in chromium" node "$js_dir/scripts/check-page.mjs" "$(cat "$work/serve.url")/index.html"

# The dev server (serves node_modules/pocketvec unbundled thanks to optimizeDeps.exclude).
port=$((20000 + RANDOM % 20000))
(cd "$work/vite-app" && exec node node_modules/vite/bin/vite.js --host 127.0.0.1 --port "$port" --strictPort --logLevel warn) >"$work/vite-dev.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do
  node -e "fetch('http://127.0.0.1:$port/').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" && break
  sleep 0.2
done
check "vite dev server: the app runs in chromium" node "$js_dir/scripts/check-page.mjs" "http://127.0.0.1:$port/"

echo "consumer: $passed passed, $failed failed"
[ "$failed" = 0 ]
