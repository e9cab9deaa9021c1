// Per-call overhead of Index.search from JS: the same index and queries as wasm/search_timing.cpp
// (which times index::search inside WebAssembly, with no JS boundary); the difference is what the
// binding costs per call (argument checks, writing the query into the heap, the embind call, copying
// results out and building the hit objects).
// Usage: node --no-liftoff bench/search-overhead.mjs [dim=32] [n=1000] [k=10] [iterations=20000]
//   then: node --no-liftoff <wasm build>/wasm/pocketvec_search_timing.js with the same arguments.
import { Index } from '../src/node.js';
import { loadModule } from '../src/loader-node.js';

const [dim = 32, n = 1000, k = 10, iterations = 20000] = process.argv.slice(2).map(Number);

// xorshift32 mapped to [-1, 1), identical to search_timing.cpp's (same seed, same order of draws).
let state = 2463534242;
function next() {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return (state / 4294967296) * 2 - 1;
}

const index = await Index.create({ dim });
const data = new Float32Array(n * dim).map(next);
index.insertBatch(data);
const queries = new Float32Array(64 * dim).map(next);
const query = (i) => queries.subarray((i % 64) * dim, (i % 64 + 1) * dim);

function time(label, fn) {
  for (let i = 0; i < 1000; i++) fn(i); // warm-up, as in the C++ probe
  const start = process.hrtime.bigint();
  let checksum = 0;
  for (let i = 0; i < iterations; i++) checksum += fn(i);
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  console.log(`${label}: dim=${dim} n=${n} k=${k}: ${ns.toFixed(0)} ns/call (checksum ${checksum.toPrecision(6)})`);
  return ns;
}

// The bare binding: a raw handle, no argument checks and no hit objects (query written into the heap,
// one embind call, the nearest distance read from the heap).
const module = await loadModule();
const raw = new module._WasmIndex();
raw.init(dim, 'l2', 'none', 16, 200, 64, 42, 0.3, 1000, false);
raw.stageF32(data.length).set(data);
raw.insertBatch();
const queryIndex = raw.queryAddress() / 4;
function rawSearch(i) {
  module.HEAPF32.set(query(i), queryIndex);
  const base = raw.search(k, 0) / 4;
  return module.HEAPF32[base + 2];
}

// Interleaved rounds; the minimum is the least disturbed by other work on the machine.
const best = { api: Infinity, raw: Infinity };
for (let round = 0; round < 5; round++) {
  best.api = Math.min(best.api, time('JS Index.search           ', (i) => index.search(query(i), k)[0].distance));
  best.raw = Math.min(best.raw, time('JS raw embind calls       ', rawSearch));
}
console.log(`best of 5: Index.search ${best.api.toFixed(0)} ns, raw embind ${best.raw.toFixed(0)} ns`);
raw.delete();
index.dispose();
