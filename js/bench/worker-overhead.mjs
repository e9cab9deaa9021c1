// Per-call overhead of WorkerIndex.search over Index.search: the same index (built twice from the same
// rows, so the same graph) and the same queries, one call at a time (each awaited before the next),
// interleaved in rounds so that drift hits both alike. Prints p50 / p99 of each and their differences.
// Usage: node --no-liftoff bench/worker-overhead.mjs [dim=32] [n=1000] [k=10] [calls=20000]
// (Node: the worker is a worker_threads Worker; bench/browser.mjs measures the same in the browsers.)
import { Index } from '../src/node.js';
import { WorkerIndex } from '../src/worker-node.js';
import { Worker } from 'node:worker_threads';

import { measureOverhead } from './lib/overhead.mjs';

/** A bare worker_threads echo: the floor of a message round trip. */
function echo() {
  const worker = new Worker("require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));", { eval: true });
  let resolve = null;
  worker.on('message', (m) => resolve(m));
  return { roundTrip: (msg) => new Promise((r) => { resolve = r; worker.postMessage(msg); }), close: () => worker.terminate() };
}

const [dim = 32, n = 1000, k = 10, calls = 20000] = process.argv.slice(2).map(Number);
const result = await measureOverhead({ Index, WorkerIndex, echo, dim, n, k, calls });
console.log(JSON.stringify({ where: `node ${process.version}`, ...result }));
