// IndexedDB persistence through fake-indexeddb: round trips, list/remove, atomic saves that fail
// midway (the old copy must survive), and corruption reported clearly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IDBFactory, IDBKeyRange, IDBObjectStore } from 'fake-indexeddb';

import { Index, PocketvecError, openStore, persist, storageInfo } from 'pocketvec';
import { randomVectors, row } from './helpers.js';

const dim = 8;
/** The chunks' keys (arrays), not the database's generation counter (key ''). */
const CHUNK_KEYS = IDBKeyRange.lowerBound([]);

/** A store over a fresh, private in-memory IndexedDB. */
function freshStore() {
  const indexedDB = new IDBFactory();
  return { indexedDB, store: openStore({ indexedDB, dbName: 'pocketvec-test' }) };
}

async function sampleIndex(seed, n = 400) {
  const index = await Index.create({ dim, seed });
  index.insertBatch(randomVectors(n, dim, seed));
  return index;
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Runs `fn(objectStores)` in a raw readwrite transaction on the test database. */
async function raw(indexedDB, fn) {
  const db = await request(indexedDB.open('pocketvec-test'));
  const tx = db.transaction(['manifests', 'chunks'], 'readwrite');
  const result = await fn({ manifests: tx.objectStore('manifests'), chunks: tx.objectStore('chunks') });
  await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onabort = () => reject(tx.error); });
  db.close();
  return result;
}

async function expectCorrupt(promise, pattern) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof PocketvecError, `${err}`);
    assert.equal(err.code, 'corrupt_data', err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

/** Makes fake-indexeddb's put() misbehave from its `nth` call on, for the duration of `fn`. */
async function withFailingPut(nth, failure, fn) {
  const original = IDBObjectStore.prototype.put;
  let calls = 0;
  IDBObjectStore.prototype.put = function put(...args) {
    calls += 1;
    if (calls === nth) return failure.call(this, () => original.apply(this, args), args[1]);
    return original.apply(this, args);
  };
  try {
    return await fn();
  } finally {
    IDBObjectStore.prototype.put = original;
  }
}

/** CRC-32 (zlib), what saves before the streaming store put in their manifests. */
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

test('the test\'s crc32 matches the standard check value', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});

describe('IndexedDB: round trips', () => {
  test('save then load gives the same bytes and the same answers', async () => {
    const { store } = freshStore();
    const index = await sampleIndex(1);
    await index.save('notes', { store, chunkSize: 4096 }); // several chunks
    const again = await Index.load('notes', { store });
    assert.ok(again instanceof Index);
    assert.deepEqual(again.toBytes(), index.toBytes());
    const queries = randomVectors(5, dim, 2);
    for (let q = 0; q < 5; q++) assert.deepEqual(again.search(row(queries, dim, q), 10), index.search(row(queries, dim, q), 10));
    index.dispose();
    again.dispose();
  });

  test('a single-chunk save (default 1 MiB chunks) round-trips too', async () => {
    const { store } = freshStore();
    const index = await sampleIndex(3, 50);
    await index.save('small', { store });
    assert.deepEqual((await Index.load('small', { store })).toBytes(), index.toBytes());
  });

  test('load of a missing name is null; list and remove', async () => {
    const { store } = freshStore();
    assert.equal(await Index.load('nothing', { store }), null);
    assert.deepEqual(await Index.list({ store }), []);
    const index = await sampleIndex(4, 20);
    await index.save('b', { store });
    await index.save('a', { store });
    assert.deepEqual(await Index.list({ store }), ['a', 'b']);
    assert.equal(await Index.remove('a', { store }), true);
    assert.equal(await Index.remove('a', { store }), false);
    assert.deepEqual(await Index.list({ store }), ['b']);
    assert.equal(await Index.load('a', { store }), null);
  });

  test('overwriting replaces the copy and deletes the old generation\'s chunks', async () => {
    const { indexedDB, store } = freshStore();
    const first = await sampleIndex(5, 400);
    const second = await sampleIndex(6, 100);
    await first.save('notes', { store, chunkSize: 1000 });
    await second.save('notes', { store, chunkSize: 1000, overwrite: true });
    assert.deepEqual((await Index.load('notes', { store })).toBytes(), second.toBytes());
    const chunks = await raw(indexedDB, ({ chunks }) => request(chunks.count(CHUNK_KEYS)));
    assert.equal(chunks, Math.ceil(second.toBytes().length / 1000));
    await Index.remove('notes', { store });
    assert.equal(await raw(indexedDB, ({ chunks }) => request(chunks.count(CHUNK_KEYS))), 0);
  });

  test('names are validated', async () => {
    const { store } = freshStore();
    const index = await sampleIndex(7, 5);
    for (const name of ['', 3, undefined, Symbol('x'), 10n, {}]) {
      await assert.rejects(index.save(name, { store }), (err) => err.code === 'invalid_argument');
      await assert.rejects(Index.load(name, { store }), (err) => err.code === 'invalid_argument');
    }
  });

  test('without IndexedDB the error says how to provide one', async () => {
    const index = await sampleIndex(8, 5);
    assert.equal(globalThis.indexedDB, undefined);
    await assert.rejects(index.save('x'), (err) => err.code === 'io_error' && /fake-indexeddb/.test(err.message));
  });
});

describe('IndexedDB: streaming', () => {
  test('a save made before the streaming store (JS CRC-32 per chunk in the manifest) still loads', async () => {
    const { indexedDB, store } = freshStore();
    const index = await sampleIndex(21, 300);
    const bytes = index.toBytes();
    const chunkSize = 1500;
    const chunkCount = Math.ceil(bytes.length / chunkSize);
    const checksums = [];
    await store.list(); // creates the database
    await raw(indexedDB, async ({ manifests, chunks }) => {
      for (let i = 0; i < chunkCount; i++) {
        const chunk = bytes.slice(i * chunkSize, (i + 1) * chunkSize);
        checksums.push(crc32(chunk));
        await request(chunks.put(chunk, ['old', 3, i]));
      }
      await request(manifests.put({ name: 'old', generation: 3, byteLength: bytes.length, chunkSize, chunkCount, checksums, savedAt: 1 }));
    });
    const again = await Index.load('old', { store });
    assert.deepEqual(again.toBytes(), bytes);
    // Saving over it writes the new manifest (no checksums) and deletes the old chunks.
    await again.save('old', { store, chunkSize });
    const manifest = await raw(indexedDB, ({ manifests }) => request(manifests.get('old')));
    assert.ok(manifest.generation > 3, 'above the old copy (a database without a counter starts it from the clock)');
    assert.equal(manifest.checksums, undefined);
    assert.equal(await raw(indexedDB, ({ chunks }) => request(chunks.count(CHUNK_KEYS))), chunkCount);
    assert.deepEqual((await Index.load('old', { store })).toBytes(), bytes);
  });

  test('chunks are the bytes of toBytes(), each a separate copy of chunkSize bytes', async () => {
    const { indexedDB, store } = freshStore();
    const index = await sampleIndex(22, 300);
    const bytes = index.toBytes();
    for (const chunkSize of [1, 97, 4096, bytes.length, bytes.length + 1]) {
      if (chunkSize === 1) continue; // (thousands of records: covered by the C++ tests)
      await index.save('c', { store, chunkSize, full: true });
      const parts = await raw(indexedDB, async ({ chunks }) => request(chunks.getAll(CHUNK_KEYS)));
      assert.equal(parts.length, Math.ceil(bytes.length / chunkSize));
      for (const p of parts) assert.equal(p.buffer.byteLength, p.length, 'a chunk is its own buffer, not a view of the heap');
      const all = new Uint8Array(bytes.length);
      let at = 0;
      for (const p of parts) { all.set(p, at); at += p.length; }
      assert.deepEqual(all, bytes);
      assert.deepEqual((await Index.load('c', { store })).toBytes(), bytes);
    }
  });

  test('get() without onChunk returns the bytes; with it, hands over each chunk in order', async () => {
    const { store } = freshStore();
    const index = await sampleIndex(23, 200);
    await index.save('g', { store, chunkSize: 1000 });
    const bytes = await store.get('g');
    assert.deepEqual(bytes, index.toBytes());
    const seen = [];
    assert.equal(await store.get('g', { onChunk: (c) => seen.push(c.length) }), true);
    assert.deepEqual(seen, Array.from({ length: Math.ceil(bytes.length / 1000) }, (_, i) => Math.min(1000, bytes.length - i * 1000)));
    assert.equal(await store.get('none', { onChunk: () => {} }), null);
  });

  test('a save whose writer fails part-way through its chunks leaves the previous save loadable', async () => {
    const { indexedDB, store } = freshStore();
    const old = await sampleIndex(24, 300);
    await old.save('notes', { store, chunkSize: 512 });
    const before = await raw(indexedDB, ({ chunks }) => request(chunks.count(CHUNK_KEYS)));
    let ended = 0;
    const failing = (size) => {
      let n = 0;
      return {
        length: 10 * size,
        next: () => { if (++n === 4) throw new PocketvecError('out_of_memory', 'simulated'); return new Uint8Array(size); },
        end: () => { ended += 1; },
      };
    };
    await assert.rejects(store.put('notes', failing, { chunkSize: 512, overwrite: true }), (err) => err.code === 'out_of_memory');
    assert.equal(ended, 1, 'the writer is ended');
    assert.deepEqual((await Index.load('notes', { store })).toBytes(), old.toBytes());
    assert.equal(await raw(indexedDB, ({ chunks }) => request(chunks.count(CHUNK_KEYS))), before);
  });

  test('a save aborted when its transaction starts leaves the previous save loadable', async () => {
    const { store } = freshStore();
    const old = await sampleIndex(27, 300);
    await old.save('notes', { store, chunkSize: 512 });
    const bigger = await sampleIndex(25, 600);
    const controller = new AbortController();
    await assert.rejects(bigger.save('notes', {
      store, chunkSize: 512, overwrite: true, signal: controller.signal, onProgress: () => controller.abort(),
    }), (err) => err.code === 'aborted');
    assert.deepEqual((await Index.load('notes', { store })).toBytes(), old.toBytes());
    // The index can be saved (and changed) afterwards: no writer was left open.
    bigger.insert(new Float32Array(dim).fill(0.5));
    await bigger.save('notes', { store, overwrite: true });
    assert.deepEqual((await Index.load('notes', { store })).toBytes(), bigger.toBytes());
  });

  test('a corrupt chunk stops the load at once and leaves no index behind', async () => {
    const { indexedDB, store } = freshStore();
    const index = await sampleIndex(26, 300);
    await index.save('x', { store, chunkSize: 256 });
    const manifest = await raw(indexedDB, ({ manifests }) => request(manifests.get('x')));
    await raw(indexedDB, async ({ chunks }) => {
      const chunk = await request(chunks.get(['x', manifest.generation, 0]));
      chunk[0] = 0; // the magic
      await request(chunks.put(chunk, ['x', manifest.generation, 0]));
    });
    let handed = 0;
    await expectCorrupt(store.get('x', { onChunk: () => { handed += 1; if (handed === 1) throw new PocketvecError('corrupt_data', 'stop'); } }), /stop/);
    assert.equal(handed, 1);
    await expectCorrupt(Index.load('x', { store }), /bad magic/);
  });
});

describe('IndexedDB: a failed save keeps the previous copy', () => {
  const quota = () => new DOMException('simulated quota', 'QuotaExceededError');
  const failures = {
    // [how put fails, the code, whether the cause is the DOMException `quota()` made]
    'put throws QuotaExceededError': [() => { throw quota(); }, 'quota_exceeded'],
    // The request fails later, with the transaction's own error something else (here ConstraintError):
    // what engines whose tx.error is null or a bare AbortError look like.
    'a put request fails with QuotaExceededError (asynchronously)': [function requestError(put) {
      put();
      const req = this.add(new Uint8Array(1), arguments[1]); // the key exists now: fails, and aborts the transaction
      const error = quota();
      Object.defineProperty(req, 'error', { get: () => error, set() {} });
      return req;
    }, 'quota_exceeded'],
    'the transaction aborts with QuotaExceededError, no request failing': [function txError(put) {
      const req = put();
      const error = quota();
      Object.defineProperty(this.transaction, 'error', { get: () => error, set() {} });
      this.transaction.abort();
      return req;
    }, 'quota_exceeded'],
    'the transaction aborts midway (tab closed)': [function abortAfter(put) {
      const req = put();
      this.transaction.abort();
      return req;
    }, 'io_error'],
  };
  for (const [what, [failure, code]] of Object.entries(failures)) {
    test(what, async () => {
      const { indexedDB, store } = freshStore();
      const old = await sampleIndex(9, 300);
      await old.save('notes', { store, chunkSize: 2048 });
      const chunksBefore = await raw(indexedDB, ({ chunks }) => request(chunks.count(CHUNK_KEYS)));
      const bigger = await sampleIndex(10, 600);
      await withFailingPut(3, function fail(put, key) { return failure.call(this, put, key); }, async () => {
        await assert.rejects(bigger.save('notes', { store, chunkSize: 2048, overwrite: true }), (err) => {
          assert.ok(err instanceof PocketvecError);
          assert.equal(err.code, code, err.message);
          assert.match(err.message, /saving "notes".*previously saved copy.*unchanged/);
          if (code === 'quota_exceeded') {
            assert.ok(err.cause instanceof DOMException && err.cause.name === 'QuotaExceededError', `cause ${err.cause}`);
            assert.equal(err.cause.message, 'simulated quota');
            assert.match(err.message, /over the storage quota: QuotaExceededError: simulated quota/);
          }
          return true;
        });
      });
      assert.deepEqual((await Index.load('notes', { store })).toBytes(), old.toBytes());
      assert.equal(await raw(indexedDB, ({ chunks }) => request(chunks.count(CHUNK_KEYS))), chunksBefore, 'no chunk of the failed save remains');
      // The store still works afterwards, and the failed save changed nothing the old index remembers.
      await bigger.save('notes', { store, chunkSize: 2048, overwrite: true });
      assert.deepEqual((await Index.load('notes', { store })).toBytes(), bigger.toBytes());
    });
  }

  test('a failed first save leaves nothing behind', async () => {
    const { store } = freshStore();
    const index = await sampleIndex(11, 300);
    await withFailingPut(2, failures['put throws QuotaExceededError'][0], async () => {
      await assert.rejects(index.save('new', { store, chunkSize: 2048 }), (err) => err.code === 'quota_exceeded');
    });
    assert.equal(await Index.load('new', { store }), null);
    assert.deepEqual(await Index.list({ store }), []);
  });
});

describe('IndexedDB: corruption is reported', () => {
  async function saved() {
    const { indexedDB, store } = freshStore();
    const index = await sampleIndex(12, 300);
    await index.save('notes', { store, chunkSize: 2048 });
    const manifest = await raw(indexedDB, ({ manifests }) => request(manifests.get('notes')));
    return { indexedDB, store, manifest, key: (i) => ['notes', manifest.generation, i] };
  }

  test('a flipped bit in any chunk fails the format\'s own checksum (CRC-32C, computed in WASM)', async () => {
    const { indexedDB, store, manifest, key } = await saved();
    for (let i = 0; i < manifest.chunkCount; i++) {
      const at = (i * 977) % 2048;
      const flip = () => raw(indexedDB, async ({ chunks }) => {
        const chunk = await request(chunks.get(key(i)));
        chunk[Math.min(at, chunk.length - 1)] ^= 1 << (i % 8);
        await request(chunks.put(chunk, key(i)));
      });
      await flip();
      await expectCorrupt(Index.load('notes', { store }), /corrupt index bytes/);
      await flip(); // undone: loads again
      assert.ok(await Index.load('notes', { store }));
    }
  });

  test('swapped chunks are refused', async () => {
    const { indexedDB, store, key } = await saved();
    await raw(indexedDB, async ({ chunks }) => {
      const [a, b] = [await request(chunks.get(key(1))), await request(chunks.get(key(2)))];
      await request(chunks.put(b, key(1)));
      await request(chunks.put(a, key(2)));
    });
    await expectCorrupt(Index.load('notes', { store }), /corrupt index bytes/);
  });

  test('a missing chunk', async () => {
    const { indexedDB, store, key } = await saved();
    await raw(indexedDB, ({ chunks }) => request(chunks.delete(key(0))));
    await expectCorrupt(Index.load('notes', { store }), /chunk 1 of \d+ is missing/);
  });

  test('a truncated chunk', async () => {
    const { indexedDB, store, key } = await saved();
    await raw(indexedDB, async ({ chunks }) => {
      const chunk = await request(chunks.get(key(2)));
      await request(chunks.put(chunk.subarray(0, 10).slice(), key(2)));
    });
    await expectCorrupt(Index.load('notes', { store }), /chunk 3 of \d+ holds 10 bytes, expected 2048/);
  });

  test('a malformed manifest is a conflict for a save, and a save with overwrite replaces it', async () => {
    const { indexedDB, store, manifest } = await saved();
    await raw(indexedDB, ({ manifests }) => request(manifests.put({ ...manifest, generation: 'x' })));
    const index = await sampleIndex(13, 100);
    await assert.rejects(index.save('notes', { store }), (err) => err.code === 'conflict');
    const g = await index.save('notes', { store, overwrite: true });
    assert.ok(Number.isSafeInteger(g), `${g}`);
    assert.deepEqual((await Index.load('notes', { store })).toBytes(), index.toBytes());
    index.dispose();
  });

  test('a malformed manifest', async () => {
    const { indexedDB, store, manifest } = await saved();
    await raw(indexedDB, ({ manifests }) => request(manifests.put({ ...manifest, chunkCount: 1 })));
    await expectCorrupt(Index.load('notes', { store }), /manifest is malformed/);
  });

  test('a manifest whose checksums are not an array of one per chunk', async () => {
    const { indexedDB, store, manifest } = await saved();
    await raw(indexedDB, ({ manifests }) => request(manifests.put({ ...manifest, checksums: [1] })));
    await expectCorrupt(Index.load('notes', { store }), /manifest is malformed/);
  });

  test('bytes that pass the chunk checks but not the format are corrupt_data from the C++ loader', async () => {
    const { store } = freshStore();
    await store.put('garbage', new Uint8Array(5000).fill(0x5a));
    await expectCorrupt(Index.load('garbage', { store }), /./);
  });
});

describe('IndexedDB: two tabs (two Index objects, two IdbStore objects on one database)', () => {
  /** Two stores on one database, as two tabs would each open it. */
  function twoTabs() {
    const { indexedDB, store } = freshStore();
    return { indexedDB, tab1: store, tab2: openStore({ indexedDB, dbName: 'pocketvec-test' }) };
  }
  const isConflict = (generation) => (err) => {
    assert.ok(err instanceof PocketvecError, `${err}`);
    assert.equal(err.code, 'conflict', err.message);
    assert.match(err.message, new RegExp(`^"notes" in IndexedDB "pocketvec-test" is generation ${generation}, .*pass \\{ overwrite: true \\}`));
    return true;
  };

  test('a save over a copy saved elsewhere since this index loaded it is a conflict; overwrite replaces it', async () => {
    const { indexedDB, tab1, tab2 } = twoTabs();
    const first = await sampleIndex(31, 200);
    const g1 = await first.save('notes', { store: tab1 });
    assert.ok(Number.isSafeInteger(g1) && g1 > Date.now(), `a first generation comes from the clock, got ${g1}`);
    const a = await Index.load('notes', { store: tab1 });
    const b = await Index.load('notes', { store: tab2 });
    a.insert(new Float32Array(dim).fill(0.1));
    b.insert(new Float32Array(dim).fill(0.2));
    b.insert(new Float32Array(dim).fill(0.3));
    assert.equal(await a.save('notes', { store: tab1, chunkSize: 1000 }), g1 + 1);
    const chunksBefore = await raw(indexedDB, ({ chunks }) => request(chunks.count(CHUNK_KEYS)));
    await assert.rejects(b.save('notes', { store: tab2, chunkSize: 500 }), isConflict(g1 + 1));
    assert.equal(await raw(indexedDB, ({ chunks }) => request(chunks.count(CHUNK_KEYS))), chunksBefore, 'the conflicting save wrote no chunk');
    assert.deepEqual((await Index.load('notes', { store: tab2 })).toBytes(), a.toBytes(), 'A\'s copy is there, byte for byte');
    // B's own generation is still g1: another try conflicts again; overwrite replaces.
    await assert.rejects(b.save('notes', { store: tab2 }), isConflict(g1 + 1));
    assert.equal(await b.save('notes', { store: tab2, overwrite: true }), g1 + 2);
    assert.deepEqual((await Index.load('notes', { store: tab1 })).toBytes(), b.toBytes());
    await assert.rejects(a.save('notes', { store: tab1 }), isConflict(g1 + 2));
    // A store object of its own for the same database is the same copy: B saves on through tab1.
    assert.equal(await b.save('notes', { store: tab1 }), g1 + 3);
    for (const i of [first, a, b]) i.dispose();
  });

  test('a fresh index (create, fromBytes) saving over an existing name is a conflict; after remove it saves', async () => {
    const { tab1, tab2 } = twoTabs();
    const saved = await sampleIndex(32, 100);
    const g = await saved.save('notes', { store: tab1 });
    const fresh = await sampleIndex(33, 50);
    await assert.rejects(fresh.save('notes', { store: tab2 }), isConflict(g));
    // toBytes/fromBytes carry no generation: the copy is a new index as far as saves go.
    const copy = await Index.fromBytes(saved.toBytes());
    await assert.rejects(copy.save('notes', { store: tab1 }), isConflict(g));
    assert.deepEqual((await Index.load('notes', { store: tab1 })).toBytes(), saved.toBytes());
    assert.equal(await Index.remove('notes', { store: tab2 }), true);
    const g2 = await fresh.save('notes', { store: tab2 });
    assert.notEqual(g2, g, 'a generation after a remove is not the one before');
    // The index that saved before the remove: the copy there now is not its own.
    await assert.rejects(saved.save('notes', { store: tab1 }), isConflict(g2));
    assert.deepEqual((await Index.load('notes', { store: tab1 })).toBytes(), fresh.toBytes());
    for (const i of [saved, fresh, copy]) i.dispose();
  });

  test('saves of one index that overlap (not awaited) are not a conflict with each other', async () => {
    const { tab1, tab2 } = twoTabs();
    const index = await sampleIndex(35, 100);
    // (Each store has its own connection: the transactions may run in another order than the calls.)
    const [g1, g2, g3] = (await Promise.all([index.save('notes', { store: tab1 }), index.save('notes', { store: tab2 }),
      index.save('notes', { store: tab1 })])).sort((x, y) => x - y);
    assert.deepEqual([g2 - g1, g3 - g1], [1, 2]);
    const other = await sampleIndex(36, 100);
    const results = await Promise.allSettled([index.save('notes', { store: tab1 }), other.save('notes', { store: tab1 })]);
    assert.deepEqual(results.map((r) => r.value ?? r.reason.code), [g3 + 1, 'conflict']);
    index.dispose();
    other.dispose();
  });

  test('put() checks expectGeneration and overwrite, and resolves to the new generation', async () => {
    const { tab1 } = twoTabs();
    const g = await tab1.put('raw', new Uint8Array(10));
    await assert.rejects(tab1.put('raw', new Uint8Array(10)), (err) => err.code === 'conflict');
    await assert.rejects(tab1.put('raw', new Uint8Array(10), { expectGeneration: g - 1 }), (err) => err.code === 'conflict');
    assert.equal(await tab1.put('raw', new Uint8Array(11), { expectGeneration: g }), g + 1);
    assert.equal(await tab1.put('raw', new Uint8Array(12), { overwrite: true }), g + 2);
    assert.equal((await tab1.get('raw')).length, 12);
    for (const bad of [{ overwrite: 1 }, { expectGeneration: 1.5 }, { expectGeneration: '3' }]) {
      await assert.rejects(tab1.put('raw', new Uint8Array(1), bad), (err) => err.code === 'invalid_argument');
    }
    let seen;
    assert.equal(await tab1.get('raw', { onGeneration: (x) => { seen = x; } }).then((b) => b.length), 12);
    assert.equal(seen, g + 2);
  });

  test('watch() hears the saves of other store objects (tabs), not its own; the unsubscribe stops it', async () => {
    const { tab1, tab2 } = twoTabs();
    const heard1 = [];
    const heard2 = [];
    const stop1 = tab1.watch((m) => heard1.push(m));
    const stop2 = tab2.watch((m) => heard2.push(m));
    // A plain channel sees every save: when it has seen one, the watchers have had their chance.
    const all = new BroadcastChannel('pocketvec:pocketvec-test');
    const posted = [];
    const next = () => new Promise((resolve) => { all.onmessage = (e) => { posted.push(e.data); resolve(e.data); }; });
    try {
      const index = await sampleIndex(34, 50);
      let message = next();
      const g1 = await index.save('notes', { store: tab1 });
      assert.deepEqual(await message, { dbName: 'pocketvec-test', name: 'notes', generation: g1, source: tab1.source });
      message = next();
      const g2 = await tab2.put('other', new Uint8Array(3));
      await message;
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(heard1, [{ dbName: 'pocketvec-test', name: 'other', generation: g2, source: tab2.source }]);
      assert.deepEqual(heard2, [{ dbName: 'pocketvec-test', name: 'notes', generation: g1, source: tab1.source }]);
      // A failed save posts nothing; a message that is not a save is ignored.
      await assert.rejects(tab2.put('notes', new Uint8Array(3)), (err) => err.code === 'conflict');
      const other = new BroadcastChannel('pocketvec:pocketvec-test');
      other.postMessage('junk');
      other.close();
      stop2();
      stop2(); // idempotent
      message = next();
      const g3 = await index.save('notes', { store: tab1 });
      await message;
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(heard2.length, 1, 'tab 2 stopped listening');
      assert.equal(heard1.length, 1, 'tab 1 does not hear its own save');
      assert.deepEqual(posted.map((m) => m.generation ?? m), [g1, g2, 'junk', g3]);
      assert.throws(() => tab1.watch('not a function'), (err) => err.code === 'invalid_argument');
      index.dispose();
    } finally {
      stop1();
      stop2();
      all.close();
    }
  });
});

describe('storage persistence: persist() and storageInfo()', () => {
  test('without navigator.storage (Node) they resolve to supported: false', async () => {
    assert.equal(globalThis.navigator?.storage, undefined);
    const none = { supported: false, persisted: false, usage: undefined, quota: undefined };
    assert.deepEqual(await persist(), none);
    assert.deepEqual(await storageInfo(), none);
  });

  test('with navigator.storage: persist() asks, storageInfo() only reads; a failure is io_error', async () => {
    const calls = [];
    const storage = {
      persist: async () => { calls.push('persist'); return true; },
      persisted: async () => { calls.push('persisted'); return false; },
      estimate: async () => ({ usage: 10, quota: 100, usageDetails: {} }),
    };
    const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { storage }, configurable: true });
    try {
      assert.deepEqual(await storageInfo(), { supported: true, persisted: false, usage: 10, quota: 100 });
      assert.deepEqual(await persist(), { supported: true, persisted: true, usage: 10, quota: 100 });
      assert.deepEqual(calls, ['persisted', 'persist']);
      const denied = new DOMException('no', 'NotAllowedError');
      storage.persist = async () => { throw denied; };
      await assert.rejects(persist(), (err) => err instanceof PocketvecError && err.code === 'io_error' && err.cause === denied);
    } finally {
      if (had) Object.defineProperty(globalThis, 'navigator', had);
      else delete globalThis.navigator;
    }
  });
});
