// searchBatch throughput against a loop of single searches over the same queries, for Index and for
// WorkerIndex (a worker_threads Worker): queries per second, best of 3 rounds each.
// Usage: node --no-liftoff bench/search-batch.mjs [dim=768] [n=10000] [queries=1000] [k=10] [ef=64]
// (bench/browser.mjs batch measures the same in the browsers.)
import { Index } from '../src/node.js';
import { WorkerIndex } from '../src/worker-node.js';
import { measureSearchBatch } from './lib/search-batch.mjs';

const [dim = 768, n = 10000, queries = 1000, k = 10, ef = 64] = process.argv.slice(2).map(Number);
const result = await measureSearchBatch({ Index, WorkerIndex, dim, n, queries, k, ef });
console.log(JSON.stringify({ where: `node ${process.version}`, ...result }));
