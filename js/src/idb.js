// idb.js — saves index bytes in IndexedDB, atomically, a chunk at a time. Plain JS, no dependency.
//
// Layout: one database (default 'pocketvec', version 1), two object stores:
//   manifests  keyPath 'name': { name, generation, byteLength, chunkSize, chunkCount, savedAt, parts,
//              digest, chunkGeneration } (older saves lack the last three and may hold checksums[],
//              CRC-32s no longer read)
//   chunks     keys [name, chunkGeneration ?? generation, i]: Uint8Array of chunkSize bytes, each part
//              (parts: byte lengths of the base, then of each segment) in its own run of chunks, whose
//              last may be shorter; key '': the database's last generation (COUNTER)
// A save puts the chunks of a new generation (from a writer: Index's is the WASM serializer), the
// manifest naming it and the deletes of the old one in ONE readwrite transaction and resolves on its
// `complete`: all of it happens or none does. An appending save (segment()) puts only the segment's
// chunks, numbered after the copy's under its chunkGeneration, and the manifest naming them. It first reads the manifest in that transaction and
// aborts with 'conflict' when the copy there is not the generation the caller expects: readwrite
// transactions on the same stores run one at a time, across tabs too, so no lock is needed. Every save
// and remove bumps the database's counter in its transaction; a new generation is above the counter
// and the copy it replaces, so no name ever gets a generation another tab may still remember. Once
// committed, a save is posted on the BroadcastChannel 'pocketvec:<dbName>' (watch()). A load reads
// manifest and chunks in one readonly transaction and hands each chunk on in order once it exists and
// has its size; the C++ parser's CRC-32C catches damaged or reordered chunks. The store never parses
// bytes.
// `indexedDB` is injectable (openStore({ indexedDB })): Node tests use fake-indexeddb.
// The OPFS store is at the end of this file.
import { PocketvecError } from './errors.js';
import { abortedError, reporter, settled, throwIfAborted } from './progress.js';

const DB_VERSION = 1;
const MANIFESTS = 'manifests';
const CHUNKS = 'chunks';
// The database's last generation, in CHUNKS under key '' (no chunk key is a string; older versions never
// read it). Without one (a new or older database) it starts from the clock, ms x 1024.
const COUNTER = '';
const safe = Number.isSafeInteger;
/** The generation after `counter` (a request's result) and `old` (a manifest), never one either had. */
const nextGeneration = (counter, old) => Math.max(safe(counter) ? counter : Date.now() * 1024, safe(old?.generation) ? old.generation : 0) + 1;
/** 1 MiB: small enough for any backend's single-value limits, large enough to keep request count low. */
export const DEFAULT_CHUNK_SIZE = 1 << 20;

/** A request or transaction as a promise; a transaction resolves on `complete`. */
function done(target) {
  return new Promise((resolve, reject) => {
    if ('oncomplete' in target) {
      // Not onerror: a request's error bubbles here before the abort has undone anything.
      target.oncomplete = () => resolve();
      target.onabort = () => reject(target.error ?? new DOMException('The transaction was aborted', 'AbortError')); // (Node >= 17, every browser)
    } else {
      target.onsuccess = () => resolve(target.result);
      target.onerror = () => reject(target.error);
    }
  });
}

function describe(err) {
  return err && err.name ? `${err.name}${err.message ? `: ${err.message}` : ''}` : String(err);
}

function checkName(name) {
  if (typeof name !== 'string' || name.length === 0) {
    throw new PocketvecError('invalid_argument', `a saved index name must be a non-empty string, got ${typeof name === 'string' ? '""' : typeof name}`);
  }
}

function corrupt(name, what) {
  return new PocketvecError('corrupt_data', `saved index "${name}" is corrupt: ${what}`);
}

/** Segments may add up to this share of their base's bytes; a save past it rewrites the whole file. */
const SEGMENT_SHARE = 0.5;

/**
 * The writer of a segment onto `old` ({ parts, digest }, a copy: the one expected), or null (it is ended)
 * when the segment would not extend the bytes stored (its base is not their digest) or would take the
 * segments past SEGMENT_SHARE of the base.
 */
function segment(writer, chunkSize, old) {
  const w = writer(chunkSize, true);
  const [base, ...segments] = old.parts;
  if (w.base > 0 && w.base === old.digest && segments.reduce((s, p) => s + p, w.length) <= base * SEGMENT_SHARE) return w;
  w.end?.();
  return null;
}

/** Checks put()'s arguments (IdbStore's and the OPFS store's); returns the writer of `bytes`. */
function putArgs(name, bytes, chunkSize, expectGeneration, overwrite, append) {
  checkName(name);
  if (expectGeneration !== undefined && typeof expectGeneration !== 'function' && !safe(expectGeneration)) {
    throw new PocketvecError('invalid_argument', `expectGeneration must be an integer, got ${expectGeneration}`);
  }
  if (typeof overwrite !== 'boolean') throw new PocketvecError('invalid_argument', `overwrite must be a boolean, got ${typeof overwrite}`);
  if (typeof append !== 'boolean') throw new PocketvecError('invalid_argument', `append must be a boolean, got ${typeof append}`);
  const writer = typeof bytes === 'function' ? bytes : bytes instanceof Uint8Array && ((size) => {
    let at = 0;
    // Copies: structured clone of a subarray would clone its whole underlying buffer.
    return { length: bytes.length, next: () => bytes.slice(at, (at += size)) };
  });
  if (!writer) throw new PocketvecError('invalid_argument', 'bytes must be a Uint8Array');
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new PocketvecError('invalid_argument', `chunkSize must be a positive integer, got ${chunkSize}`);
  return writer;
}

/**
 * Throws 'conflict' when a copy is there (`found`, generation `g`) that is not expectGeneration's, unless
 * overwrite; returns whether it is expectGeneration's (a save may append to it).
 */
function checkGeneration(found, g, name, where, expectGeneration, overwrite) {
  const expected = typeof expectGeneration === 'function' ? expectGeneration() : expectGeneration;
  if (found && !overwrite && g !== expected) {
    throw new PocketvecError('conflict', `"${name}" in ${where} is generation ${g}, saved by another index or tab since this one ${
      expected === undefined ? 'was made' : `had generation ${expected}`}; nothing was written; pass { overwrite: true } to replace it`);
  }
  return found && g === expected;
}

export class IdbStore {
  #factory;
  #dbName;
  #db = null; // Promise<IDBDatabase> | null; reset when the connection closes
  #bc = null; // the BroadcastChannel of watch(), while one listens; saves post on it, so not to themselves
  #watchers = 0;
  #source;

  /**
   * @param {{ indexedDB?: IDBFactory, dbName?: string, source?: string }} [options]
   */
  constructor({ indexedDB, dbName = 'pocketvec', source = newSource() } = {}) {
    this.#factory = indexedDB;
    this.#dbName = dbName;
    this.#source = String(source);
  }

  get dbName() {
    return this.#dbName;
  }

  /** Sent with this store's saves (watch() reports it): tells a WorkerIndex's, or any one store's, apart. */
  get source() {
    return this.#source;
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
   * Stores `bytes` (Uint8Array or ChunkWriter, index.d.ts) under `name`, atomically replacing the copy
   * there if it is generation `expectGeneration` (undefined: there must be none; a function is asked
   * inside the transaction), or any with `overwrite`; else 'conflict'. Resolves to the new generation.
   * With `append`, a writer's segment goes after the copy's bytes when segment() allows, in its chunkSize.
   */
  async put(name, bytes, { chunkSize = DEFAULT_CHUNK_SIZE, onProgress, signal, expectGeneration, overwrite = false, append = false } = {}) {
    const writer = putArgs(name, bytes, chunkSize, expectGeneration, overwrite, append);
    throwIfAborted(signal);
    const db = await this.#open();
    let failure = null;
    let requestError = null; // the first failed request's error: some engines' tx.error says less
    let stop = null;
    let length = 0;
    let generation;
    let report = () => {};
    const onError = (e) => { requestError ??= e.target.error; };
    try {
      throwIfAborted(signal);
      const tx = db.transaction([MANIFESTS, CHUNKS], 'readwrite');
      const finished = done(tx);
      finished.catch(() => {}); // awaited below, unless a request throws first (after an abort)
      stop = abortOn(signal, tx);
      const manifests = tx.objectStore(MANIFESTS);
      const chunkStore = tx.objectStore(CHUNKS);
      const counter = chunkStore.get(COUNTER);
      const get = manifests.get(name);
      get.onsuccess = () => {
        let source;
        try {
          const old = get.result;
          const same = checkGeneration(old, old?.generation, name, `IndexedDB "${this.#dbName}"`, expectGeneration, overwrite);
          generation = nextGeneration(counter.result, old);
          chunkStore.put(generation, COUNTER).onerror = onError;
          const seg = append && same && validManifest(old) && segment(writer, old.chunkSize, old);
          const m = seg ? old : { generation, byteLength: 0, chunkSize, chunkCount: 0, parts: [] };
          source = seg || writer(chunkSize, false);
          length = source.length;
          report = reporter(onProgress, length);
          report(0, true);
          const key = chunkKey(m);
          let i = m.chunkCount;
          let written = 0;
          for (let at = 0; at < length; at += m.chunkSize) {
            const chunk = source.next();
            const req = chunkStore.put(chunk, [name, key, i++]);
            req.onerror = onError; // no preventDefault: the error aborts the transaction
            // The last report waits for the transaction's complete.
            if (onProgress) req.onsuccess = () => { written += chunk.length; if (written < length) report(written); };
          }
          manifests.put({
            name, generation, byteLength: m.byteLength + length, chunkSize: m.chunkSize, chunkCount: i, savedAt: Date.now(),
            parts: [...m.parts, length], digest: source.digest, chunkGeneration: key,
          }).onerror = onError;
          // (Not under a generation that is no key: IndexedDB would throw. Such chunks stay, unreachable.)
          if (!seg && safe(chunkKey(old ?? {}))) for (let i = 0; i < old.chunkCount; i++) chunkStore.delete([name, chunkKey(old), i]);
        } catch (err) {
          // A synchronous throw (a conflict, the writer, DataCloneError, some engines' QuotaExceededError): undo it all.
          try {
            tx.abort();
            failure = err;
          } catch {
            // Already aborted (the throw came from a request made after an abort): report that abort.
          }
        } finally {
          source?.end?.();
        }
      };
      await finished;
    } catch (err) {
      if (signal?.aborted) throw abortedError(signal);
      const cause = failure ?? requestError ?? err;
      if (cause instanceof PocketvecError) throw cause;
      const quota = [cause, err].find((e) => e?.name === 'QuotaExceededError');
      throw new PocketvecError(quota ? 'quota_exceeded' : 'io_error', `saving "${name}" to IndexedDB failed (${
        quota ? 'over the storage quota: ' : ''}${describe(quota ?? cause)}); the previously saved copy, if any, is unchanged`, { cause: quota ?? cause });
    } finally {
      stop?.();
    }
    try {
      const bc = this.#bc ?? new BroadcastChannel(`pocketvec:${this.#dbName}`);
      bc.postMessage({ dbName: this.#dbName, name, generation, source: this.#source });
      if (bc !== this.#bc) bc.close();
    } catch { /* no BroadcastChannel here: nobody to tell */ }
    settled(report, length, true); // (committed: a throw from it cannot undo the save)
    return generation;
  }

  /**
   * Calls `callback({ dbName, name, generation, source })` after each save to this database made elsewhere:
   * another tab, worker or IdbStore object (not this one). Returns the function that stops it.
   */
  watch(callback) {
    if (typeof callback !== 'function') throw new PocketvecError('invalid_argument', `watch() needs a function, got ${typeof callback}`);
    if (typeof BroadcastChannel !== 'function') return () => {};
    if (!this.#bc) (this.#bc = new BroadcastChannel(`pocketvec:${this.#dbName}`)).unref?.(); // (Node: not keeping it alive)
    const bc = this.#bc;
    const listener = ({ data }) => {
      if (typeof data?.name === 'string' && safe(data.generation)) settled(callback, { dbName: this.#dbName, name: data.name, generation: data.generation, source: data.source });
    };
    bc.addEventListener('message', listener);
    this.#watchers++;
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      bc.removeEventListener('message', listener);
      if (--this.#watchers === 0) {
        bc.close();
        this.#bc = null;
      }
    };
  }

  /**
   * The bytes saved under `name` (null: none); with onChunk, each chunk goes to it in order and the
   * result is true (a throw from it aborts the read). 'corrupt_data' for a missing or short chunk.
   */
  async get(name, { onProgress, signal, onChunk, onGeneration } = {}) {
    checkName(name);
    throwIfAborted(signal);
    const db = await this.#open();
    let manifest;
    let report = null;
    let out = null;
    let failure = null;
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
        const { byteLength, chunkSize, chunkCount } = manifest;
        onGeneration?.(manifest.generation);
        report = reporter(onProgress, byteLength);
        report(0, true);
        if (!onChunk) out = new Uint8Array(byteLength);
        let read = 0;
        let i = 0;
        // Each part in its own run of chunks: all chunkSize bytes but its last.
        for (const p of manifest.parts) for (let at = 0; at < p; at += chunkSize) {
          const where = `chunk ${++i} of ${chunkCount}`;
          const expected = Math.min(chunkSize, p - at);
          const req = chunkStore.get([name, chunkKey(manifest), i - 1]);
          req.onsuccess = () => {
            if (failure) return;
            try {
              const part = req.result instanceof ArrayBuffer ? new Uint8Array(req.result) : req.result;
              if (!(part instanceof Uint8Array)) throw corrupt(name, `${where} is missing`);
              if (part.length !== expected) throw corrupt(name, `${where} holds ${part.length} bytes, expected ${expected}`);
              if (onChunk) onChunk(part);
              else out.set(part, read);
              read += part.length;
              if (read < byteLength) report(read);
            } catch (err) {
              failure = err;
              try { tx.abort(); } catch { /* already finished */ }
            }
          };
        }
      };
      await finished;
    } catch (err) {
      if (failure) throw failure;
      if (signal?.aborted) throw abortedError(signal);
      throw new PocketvecError('io_error', `loading "${name}" from IndexedDB failed (${describe(err)})`, { cause: err });
    } finally {
      stop?.();
    }
    throwIfAborted(signal);
    if (manifest === undefined) return null;
    if (!validManifest(manifest)) throw corrupt(name, 'its manifest is malformed');
    if (report) settled(report, manifest.byteLength, true);
    return out ?? true;
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
      const counter = chunkStore.get(COUNTER);
      const get = manifests.get(name);
      get.onsuccess = () => {
        const old = get.result;
        if (!old) return;
        existed = true;
        manifests.delete(name);
        // A save after this one gets a generation above the removed copy's, whichever tab remembers it.
        chunkStore.put(nextGeneration(counter.result, old), COUNTER);
        const count = safe(chunkKey(old)) && Number.isInteger(old.chunkCount) ? old.chunkCount : 0;
        for (let i = 0; i < count; i++) chunkStore.delete([name, chunkKey(old), i]);
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

/** The generation a manifest's chunks are keyed under: its base's (older manifests: its own). */
const chunkKey = (m) => m.chunkGeneration ?? m.generation;
/** Whether `m` is a manifest (then with `parts`, the byte lengths of its base and segments: one part in older ones). */
function validManifest(m) {
  const parts = (m.parts ??= [m.byteLength]);
  const sum = (f) => parts.reduce((s, p) => s + f(p), 0);
  return parts.every?.((p) => safe(p) && p >= 0) && safe(m.generation) && safe(chunkKey(m)) && m.byteLength === sum((p) => p) &&
    safe(m.chunkSize) && m.chunkSize > 0 && m.chunkCount === sum((p) => Math.ceil(p / m.chunkSize)) &&
    (m.checksums === undefined || (Array.isArray(m.checksums) && m.checksums.length === m.chunkCount));
}

/** navigator.storage's answers; where there is none, { supported: false } and nothing else known. */
async function storage(request) {
  try {
    const s = globalThis.navigator?.storage;
    if (!s) return { supported: false, persisted: false, usage: undefined, quota: undefined };
    const persisted = (await (request && s.persist ? s.persist() : s.persisted?.())) === true;
    // (A grant stands even if estimate() fails: usage and quota are then unknown.)
    const { usage, quota } = (await Promise.resolve().then(() => s.estimate?.()).catch(() => {})) ?? {};
    return { supported: true, persisted, usage, quota };
  } catch (err) {
    throw new PocketvecError('io_error', `navigator.storage failed (${describe(err)})`, { cause: err });
  }
}

/** Asks the browser to keep this origin's storage (navigator.storage.persist()); resolves to storageInfo(). */
export const persist = () => storage(true);
/** { supported, persisted, usage, quota } of this origin's storage, asking nothing. */
export const storageInfo = () => storage(false);

export const newSource = () => Math.random().toString(36).slice(2);

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

// ---- The OPFS store (openOpfsStore): index bytes in the Origin Private File System through sync access
// handles (dedicated workers of Chromium and Firefox), with IdbStore's put/get/list/delete, generations and
// error codes. It lives in this file to share IdbStore's checks and messages (and gzip's dictionary).
//
// Layout, in directory `dir` (default 'pocketvec') of the origin's root; N is the name encoded
// (encodeURIComponent, '.' as %2E: no dot, so no name's files can be another's):
//   N.<generation>.pvx   the bytes of one generation
//   N.a, N.b             two manifest slots: JSON [generation, byteLength, data file, base's byteLength, digest,
//                        FNV-1a of the five joined by ','] (older ones: without the base's length and digest)
//   generation           the directory's last generation, [g, FNV-1a]: a save's is above it and the copy it replaces
// A save writes and flushes a new data file, then commits by writing the slot that does not hold the
// current generation, then deletes the other data files of N. An appending save (segment()) writes the
// segment into the copy's data file at its committed byteLength (past it is an uncommitted tail: it is
// cut off), flushes it and commits the same way, the record naming the longer length. A load takes the valid slot of highest
// generation (a torn or garbage one is ignored; none valid: nothing was committed, no copy) and checks
// that its data file holds byteLength bytes (it reads those), so a save that stops anywhere, a first one too, leaves the last committed copy
// (or none) loadable; the C++ parser's CRC-32C checks the bytes. list() names those with a valid slot. Each call
// holds the Web Lock 'pocketvec:<dir>/N' where there is navigator.locks (one call per name at a time
// across workers, as the exclusive sync access handles need). No watch(): saves are not broadcast.
// File operations go through an adapter ({ open(file, create) → handle | null, remove(file), names() },
// handles as FileSystemSyncAccessHandle), so Node tests run the logic over an in-memory directory.
const fnv = (s) => [...s].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261);
const record = (...a) => JSON.stringify([...a, fnv(`${a}`)]);
const notFound = (e) => { if (e.name !== 'NotFoundError') throw e; return null; };
/** The record in h's file, or null: torn or garbage. */
const read = (h) => {
  try {
    let t = new Uint8Array(h.getSize());
    h.read(t, { at: 0 });
    const a = JSON.parse((t = new TextDecoder().decode(t)));
    return record(...a.slice(0, -1)) === t ? a : null;
  } catch {
    return null;
  }
};
/** h.write that throws unless all of `b` was written; returns its length. */
const write = (h, b, at) => { if (h.write(b, { at }) !== b.length) throw new Error(`a short write at ${at}`); return b.length; };

async function opfs(dir) {
  let root;
  try {
    if (!FileSystemFileHandle.prototype.createSyncAccessHandle) throw 0;
    root = await navigator.storage.getDirectory();
  } catch (e) {
    throw new PocketvecError('unsupported', 'OPFS sync access handles exist only in dedicated workers, not in WebKitGTK; use openStore() (IndexedDB)', { cause: e });
  }
  const d = await root.getDirectoryHandle(dir, { create: true }); // an error here is the call's io_error
  return {
    open: (f, create) => d.getFileHandle(f, { create }).then((h) => h.createSyncAccessHandle(), notFound),
    remove: (f) => d.removeEntry(f).catch(notFound),
    names: () => Array.fromAsync(d.keys()),
  };
}

/**
 * A store in directory `dir` (default 'pocketvec') of the origin private file system, for dedicated
 * workers; its calls reject with 'unsupported' where sync access handles are not. `adapter`: tests.
 * @param {{ dir?: string, adapter?: object }} [options]
 */
export function openOpfsStore({ dir = 'pocketvec', adapter } = {}) {
  if (typeof dir !== 'string' || !/^(?!\.\.?$)[^/\\]+$/.test(dir)) throw new PocketvecError('invalid_argument', `dir must be a directory name, got ${JSON.stringify(dir)}`);
  const where = `OPFS "${dir}"`;
  let fsp = null;
  // Without navigator.locks (no engine with sync access handles lacks it) calls on a name are not
  // serialized: concurrent puts could both commit, and the second open of a file would throw.
  const locked = (n, fn) => { const l = globalThis.navigator?.locks; return l ? l.request(`pocketvec:${dir}/${n}`, fn) : fn(); };
  /** `fn(fs, N)` under N's lock (list: no lock); errors not PocketvecErrors become `what`'s io_error or quota_exceeded. */
  const run = async (name, what, signal, fn) => {
    checkName(name);
    if (/\p{Cs}/u.test(name)) throw new PocketvecError('invalid_argument', 'a saved index name must not hold a lone surrogate');
    try {
      throwIfAborted(signal);
      const fs = await (fsp ??= (adapter ? Promise.resolve(adapter) : opfs(dir)).catch((e) => { fsp = null; throw e; }));
      const n = encodeURIComponent(name).replace(/\./g, '%2E');
      return await (what === 'listing' ? fn(fs) : locked(n, () => fn(fs, n)));
    } catch (e) {
      if (signal?.aborted) throw abortedError(signal);
      if (e instanceof PocketvecError) throw e;
      throw new PocketvecError(e?.name === 'QuotaExceededError' ? 'quota_exceeded' : 'io_error',
        `${what} "${name}" in ${where} failed (${describe(e)})${what === 'saving' ? '; the saved copy, if any, is unchanged' : ''}`, { cause: e });
    }
  };
  /** The committed copy { s: slot, g, n: byteLength, f: data file, parts, digest }, or null: no valid slot, nothing committed. */
  const current = async (fs, n) => {
    let best = null;
    for (const s of 'ab') {
      const h = await fs.open(`${n}.${s}`, false);
      if (!h) continue;
      try {
        const [g, len, f, base = len, digest] = read(h) ?? [];
        if (safe(g) && !(best?.g > g)) best = { s, g, n: len, f, parts: [base, len - base], digest };
      } finally {
        h.close();
      }
    }
    return best;
  };
  /** The directory's generation counter (file 'generation', no dot: no name's) bumped past `old`, under lock '' (no name's). */
  const bump = (fs, old) => locked('', async () => {
    const h = await fs.open('generation', true);
    try {
      const c = read(h);
      const g = nextGeneration(c?.[0], old && { generation: old.g });
      h.truncate(0);
      write(h, new TextEncoder().encode(record(g)), 0);
      h.flush();
      return g;
    } finally {
      h.close();
    }
  });
  /** Removes N's data files but `keep`, as far as it can: strays only take space, the next save retries. */
  const sweep = async (fs, n, keep) => {
    try {
      for (const f of await fs.names()) if (f !== keep && /^\d+\.pvx$/.test(f.slice(n.length + 1)) && f.startsWith(`${n}.`)) await fs.remove(f);
    } catch { /* best effort */ }
  };
  return {
    dbName: `opfs:${dir}`, // keys the generations an Index remembers: not the IdbStore of the same name

    /** As IdbStore.put: a new generation, atomically; 'conflict' unless the copy there is expectGeneration's, or overwrite. */
    async put(name, bytes, { chunkSize = DEFAULT_CHUNK_SIZE, onProgress, signal, expectGeneration, overwrite = false, append = false } = {}) {
      const writer = putArgs(name, bytes, chunkSize, expectGeneration, overwrite, append);
      return run(name, 'saving', signal, async (fs, n) => {
        const old = await current(fs, n);
        const same = checkGeneration(old, old?.g, name, where, expectGeneration, overwrite);
        const g = await bump(fs, old); // above any generation this directory gave out: none repeats for N
        let f = `${n}.${g}.pvx`;
        let h = append && same ? await fs.open(old.f, false) : null;
        let source, report, length, keep, seg;
        try {
          // A segment goes into the copy's data file if it holds the committed bytes; its writer is made
          // after the last await (the whole file's after the open below): the index cannot change under it.
          seg = h && h.getSize() >= old.n && segment(writer, chunkSize, old);
          if (seg) f = old.f;
          else {
            h?.close();
            h = await fs.open(f, true);
          }
          const start = seg ? old.n : 0;
          h.truncate(start);
          source = seg || writer(chunkSize, false);
          report = reporter(onProgress, (length = source.length));
          report(0, true);
          // One synchronous run, as IdbStore's: the index cannot change under the writer. As many chunks
          // as IdbStore takes: a writer's empty chunk cannot loop forever.
          let at = 0;
          for (let i = Math.ceil(length / chunkSize); i--; at < length && report(at)) {
            throwIfAborted(signal);
            at += write(h, source.next(), start + at);
          }
          if (at !== length) throw new Error(`the writer gave ${at} of ${length} bytes`);
          h.flush();
          h.close();
          throwIfAborted(signal);
          h = await fs.open(`${n}.${old?.s === 'a' ? 'b' : 'a'}`, true);
          h.truncate(0);
          write(h, new TextEncoder().encode(record(g, start + length, f, seg ? old.parts[0] : length, source.digest)), 0);
          keep = true;
          try {
            h.flush();
          } catch (e) {
            // Uncommitted if the slot can be emptied (f goes once that is flushed too); else the record stands.
            try { h.truncate(0); } catch { e = 0; }
            if (e) { try { h.flush(); keep = false; } catch {} throw e; }
          }
        } catch (e) {
          h?.close();
          if (!keep && !seg) await fs.remove(f).catch(() => {});
          throw e;
        } finally {
          h?.close();
          source?.end?.();
        }
        await sweep(fs, n, f);
        settled(report, length, true); // (committed: a throw from it cannot undo the save)
        return g;
      });
    },

    /** As IdbStore.get: the bytes (null: none), or true after handing each 1 MiB to onChunk in order. */
    get: (name, { onProgress, signal, onChunk, onGeneration } = {}) => run(name, 'loading', signal, async (fs, n) => {
      const c = await current(fs, n);
      if (!c) return null;
      const h = await fs.open(c.f, false);
      try {
        if (!(h?.getSize() >= c.n)) throw corrupt(name, `its data file ${c.f} is missing or shorter than ${c.n} bytes`);
        onGeneration?.(c.g);
        const report = reporter(onProgress, c.n);
        report(0, true);
        const out = onChunk ? null : new Uint8Array(c.n);
        for (let at = 0, part; at < c.n; (at += part.length) < c.n && report(at)) {
          throwIfAborted(signal);
          h.read((part = out?.subarray(at, at + DEFAULT_CHUNK_SIZE) ?? new Uint8Array(Math.min(DEFAULT_CHUNK_SIZE, c.n - at))), { at });
          onChunk?.(part);
        }
        settled(report, c.n, true);
        return out ?? true;
      } finally {
        h?.close();
      }
    }),

    /** Names of the saved indexes (a valid slot, a or b: a delete may have stopped midway), sorted. */
    list: () => run('*', 'listing', null, async (fs) => {
      const out = [];
      for (const n of new Set((await fs.names()).filter((f) => /^[^.]+\.[ab]$/.test(f)).map((f) => f.slice(0, -2)))) {
        if (await locked(n, () => current(fs, n))) out.push(decodeURIComponent(n));
      }
      return out.sort();
    }),

    /** Deletes the copy under `name` (the current slot last); resolves to whether there was one. */
    delete: (name) => run(name, 'removing', null, async (fs, n) => {
      const c = await current(fs, n);
      for (const s of c?.s === 'a' ? 'ba' : 'ab') await fs.remove(`${n}.${s}`);
      await sweep(fs, n);
      return !!c;
    }),
  };
}
