// Types of 'pocketvec/worker', written by hand and checked with index.d.ts by test/types/usage.ts.
// Keep in step with src/worker.js.
import type {
  BatchResults, IdbStore, IndexOptions, MemoryReport, Metric, Progress, ProgressOptions, Quantization,
  SearchHit, SearchOptions, Sq8Stats,
} from './index.js';

export { PocketvecError } from './index.js';
export type { BatchResults, ErrorCode, IndexOptions, Progress, ProgressOptions, SearchHit } from './index.js';

/** `transfer: true` moves the vectors' whole ArrayBuffer to the worker (the caller's copy is detached) instead of copying it. */
export interface TransferOptions {
  transfer?: boolean;
}

/** IndexedDB inside the worker: the database name (default 'pocketvec'); the worker opens it itself. */
export interface WorkerStoreOptions {
  dbName?: string;
}

/**
 * The Index API, every method async, over an index that lives in a dedicated worker which the package starts
 * and owns: a module Worker in browsers, a worker_threads Worker in Node. Calls run one at a time in call
 * order. Errors reject with the same PocketvecError codes; a worker that dies fails pending and later calls
 * with 'internal_error'. Results (ids, vectors, bytes) are transferred back, never copied.
 */
export class WorkerIndex {
  private constructor();

  /** A new, empty index in a new worker. */
  static create(options: IndexOptions): Promise<WorkerIndex>;
  static fromBytes(bytes: ArrayBufferLike | ArrayBufferView, options?: TransferOptions): Promise<WorkerIndex>;
  /** The index saved in the worker's IndexedDB, in a new worker; null (no worker left) when there is none. */
  static load(name: string, options?: WorkerStoreOptions & ProgressOptions): Promise<WorkerIndex | null>;
  /** Names of the saved indexes, read on the calling thread (a page shares IndexedDB with its workers). */
  static list(options?: { store?: IdbStore }): Promise<string[]>;
  static remove(name: string, options?: { store?: IdbStore }): Promise<boolean>;

  insert(vector: Float32Array, id?: number): Promise<number>;
  /** As Index.insertBatch; an abort from any thread stops it between pieces (about 20 ms of work each). */
  insertBatch(flat: Float32Array, options?: ProgressOptions & TransferOptions): Promise<Uint32Array>;
  search(query: Float32Array, k?: number, options?: SearchOptions): Promise<SearchHit[]>;
  searchBatch(queries: Float32Array, k?: number, options?: SearchOptions & TransferOptions): Promise<BatchResults>;
  delete(id: number): Promise<void>;
  has(id: number): Promise<boolean>;
  get(id: number): Promise<Float32Array>;
  compact(options?: ProgressOptions): Promise<void>;
  rebuild(options?: ProgressOptions): Promise<void>;
  reserve(n: number): Promise<void>;
  train(sample: Float32Array, options?: TransferOptions): Promise<void>;
  toBytes(): Promise<Uint8Array>;
  /** As Index.save (incremental unless `full`): 'conflict' unless the worker's index loaded or saved the copy last, or `overwrite`; resolves to the new generation. */
  save(name: string, options?: WorkerStoreOptions & ProgressOptions & { chunkSize?: number; overwrite?: boolean; full?: boolean }): Promise<number>;
  /**
   * The `source` of this index's saves as watch() reports them: the page's watch() may hear a save before
   * save() resolves, so compare this, not the generation, to tell the index's own saves from other tabs'.
   */
  readonly source: string;
  ids(): Promise<Uint32Array>;
  memory(): Promise<MemoryReport>;
  /** size, deletedCount, tombstoneRatio, memoryBytes and sq8 together. */
  stats(): Promise<{ size: number; deletedCount: number; tombstoneRatio: number; memoryBytes: number; sq8: Sq8Stats }>;

  /** Fixed for the life of the index: plain values (they throw 'disposed' after dispose()). */
  readonly dim: number;
  readonly metric: Metric;
  readonly quantization: Quantization;
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  readonly seed: number;
  /** They change with the index: each read is a round trip to the worker. */
  readonly size: Promise<number>;
  readonly deletedCount: Promise<number>;
  readonly tombstoneRatio: Promise<number>;
  readonly needsCompaction: Promise<boolean>;
  readonly memoryBytes: Promise<number>;
  readonly sq8: Promise<Sq8Stats>;
  readonly disposed: boolean;

  /** Ends the worker; pending calls reject with 'disposed'. Idempotent. */
  dispose(): Promise<void>;
  /** Same as dispose(), for `await using index = await WorkerIndex.create(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}
