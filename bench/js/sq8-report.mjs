#!/usr/bin/env node
// SQ8 against f32 for pocketvec from harness results (docs/sq8.md): whole-index memory (memoryBytes) and,
// at every swept ef, recall@k and p50 of the `matched` (f32), `sq8` and `sq8-rerank` configs, which use the
// same graph parameters (m=16, efConstruction=200, seed 42) and were measured by the same worker code.
//
//   node bench/js/sq8-report.mjs bench/js/results/synthetic-100k.json bench/js/results/fashion-mnist.json

import { readFileSync } from 'node:fs';

const row = (cells) => `| ${cells.join(' | ')} |`;
const us = (v) => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const rec = (v) => (v === undefined ? '—' : v.toFixed(4));

export function sq8Report(run) {
  const pv = (config) => run.results.find((r) => r.lib === 'pocketvec' && r.config === config && !r.error);
  const f32 = pv('matched');
  const sq8 = pv('sq8');
  const rr = pv('sq8-rerank');
  const d = run.dataset;
  const out = [`#### ${d.name}: ${d.n.toLocaleString('en-US')} x ${d.dim}, ${d.metric}`, ''];
  if (!f32 || !sq8) return [...out, 'pocketvec matched and sq8 rows are missing.', ''].join('\n');

  out.push(row(['Config', 'memoryBytes', 'Bytes / vector', 'f32 / this', 'Build (s)', 'Serialized']));
  out.push(row(Array(6).fill('---')));
  for (const r of [f32, sq8, rr].filter(Boolean)) {
    const mem = r.memory?.libReported;
    out.push(row([r.config === 'matched' ? 'f32 (matched)' : r.config, mem ?? '—', mem ? (mem / d.n).toFixed(1) : '—',
      mem ? (f32.memory.libReported / mem).toFixed(2) : '—', r.buildSeconds?.toFixed(2) ?? '—', r.serializedBytes ?? '—']));
  }
  out.push('');

  const at = (r, ef) => r?.sweep?.find((s) => s.ef === ef);
  out.push(row(['ef', 'f32 recall', 'sq8 recall', 'sq8 loss (points)', 'rerank recall', 'f32 p50 (µs)', 'sq8 p50 (µs)', 'sq8 / f32 p50', 'rerank p50 (µs)']));
  out.push(row(Array(9).fill('---')));
  for (const s of f32.sweep ?? []) {
    const q = at(sq8, s.ef);
    const r = at(rr, s.ef);
    out.push(row([s.ef, rec(s.recall), rec(q?.recall), q ? ((s.recall - q.recall) * 100).toFixed(2) : '—', rec(r?.recall),
      us(s.p50), us(q?.p50), q ? (q.p50 / s.p50).toFixed(2) : '—', us(r?.p50)]));
  }
  out.push('');
  return out.join('\n');
}

const files = process.argv.slice(2);
if (!files.length) {
  console.error('usage: node sq8-report.mjs results/<set>.json ...');
  process.exit(2);
}
console.log(files.map((f) => sq8Report(JSON.parse(readFileSync(f, 'utf8')))).join('\n'));
