// Adapter for pocketvec's own npm package (js/ in this repo), imported by path so the harness always
// measures the working tree: js/src/node.js, the package's "node" export, which reads dist/pocketvec.wasm
// (build it with `npm run build:wasm` in js/). POCKETVEC_JS=/abs/path/to/node.js overrides the entry.
// API used: await Index.create({ dim, metric, quantization, m, efConstruction, seed, sq8Rerank }),
// insertBatch(Float32Array) -> Uint32Array ids, search(q, k, { ef }) -> [{ id, distance }],
// memoryBytes, memory(), toBytes() -> Uint8Array, dispose(). Options left out take the package defaults
// (m=16, efConstruction=200, efSearch=64, seed=42). The `*-b1000` configs build through insertBatch
// calls of 1000 rows, as an app streaming its data in would; the others make one insertBatch call
// of every row, which reserves room for all of them first (a different growth path: issue 16).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { browserFiles } from '../lib/bundle.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const JS_ROOT = join(HERE, '..', '..', '..', 'js');
const ENTRY = process.env.POCKETVEC_JS ?? join(JS_ROOT, 'src', 'node.js');

/** Configurations run for this library; `sweep` marks the ones whose ef is swept. */
export function configs() {
  return [
    { label: 'default', params: {}, note: 'f32, package defaults (m=16, efConstruction=200, efSearch=64)' },
    { label: 'matched', params: { m: 16, efConstruction: 200 }, note: 'f32, m=16, efConstruction=200 (layer 0: 2m)', sweep: true },
    { label: 'sq8', params: { m: 16, efConstruction: 200, quantization: 'sq8' }, note: 'SQ8, m=16, efConstruction=200', sweep: true },
    // Keeps the f32 rows as well and re-scores the ef candidates exactly: more memory than f32 alone.
    { label: 'sq8-rerank', params: { m: 16, efConstruction: 200, quantization: 'sq8', sq8Rerank: true }, note: 'SQ8 with exact re-rank (f32 rows kept), m=16, efConstruction=200', sweep: true },
    // matched and sq8 again, the rows in the same order, but grown 1000 rows at a time.
    { label: 'matched-b1000', params: { m: 16, efConstruction: 200, batchRows: 1000 }, note: 'f32, m=16, efConstruction=200, insertBatch of 1000 rows at a time (no reserve)' },
    { label: 'sq8-b1000', params: { m: 16, efConstruction: 200, quantization: 'sq8', batchRows: 1000 }, note: 'SQ8, m=16, efConstruction=200, insertBatch of 1000 rows at a time (no reserve)' },
  ];
}

export async function createAdapter() {
  if (!existsSync(ENTRY)) throw new Error(`pocketvec package entry not found at ${ENTRY}`);
  const mod = await import(pathToFileURL(ENTRY).href);
  const Index = mod.Index;
  if (typeof Index?.create !== 'function') throw new Error(`${ENTRY} does not export Index.create`);
  const pkgJson = join(JS_ROOT, 'package.json');
  const version = existsSync(pkgJson) ? (JSON.parse(readFileSync(pkgJson, 'utf8')).version ?? 'working tree') : 'working tree';
  // Same module instance as the Index uses (ES modules are cached), to read the wasm heap size.
  let emModule = null;
  const loaderPath = join(dirname(ENTRY), 'loader-node.js');
  if (existsSync(loaderPath)) {
    try {
      emModule = await (await import(pathToFileURL(loaderPath).href)).loadModule();
    } catch {
      emModule = null; // the build is missing or broken: create() will report it properly
    }
  }

  let index = null;
  let rowOf = null; // id -> row, only when ids are not simply 0..n-1
  let n = 0;
  let ef = 0; // 0 = the index's efSearch

  return {
    name: 'pocketvec',
    version,
    defaults: { m: 16, efConstruction: 200, ef: 64 },
    configs,
    bundleFiles: () => browserFiles(join(JS_ROOT, 'src', 'browser.js')),
    bundleNote: () => 'browser entry src/browser.js and everything it loads',
    wasmMemoryBytes: () => emModule?.HEAP8?.buffer?.byteLength ?? null,

    async build(data, rows, dim, opts) {
      const params = { dim, metric: opts.metric, quantization: opts.quantization ?? 'none' };
      if (opts.m !== undefined) params.m = opts.m;
      if (opts.efConstruction !== undefined) params.efConstruction = opts.efConstruction;
      if (opts.seed !== undefined) params.seed = opts.seed;
      if (opts.sq8Rerank !== undefined) params.sq8Rerank = opts.sq8Rerank;
      index = await Index.create(params);
      ef = opts.ef ?? 0;
      const step = opts.batchRows ?? rows;
      const ids = new Uint32Array(rows);
      for (let first = 0; first < rows; first += step) {
        ids.set(index.insertBatch(data.subarray(first * dim, Math.min(rows, first + step) * dim)), first);
      }
      n = rows;
      rowOf = null;
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] !== i) {
          rowOf = new Map();
          for (let r = 0; r < ids.length; r++) rowOf.set(ids[r], r);
          break;
        }
      }
    },
    setEf(value) {
      ef = value;
    },
    search(q, k) {
      const res = index.search(q, k, { ef });
      const out = new Int32Array(res.length);
      for (let i = 0; i < res.length; i++) out[i] = rowOf ? (rowOf.get(res[i].id) ?? -1) : res[i].id;
      return out;
    },
    serializedBytes: () => index.toBytes().byteLength,
    serializedNote: 'toBytes() length',
    memoryBytes: () => index.memoryBytes,
    memoryNote: 'index.memoryBytes',
    // { indexBytes, heapBytes, heapUsedBytes } where the package has index.memory() (8ccb7fa on).
    memoryDetail: () => index.memory?.() ?? null,
    size: () => n,
    dispose() {
      if (index) index.dispose();
      index = null;
    },
  };
}
