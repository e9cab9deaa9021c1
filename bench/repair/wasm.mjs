#!/usr/bin/env node
// The WASM side of bench/repair's `deletes` mode: the same built indexes, deletions and exact truth
// (exported by `pv_repair deletes export=DIR`), measured through the npm package in Node.
//
//   node --no-liftoff bench/repair/wasm.mjs DIR [--ops compact,rebuild] [--only f32:0.3,...] > results.jsonl
//
// For every storage (DIR/<storage>.bin) and deletion fraction, one process per operation (WASM
// memory never shrinks, so each process measures one history): Index.fromBytes, delete the same ids
// in the same order, then time compact() or rebuild() and measure recall@10 at ef 16/32/64 the way
// repair.cpp does (a returned id counts when its double-precision distance 1 - dot is within the
// exact 10th's, relative 1e-5). Also the WASM memory (memory().heapBytes) before and after the call.
// It measures js/dist as built: rebuild it first (cd js && npm run build:wasm); PV_PACKAGE_REV names
// that build in the output.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ENTRY = join(HERE, '..', '..', 'js', 'src', 'node.js');
const K = 10;
const EFS = [16, 32, 64];

function f32(path) {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

async function child(dir, storage, f, op) {
  const { Index } = await import(ENTRY);
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
  const { n, dim, queries: nq } = meta;
  const base = f32(join(dir, 'base.f32'));
  const queries = f32(join(dir, 'queries.f32'));
  const ob = readFileSync(join(dir, 'order.u32'));
  const order = new Uint32Array(ob.buffer, ob.byteOffset, n);
  const kb = readFileSync(join(dir, `kth-${f}.f64`));
  const kth = new Float64Array(kb.buffer, kb.byteOffset, nq);
  const { fraction, deleted } = meta.fractions[f];
  const gone = new Uint8Array(n);
  for (let i = 0; i < deleted; ++i) gone[order[i]] = 1;

  const index = await Index.fromBytes(new Uint8Array(readFileSync(join(dir, `${storage}.bin`))));
  for (let i = 0; i < deleted; ++i) index.delete(order[i]);
  const before = index.memory();
  const t0 = process.hrtime.bigint();
  index[op]();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = index.memory();

  // One untimed pass first: the first searches also pay for the engine's tier-up.
  for (let q = 0; q < nq; ++q) index.search(queries.subarray(q * dim, (q + 1) * dim), K, { ef: EFS[0] });
  const recall = {}, searchUs = {};
  for (const ef of EFS) {
    let sum = 0, us = 0;
    for (let q = 0; q < nq; ++q) {
      const qv = queries.subarray(q * dim, (q + 1) * dim);
      const s0 = process.hrtime.bigint();
      const hits = index.search(qv, K, { ef });
      us += Number(process.hrtime.bigint() - s0) / 1e3;
      const limit = kth[q] + 1e-5 * Math.abs(kth[q]) + 1e-12;
      let good = 0;
      const seen = new Set();
      for (const { id } of hits) {
        if (seen.has(id) || id >= n || gone[id]) continue;
        seen.add(id);
        let dot = 0;
        for (let j = 0, o = id * dim; j < dim; ++j) dot += qv[j] * base[o + j];
        if (1 - dot <= limit) ++good;
      }
      sum += Math.min(good, K) / K;
    }
    recall[ef] = +(sum / nq).toFixed(4);
    searchUs[ef] = +(us / nq).toFixed(1);
  }
  process.stdout.write(JSON.stringify({
    kind: op, side: 'wasm', package: process.env.PV_PACKAGE_REV ?? '', storage, n, dim, fraction, deleted, seconds: +seconds.toFixed(3),
    indexBytesBefore: before.indexBytes, indexBytesAfter: after.indexBytes,
    heapBytesBefore: before.heapBytes, heapBytesAfter: after.heapBytes, recall, searchUs,
  }) + '\n');
  index.dispose();
}

const [dir, ...rest] = process.argv.slice(2);
if (process.env.PV_REPAIR_CHILD) {
  const [storage, f, op] = process.env.PV_REPAIR_CHILD.split(':');
  await child(dir, storage, Number(f), op);
} else {
  if (!dir || !existsSync(join(dir, 'meta.json'))) {
    console.error('usage: node --no-liftoff bench/repair/wasm.mjs DIR [--ops compact,rebuild]');
    process.exit(2);
  }
  const opsAt = rest.indexOf('--ops');
  const ops = opsAt >= 0 ? rest[opsAt + 1].split(',') : ['compact', 'rebuild'];
  const onlyAt = rest.indexOf('--only');
  const only = onlyAt >= 0 ? new Set(rest[onlyAt + 1].split(',')) : null;
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
  for (const storage of ['f32', 'sq8']) {
    if (!existsSync(join(dir, `${storage}.bin`))) continue;
    for (let f = 0; f < meta.fractions.length; ++f)
      for (const op of ops) {
        if (only && !only.has(`${storage}:${meta.fractions[f].fraction}`)) continue;
        const r = spawnSync(process.execPath, ['--no-liftoff', '--max-old-space-size=4096', fileURLToPath(import.meta.url), dir],
          { env: { ...process.env, PV_REPAIR_CHILD: `${storage}:${f}:${op}` }, stdio: ['ignore', 'pipe', 'inherit'] });
        if (r.status !== 0) throw new Error(`${storage} ${f} ${op}: exit ${r.status}`);
        process.stdout.write(r.stdout);
        console.error(`[wasm] ${r.stdout.toString().trim()}`);
      }
  }
}
