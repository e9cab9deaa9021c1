// idb.js — saves index bytes in IndexedDB, atomically, with per-chunk checksums. Plain JS, no dependency.
//
// Layout: one database (default name 'pocketvec', version 1) with two object stores:
//   manifests  keyPath 'name': { name, generation, byteLength, chunkSize, chunkCount, checksums[], savedAt }
//   chunks     out-of-line keys [name, generation, i]: Uint8Array of chunkSize bytes (the last may be shorter)
// A save writes every chunk of a new generation, then the manifest that points at it, then deletes the
// old generation's chunks — all in ONE readwrite transaction, and resolves on the transaction's
// `complete` (not a request's `success`): IndexedDB then guarantees that either all of it happened or
// none did. A save that fails midway (quota, abort, tab closed, an uncloneable value) rolls back, and
// the previous generation is still the one the manifest names.
// A load reads the manifest and its chunks in one readonly transaction (a consistent snapshot) and
// checks chunk count, sizes and CRC-32s before handing the bytes on; the C++ loader then checks the
// format itself. The store never parses index bytes.
// `indexedDB` is injectable (openStore({ indexedDB })) so Node tests can use fake-indexeddb.
import { crc32 } from './crc32.js';
import { PocketvecError } from './errors.js';
import { abortedError, reporter, throwIfAborted } from './progress.js';

const DB_VERSION = 1;
const MANIFESTS = 'manifests';
const CHUNKS = 'chunks';
/** 1 MiB: small enough for any backend's single-value limits, large enough to keep request count low. */
export const DEFAULT_CHUNK_SIZE = 1 << 20;

/** One request or transaction as a promise; resolves a transaction on `complete`. */
function done(target) {
  return new Promise((resolve, reject) => {
    if ('oncomplete' in target) {
      target.oncomplete = () => resolve();
      target.onabort = target.onerror = () => reject(target.error ?? abortError());
    } else {
      target.onsuccess = () => resolve(target.result);
      target.onerror = () => reject(target.error);
    }
  });
}

function abortError() {
  return typeof DOMException === 'function'
    ? new DOMException('The transaction was aborted', 'AbortError')
    : new Error('The transaction was aborted');
}

function describe(err) {
  return err && err.name ? `${err.name}: ${err.message}` : String(err);
}

function checkName(name) {
  if (typeof name !== 'string' || name.length === 0) {
    throw new PocketvecError('invalid_argument', `a saved index name must be a non-empty string, got ${typeof name === 'string' ? '""' : typeof name}`);
  }
}

function corrupt(name, what) {
  return new PocketvecError('corrupt_data', `saved index "${name}" is corrupt: ${what}`);
}

export class IdbStore {
  #factory;
  #dbName;
  #db = null; // Promise<IDBDatabase> | null; reset when the connection closes

  /**
   * @param {{ indexedDB?: IDBFactory, dbName?: string }} [options]
   */
  constructor({ indexedDB, dbName = 'pocketvec' } = {}) {
    this.#factory = indexedDB;
    this.#dbName = dbName;
  }

  get dbName() {
    return this.#dbName;
  }

  #open() {
    if (this.#db) return this.#db;
    const factory = this.#factory ?? globalThis.indexedDB; // looked up late: a polyfill may come after import
    if (!factory) {
      return Promise.reject(new PocketvecError('io_error',
        'IndexedDB is not available here; in Node pass openStore({ indexedDB }) (e.g. from fake-indexeddb)'));
    }
    const req = factory.open(this.#dbName, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(MANIFESTS)) db.createObjectStore(MANIFESTS, { keyPath: 'name' });
      if (!db.objectStoreNames.contains(CHUNKS)) db.createObjectStore(CHUNKS);
    };
    this.#db = done(req).then(
      (db) => {
        // Another tab upgrading, or the browser closing the connection: open afresh next time.
        db.onversionchange = () => { db.close(); this.#db = null; };
        db.onclose = () => { this.#db = null; };
        return db;
      },
      (err) => {
        this.#db = null;
        throw new PocketvecError('io_error', `cannot open IndexedDB database "${this.#dbName}" (${describe(err)})`, { cause: err });
      });
    return this.#db;
  }

  /**
   * Stores `bytes` under `name`, replacing any previous copy atomically.
   * @param {string} name
   * @param {Uint8Array} bytes
   * @param {{ chunkSize?: number }} [options]
   */
  async put(name, bytes, { chunkSize = DEFAULT_CHUNK_SIZE, onProgress, signal } = {}) {
    checkName(name);
    if (!(bytes instanceof Uint8Array)) throw new PocketvecError('invalid_argument', 'bytes must be a Uint8Array');
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new PocketvecError('invalid_argument', `chunkSize must be a positive integer, got ${chunkSize}`);
    throwIfAborted(signal);
    const db = await this.#open();
    const chunkCount = Math.ceil(bytes.length / chunkSize);
    const report = reporter(onProgress, bytes.length);
    // Copies: structured clone of a subarray would clone its whole underlying buffer.
    const chunks = [];
    const checksums = [];
    for (let i = 0; i < chunkCount; i++) {
      const chunk = bytes.slice(i * chunkSize, Math.min(bytes.length, (i + 1) * chunkSize));
      chunks.push(chunk);
      checksums.push(crc32(chunk));
    }
    let failure = null;
    let stop = null;
    try {
      throwIfAborted(signal);
      const tx = db.transaction([MANIFESTS, CHUNKS], 'readwrite');
      const finished = done(tx);
      finished.catch(() => {}); // awaited below, unless a request throws first (after an abort)
      stop = abortOn(signal, tx);
      report(0, true);
      let written = 0;
      const manifests = tx.objectStore(MANIFESTS);
      const chunkStore = tx.objectStore(CHUNKS);
      const get = manifests.get(name);
      get.onsuccess = () => {
        try {
          const old = get.result;
          const generation = old ? old.generation + 1 : 1;
          chunks.forEach((chunk, i) => {
            const req = chunkStore.put(chunk, [name, generation, i]);
            // The last report waits for the transaction's complete.
            if (onProgress) req.onsuccess = () => { written += chunk.length; if (written < bytes.length) report(written); };
          });
          manifests.put({ name, generation, byteLength: bytes.length, chunkSize, chunkCount, checksums, savedAt: Date.now() });
          if (old) for (let i = 0; i < old.chunkCount; i++) chunkStore.delete([name, old.generation, i]);
        } catch (err) {
          // A synchronous throw (DataCloneError, QuotaExceededError in some engines): undo everything.
          try {
            tx.abort();
            failure = err;
          } catch {
            // Already aborted (the throw came from a request made after an abort): report that abort.
          }
        }
      };
      await finished;
    } catch (err) {
      if (signal?.aborted) throw abortedError(signal);
      const cause = failure ?? err;
      throw new PocketvecError('io_error',
        `saving "${name}" to IndexedDB failed (${describe(cause)}); the previously saved copy, if any, is unchanged`, { cause });
    } finally {
      stop?.();
    }
    report(bytes.length, true);
  }

  /**
   * The bytes saved under `name`, or null when there is none. Throws PocketvecError 'corrupt_data'
   * when the stored chunks do not match their manifest.
   * @param {string} name
   * @returns {Promise<Uint8Array | null>}
   */
  async get(name, { onProgress, signal } = {}) {
    checkName(name);
    throwIfAborted(signal);
    const db = await this.#open();
    let manifest;
    let report = null;
    const parts = [];
    let stop = null;
    try {
      throwIfAborted(signal);
      const tx = db.transaction([MANIFESTS, CHUNKS], 'readonly');
      const finished = done(tx);
      finished.catch(() => {}); // awaited below, unless a request throws first (after an abort)
      stop = abortOn(signal, tx);
      const chunkStore = tx.objectStore(CHUNKS);
      const get = tx.objectStore(MANIFESTS).get(name);
      get.onsuccess = () => {
        manifest = get.result;
        if (!manifest || !validManifest(manifest)) return;
        report = reporter(onProgress, manifest.byteLength);
        report(0, true);
        let read = 0;
        for (let i = 0; i < manifest.chunkCount; i++) {
          const req = chunkStore.get([name, manifest.generation, i]);
          req.onsuccess = () => {
            parts[i] = req.result;
            read += Math.min(manifest.chunkSize, manifest.byteLength - i * manifest.chunkSize);
            if (read < manifest.byteLength) report(read);
          };
        }
      };
      await finished;
    } catch (err) {
      if (signal?.aborted) throw abortedError(signal);
      throw new PocketvecError('io_error', `loading "${name}" from IndexedDB failed (${describe(err)})`, { cause: err });
    } finally {
      stop?.();
    }
    throwIfAborted(signal);
    if (manifest === undefined) return null;
    if (!validManifest(manifest)) throw corrupt(name, 'its manifest is malformed');
    const out = new Uint8Array(manifest.byteLength);
    let offset = 0;
    for (let i = 0; i < manifest.chunkCount; i++) {
      const part = parts[i] instanceof ArrayBuffer ? new Uint8Array(parts[i]) : parts[i];
      const where = `chunk ${i + 1} of ${manifest.chunkCount}`;
      if (!(part instanceof Uint8Array)) throw corrupt(name, `${where} is missing`);
      const expected = Math.min(manifest.chunkSize, manifest.byteLength - offset);
      if (part.length !== expected) throw corrupt(name, `${where} holds ${part.length} bytes, expected ${expected}`);
      if (crc32(part) !== manifest.checksums[i]) throw corrupt(name, `${where} fails its CRC-32 checksum`);
      out.set(part, offset);
      offset += part.length;
    }
    report?.(manifest.byteLength, true);
    return out;
  }

  /** Names of the saved indexes, sorted. */
  async list() {
    const db = await this.#open();
    const tx = db.transaction(MANIFESTS, 'readonly');
    const keys = done(tx.objectStore(MANIFESTS).getAllKeys());
    try {
      await done(tx);
    } catch (err) {
      throw new PocketvecError('io_error', `listing IndexedDB database "${this.#dbName}" failed (${describe(err)})`, { cause: err });
    }
    return (await keys).map(String).sort();
  }

  /**
   * Deletes the copy saved under `name` (manifest and chunks, atomically).
   * @returns {Promise<boolean>} whether there was one
   */
  async delete(name) {
    checkName(name);
    const db = await this.#open();
    let existed = false;
    try {
      const tx = db.transaction([MANIFESTS, CHUNKS], 'readwrite');
      const finished = done(tx);
      const manifests = tx.objectStore(MANIFESTS);
      const chunkStore = tx.objectStore(CHUNKS);
      const get = manifests.get(name);
      get.onsuccess = () => {
        const old = get.result;
        if (!old) return;
        existed = true;
        manifests.delete(name);
        const count = Number.isInteger(old.chunkCount) ? old.chunkCount : 0;
        for (let i = 0; i < count; i++) chunkStore.delete([name, old.generation, i]);
      };
      await finished;
    } catch (err) {
      throw new PocketvecError('io_error', `removing "${name}" from IndexedDB failed (${describe(err)})`, { cause: err });
    }
    return existed;
  }
}

/** Aborts `tx` when `signal` aborts; returns the function that stops listening. */
function abortOn(signal, tx) {
  if (!signal) return null;
  const onAbort = () => { try { tx.abort(); } catch { /* already finished */ } };
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

function validManifest(m) {
  const count = Math.ceil(m.byteLength / m.chunkSize);
  return Number.isSafeInteger(m.generation) && Number.isSafeInteger(m.byteLength) && m.byteLength >= 0 &&
    Number.isSafeInteger(m.chunkSize) && m.chunkSize > 0 && m.chunkCount === count &&
    Array.isArray(m.checksums) && m.checksums.length === count;
}

let defaultStore = null;

/**
 * A store over `indexedDB` (default: globalThis.indexedDB) and database `dbName` (default 'pocketvec').
 * Without options, returns one shared default store.
 * @param {{ indexedDB?: IDBFactory, dbName?: string }} [options]
 */
export function openStore(options) {
  if (options === undefined) return (defaultStore ??= new IdbStore());
  return new IdbStore(options);
}
