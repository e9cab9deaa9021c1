// worker.js — the demo's module worker: owns the dataset copy and the pocketvec indexes, so building,
// searching, saving and loading never block the page.
//
// Protocol: the page posts { id, op, args }; the worker answers { id, result } or { id, error } and,
// while building, posts { progress: { mode, done, total, rate } } messages.
// Two indexes can exist side by side: 'f32' (quantization 'none') and 'sq8'. Deletes and compactions are
// applied to every index that exists, so both always hold the same live ids.
import { Index } from '../src/browser.js';

/** Index parameters of the demo (efConstruction below the package default of 200: builds ~1.6x faster). */
const PARAMS = { metric: 'l2', m: 16, efConstruction: 100, efSearch: 64, seed: 42, compactThreshold: 0 };
const BATCH = 256;          // vectors per insertBatch call (one progress message each)
const SEARCH_REPEATS = 20;  // extra timed runs of a query, for a steadier latency figure

let data = null;            // { rows: Uint8Array | Float32Array, count, dim, scale, key, persist }
const indexes = new Map();  // 'f32' | 'sq8' -> Index
const deleted = new Set();  // ids deleted in this session or found deleted in a loaded index

function savedName(mode) {
  return `${data.key}-${mode}`;
}

/** Row `id` as floats (pixels times `scale`, i.e. 0..1 for Fashion-MNIST), written into `out`. */
function row(id, out = new Float32Array(data.dim)) {
  const { rows, dim, scale } = data;
  const base = id * dim;
  for (let j = 0; j < dim; j++) out[j] = rows[base + j] * scale;
  return out;
}

function stats() {
  const out = {};
  for (const [mode, index] of indexes) {
    out[mode] = {
      size: index.size,
      deletedCount: index.deletedCount,
      tombstoneRatio: index.tombstoneRatio,
      memoryBytes: index.memoryBytes,
    };
  }
  return out;
}

function create(mode) {
  return Index.create({ dim: data.dim, ...PARAMS, quantization: mode === 'sq8' ? 'sq8' : 'none' });
}

const ops = {
  /** Takes the dataset: rows (u8 pixels with scale 1/255, or f32 with scale 1), count x dim. */
  init({ rows, count, dim, scale, key, persist }) {
    for (const index of indexes.values()) index.dispose();
    indexes.clear();
    deleted.clear();
    if (rows.length !== count * dim) throw new Error(`dataset has ${rows.length} values, expected ${count} x ${dim}`);
    data = { rows, count, dim, scale, key, persist };
    return { count, dim };
  },

  /** Saved copies of this dataset's indexes in IndexedDB. */
  async saved() {
    if (!data.persist) return [];
    const names = await Index.list();
    return ['f32', 'sq8'].filter((mode) => names.includes(savedName(mode)));
  },

  /** Builds the `mode` index over every live row; reports progress and the insert rate. */
  async build({ mode }) {
    indexes.get(mode)?.dispose();
    indexes.delete(mode);
    const index = await create(mode);
    const { count, dim } = data;
    const live = deleted.size === 0;
    const start = performance.now();
    let lastPost = 0;
    try {
      index.reserve(count - deleted.size);
      const flat = new Float32Array(BATCH * dim);
      const one = new Float32Array(dim);
      for (let first = 0; first < count; first += BATCH) {
        const n = Math.min(BATCH, count - first);
        if (live) {
          // Fresh ids are 0, 1, 2, ... in row order, so id == row number.
          for (let i = 0; i < n; i++) row(first + i, flat.subarray(i * dim, (i + 1) * dim));
          const ids = index.insertBatch(n === BATCH ? flat : flat.subarray(0, n * dim));
          if (ids[0] !== first) throw new Error(`insertBatch gave id ${ids[0]} to row ${first}`);
        } else {
          // Rebuilding after deletions: insert only the live rows, each under its own id.
          for (let id = first; id < first + n; id++) if (!deleted.has(id)) index.insert(row(id, one), id);
        }
        const now = performance.now();
        if (now - lastPost > 100 || first + n === count) {
          lastPost = now;
          const done = first + n;
          self.postMessage({ progress: { mode, done, total: count, rate: done / ((now - start) / 1000) } });
        }
      }
    } catch (err) {
      index.dispose();
      throw err;
    }
    const seconds = (performance.now() - start) / 1000;
    indexes.set(mode, index);
    return { mode, seconds, rate: count / seconds, stats: stats() };
  },

  /** Loads the saved `modes` from IndexedDB; reports how long each load took. */
  async load({ modes }) {
    const times = {};
    for (const mode of modes) {
      const start = performance.now();
      const index = await Index.load(savedName(mode));
      times[mode] = performance.now() - start;
      if (!index) throw new Error(`no saved index "${savedName(mode)}"`);
      if (index.dim !== data.dim) {
        index.dispose();
        throw new Error(`saved index "${savedName(mode)}" has dim ${index.dim}, the data has ${data.dim}`);
      }
      indexes.get(mode)?.dispose();
      indexes.set(mode, index);
    }
    // The saved copy knows which rows were deleted before it was saved.
    deleted.clear();
    const first = indexes.get(modes[0]);
    for (let id = 0; id < data.count; id++) if (!first.has(id)) deleted.add(id);
    return { times, deleted: [...deleted], stats: stats() };
  },

  /** Saves the `modes` indexes (default: every one that exists), each atomically, to IndexedDB. */
  async save({ modes = [...indexes.keys()] } = {}) {
    const times = {};
    for (const mode of modes) {
      const index = indexes.get(mode);
      const start = performance.now();
      await index.save(savedName(mode));
      times[mode] = performance.now() - start;
    }
    return { times };
  },

  /** Forgets the saved copies. */
  async forget() {
    for (const mode of ['f32', 'sq8']) await Index.remove(savedName(mode));
  },

  /** k nearest neighbours of row `queryId` in the `mode` index, with the latency of the call. */
  search({ mode, queryId, k }) {
    const index = indexes.get(mode);
    if (!index) throw new Error(`the ${mode} index is not built`);
    const query = row(queryId);
    let start = performance.now();
    const hits = index.search(query, k);
    const firstMs = performance.now() - start;
    start = performance.now();
    for (let r = 0; r < SEARCH_REPEATS; r++) index.search(query, k);
    const meanMs = (performance.now() - start) / SEARCH_REPEATS;
    return { hits, firstMs, meanMs, repeats: SEARCH_REPEATS };
  },

  /** Deletes row `target` from every index. */
  delete({ target }) {
    for (const index of indexes.values()) index.delete(target);
    deleted.add(target);
    return { stats: stats() };
  },

  /** Compacts every index (drops tombstones; ids stay). */
  compact() {
    const times = {};
    for (const [mode, index] of indexes) {
      const start = performance.now();
      index.compact();
      times[mode] = performance.now() - start;
    }
    return { times, stats: stats() };
  },

  stats() {
    return stats();
  },
};

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    const result = await ops[op](args);
    self.postMessage({ id, result });
  } catch (err) {
    self.postMessage({ id, error: { code: err.code ?? null, message: err.message ?? String(err) } });
  }
};
