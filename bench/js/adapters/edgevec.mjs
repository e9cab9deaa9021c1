// Adapter for the `edgevec` npm package (Rust + wasm-bindgen, "web" target).
// Loading in Node 20: the default export `init` fetch()es edgevec_bg.wasm by URL in browsers; in Node we pass
// the bytes instead (`init({ module_or_path: bytes })`), no flags needed.
// Parameters (EdgeVecConfig): m (upper layers, default 12), m0 (layer 0, default 24), ef_construction
// (default 100), ef_search (default 50), metric 'l2' | 'cosine' | 'dot' (default 'l2'). ef_search can only
// be set on the config before the index exists: there is no per-query ef for f32 search (the wrapper's
// `efSearch` option is dropped by the wasm side), so an ef sweep rebuilds the index per ef (efAtBuild).
// Metric caveat found here: with metric 'cosine' or 'dot', 0.9.0 returns the *least* similar rows (results
// come back ordered by ascending dot product). On unit vectors squared L2 = 2 - 2 cos ranks identically, so
// cosine data is indexed with metric 'l2' (the fix a user would apply); the 'cosine-native' config keeps the
// package's own cosine so the table shows what it does.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { browserFiles } from '../lib/bundle.mjs';

const require = createRequire(import.meta.url);
const CHUNK_ROWS = 10_000;

/** Configurations run for this library; `sweep` marks the one whose ef is swept. */
export function configs(meta) {
  const list = [
    { label: 'default', params: {}, note: 'm=12, m0=24, ef_construction=100, ef_search=50' },
    { label: 'matched', params: { m: 16, efConstruction: 200 }, note: 'm=16, m0=32, ef_construction=200', sweep: true },
  ];
  if (meta.metric === 'cosine') {
    for (const c of list) c.note += "; metric 'l2' on unit vectors";
    list.push({ label: 'cosine-native', params: { nativeCosine: true }, note: "defaults, metric 'cosine' (0.9.0 ranks ascending similarity)", diagnostic: true });
  }
  return list;
}

export async function createAdapter() {
  const pkgPath = require.resolve('edgevec/package.json');
  const pkgDir = dirname(pkgPath);
  const version = JSON.parse(readFileSync(pkgPath, 'utf8')).version;
  const ev = await import('edgevec/edgevec.js');
  const exportsObj = await ev.default({ module_or_path: readFileSync(join(pkgDir, 'edgevec_bg.wasm')) });

  let db = null;
  let firstId = 0;
  let n = 0;

  return {
    name: 'edgevec',
    version,
    efAtBuild: true,
    defaults: { m: 12, m0: 24, efConstruction: 100, ef: 50 },
    configs,
    // `import init, { EdgeVec } from 'edgevec'` loads edgevec.js (package "main"), one storage snippet and
    // the wasm; the wrapper/filter modules come in only through index.js.
    bundleFiles: () => browserFiles(join(pkgDir, 'edgevec.js')),
    wasmMemoryBytes: () => exportsObj.memory.buffer.byteLength,

    build(data, rows, dim, opts) {
      const cfg = new ev.EdgeVecConfig(dim);
      cfg.metric = opts.metric === 'cosine' && opts.nativeCosine ? 'cosine' : 'l2';
      if (opts.metric === 'ip') throw new Error('edgevec adapter: ip not wired (not needed by these data sets)');
      if (opts.m !== undefined) {
        cfg.m = opts.m;
        cfg.m0 = 2 * opts.m;
      }
      if (opts.efConstruction !== undefined) cfg.ef_construction = opts.efConstruction;
      if (opts.ef !== undefined) cfg.ef_search = opts.ef;
      db = new ev.EdgeVec(cfg);
      cfg.free();
      n = rows;
      let expect = -1;
      for (let start = 0; start < rows; start += CHUNK_ROWS) {
        const count = Math.min(CHUNK_ROWS, rows - start);
        const ids = db.insertBatchFlat(data.subarray(start * dim, (start + count) * dim), count);
        if (start === 0) {
          firstId = ids[0];
          expect = firstId;
        }
        // Result ids are mapped back to rows by offset; check the assumption instead of trusting it.
        for (let i = 0; i < ids.length; i++, expect++) {
          if (ids[i] !== expect) throw new Error(`edgevec assigned non-sequential id ${ids[i]} (expected ${expect})`);
        }
      }
    },
    search(q, k) {
      const res = db.search(q, k);
      const out = new Int32Array(res.length);
      for (let i = 0; i < res.length; i++) out[i] = res[i].id - firstId;
      return out;
    },
    serializedBytes() {
      const it = db.save_stream();
      let total = 0;
      for (let c = it.next_chunk(); c !== undefined; c = it.next_chunk()) total += c.byteLength;
      it.free();
      return total;
    },
    memoryBytes: () => db.memoryUsage(),
    memoryNote: 'EdgeVec.memoryUsage()',
    serializedNote: 'save_stream() bytes',
    size: () => n,
    dispose() {
      if (db) db.free();
      db = null;
    },
  };
}
