#!/usr/bin/env node
// The CI memory bounds (scripts/stage-memory.sh) applied to a results JSON of memory.mjs: after the
// batched build ('batch' scenario), heapBytes / memoryBytes must not exceed the bound of its
// quantization, and the SQ8 heapBytes / raw f32 bytes (n * dim * 4) must not exceed its own bound;
// that last one only when the raw rows are at least 64 MiB, so the module's fixed baseline (its
// initial memory, stack and growth step) does not decide it. A results file may hold either quantization or both. Exits 1 naming the numbers when a bound is exceeded.
//
//   node bench/memory/check.mjs RESULTS.json --f32 1.15 --sq8 1.15 --sq8-raw 0.33

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const MiB = 2 ** 20;
const RAW_MIN_BYTES = 64 * MiB;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { f32: { type: 'string' }, sq8: { type: 'string' }, 'sq8-raw': { type: 'string' } },
});
if (positionals.length !== 1) throw new Error('usage: check.mjs RESULTS.json --f32 R --sq8 R --sq8-raw R');
const bound = (name) => {
  const x = Number(values[name]);
  if (!(x > 0)) throw new Error(`--${name} must be a positive number, got "${values[name]}"`);
  return x;
};
const bounds = { f32: bound('f32'), sq8: bound('sq8'), sq8Raw: bound('sq8-raw') };
const run = JSON.parse(readFileSync(positionals[0], 'utf8'));
const { n, dim } = run.params;
const mib = (b) => `${(b / MiB).toFixed(1)} MiB`;

const failures = [];
const builtOf = (quant) => {
  const r = run.results.find((x) => x.quant === quant && x.scenario === 'batch');
  if (!r) throw new Error(`${positionals[0]} has no ${quant} 'batch' scenario`);
  if (r.error) throw new Error(`the ${quant} batched build failed: ${r.error}`);
  return r.steps.find((s) => s.step.startsWith('build'));
};
const quants = ['f32', 'sq8'].filter((q) => run.results.some((x) => x.quant === q));
if (quants.length === 0) throw new Error(`${positionals[0]} has no results`);
for (const quant of quants) {
  const s = builtOf(quant);
  const ratio = s.heapBytes / s.indexBytes;
  const ok = ratio <= bounds[quant];
  console.log(`memory: ${quant} ${n} x ${dim} in batches of ${run.params.batch}: heapBytes ${mib(s.heapBytes)} / memoryBytes ${mib(s.indexBytes)} = ${ratio.toFixed(3)} (bound ${bounds[quant]}) ${ok ? 'ok' : 'OVER'}`);
  if (!ok) failures.push(`${quant} heapBytes/memoryBytes ${ratio.toFixed(3)} > ${bounds[quant]} (${mib(s.heapBytes)} for ${mib(s.indexBytes)})`);
}
const raw = n * dim * 4;
const sq8 = quants.includes('sq8') ? builtOf('sq8') : null;
const rawRatio = sq8 ? sq8.heapBytes / raw : 0;
if (!sq8) {
  // (an f32-only run)
} else if (raw >= RAW_MIN_BYTES) {
  const ok = rawRatio <= bounds.sq8Raw;
  console.log(`memory: sq8 heapBytes ${mib(sq8.heapBytes)} / raw f32 ${mib(raw)} = ${rawRatio.toFixed(3)} (bound ${bounds.sq8Raw}) ${ok ? 'ok' : 'OVER'}`);
  if (!ok) failures.push(`sq8 heapBytes/raw f32 bytes ${rawRatio.toFixed(3)} > ${bounds.sq8Raw} (${mib(sq8.heapBytes)} for ${mib(raw)} of f32 rows)`);
} else {
  console.log(`memory: sq8 heapBytes / raw f32 = ${rawRatio.toFixed(3)}: bound ${bounds.sq8Raw} not applied (raw rows ${mib(raw)} < 64 MiB)`);
}
if (failures.length) {
  console.error(`memory: FAILED: ${failures.join('; ')}`);
  process.exit(1);
}
console.log('memory: passed');
