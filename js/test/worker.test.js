// WorkerIndex in Node (worker_threads): what only the worker API has — transfer, the worker's lifetime,
// a worker that dies, call order, no IndexedDB in a Node worker. The shared behaviour is in parity.test.js.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { PocketvecError } from 'pocketvec';
import { WorkerIndex } from 'pocketvec/worker';

import { defineWorkerIndex } from '../src/worker.js';
import { randomVectors } from './helpers.js';

/** A WorkerIndex class whose workers the test can see (the same wiring as src/worker-node.js). */
function spiedWorkerIndex() {
  const workers = [];
  const Spied = defineWorkerIndex(() => {
    const worker = new Worker(new URL('../src/worker-host-node.js', import.meta.url));
    const exited = once(worker, 'exit');
    workers.push({ worker, exited });
    return {
      post: (msg, transfer) => worker.postMessage(msg, transfer),
      listen(onMessage, onFailure) {
        worker.on('message', onMessage);
        worker.on('error', (err) => onFailure(err.message));
        worker.on('exit', (code) => onFailure(`the worker exited (code ${code})`));
      },
      terminate: () => worker.terminate(),
    };
  });
  return { Spied, workers };
}

test('transfer: the caller keeps its buffer unless it asks for a transfer', async () => {
  const index = await WorkerIndex.create({ dim: 8 });
  const kept = randomVectors(100, 8, 1);
  await index.insertBatch(kept);
  assert.equal(kept.length, 800, 'copied by default');
  const moved = randomVectors(100, 8, 2);
  const ids = await index.insertBatch(moved, { transfer: true });
  assert.equal(moved.byteLength, 0, 'detached after transfer: true');
  assert.equal(moved.buffer.byteLength, 0);
  assert.equal(ids.length, 100);
  // A view transfers the whole buffer it views.
  const whole = randomVectors(10, 8, 3);
  const part = whole.subarray(8, 16);
  await index.searchBatch(part, 2, { transfer: true });
  assert.equal(whole.byteLength, 0, 'the buffer under a subarray is detached');
  const bytes = await index.toBytes();
  const copy = await WorkerIndex.fromBytes(bytes, { transfer: true });
  assert.equal(bytes.byteLength, 0, 'fromBytes transfer');
  assert.equal(await copy.size, 200);
  // Results come back as the worker's own buffers (transferred, so they are not views of anything shared).
  const got = await copy.get(0);
  assert.ok(got instanceof Float32Array && got.byteOffset === 0 && got.buffer.byteLength === 32);
  await index.dispose();
  await copy.dispose();
});

test('stats() reads the changing properties in one call', async () => {
  const index = await WorkerIndex.create({ dim: 4, compactThreshold: 0 });
  await index.insertBatch(randomVectors(10, 4, 9));
  await index.delete(3);
  assert.deepEqual(await index.stats(), {
    size: 9, deletedCount: 1, tombstoneRatio: 0.1, memoryBytes: await index.memoryBytes,
    sq8: { trained: false, encoded: 0, clamped: 0, clampedFraction: 0 },
  });
  await index.dispose();
});

test('the worker survives an error in one call, and calls keep their order', async () => {
  const index = await WorkerIndex.create({ dim: 4 });
  const calls = [
    index.insert(Float32Array.of(1, 0, 0, 0)),
    index.insert(new Float32Array(2)),
    index.insert(Float32Array.of(0, 1, 0, 0)),
    index.search(Float32Array.of(0, 1, 0, 0), 1),
  ];
  const settled = await Promise.allSettled(calls);
  assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  assert.ok(settled[1].reason instanceof PocketvecError);
  assert.equal(settled[1].reason.code, 'dimension_mismatch');
  assert.deepEqual(settled[3].value, [{ id: 1, distance: 0 }]);
  // An argument that cannot be sent is refused before it reaches the worker.
  await assert.rejects(index.insert(() => 1), { name: 'PocketvecError', code: 'invalid_argument' });
  // An onProgress that throws fails the call, which is undone, as in Index.
  const bytes = await index.toBytes();
  await assert.rejects(index.insertBatch(randomVectors(3000, 4, 1), { onProgress: () => { throw new Error('listener bug'); } }),
    { message: 'listener bug' });
  assert.deepEqual(await index.toBytes(), bytes);
  assert.equal(await index.size, 2);
  await index.dispose();
});

test('dispose() ends the worker and rejects the calls still pending', async () => {
  const { Spied, workers } = spiedWorkerIndex();
  const index = await Spied.create({ dim: 16 });
  assert.equal(workers.length, 1);
  const pending = assert.rejects(index.insertBatch(randomVectors(3000, 16, 4)), { code: 'disposed' });
  await index.dispose();
  const [code] = await workers[0].exited;
  assert.equal(typeof code, 'number', 'the worker thread exited');
  await pending;
  await assert.rejects(index.search(new Float32Array(16), 1), { code: 'disposed' });
  assert.throws(() => index.dim, { code: 'disposed' });
  // A failed create and a load that finds nothing leave no worker behind.
  await assert.rejects(Spied.create({ dim: 0 }), { code: 'invalid_argument' });
  await workers[1].exited;
});

test('a worker that dies fails the pending and later calls with internal_error', async () => {
  const { Spied, workers } = spiedWorkerIndex();
  const index = await Spied.create({ dim: 16 });
  const pending = assert.rejects(index.insertBatch(randomVectors(3000, 16, 5)), { code: 'internal_error', message: /worker/ });
  await workers[0].worker.terminate(); // not through dispose(): as if the worker crashed
  await pending;
  await assert.rejects(index.size, { code: 'internal_error' });
  await index.dispose();
});

test('a Node worker has no IndexedDB: save and load reject with io_error', async () => {
  const index = await WorkerIndex.create({ dim: 4 });
  await index.insert(Float32Array.of(1, 2, 3, 4));
  await assert.rejects(index.save('x'), { code: 'io_error', message: /IndexedDB is not available/ });
  await assert.rejects(WorkerIndex.load('x'), { code: 'io_error' });
  assert.equal(await index.size, 1, 'the index is still there');
  await index.dispose();
});
