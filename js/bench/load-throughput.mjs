// Validated load throughput of the WASM build from bytes in memory: Index.fromBytes() and toBytes()
// on .pvx files (written natively by `pocketvec_load_throughput 20000 768 5 DIR`), median of `runs`,
// MB = 10^6 bytes, by wall time and by the process's CPU time. POCKETVEC_JS=/abs/path/to/src/node.js measures another copy of the package.
// Usage: node --no-liftoff bench/load-throughput.mjs DIR [runs=5]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, runs = 5] = process.argv.slice(2);
const entry = process.env.POCKETVEC_JS ?? new URL('../src/node.js', import.meta.url).pathname;
const { Index } = await import(pathToFileURL(entry).href);

function median(f) {
  const t = [];
  for (let i = 0; i < Number(runs); i++) {
    const start = performance.now();
    f();
    t.push(performance.now() - start);
  }
  return t.sort((a, b) => a - b)[t.length >> 1];
}

for (const file of readdirSync(dir).filter((f) => f.endsWith('.pvx')).sort()) {
  const bytes = new Uint8Array(readFileSync(join(dir, file)));
  let index = await Index.fromBytes(bytes); // warm-up, and the heap grown once
  const times = [];
  const cpu = [];
  for (let i = 0; i < Number(runs); i++) {
    index.dispose();
    const start = performance.now();
    const used = process.cpuUsage();
    index = await Index.fromBytes(bytes);
    const { user, system } = process.cpuUsage(used);
    times.push(performance.now() - start);
    cpu.push((user + system) / 1e3);
  }
  const mid = (t) => t.sort((a, b) => a - b)[t.length >> 1];
  const load = mid(times);
  const save = median(() => index.toBytes());
  const mb = bytes.length / 1e6;
  // CPU time (user + system, page faults included) is what a shared machine perturbs least.
  console.log(`${file.padEnd(16)} ${mb.toFixed(1).padStart(6)} MB  fromBytes ${load.toFixed(1).padStart(7)} ms = ${(mb / (load / 1e3)).toFixed(0).padStart(5)} MB/s (CPU time ${(mb / (mid(cpu) / 1e3)).toFixed(0).padStart(5)} MB/s)   toBytes ${(mb / (save / 1e3)).toFixed(0).padStart(5)} MB/s`);
  index.dispose();
}
