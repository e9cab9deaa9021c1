// Every error path of the Index API: each one throws a PocketvecError with the right code and a
// useful message, and leaves the index exactly as usable as before.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Index, PocketvecError } from 'pocketvec';
import { randomVectors, row } from './helpers.js';

function expectError(fn, code, pattern) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof PocketvecError, `expected a PocketvecError, got ${err?.name}: ${err?.message}`);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'PocketvecError');
    assert.equal(err.code, code, `code for: ${err.message}`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

async function expectRejection(promise, code, pattern) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof PocketvecError, `expected a PocketvecError, got ${err?.name}: ${err?.message}`);
    assert.equal(err.code, code, `code for: ${err.message}`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

/** A small index plus a snapshot of its answers, to prove an error changed nothing. */
async function fixture(options = {}) {
  const dim = 4;
  const index = await Index.create({ dim, compactThreshold: 0, ...options });
  const flat = randomVectors(30, dim, 21);
  const ids = index.insertBatch(flat);
  const query = row(randomVectors(1, dim, 22), dim, 0);
  const before = { size: index.size, deleted: index.deletedCount, hits: index.search(query, 5), bytes: index.toBytes() };
  const unchanged = () => {
    assert.equal(index.size, before.size);
    assert.equal(index.deletedCount, before.deleted);
    assert.deepEqual(index.search(query, 5), before.hits);
    assert.deepEqual(index.toBytes(), before.bytes);
    // And it still accepts work.
    const id = index.insert(new Float32Array([0.5, 0.5, 0.5, 0.5]));
    assert.ok(index.has(id));
    index.delete(id);
  };
  return { index, ids, dim, unchanged };
}

describe('errors: create', () => {
  const cases = [
    [{}, /dim/],
    [{ dim: 0 }, /dim/],
    [{ dim: 4097 }, /dim/],
    [{ dim: -1 }, /dim/],
    [{ dim: 2.5 }, /dim/],
    [{ dim: '8' }, /dim/],
    [{ dim: 8, metric: 'euclid' }, /metric/],
    [{ dim: 8, metric: 3 }, /metric/],
    [{ dim: 8, quantization: 'pq' }, /quantization/],
    [{ dim: 8, m: 1 }, /m\b/],
    [{ dim: 8, m: 1000 }, /m\b/],
    [{ dim: 8, efConstruction: 0 }, /ef_?construction/i],
    [{ dim: 8, efSearch: 0 }, /ef_?search/i],
    [{ dim: 8, seed: -1 }, /seed/],
    [{ dim: 8, seed: 2 ** 60 }, /seed/],
    [{ dim: 8, compactThreshold: 2 }, /compactThreshold/],
    [{ dim: 8, sq8Rerank: 'yes' }, /sq8Rerank/],
    [{ dim: 8, ef_construction: 100 }, /unknown option 'ef_construction'/],
  ];
  for (const [options, pattern] of cases) {
    test(`rejects ${JSON.stringify(options)}`, async () => {
      await expectRejection(Index.create(options), 'invalid_argument', pattern);
    });
  }
  test('rejects a missing options object', async () => {
    await expectRejection(Index.create(), 'invalid_argument', /dim/);
    await expectRejection(Index.create(null), 'invalid_argument', /dim/);
  });
});

describe('errors: vectors', () => {
  test('wrong length: dimension_mismatch naming both sizes', async () => {
    const { index, unchanged } = await fixture();
    expectError(() => index.insert(new Float32Array(5)), 'dimension_mismatch', /4.*5|5.*4/);
    expectError(() => index.insert(new Float32Array(3), 7), 'dimension_mismatch');
    expectError(() => index.search(new Float32Array(0), 3), 'dimension_mismatch');
    expectError(() => index.insertBatch(new Float32Array(10)), 'dimension_mismatch');
    unchanged();
  });

  test('NaN and Infinity: non_finite', async () => {
    const { index, unchanged } = await fixture();
    expectError(() => index.insert(new Float32Array([1, NaN, 0, 0])), 'non_finite');
    expectError(() => index.insert(new Float32Array([1, 0, Infinity, 0]), 3), 'non_finite');
    expectError(() => index.search(new Float32Array([-Infinity, 0, 0, 0]), 3), 'non_finite');
    unchanged();
  });

  test('a batch with one bad row inserts nothing', async () => {
    const { index, unchanged } = await fixture();
    const flat = randomVectors(10, 4, 23);
    flat[4 * 7 + 2] = NaN;
    expectError(() => index.insertBatch(flat), 'non_finite');
    unchanged();
  });

  test('a batch sent in pieces with one bad row in a later piece inserts nothing and names the row', async () => {
    // dim 4: pieces of 65 536 rows, so 70 000 rows are two pieces; the bad row is in the second.
    const flat = randomVectors(70000, 4, 24);
    flat[4 * 69001 + 1] = Infinity;
    const later = await fixture();
    const memory = later.index.memoryBytes;
    expectError(() => later.index.insertBatch(flat), 'non_finite', /batch row 69001\b/);
    assert.ok(later.index.memoryBytes <= memory, 'the 1 MiB piece is not kept after the error');
    later.unchanged();
    // And in the first piece.
    flat[4 * 69001 + 1] = 0;
    flat[4 * 3 + 0] = NaN;
    const first = await fixture();
    expectError(() => first.index.insertBatch(flat), 'non_finite', /batch row 3\b/);
    first.unchanged();
  });

  test('zero vector under cosine: zero_vector', async () => {
    const { index, unchanged } = await fixture({ metric: 'cosine' });
    expectError(() => index.insert(new Float32Array(4)), 'zero_vector');
    expectError(() => index.search(new Float32Array(4), 3), 'zero_vector');
    unchanged();
  });

  test('not a Float32Array: invalid_argument', async () => {
    const { index, unchanged } = await fixture();
    expectError(() => index.insert([1, 2, 3, 4]), 'invalid_argument', /Float32Array.*Array/);
    expectError(() => index.insert(new Float64Array(4)), 'invalid_argument', /Float64Array/);
    expectError(() => index.insertBatch(null), 'invalid_argument', /null/);
    expectError(() => index.search('query'), 'invalid_argument', /string/);
    unchanged();
  });
});

describe('errors: ids, k and ef', () => {
  test('unknown and deleted ids', async () => {
    const { index, ids, unchanged } = await fixture();
    expectError(() => index.delete(123456), 'unknown_id', /123456/);
    expectError(() => index.get(123456), 'unknown_id', /123456/);
    index.delete(ids[0]);
    expectError(() => index.delete(ids[0]), 'deleted_id');
    expectError(() => index.get(ids[0]), 'deleted_id');
    const revived = randomVectors(1, 4, 30);
    index.insert(revived, ids[0]); // upserting a deleted id revives it
    assert.ok(index.has(ids[0]));
    assert.deepEqual(index.get(ids[0]), revived);
    assert.deepEqual(index.search(revived, 1), [{ id: ids[0], distance: 0 }]);
  });

  test('unknown and deleted ids leave the index unchanged', async () => {
    const { index, ids, unchanged } = await fixture();
    expectError(() => index.delete(123456), 'unknown_id');
    expectError(() => index.get(ids.length + 5), 'unknown_id');
    unchanged();
  });

  test('ids outside u32 or reserved: invalid_argument', async () => {
    const { index, unchanged } = await fixture();
    const v = new Float32Array(4).fill(1);
    for (const id of [-1, 1.5, 2 ** 32, NaN, '3']) {
      expectError(() => index.insert(v, id), 'invalid_argument', /id/);
      expectError(() => index.delete(id), 'invalid_argument', /id/);
    }
    expectError(() => index.insert(v, 0xffffffff), 'invalid_argument'); // reserved by the core
    unchanged();
  });

  test('bad k and ef', async () => {
    const { index, unchanged } = await fixture();
    const q = new Float32Array(4).fill(1);
    expectError(() => index.search(q, 0), 'invalid_argument', /k/);
    expectError(() => index.search(q, -1), 'invalid_argument', /k/);
    expectError(() => index.search(q, 2.5), 'invalid_argument', /k/);
    expectError(() => index.search(q, 3, { ef: -4 }), 'invalid_argument', /ef/);
    unchanged();
  });

  test('search on an empty index: empty_index', async () => {
    const index = await Index.create({ dim: 2, compactThreshold: 0 });
    expectError(() => index.search(new Float32Array(2), 1), 'empty_index');
    const id = index.insert(new Float32Array([1, 2]));
    index.delete(id);
    expectError(() => index.search(new Float32Array(2), 1), 'empty_index');
    index.insert(new Float32Array([1, 2]), id);
    assert.deepEqual(index.search(new Float32Array([1, 2]), 1), [{ id, distance: 0 }]);
    index.dispose();
  });
});

describe('errors: bytes', () => {
  test('corrupt, truncated and empty bytes: corrupt_data; the source index is untouched', async () => {
    const { index, unchanged } = await fixture();
    const bytes = index.toBytes();
    for (const at of [0, 8, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const bad = bytes.slice();
      bad[at] ^= 0x40;
      await expectRejection(Index.fromBytes(bad), 'corrupt_data');
    }
    await expectRejection(Index.fromBytes(bytes.subarray(0, bytes.length - 7)), 'corrupt_data');
    await expectRejection(Index.fromBytes(new Uint8Array(0)), 'corrupt_data');
    await expectRejection(Index.fromBytes(new Uint8Array(100).fill(7)), 'corrupt_data');
    await expectRejection(Index.fromBytes('bytes'), 'invalid_argument', /Uint8Array/);
    unchanged();
  });
});

describe('errors: memory', () => {
  test('an allocation beyond the 2 GiB heap is out_of_memory, and the index keeps working', async () => {
    const { index, unchanged } = await fixture();
    expectError(() => index.reserve(200_000_000), 'out_of_memory'); // > 3 GB of vectors alone
    unchanged();
  });
});

describe('errors: disposed', () => {
  test('every method and property of a disposed index throws disposed', async () => {
    const index = await Index.create({ dim: 2 });
    index.insert(new Float32Array([1, 2]));
    index.dispose();
    const v = new Float32Array(2);
    const calls = {
      insert: () => index.insert(v), upsert: () => index.insert(v, 1), insertBatch: () => index.insertBatch(v),
      search: () => index.search(v, 1), delete: () => index.delete(0), has: () => index.has(0), get: () => index.get(0),
      compact: () => index.compact(), reserve: () => index.reserve(1), train: () => index.train(v),
      toBytes: () => index.toBytes(), size: () => index.size, dim: () => index.dim,
      tombstoneRatio: () => index.tombstoneRatio, memoryBytes: () => index.memoryBytes, metric: () => index.metric,
      sq8: () => index.sq8,
    };
    for (const [name, call] of Object.entries(calls)) {
      assert.throws(call, (err) => err instanceof PocketvecError && err.code === 'disposed', name);
    }
    await expectRejection(index.save('x'), 'disposed');
  });
});
