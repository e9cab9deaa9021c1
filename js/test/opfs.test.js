// The OPFS store (src/idb.js) over an in-memory adapter: round trips, generations and conflicts,
// list/delete, saves that fail midway (writer error, quota, abort) leaving the old copy, torn slots.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Index, PocketvecError, openOpfsStore } from 'pocketvec';
import { randomVectors } from './helpers.js';

const dim = 8;

class Crash extends Error { name = 'Crash'; }
const clone = (m) => new Map([...m].map(([f, b]) => [f, b.slice()]));

/**
 * A directory in memory with FileSystemSyncAccessHandle-like handles, exclusive per file as OPFS's
 * (a second open, or a remove, of an open file throws NoModificationAllowedError); `files` is open for
 * sabotage, `durable` is what a flush (or a create or remove) made last. Fault injection: operation
 * number `k` (open, getSize, truncate, read, write, flush, remove, names; close never fails) throws
 * (`mode` 'throw', or 'quota': QuotaExceededError), or the worker dies there ('die': nothing of it
 * happens, every later call throws, what survives is `durable`; 'torn': the same, but half of a write
 * lands and what survives is `files`). `failWrite(file, nth write)` returns an error to throw;
 * `writeReturns(file, length)` how much of it write() writes (and returns).
 */
function memoryDir(files = new Map()) {
  const fs = { files, durable: clone(files), handles: new Set(), ops: 0, k: -1, mode: 'throw', dead: false, writes: 0, failWrite: null, writeReturns: null };
  const step = (what, f) => {
    if (fs.dead) throw new Crash();
    if (fs.ops++ !== fs.k) return;
    if (fs.mode === 'throw') throw new Error(`injected at ${what} ${f}`);
    if (fs.mode === 'quota') throw new DOMException('injected', 'QuotaExceededError');
    fs.dead = true;
    throw new Crash();
  };
  const busy = (f) => {
    for (const h of fs.handles) if (h.f === f) throw new DOMException(`${f} has an open handle`, 'NoModificationAllowedError');
  };
  Object.assign(fs, {
    /** What a worker started after the call sees. */
    after: () => clone(fs.dead && fs.mode === 'die' ? fs.durable : files),
    async open(f, create) {
      step('open', f);
      if (!files.has(f)) {
        if (!create) return null;
        files.set(f, new Uint8Array(0));
        fs.durable.set(f, new Uint8Array(0));
      }
      busy(f);
      const h = { f };
      fs.handles.add(h);
      const live = (what) => { step(what, f); if (!fs.handles.has(h)) throw new Error(`${f}: handle closed`); };
      const put = (buf, at) => {
        const old = files.get(f);
        const next = new Uint8Array(Math.max(old.length, at + buf.length));
        next.set(old);
        next.set(buf, at);
        files.set(f, next);
      };
      return Object.assign(h, {
        getSize: () => (live('getSize'), files.get(f).length),
        truncate(n) { live('truncate'); files.set(f, files.get(f).slice(0, n)); },
        read(buf, { at }) {
          live('read');
          const part = files.get(f).subarray(at, at + buf.length);
          buf.set(part);
          return part.length;
        },
        write(buf, { at }) {
          if (fs.ops === fs.k && fs.mode === 'torn' && !fs.dead) put(buf.subarray(0, buf.length >> 1), at);
          live('write');
          const err = fs.failWrite?.(f, ++fs.writes);
          if (err) throw err;
          const n = fs.writeReturns ? fs.writeReturns(f, buf.length) : buf.length;
          put(buf.subarray(0, n), at);
          return n;
        },
        flush() { live('flush'); fs.durable.set(f, files.get(f).slice()); },
        close() { fs.handles.delete(h); },
      });
    },
    async remove(f) {
      step('remove', f);
      busy(f);
      files.delete(f);
      fs.durable.delete(f);
    },
    async names() { step('names', ''); return [...files.keys()]; },
  });
  return fs;
}

/** openOpfsStore over `adapter`, asserting after every call that it left no handle open. */
function storeOver(adapter) {
  const store = openOpfsStore({ adapter });
  for (const m of ['put', 'get', 'list', 'delete']) {
    const call = store[m];
    store[m] = async (...args) => {
      try {
        return await call(...args);
      } finally {
        if (!adapter.dead) assert.deepEqual([...adapter.handles].map((h) => h.f), [], `${m}() left handles open`);
      }
    };
  }
  return store;
}

async function sampleIndex(seed, n = 300) {
  const index = await Index.create({ dim, seed });
  index.insertBatch(randomVectors(n, dim, seed));
  return index;
}

const same = (a, b) => assert.deepEqual(Buffer.from(a.toBytes()), Buffer.from(b.toBytes()));

async function rejects(promise, code, message) {
  const err = await promise.then(() => null, (e) => e);
  assert.ok(err instanceof PocketvecError, `expected a PocketvecError, got ${err}`);
  assert.equal(err.code, code, err.message);
  if (message) assert.match(err.message, message);
  return err;
}

describe('OPFS store (in-memory adapter)', () => {
  test('save then load round trips the bytes, in chunks, with progress; list and delete', async () => {
    const adapter = memoryDir();
    const store = storeOver(adapter);
    const index = await sampleIndex(1);
    const reports = [];
    const g = await index.save('notes/été.v1', { store, chunkSize: 1000, onProgress: (p) => reports.push(p.done) });
    assert.ok(Number.isSafeInteger(g));
    assert.equal(reports.at(-1), index.toBytes().length);
    assert.deepEqual([...adapter.files.keys()].sort(), ['generation', `notes%2F%C3%A9t%C3%A9%2Ev1.${g}.pvx`, 'notes%2F%C3%A9t%C3%A9%2Ev1.a']);
    same(await Index.load('notes/été.v1', { store }), index);
    const raw = await store.get('notes/été.v1');
    assert.deepEqual(Buffer.from(raw), Buffer.from(index.toBytes()));
    assert.equal(await Index.load('absent', { store }), null);
    await store.put('b', new Uint8Array([1, 2, 3]));
    assert.deepEqual(await Index.list({ store }), ['b', 'notes/été.v1']);
    assert.equal(await Index.remove('notes/été.v1', { store }), true);
    assert.equal(await Index.remove('notes/été.v1', { store }), false);
    assert.deepEqual(await store.list(), ['b']);
    assert.deepEqual([...adapter.files.keys()].filter((f) => f.startsWith('notes')), []);
  });

  test('generations: a save goes to the other slot and removes the old data file; conflict until overwrite', async () => {
    const adapter = memoryDir();
    const store = storeOver(adapter);
    const a = await sampleIndex(2);
    const g = await a.save('x', { store });
    const b = await Index.load('x', { store });
    b.insertBatch(randomVectors(5, dim, 9));
    assert.equal(await b.save('x', { store, full: true }), g + 1);
    assert.deepEqual([...adapter.files.keys()].sort(), ['generation', `x.${g + 1}.pvx`, 'x.a', 'x.b']);
    a.insertBatch(randomVectors(3, dim, 8));
    await rejects(a.save('x', { store }), 'conflict', new RegExp(`^"x" in OPFS "pocketvec" is generation ${g + 1}, .*overwrite: true`));
    same(await Index.load('x', { store }), b);
    assert.equal(await a.save('x', { store, overwrite: true }), g + 2);
    same(await Index.load('x', { store }), a);
    await rejects(store.put('x', new Uint8Array(1)), 'conflict');
    assert.equal(await store.put('x', new Uint8Array(1), { expectGeneration: g + 2 }), g + 3);
    await rejects(store.put('', new Uint8Array(1)), 'invalid_argument');
    await rejects(store.put('y', [1]), 'invalid_argument');
  });

  test('a writer that throws midway, a quota error, an abort: the old copy still loads, no file is left', async () => {
    const adapter = memoryDir();
    const store = storeOver(adapter);
    const old = await sampleIndex(3);
    await old.save('x', { store, chunkSize: 512 });
    const files = [...adapter.files.keys()].sort();
    const writer = (size) => { let n = 0; return { length: 10 * size, next() { if (++n === 3) throw new Error('writer broke'); return new Uint8Array(size); } }; };
    const e1 = await rejects(store.put('x', writer, { overwrite: true, chunkSize: 100 }), 'io_error',
      /^saving "x" in OPFS "pocketvec" failed \(Error: writer broke\); the saved copy, if any, is unchanged$/);
    assert.equal(e1.cause.message, 'writer broke');
    adapter.failWrite = (f, nth) => (f.endsWith('.pvx') && nth % 3 === 0 ? new DOMException('simulated quota', 'QuotaExceededError') : null);
    const bigger = await sampleIndex(4, 600);
    const e2 = await rejects(bigger.save('x', { store, chunkSize: 512, overwrite: true }), 'quota_exceeded', /QuotaExceededError: simulated quota/);
    assert.equal(e2.cause.name, 'QuotaExceededError');
    adapter.failWrite = null;
    const ac = new AbortController();
    await rejects(bigger.save('x', { store, chunkSize: 512, overwrite: true, signal: ac.signal, onProgress: () => ac.abort('stop') }), 'aborted');
    ac.abort();
    await rejects(bigger.save('x', { store, overwrite: true, signal: ac.signal }), 'aborted');
    await rejects(store.get('x', { signal: ac.signal }), 'aborted');
    assert.deepEqual([...adapter.files.keys()].sort(), files);
    same(await Index.load('x', { store }), old);
  });

  test('a manifest slot that is torn or garbage is ignored: the other slot\'s copy loads', async () => {
    const adapter = memoryDir();
    const store = storeOver(adapter);
    const a = await sampleIndex(5);
    const g = await a.save('x', { store }); // slot a
    // A crash while committing generation g + 1 to slot b: its data file written, its slot torn.
    adapter.files.set(`x.${g + 1}.pvx`, new Uint8Array(50));
    adapter.files.set('x.b', new TextEncoder().encode(`[${g + 1},50,"x.${g + 1}.pvx",`));
    same(await Index.load('x', { store }), a);
    adapter.files.set('x.b', Uint8Array.of(0xff, 0, 0x7b)); // garbage
    same(await Index.load('x', { store }), a);
    // A slot that parses but whose checksum does not match.
    adapter.files.set('x.b', new TextEncoder().encode(JSON.stringify([g + 1, 50, `x.${g + 1}.pvx`, 1])));
    same(await Index.load('x', { store }), a);
    // The next save commits to slot b and sweeps the stray data file.
    a.insertBatch(randomVectors(2, dim, 6));
    assert.equal(await a.save('x', { store, full: true }), g + 1);
    same(await Index.load('x', { store }), a);
    assert.deepEqual([...adapter.files.keys()].sort(), ['generation', `x.${g + 1}.pvx`, 'x.a', 'x.b']);
    // Both slots bad, or the data file short or gone: corrupt_data.
    adapter.files.set(`x.${g + 1}.pvx`, adapter.files.get(`x.${g + 1}.pvx`).slice(1));
    await rejects(store.get('x'), 'corrupt_data', /its data file x\.\d+\.pvx is missing or shorter than \d+ bytes$/);
    adapter.files.delete(`x.${g + 1}.pvx`);
    await rejects(store.get('x'), 'corrupt_data', /its data file x\.\d+\.pvx is missing or shorter than \d+ bytes$/);
    // Both slots bad: nothing is committed, as after a first save that stopped midway.
    adapter.files.set('x.a', new Uint8Array(3));
    adapter.files.set('x.b', new Uint8Array(0));
    assert.equal(await store.get('x'), null);
    assert.deepEqual(await store.list(), []);
  });

  test('a first save that stops before its slot is complete leaves no copy: get null, not listed, delete false', async () => {
    for (const fault of ['quota', 'torn']) {
      const adapter = memoryDir();
      let store = storeOver(adapter);
      if (fault === 'quota') adapter.failWrite = (f) => (f === 'x.a' ? new DOMException('simulated quota', 'QuotaExceededError') : null);
      else [adapter.k, adapter.mode] = [4, 'torn']; // open x.N.pvx, truncate, write, flush, open x.a, truncate, WRITE
      await rejects(store.put('x', new Uint8Array(10)), fault === 'quota' ? 'quota_exceeded' : 'io_error');
      store = storeOver(Object.assign(memoryDir(adapter.after()), { failWrite: null }));
      assert.equal(await store.get('x'), null);
      assert.deepEqual(await store.list(), []);
      assert.equal(await store.delete('x'), false);
      await store.put('x', new Uint8Array([7]));
      assert.deepEqual(await store.get('x'), new Uint8Array([7]));
    }
  });

  test('a save whose slot flush or sweep fails after the record is written: rejects only if the slot could be emptied', async () => {
    const slotFlush = (adapter, truncateToo) => {
      const open = adapter.open;
      adapter.open = async (f, create) => {
        const h = await open(f, create);
        if (h && /\.[ab]$/.test(f) && create) {
          const truncate = h.truncate;
          let written = false;
          const write = h.write;
          h.write = (...a) => { written = true; return write(...a); };
          const flush = h.flush;
          let flushes = 0; // the first fails: the one after an emptying truncate works
          h.flush = () => { if (!flushes++) throw new DOMException('disk', 'InvalidStateError'); flush(); };
          h.truncate = (n) => { if (written && truncateToo) throw new DOMException('disk', 'InvalidStateError'); truncate(n); };
        }
        return h;
      };
      return () => { adapter.open = open; };
    };
    // The slot emptied: the save rejects, the old copy loads and its generation is still the Index's.
    let adapter = memoryDir();
    let store = storeOver(adapter);
    const index = await sampleIndex(11);
    const g = await index.save('x', { store });
    index.insertBatch(randomVectors(4, dim, 12));
    let undo = slotFlush(adapter, false);
    await rejects(index.save('x', { store }), 'io_error', /InvalidStateError: disk\); the saved copy, if any, is unchanged$/);
    undo();
    assert.equal((await Index.load('x', { store })).size, 300);
    assert.deepEqual([...adapter.files.keys()].filter((f) => f.endsWith('.pvx')), [`x.${g}.pvx`]);
    const g1 = await index.save('x', { store }); // (above g + 1: the failed save took that one)
    assert.ok(g1 > g + 1);
    // The slot cannot be emptied: the record stands, so the save resolves with its generation.
    undo = slotFlush(adapter, true);
    index.insertBatch(randomVectors(4, dim, 13));
    assert.equal(await index.save('x', { store }), g1 + 1);
    undo();
    same(await Index.load('x', { store }), index);
    // A sweep that fails (names() throws) after the commit: the save resolves, the next one is no conflict.
    const names = adapter.names;
    adapter.names = async () => { throw new DOMException('x', 'UnknownError'); };
    index.insertBatch(randomVectors(4, dim, 14));
    assert.equal(await index.save('x', { store }), g1 + 2);
    adapter.names = names;
    index.insertBatch(randomVectors(4, dim, 15));
    assert.equal(await index.save('x', { store }), g1 + 3);
    same(await Index.load('x', { store }), index);
    assert.equal([...adapter.files.keys()].filter((f) => f.endsWith('.pvx')).length, 1);
  });

  test('a delete that stopped after removing the other slot: the copy in the current slot (b) is still listed', async () => {
    const adapter = memoryDir();
    const store = storeOver(adapter);
    await store.put('x', new Uint8Array([1]));
    const g = await store.put('x', new Uint8Array([2]), { overwrite: true }); // slot b
    adapter.files.delete('x.a');
    assert.deepEqual(await store.list(), ['x']);
    assert.deepEqual(await store.get('x', { onGeneration: (v) => assert.equal(v, g) }), new Uint8Array([2]));
    assert.equal(await store.delete('x'), true);
    assert.deepEqual(await store.list(), []);
  });

  test('a short write (write() returns less than asked) fails the save: data chunk or slot record', async () => {
    for (const target of ['.pvx', '.b']) {
      const adapter = memoryDir();
      const store = storeOver(adapter);
      const g = await store.put('x', new Uint8Array(3000).fill(1), { chunkSize: 1000 });
      adapter.writeReturns = (f, n) => (f.endsWith(target) ? n - 1 : n);
      await rejects(store.put('x', new Uint8Array(3000).fill(2), { chunkSize: 1000, expectGeneration: g }), 'io_error', /short write/);
      adapter.writeReturns = null;
      assert.deepEqual(await store.get('x'), new Uint8Array(3000).fill(1), target);
      assert.deepEqual([...adapter.files.keys()].filter((f) => f.endsWith('.pvx')), [`x.${g}.pvx`]);
    }
  });

  test('a writer that gives empty or short chunks fails the save (it does not loop); an abort in the last next() is honoured', async () => {
    const adapter = memoryDir();
    const store = storeOver(adapter);
    const g = await store.put('x', new Uint8Array([1]));
    let calls = 0;
    const empty = () => ({ length: 10, next() { if (++calls > 100) throw new Error('looped'); return new Uint8Array(0); } });
    await rejects(store.put('x', empty, { chunkSize: 5, expectGeneration: g }), 'io_error', /the writer gave 0 of 10 bytes/);
    assert.equal(calls, 2);
    const ac = new AbortController();
    const aborting = () => ({ length: 4, next() { ac.abort(); return new Uint8Array(4); } });
    await rejects(store.put('x', aborting, { chunkSize: 4, expectGeneration: g, signal: ac.signal }), 'aborted');
    assert.deepEqual(await store.get('x'), new Uint8Array([1]));
    assert.equal([...adapter.files.keys()].filter((f) => f.endsWith('.pvx')).length, 1);
  });

  test('names and dirs: a lone surrogate is invalid_argument, so is a dir that is not a directory name', async () => {
    const store = storeOver(memoryDir());
    for (const call of [() => store.put('a\ud800', new Uint8Array(1)), () => store.get('\udc00b'), () => store.delete('\ud800')]) {
      await rejects(call(), 'invalid_argument', /lone surrogate/);
    }
    assert.equal(await store.get('\ud83d\ude00'), null); // a pair is fine
    for (const dir of ['', '.', '..', 'a/b', 'a\\b', 3]) {
      assert.throws(() => openOpfsStore({ dir }), (e) => e.code === 'invalid_argument' && /dir must be a directory name/.test(e.message), String(dir));
    }
  });

  test('a save or delete that fails or dies at any operation: the old copy or the new one loads, list agrees, later saves work', async () => {
    const OLD = new Uint8Array(2500).fill(1), NEW = new Uint8Array(3100).fill(2), LATER = new Uint8Array(700).fill(3);
    const chunkSize = 1000;
    const which = (r) => (r === null ? 'none' : [OLD, NEW, LATER].findIndex((b) => Buffer.from(b).equals(Buffer.from(r))));
    /** A directory after `prior` saves of "x" (0, 1: slot a, 2: slot b current, slot a with a longer record). */
    const base = async (prior) => {
      const adapter = memoryDir();
      const store = storeOver(adapter);
      let g;
      for (let i = 0; i < prior; i++) g = await store.put('x', i === prior - 1 ? OLD : new Uint8Array(100000), { chunkSize: i === prior - 1 ? chunkSize : 100000, overwrite: true });
      return { files: adapter.files, g };
    };
    const check = async (files, label, allowed) => {
      const store = storeOver(memoryDir(files));
      let g = 'unread';
      const r = await store.get('x', { onGeneration: (v) => { g = v; } });
      assert.ok(allowed.includes(which(r)), `${label}: loads ${which(r)}, expected one of ${allowed}`);
      assert.deepEqual(await store.list(), r === null ? [] : ['x'], `${label}: list`);
      await store.put('x', LATER, { chunkSize, expectGeneration: r === null ? undefined : g });
      assert.equal(which(await store.get('x')), 2, `${label}: a later save`);
      assert.equal([...files.keys()].filter((f) => f.endsWith('.pvx')).length, 1, `${label}: data files after a later save`);
      return g;
    };
    let runs = 0;
    for (const prior of [0, 1, 2]) {
      const old = prior ? 0 : 'none';
      for (const mode of ['throw', 'quota', 'die', 'torn']) {
        for (let k = 0; ; k++) {
          const { files, g } = await base(prior);
          const adapter = Object.assign(memoryDir(files), { k, mode });
          const res = await storeOver(adapter).put('x', NEW, { chunkSize, expectGeneration: g }).catch((e) => e);
          const label = `prior ${prior}, put, ${mode} at ${k}`;
          if (adapter.ops <= k) { assert.equal(typeof res, 'number', label); break; }
          runs++;
          if (!adapter.dead) assert.ok(res instanceof PocketvecError || typeof res === 'number', `${label}: ${res}`);
          const loaded = await check(adapter.after(), label, adapter.dead ? [old, 1] : [res instanceof PocketvecError ? old : 1]);
          if (!adapter.dead && typeof res === 'number') assert.equal(loaded, res, `${label}: the generation resolved is the one loaded`);
        }
      }
      for (const mode of ['throw', 'die']) {
        for (let k = 0; prior; k++) {
          const { files } = await base(prior);
          const adapter = Object.assign(memoryDir(files), { k, mode });
          const res = await storeOver(adapter).delete('x').catch((e) => e);
          if (adapter.ops <= k) { assert.equal(res, true); break; }
          runs++;
          await check(adapter.after(), `prior ${prior}, delete, ${mode} at ${k}`, res === true ? ['none'] : [0, 'none']);
        }
      }
    }
    assert.ok(runs > 200, `${runs} runs`);
  });

  test('generations never repeat for a name: removed and saved again in one clock tick, a stale index gets conflict', async () => {
    const adapter = memoryDir();
    const store = storeOver(adapter);
    const now = Date.now;
    Date.now = () => 1000;
    try {
      const a = await sampleIndex(21);
      const g = await a.save('x', { store });
      const stale = await Index.load('x', { store });
      assert.equal(await Index.remove('x', { store }), true);
      const g2 = await (await sampleIndex(22)).save('x', { store });
      assert.ok(g2 > g, `${g2} > ${g}`);
      stale.insertBatch(randomVectors(2, dim, 23));
      await rejects(stale.save('x', { store }), 'conflict');
      adapter.files.set('generation', new Uint8Array(3)); // a torn counter: from the clock, above the copy's
      assert.equal(await store.put('x', new Uint8Array(1), { expectGeneration: g2 }), g2 + 1);
    } finally {
      Date.now = now;
    }
  });

  test('an onProgress that throws on the last report: the save and the load still resolve', async () => {
    const store = storeOver(memoryDir());
    const index = await sampleIndex(24);
    const last = (p) => { if (p.done === p.total) throw new Error('last report'); };
    const errors = [];
    const report = globalThis.reportError;
    globalThis.reportError = (e) => errors.push(e.message);
    try {
      const g = await index.save('x', { store, onProgress: last });
      assert.ok(await Index.load('x', { store, onProgress: last }));
      index.insertBatch(randomVectors(2, dim, 25));
      assert.equal(await index.save('x', { store }), g + 1);
    } finally {
      globalThis.reportError = report;
    }
    assert.deepEqual(errors, ['last report', 'last report']);
  });

  test('without OPFS (Node): put and get reject with unsupported, saying why', async () => {
    const store = openOpfsStore();
    await rejects(store.put('x', new Uint8Array(1)), 'unsupported', /only in dedicated workers, not in WebKitGTK; use openStore\(\)/);
    await rejects(store.get('x'), 'unsupported');
    await rejects(store.list(), 'unsupported');
  });
});

describe('OPFS store: incremental saves', () => {
  const pvx = (adapter) => [...adapter.files.keys()].filter((f) => f.endsWith('.pvx'));
  /** The slot record of the current copy, parsed: [generation, byteLength, data file, base length, digest]. */
  const slot = async (adapter) => {
    const recs = ['x.a', 'x.b'].filter((f) => adapter.files.has(f)).map((f) => { try { return JSON.parse(new TextDecoder().decode(adapter.files.get(f))); } catch { return null; } });
    return recs.filter(Boolean).sort((p, q) => q[0] - p[0])[0];
  };

  test('saves append to the data file in place (its bytes before untouched); compaction and full: true rewrite; every reload equal', async () => {
    const adapter = memoryDir();
    const store = storeOver(adapter);
    let index = await sampleIndex(31, 1200);
    const flat = randomVectors(400, dim, 32);
    await index.save('x', { store, chunkSize: 700 });
    let [file] = pvx(adapter);
    let appends = 0;
    for (let round = 1; round <= 10; round++) {
      const before = adapter.files.get(file).slice();
      index.insertBatch(flat.subarray(round * 12 * dim, (round * 12 + 12) * dim));
      index.delete(round * 5);
      index.insert(flat.subarray(0, dim), round * 13); // upsert
      if (round === 4) index.compact();
      let total = -1;
      await index.save('x', { store, full: round === 7, chunkSize: 700, onProgress: (p) => { total = p.total; } });
      const files = pvx(adapter);
      assert.equal(files.length, 1, `round ${round}: one data file`);
      const [g, length, f, base] = await slot(adapter);
      assert.equal(f, files[0]);
      assert.equal(adapter.files.get(f).length, length, `round ${round}: the file is the committed bytes`);
      if (round === 4 || round === 7) {
        assert.notEqual(f, file, `round ${round}: a rewrite goes to a new data file`);
        assert.equal(base, length);
        assert.equal(total, length);
      } else {
        assert.equal(f, file, `round ${round}: an append keeps the data file`);
        assert.ok(Buffer.from(adapter.files.get(f).subarray(0, before.length)).equals(Buffer.from(before)), `round ${round}: earlier bytes untouched`);
        assert.equal(length, before.length + total);
        assert.ok(length - base <= base / 2);
        appends++;
      }
      assert.ok(g > 0);
      file = f;
      const back = await Index.load('x', { store });
      same(back, index);
      if (round % 3 === 0) { index.dispose(); index = back; } else back.dispose();
    }
    assert.equal(appends, 8);
  });

  test('an append that fails or dies at any operation: the old copy or the new one loads; later appends and saves work', async () => {
    const OLD = new Uint8Array(2500).fill(1), SEG = new Uint8Array(900).fill(2), SEG2 = new Uint8Array(300).fill(3);
    const WHOLE = new Uint8Array(2000).fill(4); // what the append's writer gives when made whole
    const chunkSize = 1000;
    const cat = (...a) => Buffer.concat(a.map((b) => Buffer.from(b)));
    const outcomes = [cat(OLD), cat(OLD, SEG), cat(WHOLE), cat(OLD, SEG2), cat(OLD, SEG, SEG2), cat(WHOLE, SEG2)];
    const which = (r) => (r === null ? 'none' : outcomes.findIndex((b) => b.equals(Buffer.from(r))));
    const digest = [7, 8, 17]; // of outcomes 0, 1, 2
    const writer = (whole, wd, seg, base, sd) => (size, appending) => {
      const b = appending ? seg : whole;
      let at = 0;
      return { length: b.length, base: appending ? base : 0, digest: appending ? sd : wd, next: () => b.slice(at, (at += size)) };
    };
    let runs = 0;
    for (const mode of ['throw', 'quota', 'die', 'torn']) {
      for (let k = 0; ; k++) {
        const setup = memoryDir();
        const g = await storeOver(setup).put('x', writer(OLD, 7), { chunkSize });
        const adapter = Object.assign(memoryDir(setup.files), { k, mode });
        const res = await storeOver(adapter).put('x', writer(WHOLE, 17, SEG, 7, 8), { chunkSize, expectGeneration: g, append: true }).catch((e) => e);
        const label = `append, ${mode} at ${k}`;
        if (adapter.ops <= k) { assert.equal(typeof res, 'number', label); break; }
        runs++;
        const files = adapter.after();
        const store = storeOver(memoryDir(files));
        let loadedG;
        const r = await store.get('x', { onGeneration: (v) => { loadedG = v; } });
        const got = which(r);
        // A resolved put appended, or (a slot it could not read looks torn: no copy) wrote the whole file.
        const allowed = adapter.dead ? [0, 1, 2] : res instanceof PocketvecError ? [0] : [1, 2];
        assert.ok(allowed.includes(got), `${label}: loads ${got}, expected one of ${allowed}`);
        // The next append extends what is committed (whatever tail the failure left is cut off).
        await store.put('x', writer(WHOLE, 17, SEG2, digest[got], 9), { chunkSize, expectGeneration: loadedG, append: true });
        assert.equal(which(await store.get('x')), got + 3, `${label}: a later append`);
        assert.equal([...files.keys()].filter((f) => f.endsWith('.pvx')).length, 1, `${label}: one data file`);
        const size = [...files].find(([f]) => f.endsWith('.pvx'))[1].length;
        assert.equal(size, outcomes[got + 3].length, `${label}: the data file is what is committed`);
      }
    }
    assert.ok(runs > 30, `${runs} runs`);
  });

  test('an Index save whose data write throws half way, or whose onProgress throws or signal aborts: the last good state loads, the next save is correct', async () => {
    for (const how of ['write', 'progress', 'abort']) {
      const adapter = memoryDir();
      const store = storeOver(adapter);
      const index = await sampleIndex(41, 900);
      await index.save('x', { store, chunkSize: 512 });
      index.insertBatch(randomVectors(10, dim, 42));
      await index.save('x', { store, chunkSize: 512 });
      const good = index.toBytes();
      const [, committed] = await slot(adapter);
      index.insertBatch(randomVectors(30, dim, 43));
      const c = new AbortController();
      // The third write into the data file throws, or aborts the signal (seen before the next write).
      let writes = 0;
      adapter.failWrite = (f) => {
        if (!f.endsWith('.pvx') || ++writes !== 3) return null;
        if (how === 'abort') return void c.abort();
        return how === 'write' ? new DOMException('disk', 'UnknownError') : null;
      };
      const onProgress = () => { if (how === 'progress') throw new Error('listener'); }; // (on the first report)
      const err = await index.save('x', { store, chunkSize: 512, signal: c.signal, onProgress }).then(() => null, (e) => e);
      adapter.failWrite = null;
      assert.ok(err instanceof PocketvecError, `${how}: the save failed`);
      assert.equal(err.code, how === 'abort' ? 'aborted' : 'io_error', `${how}: ${err.message}`);
      if (how === 'progress') assert.match(err.message, /\(Error: listener\)/);
      const [file] = pvx(adapter);
      if (how !== 'progress') assert.ok(adapter.files.get(file).length > committed, `${how}: an uncommitted tail was written`);
      same(await Index.load('x', { store }), { toBytes: () => good });
      await index.save('x', { store, chunkSize: 512 });
      const [, length, f, base] = await slot(adapter);
      assert.equal(f, file, `${how}: the next save appends`);
      assert.ok(base < length);
      assert.equal(adapter.files.get(f).length, length, `${how}: the tail was cut off`);
      same(await Index.load('x', { store }), index);
    }
  });

  test('a conflict with another index that appended writes nothing; overwrite rewrites into a new file', async () => {
    const adapter = memoryDir();
    const store = storeOver(adapter);
    const a = await sampleIndex(51, 600);
    const g = await a.save('x', { store });
    const b = await Index.load('x', { store });
    b.insertBatch(randomVectors(8, dim, 52));
    assert.equal(await b.save('x', { store }), g + 1);
    const [file] = pvx(adapter);
    const bytes = adapter.files.get(file).slice();
    a.insertBatch(randomVectors(3, dim, 53));
    await rejects(a.save('x', { store }), 'conflict');
    assert.ok(Buffer.from(adapter.files.get(file)).equals(Buffer.from(bytes)));
    await a.save('x', { store, overwrite: true });
    const [, length, f, base] = await slot(adapter);
    assert.notEqual(f, file);
    assert.equal(base, length);
    same(await Index.load('x', { store }), a);
  });
});
