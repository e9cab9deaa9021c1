// Incremental saves (format 1.3 segments) through the IndexedDB store (fake-indexeddb): which saves
// append and which rewrite, checked against the stored records; every reload against the in-memory
// index's toBytes() (an independent full serialization); appends that fail midway; conflicts; the 50 %
// rule, with writers of known sizes. The OPFS store's appends are in opfs.test.js.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IDBFactory, IDBKeyRange, IDBObjectStore } from 'fake-indexeddb';

import { Index, PocketvecError, openStore } from 'pocketvec';
import { randomVectors, row } from './helpers.js';

const CHUNK_KEYS = IDBKeyRange.lowerBound([]);

function freshStore() {
  const indexedDB = new IDBFactory();
  return { indexedDB, store: openStore({ indexedDB, dbName: 'pocketvec-seg' }) };
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Runs `fn(objectStores)` in a raw readwrite transaction on the test database. */
async function raw(indexedDB, fn) {
  const db = await request(indexedDB.open('pocketvec-seg'));
  const tx = db.transaction(['manifests', 'chunks'], 'readwrite');
  const result = await fn({ manifests: tx.objectStore('manifests'), chunks: tx.objectStore('chunks') });
  await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onabort = () => reject(tx.error); });
  db.close();
  return result;
}

const manifest = (indexedDB, name) => raw(indexedDB, ({ manifests }) => request(manifests.get(name)));
const chunkCount = (indexedDB) => raw(indexedDB, ({ chunks }) => request(chunks.count(CHUNK_KEYS)));
const buf = (b) => Buffer.from(b.buffer, b.byteOffset, b.length);

/**
 * Makes fake-indexeddb's put() fail (`failure(put, key)`, as this object store) at its `nth` call, or with
 * nth 'manifest' at the manifest's, for the duration of `fn`.
 */
async function withFailingPut(nth, failure, fn) {
  const original = IDBObjectStore.prototype.put;
  let calls = 0;
  IDBObjectStore.prototype.put = function put(...args) {
    const hit = ++calls === nth || (nth === 'manifest' && this.name === 'manifests');
    return hit ? failure.call(this, () => original.apply(this, args), args[1]) : original.apply(this, args);
  };
  try {
    return await fn();
  } finally {
    IDBObjectStore.prototype.put = original;
  }
}

async function rejects(promise, code, message) {
  const err = await promise.then(() => null, (e) => e);
  assert.ok(err instanceof PocketvecError, `expected a PocketvecError, got ${err}`);
  assert.equal(err.code, code, err.message);
  if (message) assert.match(err.message, message);
  return err;
}

/** Index.save that also returns the bytes the save wrote (its progress total). */
async function save(index, name, options) {
  let total = -1;
  const generation = await index.save(name, { ...options, onProgress: (p) => { total = p.total; } });
  return { generation, total };
}

/** Asserts that the copy `name` reloads as exactly `index` (toBytes, a full save of each, compared). */
async function reloadsAs(store, name, index) {
  const back = await Index.load(name, { store });
  assert.ok(buf(back.toBytes()).equals(buf(index.toBytes())), 'the reloaded index saves the same bytes as the index');
  return back;
}

describe('incremental saves (IndexedDB)', () => {
  test('many saves interleaved with inserts, deletes, upserts and compaction: appends where allowed, every reload equal', async () => {
    const { indexedDB, store } = freshStore();
    const dim = 12;
    let index = await Index.create({ dim, seed: 3 });
    const flat = randomVectors(4000, dim, 1);
    index.insertBatch(flat.subarray(0, 1500 * dim));
    let next = 1500;
    await index.save('s', { store, chunkSize: 4096 });
    let stored = await store.get('s');
    let parts = 1;
    let baseChunkSize = 4096;
    let appends = 0;
    for (let round = 1; round <= 14; round++) {
      index.insertBatch(flat.subarray(next * dim, (next += 15) * dim));
      index.delete(round * 7);
      index.insert(row(flat, dim, 3000 + round), round * 11); // an upsert: a tombstone and a new slot
      const compacted = round % 5 === 0;
      if (compacted) index.compact();
      const before = index.toBytes().length;
      const { total } = await save(index, 's', { store, chunkSize: round % 2 ? 4096 : 1000 });
      const m = await manifest(indexedDB, 's');
      const now = await store.get('s');
      const segments = m.parts.slice(1).reduce((s, p) => s + p, 0);
      assert.ok(segments <= m.parts[0] / 2, `round ${round}: segments ${segments} within half of the base ${m.parts[0]}`);
      if (m.parts.length > parts) {
        // An append: the stored bytes before are unchanged, the segment follows them, in the base's chunk size.
        assert.ok(!compacted, `round ${round}: no append after compact()`);
        assert.equal(m.parts.length, parts + 1);
        assert.equal(total, m.parts.at(-1), 'progress counts the segment');
        assert.ok(buf(now.subarray(0, stored.length)).equals(buf(stored)), `round ${round}: the base and earlier segments are untouched`);
        assert.equal(now.length, stored.length + total);
        assert.equal(m.chunkSize, baseChunkSize, 'segments use the base\'s chunk size');
        appends++;
      } else {
        assert.equal(m.parts.length, 1, `round ${round}: a rewrite has one part`);
        assert.equal(total, before, 'a rewrite writes the whole file');
        assert.equal(m.chunkGeneration, m.generation);
        baseChunkSize = m.chunkSize;
      }
      parts = m.parts.length;
      assert.equal(await chunkCount(indexedDB), m.chunkCount, `round ${round}: no chunk but the copy's is left`);
      assert.equal(m.byteLength, now.length);
      stored = now;
      const back = await reloadsAs(store, 's', index);
      // Every other round, go on with the reloaded index: a load is a save point too.
      if (round % 2) { index.dispose(); index = back; } else back.dispose();
      // The stored bytes are one file (base + segments) that fromBytes() reads too.
      assert.ok(buf((await Index.fromBytes(stored)).toBytes()).equals(buf(index.toBytes())));
    }
    assert.ok(appends >= 8, `${appends} of 14 saves appended`);
  });

  test('an append after 100 inserts into a 3000-vector index writes a small fraction of a full save', async () => {
    const { indexedDB, store } = freshStore();
    const dim = 128;
    const index = await Index.create({ dim, seed: 5 });
    const flat = randomVectors(3100, dim, 2);
    index.insertBatch(flat.subarray(0, 3000 * dim));
    const first = await save(index, 'big', { store });
    index.insertBatch(flat.subarray(3000 * dim));
    const full = index.toBytes().length;
    const second = await save(index, 'big', { store });
    assert.deepEqual((await manifest(indexedDB, 'big')).parts, [first.total, second.total]);
    assert.ok(second.total < full * 0.15, `the segment is ${second.total} of ${full} bytes`);
    assert.ok(second.total > 100 * dim * 4, 'it holds the 100 new rows');
    (await reloadsAs(store, 'big', index)).dispose();
  });

  test('an append that fails midway (a failing request, quota at commit, a throwing onProgress, an abort) leaves the last good state; the next save is correct', async () => {
    const quota = function fail() {
      throw new DOMException('simulated quota', 'QuotaExceededError');
    };
    // A request that fails later (its key exists: ConstraintError, which aborts the transaction), with a quota error.
    const failingRequest = function fail(put, key) {
      put();
      const req = this.add(new Uint8Array(1), key);
      const error = new DOMException('simulated quota', 'QuotaExceededError');
      Object.defineProperty(req, 'error', { get: () => error, set() {} });
      return req;
    };
    const tabClosed = function fail(put) {
      const req = put();
      this.transaction.abort();
      return req;
    };
    const cases = [
      ['a chunk put throws QuotaExceededError', (fn) => withFailingPut(2, quota, fn), 'quota_exceeded'],
      ['the manifest put throws', (fn) => withFailingPut('manifest', quota, fn), 'quota_exceeded'],
      ['a chunk request fails', (fn) => withFailingPut(3, failingRequest, fn), 'quota_exceeded'],
      ['the transaction aborts after the manifest put (tab closed)', (fn) => withFailingPut('manifest', tabClosed, fn), 'io_error'],
      ['onProgress throws', (fn) => fn({ onProgress: (p) => { if (p.done === 0) throw new PocketvecError('invalid_argument', 'listener'); } }), 'invalid_argument'],
      ['the signal aborts', (fn) => { const c = new AbortController(); return fn({ signal: c.signal, onProgress: () => c.abort() }); }, 'aborted'],
    ];
    for (const [what, run, code] of cases) {
      const { indexedDB, store } = freshStore();
      const dim = 8;
      const index = await Index.create({ dim, seed: 9 });
      const flat = randomVectors(900, dim, 4);
      index.insertBatch(flat.subarray(0, 800 * dim));
      await index.save('f', { store, chunkSize: 512 });
      index.insertBatch(flat.subarray(800 * dim, 810 * dim));
      await index.save('f', { store, chunkSize: 512 }); // an append: the last good state
      const good = index.toBytes();
      const before = await manifest(indexedDB, 'f');
      assert.equal(before.parts.length, 2, what);
      index.insertBatch(flat.subarray(810 * dim, 830 * dim));
      index.delete(2);
      await run((extra = {}) => rejects(index.save('f', { store, chunkSize: 512, ...extra }), code));
      assert.deepEqual(await manifest(indexedDB, 'f'), before, `${what}: the manifest is unchanged`);
      assert.equal(await chunkCount(indexedDB), before.chunkCount, `${what}: no chunk of the failed append remains`);
      const last = await Index.load('f', { store });
      assert.ok(buf(last.toBytes()).equals(buf(good)), `${what}: the last good state loads`);
      // The next save appends what changed since the last good save, and reloads as the index.
      const { total } = await save(index, 'f', { store });
      assert.equal((await manifest(indexedDB, 'f')).parts.length, 3, `${what}: the next save appends`);
      assert.ok(total < good.length / 4, `${what}: ${total} bytes`);
      (await reloadsAs(store, 'f', index)).dispose();
      // The index loaded before that save has an older generation: its save is a conflict.
      await rejects(last.save('f', { store }), 'conflict');
      index.dispose();
      last.dispose();
    }
  });

  test('an index that changes after its writer and before the commit: no save point, the next save rewrites', async () => {
    const { indexedDB, store } = freshStore();
    const dim = 8;
    const index = await Index.create({ dim, seed: 2 });
    const flat = randomVectors(700, dim, 6);
    index.insertBatch(flat.subarray(0, 600 * dim));
    await index.save('c', { store });
    // A store that inserts a row once the writer has ended, before the transaction commits.
    let sneak = true;
    const sneaky = {
      dbName: store.dbName,
      get: (...a) => store.get(...a),
      put: (name, factory, options) => store.put(name, (size, appending) => {
        const w = factory(size, appending);
        return { ...w, end: () => { w.end(); if (sneak) { sneak = false; index.insert(row(flat, dim, 650)); } } };
      }, options),
    };
    index.insertBatch(flat.subarray(600 * dim, 610 * dim));
    await index.save('c', { store: sneaky });
    const m = await manifest(indexedDB, 'c');
    assert.equal(m.parts.length, 2, 'that save appended');
    assert.equal((await Index.load('c', { store })).size, 610, 'without the row inserted after its writer');
    const { total } = await save(index, 'c', { store });
    assert.equal((await manifest(indexedDB, 'c')).parts.length, 1, 'the next save is a rewrite');
    assert.equal(total, index.toBytes().length);
    (await reloadsAs(store, 'c', index)).dispose();
    assert.equal(index.size, 611);
  });

  test('a conflict with another index that appended: nothing written; overwrite rewrites, never appends', async () => {
    const { indexedDB, store } = freshStore();
    const dim = 8;
    const flat = randomVectors(1000, dim, 8);
    const a = await Index.create({ dim, seed: 4 });
    a.insertBatch(flat.subarray(0, 800 * dim));
    const g = await a.save('x', { store });
    const b = await Index.load('x', { store });
    b.insertBatch(flat.subarray(800 * dim, 810 * dim));
    assert.equal(await b.save('x', { store }), g + 1);
    assert.equal((await manifest(indexedDB, 'x')).parts.length, 2, 'b appended');
    const stored = await store.get('x');
    a.insertBatch(flat.subarray(810 * dim, 812 * dim));
    await rejects(a.save('x', { store }), 'conflict', new RegExp(`generation ${g + 1}, .*had generation ${g};`));
    assert.ok(buf(await store.get('x')).equals(buf(stored)), 'the conflicting save wrote nothing');
    // Under overwrite, onto b's generation: a full rewrite.
    const { total } = await save(a, 'x', { store, overwrite: true });
    const m = await manifest(indexedDB, 'x');
    assert.deepEqual(m.parts, [total]);
    assert.equal(total, a.toBytes().length);
    (await reloadsAs(store, 'x', a)).dispose();
    await rejects(b.save('x', { store }), 'conflict');
    // a appends on its own copy again.
    a.insertBatch(flat.subarray(812 * dim, 815 * dim));
    await a.save('x', { store });
    assert.equal((await manifest(indexedDB, 'x')).parts.length, 2);
    (await reloadsAs(store, 'x', a)).dispose();
    a.dispose();
    b.dispose();
  });

  test('full: true rewrites; full must be a boolean; a save to another name or store is a full save', async () => {
    const { indexedDB, store } = freshStore();
    const other = { indexedDB: new IDBFactory() };
    other.store = openStore({ indexedDB: other.indexedDB, dbName: 'pocketvec-seg' === store.dbName ? 'pocketvec-seg2' : '' });
    const index = await Index.create({ dim: 4, seed: 1 });
    index.insertBatch(randomVectors(300, 4, 3));
    await index.save('a', { store });
    index.insert(new Float32Array([1, 2, 3, 4]));
    await rejects(index.save('a', { store, full: 1 }), 'invalid_argument', /^full must be a boolean, got number$/);
    assert.deepEqual((await manifest(indexedDB, 'a')).parts.length, 1, 'nothing written');
    await index.save('a', { store, full: true });
    assert.deepEqual((await manifest(indexedDB, 'a')).parts, [index.toBytes().length]);
    index.insert(new Float32Array([1, 2, 3, 5]));
    await index.save('b', { store });
    await index.save('a', { store: other.store });
    assert.equal((await manifest(indexedDB, 'b')).parts.length, 1);
    const m2 = await request((await request(other.indexedDB.open('pocketvec-seg2'))).transaction('manifests').objectStore('manifests').get('a'));
    assert.deepEqual(m2.parts, [index.toBytes().length]);
    // The save point is now the last save's ('a' in the other store): 'a' here holds an older state, so
    // its digest does not match and the save rewrites (the expected generation alone would allow an append).
    index.insert(new Float32Array([1, 2, 3, 6]));
    await index.save('a', { store });
    assert.equal((await manifest(indexedDB, 'a')).parts.length, 1);
    (await reloadsAs(store, 'a', index)).dispose();
    index.insert(new Float32Array([1, 2, 3, 7]));
    await index.save('a', { store });
    assert.equal((await manifest(indexedDB, 'a')).parts.length, 2);
    (await reloadsAs(store, 'a', index)).dispose();
  });

  test('the 50 % rule and the store\'s other append conditions, with writers of known sizes and digests', async () => {
    const { indexedDB, store } = freshStore();
    const calls = [];
    /** A writer factory: the whole file `whole` (digest wd), or appending, segment `seg` extending `base` (digest sd). */
    const writer = ({ whole, wd, seg, base, sd }) => (size, appending) => {
      const b = appending ? seg : whole;
      calls.push(appending);
      let at = 0;
      return {
        length: b.length, base: appending ? base : 0, digest: appending ? sd : wd,
        next: () => b.slice(at, (at += size)), end: () => calls.push('end'),
      };
    };
    const bytes = (n, v) => new Uint8Array(n).fill(v);
    const A = bytes(1000, 1), S1 = bytes(300, 2), S2 = bytes(200, 3), S3 = bytes(1, 4);
    const put = (w, options) => store.put('r', w, { chunkSize: 128, append: true, ...options });
    let g = await put(writer({ whole: A, wd: 11, seg: S1, base: 10, sd: 12 }));
    assert.deepEqual(calls.splice(0), [false, 'end'], 'no copy: the whole file at once');
    g = await put(writer({ whole: A, wd: 11, seg: S1, base: 11, sd: 12 }), { expectGeneration: g, chunkSize: 64 });
    assert.deepEqual(calls.splice(0), [true, 'end']);
    g = await put(writer({ whole: A, wd: 11, seg: S2, base: 12, sd: 13 }), { expectGeneration: g });
    assert.deepEqual(calls.splice(0), [true, 'end'], '300 + 200 = 50 % of the base: still appends');
    let m = await manifest(indexedDB, 'r');
    assert.deepEqual([m.parts, m.digest, m.chunkSize, m.chunkCount], [[1000, 300, 200], 13, 128, 8 + 3 + 2]);
    assert.ok(buf(await store.get('r')).equals(Buffer.concat([A, S1, S2])));
    assert.deepEqual(await store.get('r', { onChunk: () => {} }), true);
    const sizes = [];
    await store.get('r', { onChunk: (c) => sizes.push(c.length) });
    assert.deepEqual(sizes, [128, 128, 128, 128, 128, 128, 128, 104, 128, 128, 44, 128, 72], 'each part in its own run of chunks');
    // One byte more than half: the first writer is ended and the whole file written.
    const B = bytes(700, 5);
    g = await put(writer({ whole: B, wd: 21, seg: S3, base: 13, sd: 14 }), { expectGeneration: g });
    assert.deepEqual(calls.splice(0), [true, 'end', false, 'end']);
    m = await manifest(indexedDB, 'r');
    assert.deepEqual([m.parts, m.digest, m.chunkGeneration], [[700], 21, m.generation]);
    assert.equal(await chunkCount(indexedDB), Math.ceil(700 / 128), 'the rewrite deleted the base\'s and the segments\' chunks');
    assert.ok(buf(await store.get('r')).equals(buf(B)));
    // A segment whose base is not the stored digest, a writer without digests, no append option, overwrite
    // onto another generation: all rewrite.
    for (const [w, options, label] of [
      [writer({ whole: A, wd: 31, seg: S3, base: 20, sd: 32 }), {}, 'another base digest'],
      [writer({ whole: A, wd: 31, seg: S3, base: 0, sd: 32 }), {}, 'base 0 (a whole file)'],
      [(size) => writer({ whole: B, wd: undefined })(size, false), {}, 'a writer without digests'],
      [writer({ whole: A, wd: 31, seg: S3, base: 31, sd: 32 }), { append: false }, 'append: false'],
      [writer({ whole: A, wd: 31, seg: S3, base: 31, sd: 32 }), { overwrite: true, expectGeneration: undefined }, 'overwrite of another generation'],
      [B, {}, 'bytes'],
    ]) {
      g = await put(w, { expectGeneration: g, ...options });
      m = await manifest(indexedDB, 'r');
      assert.equal(m.parts.length, 1, label);
      if (label === 'another base digest' || label === 'base 0 (a whole file)') assert.deepEqual(calls.splice(0), [true, 'end', false, 'end'], label);
      else assert.ok(!calls.splice(0).includes(true), label);
    }
    // A Uint8Array copy has no digest: a writer appending onto it (base undefined === digest undefined) rewrites.
    g = await put(writer({ whole: A, wd: 41, seg: S3, base: undefined, sd: 42 }), { expectGeneration: g });
    assert.deepEqual((await manifest(indexedDB, 'r')).parts, [1000]);
    await rejects(store.put('r', A, { append: 'yes' }), 'invalid_argument', /^append must be a boolean, got string$/);
  });

  test('a manifest\'s parts are checked; a missing or short segment chunk is corrupt; dropping the last part loads the state before it', async () => {
    const { indexedDB, store } = freshStore();
    const dim = 8;
    const index = await Index.create({ dim, seed: 6 });
    const flat = randomVectors(520, dim, 7);
    index.insertBatch(flat.subarray(0, 500 * dim));
    await index.save('m', { store, chunkSize: 1024 });
    const first = index.toBytes();
    index.insertBatch(flat.subarray(500 * dim));
    await index.save('m', { store, chunkSize: 1024 });
    const m = await manifest(indexedDB, 'm');
    assert.equal(m.parts.length, 2);
    const edit = (change) => raw(indexedDB, ({ manifests }) => request(manifests.put({ ...m, ...change })));
    const malformed = /^saved index "m" is corrupt: its manifest is malformed$/;
    for (const change of [{ parts: [m.parts[0]] }, { parts: [m.parts[0], m.parts[1], 0, -1] }, { parts: 'x' }, { parts: [m.byteLength] },
      { chunkGeneration: 'g' }, { parts: [m.parts[0], m.parts[1] + 0.5] }]) {
      await edit(change);
      await rejects(Index.load('m', { store }), 'corrupt_data', malformed);
    }
    // The last part dropped from the manifest (lengths and counts consistent): the base alone loads.
    const baseChunks = Math.ceil(m.parts[0] / 1024);
    await edit({ parts: [m.parts[0]], byteLength: m.parts[0], chunkCount: baseChunks });
    assert.ok(buf((await Index.load('m', { store })).toBytes()).equals(buf(first)));
    await edit({});
    const key = ['m', m.chunkGeneration, baseChunks];
    const chunk = await raw(indexedDB, ({ chunks }) => request(chunks.get(key)));
    await raw(indexedDB, ({ chunks }) => request(chunks.put(chunk.slice(1), key)));
    await rejects(Index.load('m', { store }), 'corrupt_data', new RegExp(`chunk ${baseChunks + 1} of ${m.chunkCount} holds ${chunk.length - 1} bytes, expected ${chunk.length}$`));
    await raw(indexedDB, ({ chunks }) => request(chunks.delete(key)));
    await rejects(Index.load('m', { store }), 'corrupt_data', new RegExp(`chunk ${baseChunks + 1} of ${m.chunkCount} is missing$`));
    // full: true replaces the damaged copy.
    await index.save('m', { store, full: true });
    (await reloadsAs(store, 'm', index)).dispose();
  });
});
