// Adapter for the `hnswlib-wasm` npm package (hnswlib C++ via Emscripten embind, built -O3 without SIMD,
// ENVIRONMENT=web, SINGLE_FILE: the wasm is inlined as base64 in dist/hnswlib-*.js).
// Loading in Node 20: the package has no "main"/"exports" (only "module"), so import dist/hnswlib.js by
// path; the Emscripten runtime refuses to start unless it sees a browser (`window`), and loadHnswlib()
// mounts IDBFS, which needs indexedDB. We provide `globalThis.window = globalThis` and fake-indexeddb.
// API: new HierarchicalNSW(space 'l2'|'ip'|'cosine', dim, autoSaveFilename), initIndex(maxElements, m,
// efConstruction, randomSeed) (all four required by the binding; d.ts documents defaults m=16,
// efConstruction=200, seed=100; the package also exports defaultParams.initIndex = [32, 128, 100]),
// setEfSearch(ef) any time (hnswlib's default ef is 10; search uses max(ef, k)), addItems(Float32Array[],
// replaceDeleted) -> labels, searchKnn(q, k, filter) -> { distances, neighbors }, writeIndex(name) into the
// IDBFS mount (we read the stored file's size back from fake-indexeddb).

import 'fake-indexeddb/auto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { browserFiles } from '../lib/bundle.mjs';

const require = createRequire(import.meta.url);
// loadHnswlib() mounts IDBFS here; Emscripten names the IndexedDB database after the mount point
// (schema version 21) and keys files by absolute path in its FILE_DATA store.
const IDBFS_MOUNT = '/hnswlib-index';

// The package logs every IDBFS sync (console.log, console.warn); keep benchmark output readable.
async function quietly(fn) {
  const { log, warn } = console;
  console.log = () => {};
  console.warn = () => {};
  try {
    const result = await fn();
    // Its "synced" messages come from a setTimeout after the sync callback: let them pass first.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return result;
  } finally {
    console.log = log;
    console.warn = warn;
  }
}

function idbRequest(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Configurations run for this library; `sweep` marks the one whose ef is swept. */
export function configs() {
  return [
    { label: 'default', params: {}, note: 'initIndex(n, 16, 200, 100) as documented in its d.ts; ef=10 (hnswlib default)' },
    { label: 'defaultParams', params: { m: 32, efConstruction: 128 }, note: 'exported defaultParams.initIndex = [32, 128, 100]; ef=10' },
    { label: 'matched', params: { m: 16, efConstruction: 200 }, note: 'm=16, efConstruction=200 (layer 0: 2m)', sweep: true },
  ];
}

export async function createAdapter() {
  if (typeof globalThis.window === 'undefined') globalThis.window = globalThis;
  const distDir = join(dirname(require.resolve('hnswlib-wasm/package.json')), 'dist');
  const version = JSON.parse(readFileSync(join(distDir, '..', 'package.json'), 'utf8')).version;
  const pkg = await import('hnswlib-wasm/dist/hnswlib.js');
  const lib = await quietly(() => pkg.loadHnswlib());

  let index = null;
  let n = 0;
  let saveCounter = 0;

  return {
    name: 'hnswlib-wasm',
    version,
    defaults: { m: 16, efConstruction: 200, ef: 10, seed: 100 },
    configs,
    bundleFiles: () => browserFiles(join(distDir, 'hnswlib.js')),
    wasmMemoryBytes: () => lib.HEAP8.buffer.byteLength,

    prepare(data, rows, dim) {
      const views = new Array(rows);
      for (let i = 0; i < rows; i++) views[i] = data.subarray(i * dim, (i + 1) * dim);
      return views;
    },
    build(data, rows, dim, opts, views) {
      const space = opts.metric === 'cosine' ? 'cosine' : opts.metric === 'ip' ? 'ip' : 'l2';
      index = new lib.HierarchicalNSW(space, dim, '');
      index.initIndex(rows, opts.m ?? 16, opts.efConstruction ?? 200, opts.seed ?? 100);
      if (opts.ef !== undefined) index.setEfSearch(opts.ef);
      const labels = index.addItems(views, false);
      for (let i = 0; i < labels.length; i++) {
        if (labels[i] !== i) throw new Error(`hnswlib-wasm assigned label ${labels[i]} to row ${i}`);
      }
      n = rows;
    },
    setEf(ef) {
      index.setEfSearch(ef);
    },
    search(q, k) {
      return index.searchKnn(q, k, undefined).neighbors;
    },
    async serializedBytes() {
      const name = `bench-${process.pid}-${saveCounter++}.dat`;
      return quietly(async () => {
        await index.writeIndex(name);
        await pkg.syncFileSystem('write');
        const db = await idbRequest(indexedDB.open(IDBFS_MOUNT, 21));
        const store = db.transaction(['FILE_DATA'], 'readonly').objectStore('FILE_DATA');
        const entry = await idbRequest(store.get(`${IDBFS_MOUNT}/${name}`));
        db.close();
        if (!entry || !entry.contents) throw new Error(`hnswlib-wasm: ${name} not found in IDBFS after writeIndex`);
        return entry.contents.byteLength;
      });
    },
    serializedNote: 'writeIndex() file size in IDBFS',
    size: () => n,
    dispose() {
      if (index) index.delete();
      index = null;
    },
  };
}
