// Adapter for the `voy-search` npm package (Rust + wasm-bindgen, "bundler" target, k-d tree).
// Loading in Node 20: voy_search.js does `import * as wasm from "./voy_search_bg.wasm"`, which Node only
// accepts with --experimental-wasm-modules. Instead we do what a bundler does: instantiate the .wasm with
// voy_search_bg.js as its import object and hand the instance to __wbg_set_wasm. Same glue, no flags.
// API: new Voy({ embeddings: [{ id, title, url, embeddings: number[] }] }), search(Float32Array, k) ->
// { neighbors: [{ id, title, url }] } (no distances), add(resource), serialize() -> JSON string. No metric
// choice (squared Euclidean; on unit vectors that ranks like cosine) and no parameters: the tree answers
// exactly, so there is no ef. The resource crosses into wasm as JSON text, and the tree is compiled for
// 768 dimensions (leaves hold 32 x 768 floats).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { browserFiles } from '../lib/bundle.mjs';

const require = createRequire(import.meta.url);
// The resource crosses into wasm as one JSON string, which must stay below V8's maximum string length
// (2^29 - 24 chars). A float prints as at most ~22 chars, so 16M floats (~350M chars) per call is safe;
// larger sets go in as new Voy(first slice) + add(slice)...
const MAX_FLOATS_PER_CALL = 16_000_000;

/** Configurations run for this library; `sweep` marks the one whose ef is swept. */
export function configs() {
  return [{ label: 'default', params: {}, note: 'k-d tree, no parameters (exact search)' }];
}

export async function createAdapter() {
  const pkgPath = require.resolve('voy-search/package.json');
  const pkgDir = dirname(pkgPath);
  const version = JSON.parse(readFileSync(pkgPath, 'utf8')).version;
  const bg = await import('voy-search/voy_search_bg.js');
  const mod = await WebAssembly.compile(readFileSync(join(pkgDir, 'voy_search_bg.wasm')));
  const instance = await WebAssembly.instantiate(mod, { './voy_search_bg.js': bg });
  bg.__wbg_set_wasm(instance.exports);

  let voy = null;
  let n = 0;
  let chunked = false;

  const toResource = (data, start, count, dim) => {
    const embeddings = new Array(count);
    for (let i = 0; i < count; i++) {
      const row = start + i;
      embeddings[i] = { id: String(row), title: '', url: '', embeddings: Array.from(data.subarray(row * dim, (row + 1) * dim)) };
    }
    return { embeddings };
  };

  return {
    name: 'voy-search',
    version,
    exact: true,
    configs,
    bundleFiles: () => browserFiles(join(pkgDir, 'voy_search.js')),
    wasmMemoryBytes: () => instance.exports.memory.buffer.byteLength,

    // Converting Float32Array rows to number[] objects is what the API demands of the caller; it is done
    // here, outside the timed build, so the build time is voy's own work (JSON round trip + tree).
    prepare(data, rows, dim) {
      const perCall = Math.max(1, Math.floor(MAX_FLOATS_PER_CALL / dim));
      const parts = [];
      for (let start = 0; start < rows; start += perCall) parts.push(toResource(data, start, Math.min(perCall, rows - start), dim));
      return parts;
    },
    build(data, rows, dim, opts, parts) {
      n = rows;
      chunked = parts.length > 1;
      voy = new bg.Voy(parts[0]);
      for (let i = 1; i < parts.length; i++) voy.add(parts[i]);
    },
    buildNote: () => (chunked ? 'new Voy(first slice) + add() per slice (one JSON string would exceed V8 limits)' : 'new Voy(resource)'),
    search(q, k) {
      const res = voy.search(q, k).neighbors;
      const out = new Int32Array(res.length);
      for (let i = 0; i < res.length; i++) out[i] = Number(res[i].id);
      return out;
    },
    serializedBytes() {
      // The serialised index is a JS string (JSON, ASCII), so its length is its UTF-8 byte size.
      return voy.serialize().length;
    },
    serializedNote: 'serialize() JSON string length',
    size: () => n,
    dispose() {
      if (voy) voy.free();
      voy = null;
    },
  };
}
