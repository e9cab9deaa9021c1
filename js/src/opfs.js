// opfs.js — saves index bytes in the Origin Private File System through sync access handles (dedicated
// workers of Chromium and Firefox), with IdbStore's put/get/list/delete, generations and error codes.
//
// Layout, in directory `dir` (default 'pocketvec') of the origin's root; N is the name encoded
// (encodeURIComponent, '.' as %2E: no dot, so no name's files can be another's):
//   N.<generation>.pvx   the bytes of one generation
//   N.a, N.b             two manifest slots: JSON [generation, byteLength, data file, FNV-1a of the rest]
// A save writes and flushes a new data file, then commits by writing the slot that does not hold the
// current generation, then deletes the other data files of N. A load takes the valid slot of highest
// generation (a torn or garbage one is ignored) and checks its data file's length, so a save that stops
// anywhere leaves the last committed copy loadable; the C++ parser's CRC-32C checks the bytes. Each call
// holds the Web Lock 'pocketvec:<dir>/N' where there is navigator.locks (one call per name at a time
// across workers, as the exclusive sync access handles need). No watch(): saves are not broadcast.
// File operations go through an adapter ({ open(file, create) → handle | null, remove(file), names() },
// handles as FileSystemSyncAccessHandle), so Node tests run the logic over an in-memory directory.
import { PocketvecError as Err } from './errors.js';
import { DEFAULT_CHUNK_SIZE as MIB, checkGeneration, checkName, corrupt, describe, putArgs } from './idb.js';
import { abortedError, reporter, throwIfAborted } from './progress.js';

const fnv = (s) => [...s].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261);
const record = (g, n, f) => JSON.stringify([g, n, f, fnv(JSON.stringify([g, n, f]))]);
const notFound = (e) => { if (e.name !== 'NotFoundError') throw e; return null; };

async function opfs(dir) {
  let d;
  try {
    if (!FileSystemFileHandle.prototype.createSyncAccessHandle) throw 0;
    d = await (await navigator.storage.getDirectory()).getDirectoryHandle(dir, { create: true });
  } catch (e) {
    throw new Err('unsupported', 'OPFS sync access handles exist only in dedicated workers, not in WebKitGTK; use openStore() (IndexedDB)', { cause: e });
  }
  return {
    open: (f, create) => d.getFileHandle(f, { create }).then((h) => h.createSyncAccessHandle(), notFound),
    remove: (f) => d.removeEntry(f).catch(notFound),
    names: async () => { const out = []; for await (const k of d.keys()) out.push(k); return out; },
  };
}

/**
 * A store in directory `dir` (default 'pocketvec') of the origin private file system, for dedicated
 * workers; its calls reject with 'unsupported' where sync access handles are not. `adapter`: tests.
 * @param {{ dir?: string, adapter?: object }} [options]
 */
export function openOpfsStore({ dir = 'pocketvec', adapter } = {}) {
  const where = `OPFS "${dir}"`;
  let fsp = null;
  /** `fn(fs, N)` under N's lock; errors not PocketvecErrors become `what`'s io_error or quota_exceeded. */
  const run = async (name, what, signal, fn) => {
    checkName(name);
    try {
      throwIfAborted(signal);
      const fs = await (fsp ??= (adapter ? Promise.resolve(adapter) : opfs(dir)).catch((e) => { fsp = null; throw e; }));
      const n = encodeURIComponent(name).replace(/\./g, '%2E');
      const locks = globalThis.navigator?.locks;
      return await (locks ? locks.request(`pocketvec:${dir}/${n}`, () => fn(fs, n)) : fn(fs, n));
    } catch (e) {
      if (signal?.aborted) throw abortedError(signal);
      if (e instanceof Err) throw e;
      throw new Err(e?.name === 'QuotaExceededError' ? 'quota_exceeded' : 'io_error',
        `${what} "${name}" in ${where} failed (${describe(e)}); the saved copy, if any, is unchanged`, { cause: e });
    }
  };
  /** The committed copy { s: slot, g, n: byteLength, f: data file }; null: none; false: no valid slot. */
  const current = async (fs, n) => {
    let best = null;
    for (const s of 'ab') {
      const h = await fs.open(`${n}.${s}`, false);
      if (!h) continue;
      best ||= false;
      try {
        let text = new Uint8Array(h.getSize());
        h.read(text, { at: 0 });
        const [g, len, f] = JSON.parse((text = new TextDecoder().decode(text)));
        if (f === `${n}.${g}.pvx` && record(g, len, f) === text && !(best?.g > g)) best = { s, g, n: len, f };
      } catch { /* torn or garbage: the other slot */ } finally {
        h.close();
      }
    }
    return best;
  };
  /** Removes N's data files but `keep`. */
  const sweep = async (fs, n, keep) => {
    for (const f of await fs.names()) if (f !== keep && /^\d+\.pvx$/.test(f.slice(n.length + 1)) && f.startsWith(`${n}.`)) await fs.remove(f);
  };
  return {
    dbName: `opfs:${dir}`, // keys the generations an Index remembers: not the IdbStore of the same name

    /** As IdbStore.put: a new generation, atomically; 'conflict' unless the copy there is expectGeneration's, or overwrite. */
    async put(name, bytes, { chunkSize = MIB, onProgress, signal, expectGeneration, overwrite = false } = {}) {
      const writer = putArgs(name, bytes, chunkSize, expectGeneration, overwrite);
      return run(name, 'saving', signal, async (fs, n) => {
        const old = await current(fs, n);
        checkGeneration(old, old?.g, name, where, expectGeneration, overwrite);
        const g = old ? old.g + 1 : Date.now() * 1024;
        const f = `${n}.${g}.pvx`;
        let h = await fs.open(f, true);
        let source, report, length, committed;
        try {
          h.truncate(0);
          source = writer(chunkSize);
          report = reporter(onProgress, (length = source.length));
          report(0, true);
          // One synchronous run, as IdbStore's: the index cannot change under the writer.
          for (let at = 0, chunk; at < length; at += chunk.length, at < length && report(at)) {
            throwIfAborted(signal);
            h.write((chunk = source.next()), { at });
          }
          h.flush();
          h.close();
          throwIfAborted(signal);
          h = await fs.open(`${n}.${old?.s === 'a' ? 'b' : 'a'}`, true);
          h.truncate(0);
          h.write(new TextEncoder().encode(record(g, length, f)), { at: 0 });
          committed = true; // (unless a flush that throws lost it: then f stays)
          h.flush();
        } catch (e) {
          h.close();
          if (!committed) await fs.remove(f).catch(() => {});
          throw e;
        } finally {
          h.close();
          source?.end?.();
        }
        await sweep(fs, n, f);
        report(length, true);
        return g;
      });
    },

    /** As IdbStore.get: the bytes (null: none), or true after handing each 1 MiB to onChunk in order. */
    get: (name, { onProgress, signal, onChunk, onGeneration } = {}) => run(name, 'loading', signal, async (fs, n) => {
      const c = await current(fs, n);
      if (c === null) return null;
      const h = c && await fs.open(c.f, false);
      if (!h) throw corrupt(name, c ? `its data file ${c.f} is missing` : 'no manifest slot is valid');
      try {
        if (h.getSize() !== c.n) throw corrupt(name, `its data file holds ${h.getSize()} bytes, expected ${c.n}`);
        onGeneration?.(c.g);
        const report = reporter(onProgress, c.n);
        report(0, true);
        const out = onChunk ? null : new Uint8Array(c.n);
        for (let at = 0, part; at < c.n; report((at += part.length))) {
          throwIfAborted(signal);
          h.read((part = out?.subarray(at, at + MIB) ?? new Uint8Array(Math.min(MIB, c.n - at))), { at });
          onChunk?.(part);
        }
        report(c.n, true);
        return out ?? true;
      } finally {
        h.close();
      }
    }),

    /** Names of the saved indexes, sorted. */
    list: () => run('*', 'listing', null, async (fs) =>
      [...new Set((await fs.names()).filter((f) => /^[^.]+\.[ab]$/.test(f)).map((f) => decodeURIComponent(f.slice(0, -2))))].sort()),

    /** Deletes the copy under `name` (the current slot last); resolves to whether there was one. */
    delete: (name) => run(name, 'removing', null, async (fs, n) => {
      const c = await current(fs, n);
      for (const s of c?.s === 'a' ? 'ba' : 'ab') await fs.remove(`${n}.${s}`);
      await sweep(fs, n);
      return c !== null;
    }),
  };
}
