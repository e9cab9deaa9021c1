#!/usr/bin/env node
// Markdown tables from bench/results/recall/<case>.jsonl (written by bench/recall/run.sh).
//
//   node bench/recall/report.mjs CASE.jsonl ...             one detailed table per file (a,b.jsonl: one case)
//   node bench/recall/report.mjs --gaps CASE.jsonl ...      one row per file x ef: f32, SQ8 and
//                                                           SQ8+re-rank recall, before -> after,
//                                                           and SQ8's gap to f32 in points
//   node bench/recall/report.mjs --cost CASE.jsonl ...      build time and memory_bytes per storage

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const mode = args[0]?.startsWith('--') ? args.shift() : '--detail';
if (!args.length) {
  console.error('usage: node bench/recall/report.mjs [--gaps|--cost] <case.jsonl> ...');
  process.exit(2);
}
const row = (cells) => `| ${cells.join(' | ')} |`;
const head = (cells) => [row(cells), row(cells.map(() => '---'))].join('\n');
const label = { f32: 'f32', sq8: 'SQ8', sq8r: 'SQ8 + re-rank' };
const f4 = (v) => (v === undefined ? '—' : v.toFixed(4));
const f1 = (v) => (v === undefined ? '—' : v.toFixed(1));
const mib = (b) => (b / 1048576).toFixed(1);
const pts = (a, b) => (a === undefined || b === undefined ? '—' : ((a - b) * 100).toFixed(2));

// A comma-separated list of files reads as one case (e.g. the f32 and the SQ8 runs of one set).
function load(files) {
  const file = files.split(',')[0];
  const rows = files.split(',').flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  const get = (core, storage, ef) => rows.find((r) => r.core === core && r.storage === storage && r.ef === ef);
  const storages = [...new Set(rows.map((r) => r.storage))];
  const efs = [...new Set(rows.map((r) => r.ef))].sort((a, b) => a - b);
  return { name: basename(file, '.jsonl'), rows, get, storages, efs, first: rows[0] };
}
const loads = (rows) => {
  const l = rows.flatMap((r) => [r.load1_build, r.load1_search]).filter((x) => x >= 0);
  return `${Math.min(...l).toFixed(1)}-${Math.max(...l).toFixed(1)}`;
};

const sets = args.map(load);

if (mode === '--detail') {
  for (const s of sets) {
    const r = s.first;
    console.log(`**${s.name}**: ${r.set}, ${r.n} x ${r.dim}, ${r.metric}, ${r.queries} queries, M ${r.m}, ` +
      `ef_construction ${r.ef_construction}; 1-minute load ${loads(s.rows)} during the run.`);
    console.log('');
    console.log(head(['storage', 'ef', 'recall@10 before', 'recall@10 after', 'p50 µs before', 'p50 µs after']));
    for (const st of s.storages)
      for (const ef of s.efs) {
        const b = s.get('before', st, ef), a = s.get('after', st, ef);
        console.log(row([label[st] ?? st, ef, f4(b?.recall), f4(a?.recall), f1(b?.p50_us), f1(a?.p50_us)]));
      }
    console.log('');
  }
} else if (mode === '--gaps') {
  const st = ['f32', 'sq8', 'sq8r'];
  console.log(head(['set', 'n x dim', 'metric', 'ef', 'f32 before → after', 'SQ8 before → after',
    'SQ8 + re-rank before → after', 'f32 − SQ8 (points) before → after', 'f32 − SQ8 + re-rank after']));
  for (const s of sets)
    for (const ef of s.efs) {
      const g = (core, x) => s.get(core, x, ef)?.recall;
      const cell = (x) => (g('before', x) === undefined && g('after', x) === undefined ? '—' : `${f4(g('before', x))} → ${f4(g('after', x))}`);
      console.log(row([s.first.set, `${s.first.n} x ${s.first.dim}`, s.first.metric, ef, cell(st[0]), cell(st[1]), cell(st[2]),
        `${pts(g('before', 'f32'), g('before', 'sq8'))} → ${pts(g('after', 'f32'), g('after', 'sq8'))}`,
        pts(g('after', 'f32'), g('after', 'sq8r'))]));
    }
} else if (mode === '--cost') {
  console.log(head(['set', 'metric', 'storage', 'memory_bytes before (MiB)', 'memory_bytes after (MiB)',
    'build s before', 'build s after', 'p50 µs at ef 64 before', 'p50 µs at ef 64 after']));
  for (const s of sets)
    for (const st of s.storages) {
      const b = s.get('before', st, 64), a = s.get('after', st, 64);
      console.log(row([`${s.first.set} ${s.first.n} x ${s.first.dim}`, s.first.metric, label[st] ?? st,
        b ? mib(b.memory_bytes) : '—', a ? mib(a.memory_bytes) : '—', f1(b?.build_s), f1(a?.build_s), f1(b?.p50_us), f1(a?.p50_us)]));
    }
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
