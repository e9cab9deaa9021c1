// index.js — the public `Index` class over the embind adapter (wasm/bindings.cpp).
//
// Boundary rules, kept in this one file:
//   - Inputs are copied into a WASM buffer with one TypedArray.set into a view made fresh for each
//     call (memory growth never leaves a stale one); search() writes its query into the adapter's fixed
//     query buffer through module.HEAPF32, read at each call, and makes a single embind call.
//   - Results are copied out of C++-owned buffers (.slice() of a view, or HEAPU32/HEAPF32 reads)
//     straight after the call that filled them, before anything can grow memory.
//   - A call that can fail returns >= 0 (the result) or -errc; check() makes that a PocketvecError
//     with the C++ message. A failed call changes nothing.
//   - Integers are checked to be in [0, 2^32) (embind would wrap them); the ranges that matter
//     (dim <= 4096, k >= 1, the reserved id) are the C++ core's.
// The entries (node.js, browser.js) call defineIndex() with the loader for their platform.
import { PocketvecError, errorFromStatus } from './errors.js';
import { openStore } from './idb.js';
import { now, progressOptions, reporter, throwIfAborted } from './progress.js';

const U32_MAX = 0xffffffff;
/** insertBatch sends batches larger than this many floats (1 MiB) in pieces of at most this size. */
const BATCH_PIECE_FLOATS = 1 << 18;
/** A paced batch (onProgress or signal) starts with a piece of this many floats, then sizes pieces to take ~PIECE_MS. */
const FIRST_PIECE_FLOATS = 2048;
const PIECE_MS = 20;
/** -errc::out_of_memory: what a failed staging allocation means (the message is in lastError()). */
const STATUS_OUT_OF_MEMORY = -12;
/** toBytes() and fromBytes() move bytes across the boundary this many at a time. */
const PIECE_BYTES = 1 << 20;

const DEFAULTS = Object.freeze({
  metric: 'l2',
  quantization: 'none',
  m: 16,
  efConstruction: 200,
  efSearch: 64,
  seed: 42,
  compactThreshold: 0.3,
  sq8TrainingSize: 1000,
  sq8Rerank: false,
});
const OPTION_NAMES = new Set(['dim', ...Object.keys(DEFAULTS)]);

function invalid(message) {
  return new PocketvecError('invalid_argument', message);
}

function typeName(value) {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

function u32(value, what) {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw invalid(`${what} must be an integer in [0, ${U32_MAX}], got ${typeof value === 'number' ? value : typeName(value)}`);
  }
  return value;
}

function bool(value, what) {
  if (typeof value !== 'boolean') throw invalid(`${what} must be a boolean, got ${typeName(value)}`);
  return value;
}

function f32Array(value, what) {
  if (!(value instanceof Float32Array)) throw invalid(`${what} must be a Float32Array, got ${typeName(value)}`);
  return value;
}

/** Feeds `bytes` to the handle's push parser a staged piece at a time; returns a status. */
function feed(h, bytes) {
  for (let at = 0; at < bytes.length; at += PIECE_BYTES) {
    const part = bytes.subarray(at, at + PIECE_BYTES);
    const target = h.stageBytes(part.length);
    if (target === null) return STATUS_OUT_OF_MEMORY;
    target.set(part);
    const status = h.loadFeed(part.length);
    if (status < 0) return status;
  }
  return 0;
}

function byteView(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer)) {
    return new Uint8Array(value);
  }
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw invalid(`bytes must be a Uint8Array, ArrayBuffer or ArrayBuffer view, got ${typeName(value)}`);
}

/** Raw handles still alive when their Index is garbage-collected: free the C++ side (a backstop). */
const finalizer = new FinalizationRegistry((handle) => {
  if (!handle.isDeleted()) handle.delete();
});

const INTERNAL = Symbol('pocketvec.internal');
/** The worker host's insertBatch that pauses between steps (src/worker-host.js). */
export const STEPPED = Symbol('pocketvec.stepped');

/**
 * @param {() => Promise<any>} loadModule  resolves to the instantiated Emscripten module
 */
export function defineIndex(loadModule) {
  /** Creates a raw handle and awaits `init` on it; frees it again if that fails or gives null. */
  async function newHandle(init) {
    const module = await loadModule();
    const handle = new module._WasmIndex();
    let status;
    try {
      status = await init(handle);
      if (status < 0) throw errorFromStatus(status, handle.lastError());
    } catch (err) {
      handle.delete();
      throw err;
    }
    if (status === null) {
      handle.delete();
      return null;
    }
    return new Index(INTERNAL, handle, module);
  }

  class Index {
    #h; // the embind handle; null after dispose()
    #module; // the Emscripten module, for HEAPF32
    #dim; // fixed for the life of an index
    #queryIndex; // float index of the adapter's query buffer in HEAPF32
    #generations = new Map(); // dbName -> name -> generation last loaded or saved (save()'s conflict check)

    /** Use Index.create(), Index.fromBytes() or Index.load(). */
    /** Remembers `generation` of the copy `name` in `store` (names are any value here: put() checks them). */
    #remember(store, name, generation) {
      const names = this.#generations.get(store.dbName) ?? new Map();
      this.#generations.set(store.dbName, names.set(name, generation));
    }

    constructor(token, handle, module) {
      if (token !== INTERNAL) throw new TypeError('use Index.create(), Index.fromBytes() or Index.load()');
      this.#h = handle;
      this.#module = module;
      this.#dim = handle.dim();
      this.#queryIndex = handle.queryAddress() / Float32Array.BYTES_PER_ELEMENT;
      finalizer.register(this, handle, this);
    }

    /**
     * A new, empty index.
     * @param {object} options  see index.d.ts (dim is required)
     */
    static async create(options) {
      if (options === null || typeof options !== 'object') throw invalid('Index.create() needs an options object with at least { dim }');
      for (const key of Object.keys(options)) {
        if (!OPTION_NAMES.has(key)) throw invalid(`unknown option '${key}' (known: ${[...OPTION_NAMES].join(', ')})`);
      }
      const o = { ...DEFAULTS, ...options };
      if (o.dim === undefined) throw invalid('Index.create() needs { dim }');
      u32(o.dim, 'dim');
      u32(o.m, 'm');
      u32(o.efConstruction, 'efConstruction');
      u32(o.efSearch, 'efSearch');
      u32(o.sq8TrainingSize, 'sq8TrainingSize');
      if (typeof o.metric !== 'string') throw invalid(`metric must be 'l2', 'cosine' or 'ip', got ${typeName(o.metric)}`);
      if (typeof o.quantization !== 'string') throw invalid(`quantization must be 'none' or 'sq8', got ${typeName(o.quantization)}`);
      if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw invalid(`seed must be a non-negative safe integer, got ${o.seed}`);
      if (typeof o.compactThreshold !== 'number' || !(o.compactThreshold >= 0 && o.compactThreshold <= 1)) {
        throw invalid(`compactThreshold must be a number in [0, 1], got ${o.compactThreshold}`);
      }
      bool(o.sq8Rerank, 'sq8Rerank');
      return newHandle((h) => h.init(o.dim, o.metric, o.quantization, o.m, o.efConstruction, o.efSearch,
        o.seed, o.compactThreshold, o.sq8TrainingSize, o.sq8Rerank));
    }

    /**
     * An index from bytes made by toBytes() (or the C++ index::save()). Throws 'corrupt_data' or
     * 'unsupported_version' when the bytes fail the format's checks.
     * @param {ArrayBufferLike | ArrayBufferView} bytes
     */
    static async fromBytes(bytes) {
      const view = byteView(bytes);
      return newHandle((h) => feed(h, view) || h.loadFinish());
    }

    /**
     * The index saved under `name` in IndexedDB, or null when there is none.
     * @param {string} name
     * @param {{ store?: import('./idb.js').IdbStore }} [options]
     */
    static async load(name, { store = openStore(), onProgress, signal } = {}) {
      progressOptions(onProgress, signal);
      let generation;
      const index = await newHandle(async (h) => {
        const found = await store.get(name, {
          onProgress, signal, onGeneration: (g) => { generation = g; }, onChunk: (chunk) => {
            const status = feed(h, chunk);
            if (status < 0) throw errorFromStatus(status, h.lastError());
          },
        });
        if (found === null) return null;
        throwIfAborted(signal);
        return h.loadFinish();
      });
      index?.#remember(store, name, generation);
      return index;
    }

    /** Names of the indexes saved in IndexedDB, sorted. */
    static async list({ store = openStore() } = {}) {
      return store.list();
    }

    /** Deletes the index saved under `name`; resolves to whether there was one. */
    static async remove(name, { store = openStore() } = {}) {
      return store.delete(name);
    }

    // --- the raw handle, or a 'disposed' error -----------------------------------------------
    #handle() {
      if (this.#h === null) throw new PocketvecError('disposed', 'this Index has been disposed');
      return this.#h;
    }

    #check(status) {
      if (status < 0) throw errorFromStatus(status, this.#h.lastError());
      return status;
    }

    /** Copies `vec` into the WASM input buffer. */
    #stage(h, vec) {
      const target = h.stageF32(vec.length);
      if (target === null) this.#check(STATUS_OUT_OF_MEMORY);
      target.set(vec);
    }

    /**
     * Inserts `vec` under a new id, or — with `id` — inserts or replaces the vector stored under `id`.
     * @param {Float32Array} vec  dim floats
     * @param {number} [id]
     * @returns {number} the id
     */
    insert(vec, id) {
      const h = this.#handle();
      f32Array(vec, 'vector');
      if (id === undefined) {
        this.#stage(h, vec);
        return this.#check(h.insert());
      }
      u32(id, 'id');
      this.#stage(h, vec);
      this.#check(h.upsert(id));
      return id;
    }

    /**
     * Inserts n vectors laid out row after row; all or nothing, also when memory runs out part-way.
     * With `onProgress` or `signal`, the rows go over in pieces sized to take about PIECE_MS each,
     * with a report (throttled to REPORT_MS) and a look at the signal after each; an abort undoes
     * every row inserted and throws 'aborted'.
     * @param {Float32Array} flat  n * dim floats
     * @param {{ onProgress?: (p: { done: number, total: number, fraction: number }) => void, signal?: AbortSignal }} [options]
     * @returns {Uint32Array} the n new ids, in row order
     */
    insertBatch(flat, { onProgress, signal } = {}) {
      const steps = this.#batchSteps(flat, onProgress, signal);
      let r;
      while (!(r = steps.next()).done);
      return r.value;
    }

    /** insertBatch() that awaits `pause()` between its steps (the worker host's, so that an abort message can arrive). */
    async [STEPPED](flat, { onProgress, signal } = {}, pause) {
      const steps = this.#batchSteps(flat, onProgress, signal);
      let r;
      while (!(r = steps.next()).done) await pause();
      return r.value;
    }

    /** insertBatch as a generator: it yields wherever the work may pause and the signal is looked at. */
    * #batchSteps(flat, onProgress, signal) {
      const h = this.#handle();
      f32Array(flat, 'batch');
      progressOptions(onProgress, signal);
      throwIfAborted(signal);
      const dim = this.#dim;
      const rows = flat.length / dim;
      const pieceRows = Math.max(1, Math.floor(BATCH_PIECE_FLOATS / dim));
      const paced = onProgress !== undefined || signal !== undefined;
      if (!Number.isInteger(rows) || (!paced && rows <= pieceRows)) {
        this.#stage(h, flat);
        this.#check(h.insertBatch());
        const ids = h.resultsU32().slice();
        reporter(onProgress, ids.length)(ids.length, true);
        return ids;
      }
      const report = reporter(onProgress, rows);
      report(0, true);
      // A large batch goes over in pieces (the heap holds one at a time, not a copy of the batch), all
      // checked before the first is inserted; the inserts run in one core batch, so a failing piece
      // (e.g. out of memory) or an abort rolls back the pieces before it.
      for (let first = 0; first < rows; first += pieceRows) {
        this.#stage(h, flat.subarray(first * dim, Math.min(rows, first + pieceRows) * dim));
        this.#check(h.checkBatch(first));
        if (paced) {
          report(0);
          yield;
          throwIfAborted(signal);
        }
      }
      // Everything that can throw in JS is allocated before the core batch opens: an exception
      // between beginBatch and the try below would leave it open, refusing every later change.
      const ids = new Uint32Array(rows);
      this.#check(h.beginBatch(rows));
      let done = false;
      try {
        // Paced pieces start small and are sized from the last one's time (at most 2x larger), so a
        // report or an abort never waits much longer than PIECE_MS.
        let n = paced ? Math.max(1, Math.floor(FIRST_PIECE_FLOATS / dim)) : pieceRows;
        for (let at = 0; at < rows;) {
          n = Math.min(n, rows - at);
          const start = now();
          this.#stage(h, flat.subarray(at * dim, (at + n) * dim));
          this.#check(h.insertBatch());
          ids.set(h.resultsU32(), at);
          at += n;
          if (!paced) continue;
          const ms = now() - start;
          n = Math.max(1, Math.min(pieceRows, 2 * n, Math.floor((n * PIECE_MS) / Math.max(ms, 0.01))));
          report(at);
          if (at < rows) {
            yield;
            throwIfAborted(signal);
          }
        }
        done = true;
      } finally {
        // (dispose() from user code during the batch, e.g. a getter, leaves nothing to close)
        if (this.#h !== null) {
          if (done) h.commitBatch();
          else h.rollbackBatch();
        }
      }
      return ids;
    }

    /**
     * The k nearest live vectors of each of n queries (n * dim floats, row after row), in one call.
     * Row q's results are ids[q*k .. q*k+k) and distances[q*k .. q*k+k), nearest first; a row with
     * fewer than k live vectors to give is padded with id 0xFFFFFFFF and distance Infinity.
     * @param {Float32Array} queries
     * @param {number} [k]
     * @param {{ ef?: number }} [options]
     * @returns {{ ids: Uint32Array, distances: Float32Array }}
     */
    searchBatch(queries, k = 10, { ef = 0 } = {}) {
      const h = this.#handle();
      f32Array(queries, 'queries');
      u32(k, 'k');
      u32(ef, 'ef');
      if (queries.length % this.#dim !== 0) {
        throw new PocketvecError('dimension_mismatch',
          `dimension mismatch: index has ${this.#dim}, queries have ${queries.length} floats, not a multiple of it`);
      }
      this.#stage(h, queries);
      this.#check(h.searchBatch(k, ef));
      return { ids: h.resultsU32().slice(), distances: h.resultsF32().slice() };
    }

    /** Every live id, ascending, in one call. */
    ids() {
      const h = this.#handle();
      this.#check(h.liveIds());
      return h.resultsU32().slice().sort(); // slot order from C++; a typed array sorts numerically
    }

    /**
     * The k nearest live vectors to `query`, nearest first.
     * @param {Float32Array} query  dim floats
     * @param {number} [k]  >= 1
     * @param {{ ef?: number }} [options]  beam width; 0 or absent = the index's efSearch (raised to k when smaller)
     * @returns {{ id: number, distance: number }[]}
     */
    search(query, k = 10, { ef = 0 } = {}) {
      const h = this.#handle();
      f32Array(query, 'query');
      u32(k, 'k');
      u32(ef, 'ef');
      if (query.length !== this.#dim) {
        throw new PocketvecError('dimension_mismatch', `dimension mismatch: index has ${this.#dim}, query has ${query.length}`);
      }
      this.#module.HEAPF32.set(query, this.#queryIndex);
      const address = h.search(k, ef);
      if (address < 0) throw errorFromStatus(address, h.lastError());
      // [count, id, distance bits, id, ...] in the heap; read now, before any other call.
      const heapU32 = this.#module.HEAPU32;
      const heapF32 = this.#module.HEAPF32;
      const base = address / 4;
      const n = heapU32[base];
      const hits = new Array(n);
      for (let i = 0; i < n; i++) hits[i] = { id: heapU32[base + 1 + 2 * i], distance: heapF32[base + 2 + 2 * i] };
      return hits;
    }

    /** Deletes the vector under `id` (a tombstone until compact()). Throws 'unknown_id' / 'deleted_id'. */
    delete(id) {
      const h = this.#handle();
      this.#check(h.erase(u32(id, 'id')));
    }

    /** Whether `id` names a live vector. */
    has(id) {
      const h = this.#handle();
      return Number.isInteger(id) && id >= 0 && id <= U32_MAX && h.contains(id);
    }

    /** A copy of the vector stored under `id` (normalised under cosine; decoded under sq8). */
    get(id) {
      const h = this.#handle();
      this.#check(h.get(u32(id, 'id')));
      return h.resultsF32().slice();
    }

    /**
     * Drops the deleted vectors and repairs the graph around them in place; ids are kept. One
     * WebAssembly call: progress is its start (0 of 1) and end (1 of 1), the signal is looked at before.
     */
    compact(options) { this.#whole('compact', options); }
    /** Builds the graph again from the live vectors (slow, twice the memory at the peak); as compact() for options. */
    rebuild(options) { this.#whole('rebuild', options); }
    #whole(op, { onProgress, signal } = {}) {
      const h = this.#handle();
      progressOptions(onProgress, signal);
      throwIfAborted(signal);
      const report = reporter(onProgress, 1);
      report(0, true);
      this.#check(h[op]());
      report(1, true);
    }

    /** Preallocates room for `n` vectors. */
    reserve(n) {
      const h = this.#handle();
      this.#check(h.reserve(u32(n, 'n')));
    }

    /**
     * SQ8 only: learns the quantizer ranges from `sample` (rows of dim floats) and re-encodes every
     * stored vector; on an index already trained, also rebuilds the graph (as compact()).
     */
    train(sample) {
      const h = this.#handle();
      f32Array(sample, 'sample');
      this.#stage(h, sample);
      this.#check(h.train());
    }

    /** The index in pocketvec's binary format (the same bytes the C++ index::save() writes). */
    toBytes() {
      const h = this.#handle();
      const out = new Uint8Array(this.#check(h.saveBegin(PIECE_BYTES, false)));
      try {
        for (let at = 0, n; at < out.length && (n = this.#check(h.saveNext())); at += n) out.set(h.chunk(), at);
      } finally {
        h.saveEnd();
      }
      return out;
    }

    /**
     * Saves to IndexedDB under `name`, atomically: the index as it is once the transaction starts, a
     * chunk at a time in one synchronous run. 'conflict' when a copy is there that this index did not
     * load or save last (another tab's), unless `overwrite`. Resolves to the new generation. Unless
     * `full`, the store appends a segment (the changes since this index's last save or load) when the
     * copy there is that save's or load's (the digests agree) and the segments stay small.
     * @param {string} name
     * @param {{ store?: import('./idb.js').IdbStore, chunkSize?: number, overwrite?: boolean, full?: boolean }} [options]
     */
    async save(name, { store = openStore(), chunkSize, onProgress, signal, overwrite, full = false } = {}) {
      progressOptions(onProgress, signal);
      bool(full, 'full');
      throwIfAborted(signal);
      const h = this.#handle();
      // expectGeneration is asked in the transaction: after an earlier save of this index has committed
      // (and been remembered), so overlapping saves of one index do not conflict with each other. A
      // segment only where the handle has a save point (after a committed save or a load; none since
      // compact(), train() and the like): its base digest is that point's, which the store compares.
      const generation = await store.put(name, (size, append) => ({
        length: this.#check(h.saveBegin(size, append && h.appendable())),
        base: h.saveDigest(0),
        digest: h.saveDigest(1),
        next: () => (this.#check(h.saveNext()), h.chunk().slice()),
        end: () => this.#h && h.saveEnd(),
      }), { chunkSize, onProgress, signal, overwrite, append: !full, expectGeneration: () => this.#generations.get(store.dbName)?.get(name) });
      this.#remember(store, name, generation);
      // The last writer's state (the one stored) is the next segment's base; none if the index changed since.
      if (this.#h) h.markSaved();
      return generation;
    }

    // Read-only properties, each the handle's method of that name (index.d.ts documents them): dim; size
    // (live vectors); deletedCount (tombstones awaiting compact()); tombstoneRatio (deleted / (live +
    // deleted), 0 when empty); needsCompaction (tombstoneRatio has passed compactThreshold: time to call
    // compact(), nothing compacts by itself); memoryBytes (bytes held in the WASM heap by this index:
    // graph, vectors, ids, buffers); metric, quantization, m, efConstruction, efSearch, seed.
    static {
      for (const p of ['dim', 'size', 'deletedCount', 'tombstoneRatio', 'needsCompaction', 'memoryBytes', 'metric', 'quantization', 'm', 'efConstruction', 'efSearch', 'seed']) {
        Object.defineProperty(this.prototype, p, { get() { return this.#handle()[p](); }, configurable: true });
      }
    }
    /**
     * What this index holds and what the page pays for it: { indexBytes, heapBytes, heapUsedBytes }.
     * indexBytes is memoryBytes. heapBytes is the size of the module's WebAssembly memory, which every
     * index of the module shares and which never shrinks, so it is also its high-water mark.
     * heapUsedBytes is what the module's allocator has handed out now, over all of its indexes.
     */
    memory() {
      const indexBytes = this.#handle().memoryBytes();
      return { indexBytes, heapBytes: this.#module.HEAPU8.buffer.byteLength, heapUsedBytes: this.#module._heapUsedBytes() };
    }
    /**
     * The SQ8 quantizer's state: { trained, encoded, clamped, clampedFraction } (all 0 / false for an
     * f32 index). Counts are components (dim per vector) since the ranges were last learned.
     */
    get sq8() {
      const h = this.#handle();
      const base = h.sq8Stats() / Float64Array.BYTES_PER_ELEMENT;
      const heap = this.#module.HEAPF64;
      return { trained: heap[base] !== 0, encoded: heap[base + 1], clamped: heap[base + 2], clampedFraction: heap[base + 3] };
    }
    /** Whether dispose() was called. */
    get disposed() { return this.#h === null; }

    /** Frees the WASM memory now. Idempotent; every other method then throws PocketvecError 'disposed'. */
    dispose() {
      if (this.#h === null) return;
      finalizer.unregister(this);
      this.#h.delete();
      this.#h = null;
    }
  }

  if (typeof Symbol.dispose === 'symbol') {
    Object.defineProperty(Index.prototype, Symbol.dispose, {
      value: Index.prototype.dispose, writable: true, configurable: true,
    });
  }

  return Index;
}
