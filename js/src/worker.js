// worker.js — WorkerIndex: the Index API, async, over an index in a worker the package starts and owns
// (worker-host.js runs there; worker-browser.js / worker-node.js say how to start one). Arguments are
// copied unless { transfer: true }; results are transferred back. The worker's PocketvecError arrives
// with its code; a worker that dies fails every pending and later call with 'internal_error'.
import { PocketvecError } from './errors.js';
import { newSource, openStore } from './idb.js';
import { abortedError, progressOptions } from './progress.js';

/**
 * @param {() => { post(msg: any, transfer: Transferable[]): void, listen(onMessage: (msg: any) => void,
 *   onFailure: (message: string) => void): void, terminate(): Promise<void> | void, busy?(busy: boolean): void }} spawn
 */
export function defineWorkerIndex(spawn) {
  const INTERNAL = Symbol('pocketvec.worker.internal');

  class WorkerIndex {
    #port;
    #calls = new Map(); // id -> { resolve, reject, onProgress, signal, onAbort }
    #next = 1;
    #info = null; // { dim, metric, quantization, m, efConstruction, efSearch, seed } once made
    #failure = null; // the PocketvecError every call gets once the worker is gone
    #ended = null; // the dispose() promise
    #source = newSource(); // the `source` of this index's saves, as watch() reports them

    constructor(token, port) {
      if (token !== INTERNAL) throw new TypeError('use WorkerIndex.create(), WorkerIndex.fromBytes() or WorkerIndex.load()');
      this.#port = port;
      port.listen((msg) => this.#receive(msg), (message) => this.#fail(new PocketvecError('internal_error',
        `the pocketvec worker failed: ${message}`)));
    }

    /** Starts a worker and makes its index with `init`; null (worker ended) when load finds nothing. */
    static async #start(init, options = {}) {
      const index = new WorkerIndex(INTERNAL, spawn());
      try {
        const info = await index.#call('init', init, options);
        if (info === null) {
          await index.dispose();
          return null;
        }
        index.#info = info;
        return index;
      } catch (err) {
        await index.dispose();
        throw err;
      }
    }

    static create(options) {
      return WorkerIndex.#start({ how: 'create', options });
    }

    static fromBytes(bytes, { transfer = false } = {}) {
      return WorkerIndex.#start({ how: 'fromBytes', bytes }, { transfer: transfer ? [bytes] : [] });
    }

    static load(name, { dbName, onProgress, signal } = {}) {
      return WorkerIndex.#start({ how: 'load', name, dbName }, { onProgress, signal });
    }

    /** Names of the saved indexes (IndexedDB of this thread, which a page shares with its workers). */
    static list({ store = openStore() } = {}) {
      return store.list();
    }

    static remove(name, { store = openStore() } = {}) {
      return store.delete(name);
    }

    // --- calls -----------------------------------------------------------------------------------
    #call(op, args, { transfer = [], onProgress, signal } = {}) {
      if (this.#ended !== null) return Promise.reject(new PocketvecError('disposed', 'this WorkerIndex has been disposed'));
      if (this.#failure !== null) return Promise.reject(this.#failure);
      try {
        progressOptions(onProgress, signal);
      } catch (err) {
        return Promise.reject(err);
      }
      if (signal?.aborted) return Promise.reject(abortedError(signal));
      const id = this.#next++;
      const msg = { id, op, args };
      if (onProgress) msg.progress = true;
      if (signal || onProgress) msg.cancellable = true;
      const buffers = [];
      for (const v of transfer) {
        // A SharedArrayBuffer is shared, not moved; a detached buffer is left to the clone to refuse.
        const buffer = ArrayBuffer.isView(v) ? v.buffer : v;
        if (buffer instanceof ArrayBuffer && !buffers.includes(buffer)) buffers.push(buffer);
      }
      return new Promise((resolve, reject) => {
        try {
          this.#port.post(msg, buffers);
        } catch (err) {
          reject(new PocketvecError('invalid_argument', `cannot send these arguments to the worker (${err?.name ?? 'Error'}: ${err?.message ?? err})`, { cause: err }));
          return;
        }
        const call = { resolve, reject, onProgress, signal, onAbort: null, listenerError: null };
        if (signal) {
          call.onAbort = () => this.#port.post({ cancel: id }, []);
          signal.addEventListener('abort', call.onAbort, { once: true });
        }
        this.#calls.set(id, call);
        this.#port.busy?.(true);
      });
    }

    #receive(msg) {
      const call = this.#calls.get(msg.id);
      if (!call) return;
      if (msg.progress) {
        if (call.listenerError !== null) return;
        try {
          call.onProgress?.(msg.progress);
        } catch (err) {
          // As in Index: an onProgress that throws fails the call, which is cancelled (undone) if it still runs.
          call.listenerError = err;
          this.#port.post({ cancel: msg.id }, []);
        }
        return;
      }
      this.#settle(msg.id, call);
      if (msg.error) {
        const { code, message } = msg.error;
        if (call.listenerError !== null) call.reject(call.listenerError);
        else call.reject(code === 'aborted' ? abortedError(call.signal) : new PocketvecError(code, message));
      } else {
        call.resolve(msg.result);
      }
    }

    #settle(id, call) {
      this.#calls.delete(id);
      if (call.onAbort) call.signal.removeEventListener('abort', call.onAbort);
      if (this.#calls.size === 0) this.#port.busy?.(false);
    }

    #fail(error) {
      if (this.#failure === null && this.#ended === null) this.#failure = error;
      for (const [id, call] of this.#calls) {
        this.#settle(id, call);
        call.reject(error);
      }
    }

    #fixed(name) {
      if (this.#info === null) throw new PocketvecError('disposed', 'this WorkerIndex has been disposed');
      return this.#info[name];
    }

    insert(vector, id) {
      return this.#call('insert', [vector, id]);
    }

    insertBatch(flat, { onProgress, signal, transfer = false } = {}) {
      return this.#call('insertBatch', [flat], { onProgress, signal, transfer: transfer ? [flat] : [] });
    }

    search(query, k = 10, options = {}) {
      return this.#call('search', [query, k, options]);
    }

    searchBatch(queries, k = 10, { ef = 0, transfer = false } = {}) {
      return this.#call('searchBatch', [queries, k, { ef }], { transfer: transfer ? [queries] : [] });
    }

    delete(id) {
      return this.#call('delete', [id]);
    }

    has(id) {
      return this.#call('has', [id]);
    }

    get(id) {
      return this.#call('get', [id]);
    }

    compact({ onProgress, signal } = {}) {
      return this.#call('compact', [], { onProgress, signal });
    }

    rebuild({ onProgress, signal } = {}) {
      return this.#call('rebuild', [], { onProgress, signal });
    }

    reserve(n) {
      return this.#call('reserve', [n]);
    }

    train(sample, { transfer = false } = {}) {
      return this.#call('train', [sample], { transfer: transfer ? [sample] : [] });
    }

    toBytes() {
      return this.#call('toBytes', []);
    }

    save(name, { onProgress, signal, ...options } = {}) {
      return this.#call('save', [name, { ...options, source: this.#source }], { onProgress, signal });
    }

    get source() {
      return this.#source;
    }

    ids() {
      return this.#call('ids', []);
    }

    memory() {
      return this.#call('memory', []);
    }

    /** size, deletedCount, tombstoneRatio, memoryBytes and sq8 in one round trip. */
    stats() {
      return this.#call('stats', []);
    }

    // Fixed for the life of the index: plain values, as on Index.
    get dim() { return this.#fixed('dim'); }
    get metric() { return this.#fixed('metric'); }
    get quantization() { return this.#fixed('quantization'); }
    get m() { return this.#fixed('m'); }
    get efConstruction() { return this.#fixed('efConstruction'); }
    get efSearch() { return this.#fixed('efSearch'); }
    get seed() { return this.#fixed('seed'); }
    // Change with the index: promises.
    get size() { return this.#call('property', ['size']); }
    get deletedCount() { return this.#call('property', ['deletedCount']); }
    get tombstoneRatio() { return this.#call('property', ['tombstoneRatio']); }
    get needsCompaction() { return this.#call('property', ['needsCompaction']); }
    get memoryBytes() { return this.#call('property', ['memoryBytes']); }
    get sq8() { return this.#call('property', ['sq8']); }
    get disposed() { return this.#ended !== null; }

    /** Ends the worker; pending calls reject with 'disposed'. Idempotent. */
    dispose() {
      if (this.#ended === null) {
        const error = new PocketvecError('disposed', 'this WorkerIndex has been disposed');
        for (const [id, call] of this.#calls) {
          this.#settle(id, call);
          call.reject(error);
        }
        this.#info = null;
        this.#ended = Promise.resolve(this.#port.terminate()).then(() => {});
      }
      return this.#ended;
    }
  }

  if (typeof Symbol.asyncDispose === 'symbol') {
    Object.defineProperty(WorkerIndex.prototype, Symbol.asyncDispose, {
      value: WorkerIndex.prototype.dispose, writable: true, configurable: true,
    });
  }

  return WorkerIndex;
}
