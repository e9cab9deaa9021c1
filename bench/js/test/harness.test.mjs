// Tests for the harness's own arithmetic: if ground truth, recall or percentiles were wrong, every number
// in docs/benchmarks.md would be wrong with them. Run: node --test bench/js/test/
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { generateSynthetic, mulberry32, normalizeRows, readIdxImages } from '../lib/data.mjs';
import { bruteForceTopK, exactDistance, recallAtK } from '../lib/groundtruth.mjs';
import { bestAtRecall, heapOverLib, renderMarkdown } from '../lib/report.mjs';
import { median, percentile, summarizePass } from '../lib/stats.mjs';
import { renderSvg } from '../plot.mjs';

function randomRows(rng, n, dim) {
  const a = new Float32Array(n * dim);
  for (let i = 0; i < a.length; i++) a[i] = rng() * 2 - 1;
  return a;
}

// Reference: full sort of every distance, ties by id.
function naiveTopK(base, query, dim, metric, k) {
  const n = base.length / dim;
  const q = query.length / dim;
  const out = [];
  for (let qi = 0; qi < q; qi++) {
    const all = [];
    for (let i = 0; i < n; i++) all.push([exactDistance(base, i * dim, query, qi * dim, dim, metric), i]);
    all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    out.push(all.slice(0, k));
  }
  return out;
}

for (const metric of ['l2', 'cosine']) {
  test(`brute force top-k matches a full sort (${metric}, query count not a multiple of the block)`, () => {
    const rng = mulberry32(7);
    const dim = 13;
    const base = randomRows(rng, 301, dim);
    const query = randomRows(rng, 11, dim);
    if (metric === 'cosine') {
      normalizeRows(base, dim);
      normalizeRows(query, dim);
    }
    const k = 7;
    const got = bruteForceTopK(base, query, dim, metric, k);
    const want = naiveTopK(base, query, dim, metric, k);
    for (let qi = 0; qi < want.length; qi++) {
      for (let r = 0; r < k; r++) {
        assert.equal(got.ids[qi * k + r], want[qi][r][1], `query ${qi} rank ${r}`);
        assert.ok(Math.abs(got.dist[qi * k + r] - want[qi][r][0]) <= 1e-5 * Math.max(1, Math.abs(want[qi][r][0])));
      }
    }
  });
}

test('brute force breaks distance ties by the smaller id', () => {
  const dim = 2;
  const base = new Float32Array([5, 5, 1, 0, 1, 0, 0, 1, 1, 0]); // rows 1, 2, 4 equal
  const query = new Float32Array([1, 0]);
  const { ids } = bruteForceTopK(base, query, dim, 'l2', 3);
  assert.deepEqual([...ids], [1, 2, 4]);
});

test('brute force rejects bad input', () => {
  assert.throws(() => bruteForceTopK(new Float32Array(4), new Float32Array(2), 2, 'hamming', 1), /unsupported metric/);
  assert.throws(() => bruteForceTopK(new Float32Array(5), new Float32Array(2), 2, 'l2', 1), /multiple of dim/);
  assert.throws(() => bruteForceTopK(new Float32Array(4), new Float32Array(2), 2, 'l2', 3), /exceeds base size/);
});

test('recall counts equidistant substitutes, never duplicates or invalid ids', () => {
  const dim = 2;
  const base = new Float32Array([0, 0, 1, 0, 1, 0, 3, 0, 9, 9]);
  const query = new Float32Array([0, 0]);
  const gt = bruteForceTopK(base, query, dim, 'l2', 2); // ids 0, 1 (row 2 ties with row 1)
  const data = { base, query, gtDist: gt.dist, meta: { dim, metric: 'l2', gtK: 2 } };
  assert.equal(recallAtK([0, 1], 0, data, 2), 1);
  assert.equal(recallAtK([0, 2], 0, data, 2), 1, 'row 2 is as close as row 1');
  assert.equal(recallAtK([1, 1], 0, data, 2), 0.5, 'a repeated id counts once');
  assert.equal(recallAtK([0, 3], 0, data, 2), 0.5);
  assert.equal(recallAtK([0, -1], 0, data, 2), 0.5);
  assert.equal(recallAtK([0, 99], 0, data, 2), 0.5);
  assert.equal(recallAtK([0], 0, data, 2), 0.5, 'short result lists are not padded');
});

test('synthetic data is deterministic, unit length, and queries are not base rows', () => {
  const a = generateSynthetic({ n: 200, dim: 16, queries: 10 });
  const b = generateSynthetic({ n: 200, dim: 16, queries: 10 });
  assert.deepEqual(a.base, b.base);
  assert.deepEqual(a.query, b.query);
  for (let i = 0; i < 200; i++) {
    let s = 0;
    for (let j = 0; j < 16; j++) s += a.base[i * 16 + j] ** 2;
    assert.ok(Math.abs(s - 1) < 1e-5);
  }
  const gt = bruteForceTopK(a.base, a.query, 16, 'cosine', 1);
  for (const d of gt.dist) assert.ok(d > 1e-6, 'a query equal to a base row would make recall trivial');
});

test('idx reader parses images and rejects other files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idx-test-'));
  try {
    const header = Buffer.alloc(16);
    header.writeUInt32BE(0x803, 0);
    header.writeUInt32BE(3, 4);
    header.writeUInt32BE(2, 8);
    header.writeUInt32BE(2, 12);
    const pixels = Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    writeFileSync(join(dir, 'ok.gz'), gzipSync(Buffer.concat([header, pixels])));
    const { data, rows, dim } = readIdxImages(join(dir, 'ok.gz'), 2);
    assert.equal(rows, 2);
    assert.equal(dim, 4);
    assert.deepEqual([...data], [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(readIdxImages(join(dir, 'ok.gz')).data[11], 255);
    const labels = Buffer.from(header);
    labels.writeUInt32BE(0x801, 0);
    writeFileSync(join(dir, 'labels.gz'), gzipSync(labels));
    assert.throws(() => readIdxImages(join(dir, 'labels.gz')), /not an idx3 image file/);
    writeFileSync(join(dir, 'short.gz'), gzipSync(Buffer.concat([header, pixels.subarray(0, 5)])));
    assert.throws(() => readIdxImages(join(dir, 'short.gz')), /truncated/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('percentiles are nearest-rank observed values', () => {
  const sorted = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 0.5), 500);
  assert.equal(percentile(sorted, 0.99), 990);
  assert.equal(percentile(sorted, 0.999), 999);
  assert.equal(percentile(sorted, 1), 1000);
  assert.equal(percentile(Float64Array.of(7), 0.999), 7);
  assert.throws(() => percentile(new Float64Array(0), 0.5), /empty/);
  assert.throws(() => percentile(sorted, 0), /in \(0, 1\]/);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  const s = summarizePass(Float64Array.from([3000, 1000, 2000, 4000]), 20_000);
  assert.equal(s.p50, 2);
  assert.equal(s.qps, 4 / 20e-6);
});

test('target check picks the fastest point at the recall bar, across configs and sweeps', () => {
  const results = [
    { lib: 'a', config: 'default', buildSeconds: 1, atDefault: { ef: 10, recall: 0.9, p50: 10 }, sweep: [{ ef: 64, recall: 0.96, p50: 50 }, { ef: 128, recall: 0.99, p50: 80 }] },
    { lib: 'a', config: 'sq8', buildSeconds: 2, atDefault: { ef: 64, recall: 0.951, p50: 30 } },
    { lib: 'b', config: 'default', error: 'crashed' },
    { lib: 'c', config: 'default', atDefault: { ef: 10, recall: 0.5, p50: 1 } },
  ];
  const best = bestAtRecall(results, 0.95);
  assert.equal(best.get('a').p50, 30);
  assert.equal(best.get('a').config, 'sq8');
  assert.equal(best.get('b'), null);
  assert.equal(best.get('c'), null);
});

test('plot renders every successful series and skips failures', () => {
  const run = {
    dataset: { name: 't', n: 10, dim: 2, metric: 'l2' },
    params: { k: 10 },
    machine: { node: 'v20', nodeFlags: '--no-liftoff' },
    results: [
      { lib: 'x', config: 'matched', atDefault: { ef: 10, recall: 0.9, p50: 50 }, sweep: [{ ef: 16, recall: 0.92, p50: 60 }, { ef: 64, recall: 0.99, p50: 120 }] },
      { lib: 'voy-search', config: 'default', exact: true, atDefault: { ef: null, recall: 1, p50: 4000 } },
      { lib: 'y', config: 'default', error: 'boom' },
    ],
  };
  const svg = renderSvg([run]);
  assert.match(svg, /^<svg/);
  assert.equal((svg.match(/<polyline/g) ?? []).length, 1);
  assert.equal((svg.match(/<circle/g) ?? []).length, 2);
  assert.match(svg, /voy-search default \(exact\)/);
  assert.doesNotMatch(svg, /NaN/);
});

test('the main table puts the WebAssembly memory and its ratio next to the library\'s own figure', () => {
  const MiB = 2 ** 20;
  const run = {
    dataset: { name: 't', n: 10, dim: 2, metric: 'l2' },
    params: { queries: 1, warmup: 0, repeats: 1, k: 10 },
    machine: { cpu: 'cpu', cores: 2, node: 'v20', nodeFlags: '--no-liftoff', loadAvgStart: [0, 0, 0] },
    results: [
      { lib: 'a', version: '1', config: 'own', atDefault: { ef: 10, recall: 1, p50: 1 }, memory: { libReported: 40 * MiB, wasmHeapGrowth: 90 * MiB, wasmHeapTotal: 106 * MiB } },
      { lib: 'b', version: '1', config: 'none', atDefault: { ef: 10, recall: 1, p50: 1 }, memory: { libReported: null, wasmHeapGrowth: 8 * MiB, wasmHeapTotal: 24 * MiB } },
      { lib: 'c', version: '1', config: 'x', error: 'boom' },
    ],
  };
  const lines = renderMarkdown(run).split('\n').filter((l) => l.startsWith('| '));
  const header = lines[0].split(' | ');
  const lib = header.indexOf('Index memory (lib)');
  assert.equal(header[lib + 1], 'Wasm heap: growth (total)');
  assert.equal(header[lib + 2], 'Wasm total / lib');
  const cells = (name) => lines.find((l) => l.startsWith(`| ${name} `)).split(' | ');
  assert.deepEqual(cells('a').slice(lib, lib + 3), ['40.0 MiB', '90.0 MiB (106.0 MiB)', '2.65x']);
  assert.deepEqual(cells('b').slice(lib, lib + 3), ['—', '8.0 MiB (24.0 MiB)', '—']);
  for (const l of lines.slice(0, 5)) assert.equal(l.split(' | ').length, header.length, l);
  assert.equal(heapOverLib(undefined), '—');
});
