// Registry of library adapters. Each module exports createAdapter() resolving to
// { name, version, configs(meta), build(data, rows, dim, opts, prepared), search(q, k) -> row ids,
//   prepare?, setEf?, efAtBuild?, exact?, serializedBytes?, memoryBytes?, memoryDetail?, wasmMemoryBytes?, bundleFiles,
//   dispose }.
// Loading happens in the per-library worker process, so one library's heap never shows in another's figures.
export const LIBS = {
  pocketvec: () => import('./pocketvec.mjs'),
  edgevec: () => import('./edgevec.mjs'),
  'voy-search': () => import('./voy.mjs'),
  'hnswlib-wasm': () => import('./hnswlib.mjs'),
};
export const ALIASES = { voy: 'voy-search', hnswlib: 'hnswlib-wasm' };
