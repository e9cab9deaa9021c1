// Type declarations for pocketvec, written by hand (Emscripten 3.1.6 cannot emit them) and checked by
// `tsc` against test/types/usage.ts. Keep in step with src/index.js, src/errors.js and src/idb.js.

/** 'l2' = squared Euclidean distance; 'cosine' = 1 - cos(a, b); 'ip' = -dot(a, b). Smaller is closer. */
export type Metric = 'l2' | 'cosine' | 'ip';
/** 'sq8' stores one byte per dimension (about 4x less memory); 'none' stores float32. */
export type Quantization = 'none' | 'sq8';

/** Index.memory(): bytes, see there. */
export interface MemoryReport {
  indexBytes: number;
  heapBytes: number;
  heapUsedBytes: number;
}

/**
 * The C++ errc names, plus some of JS only: 'disposed' (a call after dispose()), 'aborted' (the call's
 * AbortSignal fired; the error's cause is signal.reason; nothing changed), 'internal_error' (a pocketvec bug,
 * or a WorkerIndex whose worker died), 'quota_exceeded' (a save over the storage quota; cause: the browser's
 * QuotaExceededError; the saved copy is unchanged) and 'conflict' (a save over a copy another index or tab
 * saved; nothing written), 'unsupported' (an OPFS store where sync access handles are not).
 */
export type ErrorCode =
  | 'invalid_argument'
  | 'dimension_mismatch'
  | 'non_finite'
  | 'zero_vector'
  | 'unknown_id'
  | 'deleted_id'
  | 'empty_index'
  | 'corrupt_data'
  | 'unsupported_version'
  | 'capacity_exceeded'
  | 'io_error'
  | 'out_of_memory'
  | 'out_of_range'
  | 'disposed'
  | 'aborted'
  | 'internal_error'
  | 'quota_exceeded'
  | 'conflict'
  | 'unsupported';

/** Every error pocketvec throws or rejects with. */
export class PocketvecError extends Error {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown });
  readonly name: 'PocketvecError';
  readonly code: ErrorCode;
}

export interface IndexOptions {
  /** Vector length, 1..4096. */
  dim: number;
  /** Default 'l2'. */
  metric?: Metric;
  /** Default 'none'. */
  quantization?: Quantization;
  /** Graph degree, 2..128 (level 0 holds 2*m). Default 16. */
  m?: number;
  /** Beam width while inserting, >= 1. Default 200. */
  efConstruction?: number;
  /** Beam width of search() when no `ef` is given, >= 1. Default 64. */
  efSearch?: number;
  /** Level-sampling seed, a non-negative safe integer: same seed + same inserts = same index. Default 42. */
  seed?: number;
  /** needsCompaction once tombstoneRatio exceeds this, in [0, 1]; 0 never. Default 0.3. Nothing compacts by itself. */
  compactThreshold?: number;
  /** SQ8: train the quantizer on the first N vectors. Default 1000. */
  sq8TrainingSize?: number;
  /** SQ8: also keep float32 vectors and re-score candidates exactly. Default false. */
  sq8Rerank?: boolean;
}

/**
 * The SQ8 quantizer's state (index.sq8). An SQ8 index keeps float32 vectors and answers exactly until it is
 * trained: automatically when sq8TrainingSize vectors have been inserted, or by train(). Training learns
 * a range per dimension; from then on each component is stored as one of 256 levels of its range, and a
 * component outside the range is stored clamped to the range's end. All zero (and trained false) on an
 * f32 index. Counts are exact up to 2^53.
 */
export interface Sq8Stats {
  /** Whether the ranges have been learned. */
  readonly trained: boolean;
  /** Vector components (dim per vector) encoded since the ranges were last learned. */
  readonly encoded: number;
  /** Of those, the components that fell outside the ranges and were stored clamped. */
  readonly clamped: number;
  /**
   * clamped / encoded, 0 when nothing was encoded: how far the data inserted since training has
   * drifted outside the ranges. Past a few per cent, recall suffers; call train(sample) with vectors
   * like the current data to re-learn the ranges.
   */
  readonly clampedFraction: number;
}

export interface SearchHit {
  /** The stable id given by insert(). */
  id: number;
  /** Distance under the index's metric; hits are sorted by it, ascending. */
  distance: number;
}

export interface SearchOptions {
  /** Beam width, >= k for best recall; 0 or absent = the index's efSearch. */
  ef?: number;
}

/** One progress report: `done` of `total` units (rows, bytes, steps); never decreasing, the last has done === total. */
export interface Progress {
  done: number;
  total: number;
  /** done / total (1 when total is 0). */
  fraction: number;
}

/**
 * For the long calls (insertBatch, compact, save, load). onProgress gets a first report, one at least every
 * 100 ms of work (50 ms apart at most often), and a last one; if it throws, the call fails with that error and
 * is undone (save's and load's last report excepted: it comes after the commit, and a throw goes to reportError). `signal` is looked at between steps: once aborted, the call undoes its work and fails with
 * PocketvecError 'aborted'.
 */
export interface ProgressOptions {
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
}

/** searchBatch(): n x k, row after row, nearest first; a short row is padded with id 0xFFFFFFFF and distance Infinity. */
export interface BatchResults {
  ids: Uint32Array;
  distances: Float32Array;
}

export interface StoreOptions {
  /** Where to save; default: openStore() (globalThis.indexedDB, database 'pocketvec'). openOpfsStore() in a worker. */
  store?: IdbStore | OpfsStore;
}

export interface LoadOptions extends StoreOptions, ProgressOptions {}

export interface SaveOptions extends StoreOptions, ProgressOptions {
  /** Bytes per stored chunk; default 1 MiB. */
  chunkSize?: number;
  /**
   * Replace the saved copy even if this index did not load it or save it last (another tab's, or another
   * index's). Without it, such a save rejects with 'conflict' and writes nothing. Default false.
   */
  overwrite?: boolean;
  /**
   * Rewrite the whole file even where the save could append a segment (the changes since this index's last
   * save or load; docs/js.md "Incremental saves"). Default false.
   */
  full?: boolean;
}

export class Index {
  private constructor();

  /** A new, empty index. Rejects with 'invalid_argument' naming the first bad option. */
  static create(options: IndexOptions): Promise<Index>;
  /** An index from toBytes() output. Rejects with 'corrupt_data' / 'unsupported_version' on bad bytes. */
  static fromBytes(bytes: ArrayBufferLike | ArrayBufferView): Promise<Index>;
  /** The index saved under `name` in IndexedDB, or null. Rejects with 'corrupt_data' when the copy is damaged. */
  static load(name: string, options?: LoadOptions): Promise<Index | null>;
  /** Names of the saved indexes, sorted. */
  static list(options?: StoreOptions): Promise<string[]>;
  /** Deletes a saved index; resolves to whether there was one. */
  static remove(name: string, options?: StoreOptions): Promise<boolean>;

  /**
   * Inserts `vector` (dim floats) under a new id and returns it; with `id`, inserts or replaces the
   * vector stored under that id (an integer in [0, 2^32 - 2]) and returns `id`. A new id is one above
   * every id the index has held, so a deleted (or compacted-away) id is never handed out again.
   * Throws 'dimension_mismatch', 'non_finite', 'zero_vector' (cosine), 'out_of_range' (l2/ip: a
   * squared length above FLT_MAX/4), 'invalid_argument'.
   */
  insert(vector: Float32Array, id?: number): number;
  /**
   * Inserts n = flat.length / dim vectors and returns their ids in row order. All or nothing: every
   * row is checked before the first is inserted, so bad input inserts nothing, and a failure part-way,
   * such as 'out_of_memory' when the WebAssembly heap runs out, undoes every row the batch inserted: size, ids, answers and toBytes() are as before the
   * call (room reserved for the batch may stay allocated, see memoryBytes). Batches over 1 MiB of
   * floats cross into WebAssembly in 1 MiB pieces, so the heap never holds a second copy of the whole
   * batch; the pieces are inserted, and undone, as one. With onProgress or signal the pieces are sized to take
   * about 20 ms each, with a report (rows done) and a look at the signal after each; since the call is
   * synchronous, the signal can only be aborted from onProgress itself (or before the call) — use WorkerIndex
   * to cancel from elsewhere. An abort undoes every row: toBytes() is as before.
   */
  insertBatch(flat: Float32Array, options?: ProgressOptions): Uint32Array;
  /**
   * The k nearest live vectors of each of n = queries.length / dim queries, in one call (the same answers as
   * n search() calls). Row q is ids/distances[q*k, q*k + k).
   */
  searchBatch(queries: Float32Array, k?: number, options?: SearchOptions): BatchResults;
  /** Every live id, ascending, in one call. */
  ids(): Uint32Array;
  /** The k (default 10) nearest live vectors, nearest first. Throws 'empty_index' on an empty index. */
  search(query: Float32Array, k?: number, options?: SearchOptions): SearchHit[];
  /** Deletes (tombstones) the vector under `id`. Throws 'unknown_id' or 'deleted_id'. */
  delete(id: number): void;
  /** Whether `id` names a live vector. */
  has(id: number): boolean;
  /** A copy of the stored vector (normalised under cosine, decoded under sq8). */
  get(id: number): Float32Array;
  /**
   * Drops the deleted vectors for good and repairs the graph around them in place (no second copy of
   * the index, nothing re-encoded); ids are kept. One WebAssembly call: progress is 0 of 1 before and
   * 1 of 1 after, and the signal is looked at before it starts only.
   */
  compact(options?: ProgressOptions): void;
  /** Builds the graph again from scratch over the live vectors: slow, twice the memory at its peak. */
  rebuild(options?: ProgressOptions): void;
  /** Preallocates room for n vectors. */
  reserve(n: number): void;
  /**
   * SQ8 only ('invalid_argument' otherwise): learns the quantizer ranges from `sample` (rows of dim
   * floats) and re-encodes every stored vector with them; sq8 counts restart from that re-encoding.
   * The first training (before sq8TrainingSize inserts) keeps the graph. On an index already trained
   * it may be called again, to re-learn the ranges when the data has drifted (see sq8.clampedFraction);
   * that also rebuilds the graph over the new codes, as compact() does (deleted vectors are dropped):
   * O(n log n · efConstruction) time and two copies of the index in memory at the peak. Without
   * sq8Rerank the stored vectors are re-encoded from their codes, so a component clamped before stays
   * clamped: insert such vectors again under their ids to restore them. All or nothing.
   */
  train(sample: Float32Array): void;

  /** The index in pocketvec's binary format. */
  toBytes(): Uint8Array;
  /**
   * Saves to IndexedDB under `name`, atomically replacing a previous copy (which survives a failed or aborted
   * save: 'quota_exceeded', 'io_error', 'aborted'). Progress counts the bytes written to IndexedDB; the last
   * report comes with the transaction's end. Rejects with 'conflict' (writing nothing) when a copy is there
   * whose generation is not the one this index last loaded or saved under this name and database, e.g. one
   * another tab saved since, unless `overwrite`. Resolves to the new generation. toBytes() and fromBytes()
   * carry no generation: an index from fromBytes() saving over an existing copy needs `overwrite`.
   * Incremental: unless `full`, the save appends a segment (what changed since this index's last save or load,
   * the progress total its bytes) when the copy there is that save's or load's, of this index's generation,
   * and the segments stay within half of the base's bytes; else, and after compact(), rebuild(), train() or
   * SQ8 training, it rewrites the whole file. Either is atomic.
   */
  save(name: string, options?: SaveOptions): Promise<number>;

  readonly dim: number;
  /** Live vectors. */
  readonly size: number;
  /** Tombstoned vectors awaiting compact(). */
  readonly deletedCount: number;
  /** deletedCount / (size + deletedCount); 0 when empty. */
  readonly tombstoneRatio: number;
  /** tombstoneRatio > compactThreshold: time to call compact(). delete() never compacts by itself. */
  readonly needsCompaction: boolean;
  /** Bytes this index holds in the WASM heap. */
  readonly memoryBytes: number;
  /**
   * What the index holds and what the page pays: `indexBytes` is memoryBytes; `heapBytes` is the
   * module's WebAssembly memory (shared by every index, never shrinks, so also its high-water mark);
   * `heapUsedBytes` is what the module's allocator has handed out now, over all indexes.
   */
  memory(): MemoryReport;
  readonly metric: Metric;
  readonly quantization: Quantization;
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  readonly seed: number;
  /** The SQ8 quantizer's state, read afresh at each access (all zero on an f32 index). */
  readonly sq8: Sq8Stats;
  readonly disposed: boolean;

  /** Frees the WASM memory; afterwards every method throws 'disposed'. Idempotent. */
  dispose(): void;
  /** Same as dispose(), for `using index = await Index.create(...)` (needs TS lib esnext.disposable). */
  [Symbol.dispose](): void;
}

/**
 * Makes a save's chunks one at a time, inside the transaction (Index.save passes the WASM serializer). With
 * `appending` (put's `append`), a segment to go after the stored bytes; the store ends it and asks again with
 * appending false when it cannot append it (see IdbStore.put), so the last writer made is the one stored.
 */
export type ChunkWriter = (chunkSize: number, appending: boolean) => {
  /** Total bytes. */
  length: number;
  /** A copy of the next chunkSize bytes (the last chunk shorter). */
  next(): Uint8Array;
  /** Called once the chunks are written or the save failed. */
  end?(): void;
  /** A segment's: the digest of the bytes it extends (0 or absent: the whole file). */
  base?: number;
  /** The digest the written bytes end with, recorded with the copy: a later segment must extend it. */
  digest?: number;
};

/** A save that committed, as watch() reports it. */
export interface SavedCopy {
  dbName: string;
  name: string;
  generation: number;
  /** The saving IdbStore's `source` (a WorkerIndex's `source` for its saves); undefined from older versions. */
  source?: string;
}

/** Saved indexes in one IndexedDB database: atomic saves in chunks, streamed on load. */
export class IdbStore {
  constructor(options?: { indexedDB?: IDBFactory; dbName?: string; source?: string });
  readonly dbName: string;
  /** Sent with this store's saves (SavedCopy.source); random unless given. */
  readonly source: string;
  /**
   * Writes `name` if the copy there is generation `expectGeneration` (undefined: if there is none), or in any
   * case with `overwrite`; else rejects with 'conflict', writing nothing. Resolves to the new generation
   * (above the copy's and every generation this database gave before, removes included).
   * With `append`, a ChunkWriter's segment goes after the stored bytes (in the copy's chunk size) if there is a
   * copy, of generation `expectGeneration`, whose recorded digest is the segment's `base`, and the segments,
   * this one included, stay within half of the base's bytes; otherwise the whole file is written.
   */
  put(name: string, bytes: Uint8Array | ChunkWriter, options?: ProgressOptions & {
    chunkSize?: number;
    /** A function is called inside the transaction, once the saves before it have committed. */
    expectGeneration?: number | (() => number | undefined);
    overwrite?: boolean;
    /** Append a segment where allowed (above). Default false. */
    append?: boolean;
  }): Promise<number>;
  /**
   * The bytes, or with onChunk each chunk handed over in order as read (then true); null when absent.
   * onGeneration gets the copy's generation before the first chunk.
   */
  get(name: string, options?: ProgressOptions & { onChunk?: (chunk: Uint8Array) => void; onGeneration?: (generation: number) => void }): Promise<Uint8Array | true | null>;
  list(): Promise<string[]>;
  delete(name: string): Promise<boolean>;
  /**
   * Calls `callback` after each save to this database (dbName) that commits through another IdbStore object:
   * another tab's, a worker's (WorkerIndex), or another openStore() of this page. Saves through this object are
   * not reported. Uses BroadcastChannel 'pocketvec:<dbName>' (without one, never calls). Returns the
   * function that stops it; in Node an open watch does not keep the process alive. A callback's throw goes to
   * reportError. Removes are not reported.
   */
  watch(callback: (save: SavedCopy) => void): () => void;
}

/** navigator.storage for this origin. */
export interface StorageInfo {
  /** false where there is no navigator.storage (Node; WebKitGTK's default): then the rest is unknown. */
  supported: boolean;
  /** Whether the browser keeps this origin's data under storage pressure (false when unknown). */
  persisted: boolean;
  /** Bytes this origin uses and may use, from navigator.storage.estimate(). */
  usage: number | undefined;
  quota: number | undefined;
}

/**
 * Asks the browser to keep this origin's storage (navigator.storage.persist(); Firefox may ask the user) and
 * resolves to storageInfo(). Never rejects for a missing API ({ supported: false }); 'io_error' when a call fails (estimate() excepted:
 * usage/quota undefined). In a worker there is no persist(): it asks nothing.
 */
export function persist(): Promise<StorageInfo>;
/** As persist(), asking for nothing (navigator.storage.persisted()). */
export function storageInfo(): Promise<StorageInfo>;

/**
 * A store over `indexedDB` (default globalThis.indexedDB) and database `dbName` (default 'pocketvec').
 * Without options, the shared default store.
 */
export function openStore(options?: { indexedDB?: IDBFactory; dbName?: string; source?: string }): IdbStore;

/**
 * A file system directory for OpfsStore: `open` resolves to a FileSystemSyncAccessHandle-like handle, or null when
 * the file is absent and `create` is false. The default is directory `dir` of navigator.storage.getDirectory().
 */
export interface OpfsAdapter {
  open(file: string, create: boolean): Promise<{
    read(buffer: Uint8Array, options: { at: number }): number;
    write(buffer: Uint8Array, options: { at: number }): number;
    truncate(size: number): void;
    getSize(): number;
    flush(): void;
    close(): void;
  } | null>;
  remove(file: string): Promise<void>;
  names(): Promise<string[]>;
}

/**
 * Saved indexes in the origin private file system through sync access handles (dedicated workers in Chromium and
 * Firefox): IdbStore's put/get/list/delete, generations and error codes, no watch(). Where sync access handles are
 * not (the main thread, WebKitGTK, Node) every call rejects with 'unsupported'.
 */
export interface OpfsStore {
  /** 'opfs:<dir>'. */
  readonly dbName: string;
  put: IdbStore['put'];
  get: IdbStore['get'];
  list(): Promise<string[]>;
  delete(name: string): Promise<boolean>;
}

/** An OpfsStore over directory `dir` (default 'pocketvec') of the origin private file system; throws invalid_argument when `dir` is not a directory name. */
export function openOpfsStore(options?: { dir?: string; adapter?: OpfsAdapter }): OpfsStore;
