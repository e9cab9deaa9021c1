// insertBatch when the WebAssembly heap runs out part-way: the error is 'out_of_memory' and the index
// is exactly as before the call (size, bytes, answers), then keeps working.
//
// The shipped module's heap stops at 2 GiB; reaching that would take gigabytes of test data. So
// scripts/build-wasm.sh also links the same objects with the same flags but a 32 MB heap
// (-sMAXIMUM_MEMORY, wasm/CMakeLists.txt target pocketvec_wasm_small_heap) into build/small-heap/, and
// this file runs the package's own Index class (src/index.js) over that module.
//
// How the heap runs out: with dim 768 a batch goes over in pieces of 341 rows; 100 rows are in the
// untrained SQ8 index and sq8TrainingSize is 1000, so the store trains itself in the third piece (the
// room it would like for all 50 000 rows' codes is asked for best effort only). The inserts then grow
// the graph and the codes piece by piece until the 32 MB heap runs out, some thirty pieces in.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';

import { PocketvecError } from '../src/errors.js';  // the class of ../src/index.js (the package's is lib/'s copy)
import { defineIndex } from '../src/index.js';
import { randomVectors, row } from './helpers.js';

const moduleDir = new URL('../build/small-heap/', import.meta.url);
let pending = null;
function loadSmallHeapModule() {
  pending ??= (async () => {
    let wasmBinary;
    try {
      wasmBinary = await readFile(new URL('pocketvec.wasm', moduleDir));
    } catch (err) {
      throw new Error(`the small-heap test module is missing from ${moduleDir.pathname}: run npm run build:wasm`, { cause: err });
    }
    const { default: createPocketvec } = await import(new URL('pocketvec.js', moduleDir).href);
    return createPocketvec({ wasmBinary });
  })();
  return pending;
}
const Index = defineIndex(loadSmallHeapModule);

const dim = 768;
const rows = 50_000; // codes alone: 38.4 MB > the 32 MB heap
let batch = null;
function bigBatch() {
  batch ??= randomVectors(rows, dim, 61);
  return batch;
}

/** Calls fn while recording the status of every insertBatch piece that reaches the C++ adapter. */
async function recordingPieces(fn) {
  const proto = (await loadSmallHeapModule())._WasmIndex.prototype;
  const original = proto.insertBatch;
  const statuses = [];
  proto.insertBatch = function recordingInsertBatch() {
    const status = original.call(this);
    statuses.push(status);
    return status;
  };
  try {
    fn();
  } finally {
    proto.insertBatch = original;
  }
  return statuses;
}

/** An untrained SQ8 index with 100 vectors, and what it answers, to compare against after the failure. */
async function fixture(metric) {
  const index = await Index.create({ dim, metric, quantization: 'sq8', m: 8, efConstruction: 32, compactThreshold: 0 });
  const ids = index.insertBatch(randomVectors(100, dim, 60));
  const queries = randomVectors(8, dim, 62);
  const answers = () => Array.from({ length: 8 }, (_, q) => index.search(row(queries, dim, q), 10, { ef: 100 }));
  return { index, ids, answers, before: { size: index.size, bytes: index.toBytes(), answers: answers(), sq8: index.sq8 } };
}

function expectOutOfMemory(fn) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof PocketvecError, `expected a PocketvecError, got ${err?.name}: ${err?.message}`);
    assert.equal(err.code, 'out_of_memory', err.message);
    assert.match(err.message, /limited to 32 MiB/);
    return true;
  });
}

describe('heap limit: insertBatch is all or nothing when memory runs out part-way', () => {
  for (const metric of ['l2', 'cosine', 'ip']) {
    test(`${metric}: a later piece runs out of memory; the pieces before it are rolled back`, async () => {
      const { index, ids, answers, before } = await fixture(metric);
      const flat = bigBatch();
      const statuses = await recordingPieces(() => expectOutOfMemory(() => index.insertBatch(flat)));
      // The failure really is part-way: whole pieces went in before the one that failed.
      assert.ok(statuses.length >= 2 && statuses.at(-1) < 0 && statuses.slice(0, -1).every((s) => s > 0),
        `piece statuses ${statuses}`);

      assert.equal(index.size, before.size);
      assert.deepEqual(index.toBytes(), before.bytes);
      assert.deepEqual(answers(), before.answers);
      assert.deepEqual(index.sq8, before.sq8);
      // Further inserts work and continue the ids where they were before the batch.
      const more = randomVectors(51, dim, 63);
      assert.equal(index.insert(row(more, dim, 0)), 100);
      assert.deepEqual([...index.insertBatch(more.subarray(dim))], Array.from({ length: 50 }, (_, i) => 101 + i));
      assert.equal(index.size, 151);
      assert.equal(index.search(row(more, dim, 7), 1)[0].id, 107);
      assert.ok(index.has(ids[99]));
      index.dispose();
    });
  }

  // The failed batch reserved room for 50 000 rows that the rollback keeps; training asks for that
  // room only as far as the heap allows (it once asked for all of it, and failed every time).
  test('after the failed batch, the index can still train', async () => {
    const { index } = await fixture('l2');
    expectOutOfMemory(() => index.insertBatch(bigBatch()));
    const more = randomVectors(900, dim, 64);
    for (let i = 0; i < 900; i++) index.insert(row(more, dim, i)); // the 1000th vector trains the store
    assert.equal(index.sq8.trained, true);
    index.dispose();
  });
});
