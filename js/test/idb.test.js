// IndexedDB persistence through fake-indexeddb: round trips, list/remove, atomic saves that fail
// midway (the old copy must survive), and corruption reported clearly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IDBFactory, IDBObjectStore } from 'fake-indexeddb';

import { Index, PocketvecError, openStore } from 'pocketvec';
import { randomVectors, row } from './helpers.js';

const dim = 8;

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
    if (calls === nth) return failure.call(this, () => original.apply(this, args));
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
    await second.save('notes', { store, chunkSize: 1000 });
    assert.deepEqual((await Index.load('notes', { store })).toBytes(), second.toBytes());
    const chunks = await raw(indexedDB, ({ chunks }) => request(chunks.count()));
    assert.equal(chunks, Math.ceil(second.toBytes().length / 1000));
    await Index.remove('notes', { store });
    assert.equal(await raw(indexedDB, ({ chunks }) => request(chunks.count())), 0);
  });

  test('names are validated', async () => {
    const { store } = freshStore();
    const index = await sampleIndex(7, 5);
    for (const name of ['', 3, undefined]) {
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
    assert.equal(manifest.generation, 4);
    assert.equal(manifest.checksums, undefined);
    assert.equal(await raw(indexedDB, ({ chunks }) => request(chunks.count())), chunkCount);
    assert.deepEqual((await Index.load('old', { store })).toBytes(), bytes);
  });

  test('chunks are the bytes of toBytes(), each a separate copy of chunkSize bytes', async () => {
    const { indexedDB, store } = freshStore();
    const index = await sampleIndex(22, 300);
    const bytes = index.toBytes();
    for (const chunkSize of [1, 97, 4096, bytes.length, bytes.length + 1]) {
      if (chunkSize === 1) continue; // (thousands of records: covered by the C++ tests)
      await index.save('c', { store, chunkSize });
      const parts = await raw(indexedDB, async ({ chunks }) => request(chunks.getAll()));
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
    const before = await raw(indexedDB, ({ chunks }) => request(chunks.count()));
    let ended = 0;
    const failing = (size) => {
      let n = 0;
      return {
        length: 10 * size,
        next: () => { if (++n === 4) throw new PocketvecError('out_of_memory', 'simulated'); return new Uint8Array(size); },
        end: () => { ended += 1; },
      };
    };
    await assert.rejects(store.put('notes', failing, { chunkSize: 512 }), (err) => err.code === 'out_of_memory');
    assert.equal(ended, 1, 'the writer is ended');
    assert.deepEqual((await Index.load('notes', { store })).toBytes(), old.toBytes());
    assert.equal(await raw(indexedDB, ({ chunks }) => request(chunks.count())), before);
  });

  test('a save aborted when its transaction starts leaves the previous save loadable', async () => {
    const { store } = freshStore();
    const old = await sampleIndex(27, 300);
    await old.save('notes', { store, chunkSize: 512 });
    const bigger = await sampleIndex(25, 600);
    const controller = new AbortController();
    await assert.rejects(bigger.save('notes', {
      store, chunkSize: 512, signal: controller.signal, onProgress: () => controller.abort(),
    }), (err) => err.code === 'aborted');
    assert.deepEqual((await Index.load('notes', { store })).toBytes(), old.toBytes());
    // The index can be saved (and changed) afterwards: no writer was left open.
    bigger.insert(new Float32Array(dim).fill(0.5));
    await bigger.save('notes', { store });
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
  const failures = {
    'put throws QuotaExceededError': () => {
      throw new DOMException('simulated quota', 'QuotaExceededError');
    },
    'the transaction aborts midway (tab closed)': function abortAfter(put) {
      const req = put();
      this.transaction.abort();
      return req;
    },
  };
  for (const [what, failure] of Object.entries(failures)) {
    test(what, async () => {
      const { indexedDB, store } = freshStore();
      const old = await sampleIndex(9, 300);
      await old.save('notes', { store, chunkSize: 2048 });
      const chunksBefore = await raw(indexedDB, ({ chunks }) => request(chunks.count()));
      const bigger = await sampleIndex(10, 600);
      await withFailingPut(3, failure, async () => {
        await assert.rejects(bigger.save('notes', { store, chunkSize: 2048 }), (err) => {
          assert.ok(err instanceof PocketvecError);
          assert.equal(err.code, 'io_error');
          assert.match(err.message, /saving "notes".*previously saved copy.*unchanged/);
          return true;
        });
      });
      assert.deepEqual((await Index.load('notes', { store })).toBytes(), old.toBytes());
      assert.equal(await raw(indexedDB, ({ chunks }) => request(chunks.count())), chunksBefore, 'no chunk of the failed save remains');
      // The store still works afterwards.
      await bigger.save('notes', { store, chunkSize: 2048 });
      assert.deepEqual((await Index.load('notes', { store })).toBytes(), bigger.toBytes());
    });
  }

  test('a failed first save leaves nothing behind', async () => {
    const { store } = freshStore();
    const index = await sampleIndex(11, 300);
    await withFailingPut(2, failures['put throws QuotaExceededError'], async () => {
      await assert.rejects(index.save('new', { store, chunkSize: 2048 }), (err) => err.code === 'io_error');
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
