#!/usr/bin/env node
// Markdown tables from a Google Benchmark JSON file written by pocketvec_search_bench
// (--benchmark_out=FILE --benchmark_out_format=json), for docs/benchmarks.md.
//
//   node bench/native-report.mjs bench/results/native-search-bench.json

import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/native-report.mjs <google-benchmark.json>');
  process.exit(2);
}
const run = JSON.parse(readFileSync(file, 'utf8'));
const row = (cells) => `| ${cells.join(' | ')} |`;
const quant = (q) => (q === '0' ? 'f32' : 'sq8');
const f = (v, d = 0) => (v === undefined ? '—' : v.toFixed(d));

const c = run.context;
console.log(`${c.date}, ${c.num_cpus} CPUs at ${c.mhz_per_cpu} MHz, load average ${c.load_avg?.map((x) => x.toFixed(2)).join(' / ')} ` +
  `(as Google Benchmark read it at start), library build type ${c.library_build_type}.`);
console.log('');
console.log(row(['n', 'dim', 'storage', 'inserts / s', 'wall (s)']));
console.log(row(Array(5).fill('---')));
for (const b of run.benchmarks.filter((x) => x.name.startsWith('BM_insert/'))) {
  const [, n, dim, q] = b.name.split('/');
  console.log(row([n, dim, quant(q), f(b.inserts_per_s), f(b.real_time / 1e3, 2)]));
}
console.log('');
console.log(row(['n', 'dim', 'storage', 'ef', 'recall@10', 'p50 (µs)', 'p99 (µs)', 'mean (µs)', 'queries timed', 'bytes / vector', 'build inserts / s']));
console.log(row(Array(11).fill('---')));
for (const b of run.benchmarks.filter((x) => x.name.startsWith('BM_search/'))) {
  const [, n, dim, q, ef] = b.name.split('/');
  console.log(row([n, dim, quant(q), ef, f(b['recall@10'], 4), f(b.p50_us, 1), f(b.p99_us, 1), f(b.real_time, 1), b.iterations,
    f(b.bytes_per_vector, 1), f(b.build_inserts_per_s)]));
}
