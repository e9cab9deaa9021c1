#!/usr/bin/env node
// Memory benchmark of the npm package (issue 16): what the tab pays, next to what the index says it
// holds, for every way an index comes to exist. Each scenario runs in a fresh `node --no-liftoff`
// process (WebAssembly memory never shrinks, so a process measures one history), for f32 and SQ8, and
// records after each step: index.memory() { indexBytes (= memoryBytes), heapBytes (the WASM memory,
// its high-water mark), heapUsedBytes (the allocator's bytes in use) }, process RSS and peak RSS.
//
//   node bench/memory/memory.mjs [--n 100000] [--dim 768] [--m 16] [--ef-construction 32] [--seed 1]
//        [--quant f32,sq8] [--scenarios single,batch,reserve,churn,frombytes,idb-save,idb-load]
//        [--batch 1000] [--out results.json] [--md results.md]
//
// Scenarios (each one process; all insert the same seeded uniform [-1, 1) rows, l2):
//   single     Index.create, insert() row by row
//   batch      Index.create, insertBatch() of --batch rows at a time, no reserve
//   reserve    Index.create, reserve(n), then the same batches
//   churn      the batched build, delete 30 % of the ids at random, compact(), toBytes() (the bytes go
//              to a temporary file for the next three; compactThreshold 0 so that compaction runs
//              only when asked)
//   frombytes  Index.fromBytes() of churn's bytes
//   idb-save   Index.fromBytes() of churn's bytes, then save() into fake-indexeddb, then toBytes()
//   idb-load   churn's bytes put into fake-indexeddb by the store alone (no WASM), then Index.load()
// Memory does not depend on the data or on efConstruction (only the time does), hence the random rows
// and the low default. POCKETVEC_JS=/abs/path/to/src/node.js measures another copy of the package.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { mulberry32 } from '../js/lib/data.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const JS_ROOT = join(HERE, '..', '..', 'js');
const ENTRY = process.env.POCKETVEC_JS ?? join(JS_ROOT, 'src', 'node.js');
export const NODE_FLAGS = ['--no-liftoff', '--expose-gc'];
export const SCENARIOS = ['single', 'batch', 'reserve', 'churn', 'frombytes', 'idb-save', 'idb-load'];
const NEEDS_BYTES = new Set(['frombytes', 'idb-save', 'idb-load']);
const DELETE_FRACTION = 0.3;
const MiB = 2 ** 20;

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string' }, dim: { type: 'string' }, m: { type: 'string' },
      'ef-construction': { type: 'string' }, seed: { type: 'string' }, batch: { type: 'string' },
      quant: { type: 'string' }, scenarios: { type: 'string' },
      out: { type: 'string' }, md: { type: 'string' }, child: { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log('usage: node bench/memory/memory.mjs [--n N] [--dim D] [--m M] [--ef-construction E] [--seed S]\n' +
      `  [--batch ROWS] [--quant f32,sq8] [--scenarios ${SCENARIOS.join(',')}] [--out FILE.json] [--md FILE.md]`);
    process.exit(0);
  }
  const int = (name, def, min) => {
    const v = values[name];
    if (v === undefined) return def;
    const x = Number(v);
    if (!Number.isSafeInteger(x) || x < min) throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`);
    return x;
  };
  const list = (name, def, allowed) => {
    const items = (values[name] ?? def).split(',');
    for (const s of items) if (!allowed.includes(s)) throw new Error(`unknown --${name} "${s}" (${allowed.join(', ')})`);
    return items;
  };
  const scenarios = list('scenarios', SCENARIOS.join(','), SCENARIOS);
  if (scenarios.some((s) => NEEDS_BYTES.has(s)) && !scenarios.includes('churn')) {
    throw new Error('frombytes, idb-save and idb-load load the bytes churn saves: add churn to --scenarios');
  }
  // churn first: the scenarios after it read its bytes.
  scenarios.sort((a, b) => SCENARIOS.indexOf(a) - SCENARIOS.indexOf(b));
  return {
    child: values.child,
    params: {
      n: int('n', 100_000, 1), dim: int('dim', 768, 1), m: int('m', 16, 2),
      efConstruction: int('ef-construction', 32, 1), seed: int('seed', 1, 0), batch: int('batch', 1000, 1),
    },
    quant: list('quant', 'f32,sq8', ['f32', 'sq8']),
    scenarios,
    out: values.out,
    md: values.md,
  };
}

// ---------------------------------------------------------------------------------------------
// The child: one scenario, one quantization, in this process.

/** The same rows for every scenario: uniform [-1, 1), generated a batch at a time (never all held). */
function* rowBatches({ n, dim, seed, batch }) {
  const rng = mulberry32(seed);
  for (let first = 0; first < n; first += batch) {
    const rows = Math.min(batch, n - first);
    const a = new Float32Array(rows * dim);
    for (let i = 0; i < a.length; i++) a[i] = rng() * 2 - 1;
    yield a;
  }
}

async function runChild(job) {
  const { params: p, quant, scenario, bytesPath } = job;
  const mod = await import(pathToFileURL(ENTRY).href);
  const { Index, openStore } = mod;
  // The module the package's Index uses (ES modules are cached): its heap, also when no index exists.
  const em = await (await import(pathToFileURL(join(dirname(ENTRY), 'loader-node.js')).href)).loadModule();
  if (typeof em._heapUsedBytes !== 'function') {
    throw new Error(`${ENTRY}: the WASM module has no _heapUsedBytes (built before index.memory() existed); rebuild js/dist`);
  }
  const steps = [];
  let heapUsedPeak = 0;
  const samplePeak = () => { heapUsedPeak = Math.max(heapUsedPeak, em._heapUsedBytes()); };
  let t = performance.now();
  const record = (step, index, extra = {}) => {
    globalThis.gc?.();
    const seconds = (performance.now() - t) / 1e3;
    const mem = index ? index.memory() : { indexBytes: null, heapBytes: em.HEAPU8.buffer.byteLength, heapUsedBytes: em._heapUsedBytes() };
    heapUsedPeak = Math.max(heapUsedPeak, mem.heapUsedBytes);
    const row = {
      step, ...mem, heapUsedPeakBytes: heapUsedPeak, size: index ? index.size : null,
      rssBytes: process.memoryUsage().rss, maxRssBytes: process.resourceUsage().maxRSS * 1024,
      seconds: +seconds.toFixed(3), ...extra,
    };
    steps.push(row);
    process.stderr.write(`[${quant}/${scenario}] ${step}: index ${(row.indexBytes ?? 0) / MiB | 0} MiB, heap ${row.heapBytes / MiB | 0} MiB, used ${row.heapUsedBytes / MiB | 0} MiB, ${row.seconds} s\n`);
    t = performance.now();
  };
  const create = (extra = {}) => Index.create({
    dim: p.dim, metric: 'l2', quantization: quant === 'sq8' ? 'sq8' : 'none', m: p.m,
    efConstruction: p.efConstruction, seed: 42, ...extra,
  });
  const buildBatched = (index) => {
    const ids = [];
    for (const rows of rowBatches(p)) {
      ids.push(index.insertBatch(rows));
      samplePeak();
    }
    return ids;
  };
  const idbStore = () => {
    // fake-indexeddb is a devDependency of js/ (in-memory, per process); only these scenarios need it.
    const { IDBFactory } = createRequire(join(JS_ROOT, 'package.json'))('fake-indexeddb');
    return openStore({ indexedDB: new IDBFactory(), dbName: 'pocketvec-memory-bench' });
  };

  record('module loaded', null);
  let index = null;
  if (scenario === 'single') {
    index = await create();
    record('create', index);
    let count = 0;
    for (const rows of rowBatches(p)) {
      for (let r = 0; r < rows.length / p.dim; r++) index.insert(rows.subarray(r * p.dim, (r + 1) * p.dim));
      count += rows.length / p.dim;
      samplePeak();
    }
    record(`build: ${count} single inserts`, index);
  } else if (scenario === 'batch' || scenario === 'reserve' || scenario === 'churn') {
    index = await create(scenario === 'churn' ? { compactThreshold: 0 } : {});
    record('create', index);
    if (scenario === 'reserve') {
      index.reserve(p.n);
      record(`reserve(${p.n})`, index);
    }
    const ids = buildBatched(index);
    record(`build: insertBatch x ${ids.length}`, index);
    if (scenario === 'churn') {
      const all = new Uint32Array(p.n);
      let k = 0;
      for (const part of ids) { all.set(part, k); k += part.length; }
      const rng = mulberry32(p.seed ^ 0x5eed);
      const victims = Math.floor(p.n * DELETE_FRACTION);
      for (let i = 0; i < victims; i++) { // partial Fisher-Yates: the first `victims` of a shuffle
        const j = i + Math.floor(rng() * (p.n - i));
        [all[i], all[j]] = [all[j], all[i]];
        index.delete(all[i]);
      }
      record(`delete ${victims}`, index);
      index.compact();
      record('compact', index);
      const bytes = index.toBytes();
      record('toBytes', index, { bytes: bytes.byteLength });
      writeFileSync(bytesPath, bytes);
    }
  } else {
    // In Node's memory, outside the WASM heap. A plain Uint8Array, as toBytes() returns: fake-indexeddb
    // clones a Node Buffer (a Uint8Array subclass) into a far larger object (7 GB of RSS for 84 MiB).
    const bytes = new Uint8Array(readFileSync(bytesPath));
    if (scenario === 'idb-load') {
      const store = idbStore();
      await store.put('bench', bytes);
      record('store.put (JS only)', null, { bytes: bytes.byteLength });
      index = await Index.load('bench', { store });
      record('Index.load', index);
    } else {
      index = await Index.fromBytes(bytes);
      record('fromBytes', index, { bytes: bytes.byteLength });
      if (scenario === 'idb-save') {
        await index.save('bench', { store: idbStore() });
        record('save', index);
        const again = index.toBytes();
        record('toBytes', index, { bytes: again.byteLength });
      }
    }
  }
  index.dispose();
  record('dispose', null);
  return { quant, scenario, steps };
}

// ---------------------------------------------------------------------------------------------
// The parent: one child process per (quantization, scenario), then the tables.

function runScenario(params, quant, scenario, bytesPath) {
  const job = JSON.stringify({ params, quant, scenario, bytesPath });
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [...NODE_FLAGS, fileURLToPath(import.meta.url), '--child', job], {
    stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * MiB,
  });
  const wallSeconds = (Date.now() - t0) / 1e3;
  if (r.status !== 0) return { quant, scenario, error: `child exited with ${r.signal ?? r.status}`, wallSeconds };
  return { ...JSON.parse(r.stdout), wallSeconds };
}

const fmtMiB = (b) => (b === null || b === undefined ? '—' : (b / MiB).toFixed(1));

export function renderMarkdown(run) {
  const { params: p } = run;
  const out = [`${p.n} x ${p.dim}, m ${p.m}, efConstruction ${p.efConstruction}, seed ${p.seed}, batches of ${p.batch}; ` +
    `sizes in MiB; heapBytes is the WebAssembly memory (never shrinks), RSS the whole Node process.`, ''];
  for (const quant of run.quant) {
    out.push(`#### ${quant}`, '');
    out.push('| scenario | step | memoryBytes | heapBytes | heapBytes/memoryBytes | heapBytes − memoryBytes | heapUsedBytes | RSS | s |');
    out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of run.results.filter((x) => x.quant === quant)) {
      if (r.error) { out.push(`| ${r.scenario} | failed: ${r.error} | | | | | | | |`); continue; }
      for (const s of r.steps) {
        const ratio = s.indexBytes ? (s.heapBytes / s.indexBytes).toFixed(2) : '—';
        const over = s.indexBytes ? fmtMiB(s.heapBytes - s.indexBytes) : '—';
        out.push(`| ${r.scenario} | ${s.step} | ${fmtMiB(s.indexBytes)} | ${fmtMiB(s.heapBytes)} | ${ratio} | ${over} | ${fmtMiB(s.heapUsedBytes)} | ${fmtMiB(s.rssBytes)} | ${s.seconds} |`);
      }
    }
    out.push('');
  }
  const sq8 = run.results.find((r) => r.quant === 'sq8' && r.scenario === 'batch' && r.steps);
  if (sq8) {
    const built = sq8.steps.find((s) => s.step.startsWith('build'));
    const raw = p.n * p.dim * 4;
    out.push(`SQ8 batched build: heapBytes ${fmtMiB(built.heapBytes)} MiB = ${(built.heapBytes / raw).toFixed(3)} x the raw f32 rows (${fmtMiB(raw)} MiB).`, '');
  }
  return out.join('\n');
}

async function main() {
  const opts = parseCli(process.argv.slice(2));
  if (opts.child) {
    process.stdout.write(JSON.stringify(await runChild(JSON.parse(opts.child))));
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'pocketvec-memory-'));
  const run = {
    params: opts.params, quant: opts.quant, scenarios: opts.scenarios, entry: ENTRY,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, nodeFlags: NODE_FLAGS.join(' '), loadAvgStart: loadavg().map((x) => +x.toFixed(2)) },
    startedAt: new Date().toISOString(),
    results: [],
  };
  try {
    for (const quant of opts.quant) {
      const bytesPath = join(work, `${quant}.pvx`);
      for (const scenario of opts.scenarios) run.results.push(runScenario(opts.params, quant, scenario, bytesPath));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  run.finishedAt = new Date().toISOString();
  run.machine.loadAvgEnd = loadavg().map((x) => +x.toFixed(2));
  if (opts.out) writeFileSync(opts.out, JSON.stringify(run, null, 2));
  const md = renderMarkdown(run);
  if (opts.md) writeFileSync(opts.md, md);
  else process.stdout.write(md);
  const failed = run.results.filter((r) => r.error);
  if (failed.length) {
    console.error(`memory: ${failed.map((r) => `${r.quant}/${r.scenario}`).join(', ')} failed`);
    process.exitCode = 1;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e?.stack ?? e);
    process.exitCode = 2;
  });
}
