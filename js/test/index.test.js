// The Index API in Node, against a brute-force oracle: inserts, upserts, batches, search, delete,
// compact, properties, byte round trips, dispose and memory growth.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Index } from 'pocketvec';
import { assertSameHits, bruteForce, randomVectors, row } from './helpers.js';

const METRICS = ['l2', 'cosine', 'ip'];

describe('Index: batches larger than one piece', () => {
  test('go over in pieces and build exactly what inserting one by one builds', async () => {
    // dim 1024: pieces of 256 rows, so 600 rows are three pieces (256, 256, 88).
    const dim = 1024, n = 600;
    const flat = randomVectors(n, dim, 31);
    const batched = await Index.create({ dim, m: 8, efConstruction: 32 });
    const single = await Index.create({ dim, m: 8, efConstruction: 32 });
    const ids = batched.insertBatch(flat);
    assert.deepEqual([...ids], Array.from({ length: n }, (_, i) => i));
    // Room was reserved once for all rows, and the 1 MiB staging piece is not kept afterwards:
    // what memoryBytes counts beyond the vectors is the graph and small buffers (about 28 KB measured;
    // keeping the piece would add 1 MiB).
    const overhead = batched.memoryBytes - n * dim * 4;
    assert.ok(overhead > 0 && overhead < 256 * 1024, `overhead ${overhead} bytes`);
    for (let i = 0; i < n; i++) single.insert(row(flat, dim, i));
    assert.deepEqual(batched.toBytes(), single.toBytes());
    // A second large batch continues the ids.
    const more = batched.insertBatch(randomVectors(300, dim, 32));
    assert.equal(more[0], n);
    assert.equal(more[299], n + 299);
    assert.equal(batched.size, n + 300);
    for (const i of [0, 255, 256, 511, 512, 599]) assert.deepEqual(batched.get(i), row(flat, dim, i));
    batched.dispose();
    single.dispose();
  });
});

describe('Index: search matches brute force', () => {
  for (const metric of METRICS) {
    test(`${metric}: insertBatch then search returns the exact top 10`, async () => {
      const dim = 16, n = 300;
      const index = await Index.create({ dim, metric, seed: 7 });
      const flat = randomVectors(n, dim, 1);
      const ids = index.insertBatch(flat);
      assert.ok(ids instanceof Uint32Array);
      assert.equal(ids.length, n);
      assert.equal(new Set(ids).size, n, 'ids are distinct');
      const model = new Map([...ids].map((id, i) => [id, row(flat, dim, i)]));
      const queries = randomVectors(20, dim, 2);
      for (let q = 0; q < 20; q++) {
        const query = row(queries, dim, q);
        // ef >= n: the beam covers the whole graph, so the answer must be exact.
        assertSameHits(assert, index.search(query, 10, { ef: 400 }), bruteForce(metric, model, query, 10));
      }
      index.dispose();
    });
  }

  test('k larger than the index returns every live vector', async () => {
    const index = await Index.create({ dim: 4 });
    const flat = randomVectors(5, 4, 3);
    index.insertBatch(flat);
    assert.equal(index.search(row(flat, 4, 0), 50).length, 5);
    assert.equal(index.search(row(flat, 4, 0), 50)[0].distance, 0);
    index.dispose();
  });

  test('search k defaults to 10 and the nearest of an inserted vector is itself', async () => {
    const dim = 8;
    const index = await Index.create({ dim });
    const flat = randomVectors(40, dim, 4);
    const ids = index.insertBatch(flat);
    const hits = index.search(row(flat, dim, 17));
    assert.equal(hits.length, 10);
    assert.equal(hits[0].id, ids[17]);
    assert.equal(hits[0].distance, 0);
    index.dispose();
  });
});

describe('Index: ids, upsert, delete, compact', () => {
  test('insert returns distinct ids; insert(vec, id) upserts under the chosen id', async () => {
    const dim = 3;
    const index = await Index.create({ dim, compactThreshold: 0 });
    const a = index.insert(new Float32Array([1, 0, 0]));
    const b = index.insert(new Float32Array([0, 1, 0]));
    assert.notEqual(a, b);
    assert.equal(index.insert(new Float32Array([0, 0, 1]), 1000), 1000);
    assert.equal(index.size, 3);
    assert.deepEqual(index.search(new Float32Array([0, 0, 0.9]), 1).map((h) => h.id), [1000]);
    // Replacing moves the vector: the old position no longer finds id 1000.
    index.insert(new Float32Array([5, 5, 5]), 1000);
    assert.equal(index.size, 3);
    assert.deepEqual([...index.get(1000)], [5, 5, 5]);
    assert.notEqual(index.search(new Float32Array([0, 0, 0.9]), 1)[0].id, 1000);
    // The largest usable id.
    assert.equal(index.insert(new Float32Array([9, 9, 9]), 0xfffffffe), 0xfffffffe);
    assert.ok(index.has(0xfffffffe));
    index.dispose();
  });

  test('delete hides a vector, compact drops its tombstone, ids survive compact', async () => {
    const dim = 8, n = 50;
    const index = await Index.create({ dim, compactThreshold: 0 });
    const flat = randomVectors(n, dim, 5);
    const ids = index.insertBatch(flat);
    const model = new Map([...ids].map((id, i) => [id, row(flat, dim, i)]));
    for (const i of [0, 3, 4, 10, 49]) {
      index.delete(ids[i]);
      model.delete(ids[i]);
      assert.equal(index.has(ids[i]), false);
    }
    assert.equal(index.size, n - 5);
    assert.equal(index.deletedCount, 5);
    assert.equal(index.tombstoneRatio, 5 / n);
    const query = row(flat, dim, 3);
    assertSameHits(assert, index.search(query, n, { ef: 100 }), bruteForce('l2', model, query, n));
    index.compact();
    assert.equal(index.size, n - 5);
    assert.equal(index.deletedCount, 0);
    assert.equal(index.tombstoneRatio, 0);
    assertSameHits(assert, index.search(query, n, { ef: 100 }), bruteForce('l2', model, query, n));
    assert.deepEqual(index.get(ids[7]), row(flat, dim, 7));
    index.dispose();
  });

  test('deleting past compactThreshold asks for compact() and never compacts by itself', async () => {
    const dim = 4;
    const flat = randomVectors(100, dim, 6);
    const index = await Index.create({ dim, compactThreshold: 0.3 });
    const ids = index.insertBatch(flat);
    for (const id of ids.slice(0, 30)) index.delete(id);
    assert.equal(index.needsCompaction, false);  // 30 % is not past 30 %
    for (const id of ids.slice(30, 80)) index.delete(id);
    assert.equal(index.needsCompaction, true);
    assert.equal(index.deletedCount, 80);  // still tombstones
    index.compact();
    assert.equal(index.deletedCount, 0);
    assert.equal(index.needsCompaction, false);
    assert.equal(index.size, 20);
    const model = new Map([...ids.slice(80)].map((id) => [id, row(flat, dim, id)]));
    const query = row(flat, dim, 90);
    assertSameHits(assert, index.search(query, 20, { ef: 100 }), bruteForce('l2', model, query, 20));
    assert.throws(() => index.get(ids[0]), (e) => e.code === 'unknown_id');
    // rebuild() answers the same survivors and keeps the ids.
    index.rebuild();
    assertSameHits(assert, index.search(query, 20, { ef: 100 }), bruteForce('l2', model, query, 20));
    assert.deepEqual(index.get(ids[99]), row(flat, dim, 99));
    index.dispose();
  });

  test('get returns the stored vector (normalised under cosine)', async () => {
    const l2 = await Index.create({ dim: 2 });
    const cos = await Index.create({ dim: 2, metric: 'cosine' });
    assert.deepEqual([...l2.get(l2.insert(new Float32Array([3, 4])))], [3, 4]);
    const got = cos.get(cos.insert(new Float32Array([3, 4])));
    assert.ok(Math.abs(got[0] - 0.6) < 1e-6 && Math.abs(got[1] - 0.8) < 1e-6, `${got}`);
    l2.dispose();
    cos.dispose();
  });

  test('has() is false for unknown, deleted and non-integer ids', async () => {
    const index = await Index.create({ dim: 2, compactThreshold: 0 });
    const id = index.insert(new Float32Array([1, 1]));
    assert.equal(index.has(id), true);
    assert.equal(index.has(id + 1), false);
    assert.equal(index.has(-1), false);
    assert.equal(index.has(0.5), false);
    index.delete(id);
    assert.equal(index.has(id), false);
    index.dispose();
  });
});

describe('Index: SQ8 quantization', () => {
  test('sq8 search keeps recall@10 >= 0.9 against exact brute force, in about half the memory', async () => {
    const dim = 128, n = 1000;
    const flat = randomVectors(n, dim, 40);
    const sq8 = await Index.create({ dim, quantization: 'sq8', sq8TrainingSize: 200 });
    const f32 = await Index.create({ dim });
    assert.equal(sq8.quantization, 'sq8');
    const ids = sq8.insertBatch(flat);
    f32.insertBatch(flat);
    const model = new Map([...ids].map((id, i) => [id, row(flat, dim, i)]));
    const queries = randomVectors(20, dim, 41);
    let found = 0;
    for (let q = 0; q < 20; q++) {
      const query = row(queries, dim, q);
      const exact = new Set(bruteForce('l2', model, query, 10).map((h) => h.id));
      found += sq8.search(query, 10, { ef: 200 }).filter((h) => exact.has(h.id)).length;
    }
    assert.ok(found / 200 >= 0.9, `recall@10 ${found / 200}`);
    assert.ok(sq8.memoryBytes < 0.7 * f32.memoryBytes, `sq8 ${sq8.memoryBytes} B vs f32 ${f32.memoryBytes} B`);
    // get() decodes: within one quantization step of the input (range [-1, 1) over 255 steps).
    const decoded = sq8.get(ids[3]);
    row(flat, dim, 3).forEach((x, i) => assert.ok(Math.abs(decoded[i] - x) <= 2 / 255 + 1e-6, `dim ${i}: ${decoded[i]} vs ${x}`));
    sq8.dispose();
    f32.dispose();
  });

  test('train() takes rows of dim floats on sq8 indexes only', async () => {
    const sq8 = await Index.create({ dim: 4, quantization: 'sq8' });
    sq8.train(randomVectors(50, 4, 42));
    const id = sq8.insert(new Float32Array([0.5, -0.5, 0.25, 0]));
    assert.equal(sq8.search(new Float32Array([0.5, -0.5, 0.25, 0]), 1)[0].id, id);
    assert.throws(() => sq8.train(new Float32Array(6)), (e) => e.code === 'dimension_mismatch');
    const plain = await Index.create({ dim: 4 });
    assert.throws(() => plain.train(randomVectors(50, 4, 42)), (e) => e.code === 'invalid_argument');
    sq8.dispose();
    plain.dispose();
  });

  test('sq8 reports training and clamping; train() again re-learns the ranges and rebuilds the graph', async () => {
    const dim = 8;
    const index = await Index.create({ dim, quantization: 'sq8', sq8TrainingSize: 100, compactThreshold: 0 });
    const untrained = { trained: false, encoded: 0, clamped: 0, clampedFraction: 0 };
    assert.deepEqual(index.sq8, untrained);
    const flat = randomVectors(100, dim, 43); // components in [-1, 1)
    const ids = [...index.insertBatch(flat.subarray(0, 99 * dim))];
    assert.deepEqual(index.sq8, untrained, '99 vectors: below sq8TrainingSize, still float32');
    ids.push(index.insert(row(flat, dim, 99))); // the 100th trains the ranges on all 100 and encodes them
    assert.deepEqual(index.sq8, { trained: true, encoded: 100 * dim, clamped: 0, clampedFraction: 0 });

    // 10 vectors whose component 0 is 5, far outside its learned range: one clamped component each
    // (the others are halved, to stay well inside theirs).
    const far = randomVectors(10, dim, 44).map((x) => x / 2);
    for (let i = 0; i < 10; i++) far[i * dim] = 5;
    const farIds = index.insertBatch(far);
    assert.deepEqual(index.sq8, { trained: true, encoded: 110 * dim, clamped: 10, clampedFraction: 10 / (110 * dim) });
    assert.ok(index.get(farIds[0])[0] < 1, 'stored clamped to the end of the range');
    const copy = await Index.fromBytes(index.toBytes());
    assert.deepEqual(copy.sq8, index.sq8, 'the counts are saved with the index');
    copy.dispose();

    // Re-learn the ranges from a sample spanning [-6, 6] in every dimension: every stored vector is
    // re-encoded (from its codes: no re-rank) and the graph is rebuilt, dropping the deleted vector.
    index.delete(ids[0]);
    const sample = new Float32Array(50 * dim);
    sample.set(randomVectors(48, dim, 45).map((x) => 6 * x));
    sample.fill(6, 48 * dim, 49 * dim);
    sample.fill(-6, 49 * dim);
    index.train(sample);
    assert.equal(index.size, 109);
    assert.equal(index.deletedCount, 0);
    assert.deepEqual(index.sq8, { trained: true, encoded: 109 * dim, clamped: 0, clampedFraction: 0 });
    assert.equal(index.has(ids[0]), false);
    // A component clamped before stays clamped; inserting the vector again under its id restores it.
    assert.ok(index.get(farIds[0])[0] < 1.05, `${index.get(farIds[0])[0]}`);
    index.insert(row(far, dim, 0), farIds[0]);
    assert.ok(Math.abs(index.get(farIds[0])[0] - 5) <= 12 / 255 / 2 + 1e-6, `${index.get(farIds[0])[0]}`);
    assert.deepEqual(index.sq8, { trained: true, encoded: 110 * dim, clamped: 0, clampedFraction: 0 });
    assert.equal(index.search(row(far, dim, 0), 1)[0].id, farIds[0]);
    for (const i of [1, 50, 99]) assert.equal(index.search(row(flat, dim, i), 1, { ef: 200 })[0].id, ids[i]);
    index.dispose();
  });
});

describe('Index: properties', () => {
  test('options are reported back, with defaults', async () => {
    const index = await Index.create({ dim: 768, metric: 'cosine', m: 12, efConstruction: 100, efSearch: 32, seed: 9 });
    assert.equal(index.dim, 768);
    assert.equal(index.metric, 'cosine');
    assert.equal(index.quantization, 'none');
    assert.equal(index.m, 12);
    assert.equal(index.efConstruction, 100);
    assert.equal(index.efSearch, 32);
    assert.equal(index.seed, 9);
    assert.equal(index.size, 0);
    assert.equal(index.tombstoneRatio, 0);
    const defaults = await Index.create({ dim: 3 });
    assert.deepEqual([defaults.metric, defaults.quantization, defaults.m, defaults.efConstruction, defaults.efSearch, defaults.seed],
      ['l2', 'none', 16, 200, 64, 42]);
    assert.deepEqual(defaults.sq8, { trained: false, encoded: 0, clamped: 0, clampedFraction: 0 }, 'f32: no quantizer');
    index.dispose();
    defaults.dispose();
  });

  test('memoryBytes grows with the vectors held', async () => {
    const index = await Index.create({ dim: 64 });
    const empty = index.memoryBytes;
    index.insertBatch(randomVectors(1000, 64, 8));
    assert.ok(index.memoryBytes >= empty + 1000 * 64 * 4, `${empty} -> ${index.memoryBytes}`);
    index.dispose();
  });
});

describe('Index: bytes', () => {
  for (const metric of METRICS) {
    test(`${metric}: fromBytes(toBytes()) answers identically and re-serialises to the same bytes`, async () => {
      const dim = 12;
      const index = await Index.create({ dim, metric, compactThreshold: 0, seed: 3 });
      const ids = index.insertBatch(randomVectors(200, dim, 9));
      index.delete(ids[5]);
      index.insert(randomVectors(1, dim, 10), 5000);
      const bytes = index.toBytes();
      assert.ok(bytes instanceof Uint8Array && bytes.length > 200 * dim * 4);
      const copy = await Index.fromBytes(bytes);
      assert.deepEqual([copy.dim, copy.size, copy.deletedCount, copy.metric, copy.m, copy.seed],
        [index.dim, index.size, index.deletedCount, index.metric, index.m, index.seed]);
      const queries = randomVectors(10, dim, 11);
      for (let q = 0; q < 10; q++) {
        assert.deepEqual(copy.search(row(queries, dim, q), 10), index.search(row(queries, dim, q), 10));
      }
      assert.deepEqual(copy.toBytes(), bytes);
      // An ArrayBuffer and a view at an offset are accepted too.
      const padded = new Uint8Array(bytes.length + 3);
      padded.set(bytes, 3);
      assert.equal((await Index.fromBytes(new DataView(padded.buffer, 3))).size, index.size);
      assert.equal((await Index.fromBytes(bytes.slice().buffer)).size, index.size);
      index.dispose();
      copy.dispose();
    });
  }
});

describe('Index: bytes larger than one 1 MiB piece', () => {
  for (const quantization of ['none', 'sq8']) {
    test(`${quantization}: toBytes() and fromBytes() stream in pieces; every cut and a damaged byte are refused`, async () => {
      const dim = 256;
      const index = await Index.create({ dim, quantization, sq8Rerank: quantization === 'sq8', efConstruction: 16, seed: 4 });
      index.insertBatch(randomVectors(1300, dim, 12));
      const bytes = index.toBytes();
      assert.ok(bytes.length > (1 << 20) + 1000, `${bytes.length} bytes`);
      const copy = await Index.fromBytes(bytes);
      assert.deepEqual(copy.toBytes(), bytes);
      const q = row(randomVectors(1, dim, 13), dim, 0);
      assert.deepEqual(copy.search(q, 10), index.search(q, 10));
      for (const cut of [0, 95, 1 << 20, (1 << 20) + 1, bytes.length - 1]) {
        await assert.rejects(Index.fromBytes(bytes.subarray(0, cut)), (err) => err.code === 'corrupt_data' && /truncated/.test(err.message));
      }
      const damaged = bytes.slice();
      damaged[(1 << 20) + 7] ^= 0x10;
      await assert.rejects(Index.fromBytes(damaged), (err) => err.code === 'corrupt_data');
      const longer = new Uint8Array(bytes.length + 5);
      longer.set(bytes);
      await assert.rejects(Index.fromBytes(longer), (err) => err.code === 'corrupt_data' && /5 trailing bytes/.test(err.message));
      // No save writer is left open after toBytes(): the index still changes and saves.
      index.insert(q);
      assert.equal((await Index.fromBytes(index.toBytes())).size, 1301);
      index.dispose();
      copy.dispose();
    });
  }
});

describe('Index: lifetime and memory', () => {
  test('dispose is idempotent and Symbol.dispose disposes', async () => {
    const index = await Index.create({ dim: 2 });
    assert.equal(index.disposed, false);
    index.dispose();
    index.dispose();
    assert.equal(index.disposed, true);
    const other = await Index.create({ dim: 2 });
    assert.equal(typeof Symbol.dispose, 'symbol', 'Node 20 has Symbol.dispose');
    other[Symbol.dispose]();
    assert.equal(other.disposed, true);
  });

  test('memory() reports the index, the WebAssembly memory and what the allocator holds', async () => {
    const dim = 64;
    const index = await Index.create({ dim });
    const empty = index.memory();
    assert.deepEqual(Object.keys(empty).sort(), ['heapBytes', 'heapUsedBytes', 'indexBytes']);
    assert.equal(empty.indexBytes, index.memoryBytes);
    index.insertBatch(randomVectors(3000, dim, 5));
    const full = index.memory();
    assert.equal(full.indexBytes, index.memoryBytes);
    // The vectors alone are 768 KB: the index holds them, the allocator holds the index, and the
    // WebAssembly memory holds the allocator's bytes (64 KiB pages).
    assert.ok(full.indexBytes >= 3000 * dim * 4, `indexBytes ${full.indexBytes}`);
    assert.ok(full.heapUsedBytes - empty.heapUsedBytes >= full.indexBytes - empty.indexBytes, JSON.stringify({ empty, full }));
    assert.ok(full.heapBytes >= full.heapUsedBytes && full.heapBytes % 65536 === 0, JSON.stringify(full));
    // Disposing gives the index's bytes back to the allocator; the WebAssembly memory never shrinks.
    const other = await Index.create({ dim });
    index.dispose();
    const after = other.memory();
    assert.ok(after.heapUsedBytes <= full.heapUsedBytes - (full.indexBytes - empty.indexBytes), JSON.stringify({ full, after }));
    assert.equal(after.heapBytes, full.heapBytes);
    other.dispose();
  });

  test('the constructor is not public', () => {
    assert.throws(() => new Index(), TypeError);
  });

  test('indexes built while memory grows keep correct data (no stale heap views)', async () => {
    // 4 indexes x 4000 x 256 floats = 16 MB of vectors plus graphs: memory grows several times past its
    // 16 MB start, between staging inputs and reading results back.
    const dim = 256, n = 4000;
    const indexes = [];
    const flats = [];
    for (let j = 0; j < 4; j++) {
      const index = await Index.create({ dim, m: 16, efConstruction: 64 });
      const flat = randomVectors(n, dim, 100 + j);
      // Alternate single inserts and batches so both paths stage while memory grows.
      for (let i = 0; i < 100; i++) assert.equal(index.insert(row(flat, dim, i)), i);
      assert.deepEqual([...index.insertBatch(flat.subarray(100 * dim))], Array.from({ length: n - 100 }, (_, i) => i + 100));
      indexes.push(index);
      flats.push(flat);
      // Memory has just grown: search (which reads results through the module's heap views) must
      // see the current buffer, for the older indexes too.
      assert.deepEqual(indexes[0].search(row(flats[0], dim, 5), 1, { ef: 256 })[0], { id: 5, distance: 0 });
    }
    for (let j = 0; j < 4; j++) {
      for (let i = 0; i < n; i += 7) assert.deepEqual(indexes[j].get(i), row(flats[j], dim, i));
      for (const i of [0, 99, 100, 3000, n - 1]) {
        const hit = indexes[j].search(row(flats[j], dim, i), 1, { ef: 256 })[0];
        assert.deepEqual(hit, { id: i, distance: 0 });
      }
    }
    indexes.forEach((index) => index.dispose());
  });
});

test('an exception while a large insertBatch is set up leaves no batch open', async () => {
  // The result array is allocated in JS; if that throws (a RangeError when memory is short), it must
  // happen before the core batch opens, or every later delete, upsert and compact would be refused.
  const dim = 4096;
  const index = await Index.create({ dim, m: 4, efConstruction: 8, compactThreshold: 0 });
  index.insertBatch(randomVectors(3, dim, 1));
  const flat = randomVectors(100, dim, 2); // more than 1 MiB: the piece path
  const Real = globalThis.Uint32Array;
  globalThis.Uint32Array = function () { throw new RangeError('Array buffer allocation failed'); };
  try {
    assert.throws(() => index.insertBatch(flat), RangeError);
  } finally {
    globalThis.Uint32Array = Real;
  }
  assert.equal(index.size, 3);
  index.delete(0);
  index.insert(flat.subarray(0, dim), 1);
  index.compact();
  assert.equal(index.insertBatch(flat).length, 100);
  assert.equal(index.size, 102);
  index.dispose();
});
