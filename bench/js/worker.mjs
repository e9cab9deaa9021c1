// Measures one library in one configuration, in a process of its own (run.mjs starts one per library and
// config): WebAssembly memory only ever grows, so a fresh process is the only way to attribute heap
// growth to one index, and it keeps one library's JIT and GC state out of another's timings.
// Usage: node --no-liftoff --expose-gc worker.mjs <json job>   (writes its result as JSON to job.resultPath)

import { writeFileSync } from 'node:fs';
import { LIBS } from './adapters/index.mjs';
import { bundleSize } from './lib/bundle.mjs';
import { loadPrepared } from './lib/data.mjs';
import { recallAtK } from './lib/groundtruth.mjs';
import { medianOfPasses, summarizePass } from './lib/stats.mjs';

const job = JSON.parse(process.argv[2]);
const now = () => process.hrtime.bigint();
const ms = (a, b) => Number(b - a) / 1e6;
const gc = () => globalThis.gc?.();
const log = (msg) => process.stderr.write(`[${job.lib}/${job.config}] ${msg}\n`);

/** Warm-up, then `repeats` timed passes over the queries; recall is scored on the first timed pass. */
function measureSearch(adapter, data, qViews, { k, warmup, repeats }) {
  const nq = qViews.length;
  for (let i = 0; i < warmup; i++) adapter.search(qViews[i % nq], k);
  const passes = [];
  let recallSum = 0;
  const lat = new Float64Array(nq);
  for (let r = 0; r < repeats; r++) {
    gc();
    const results = r === 0 ? new Array(nq) : null;
    const start = now();
    for (let i = 0; i < nq; i++) {
      const t0 = now();
      const res = adapter.search(qViews[i], k);
      lat[i] = Number(now() - t0);
      if (results) results[i] = res;
    }
    const wall = Number(now() - start);
    passes.push(summarizePass(lat, wall));
    if (results) for (let i = 0; i < nq; i++) recallSum += recallAtK(results[i], i, data, k);
  }
  return { ...medianOfPasses(passes), recall: recallSum / nq, passes: passes.length };
}

// Filled in as measurements complete, so a failure still reports what was measured before it.
let out = { lib: job.lib, config: job.config };

async function main() {
  const tLoad0 = now();
  const { createAdapter } = await LIBS[job.lib]();
  const adapter = await createAdapter();
  const loadMs = ms(tLoad0, now());
  const cfg = adapter.configs(job.meta).find((c) => c.label === job.config);
  if (!cfg) throw new Error(`${job.lib} has no config "${job.config}"`);
  const sweepThis = job.sweepConfig ? cfg.label === job.sweepConfig : Boolean(cfg.sweep);

  const data = loadPrepared(job.dataDir);
  const { dim, n, metric } = data.meta;
  const nq = Math.min(job.queries, data.query.length / dim);
  const qViews = [];
  for (let i = 0; i < nq; i++) qViews.push(data.query.subarray(i * dim, (i + 1) * dim));
  // No seed is imposed: each library builds with its own default seed, as a user would get.
  const baseOpts = { metric, ...cfg.params };
  const searchOpts = { k: job.k, warmup: job.warmup, repeats: job.repeats };

  const build = async (opts) => {
    const prepared = adapter.prepare ? adapter.prepare(data.base, n, dim) : undefined;
    gc();
    const t0 = now();
    await adapter.build(data.base, n, dim, opts, prepared);
    return ms(t0, now()) / 1e3;
  };

  out = {
    lib: adapter.name,
    version: adapter.version,
    config: cfg.label,
    note: cfg.note,
    loadMs,
    exact: Boolean(adapter.exact),
  };
  try {
    out.bundle = bundleSize(adapter.bundleFiles());
    if (adapter.bundleNote) out.bundle.note = adapter.bundleNote();
  } catch (e) {
    out.bundle = { error: String(e.message ?? e) };
  }

  gc();
  const wasmBefore = adapter.wasmMemoryBytes?.() ?? null;
  const jsBefore = process.memoryUsage();
  log(`building ${n} x ${dim} (${metric})`);
  out.buildSeconds = await build(baseOpts);
  if (adapter.buildNote) out.buildNote = adapter.buildNote();
  log(`built in ${out.buildSeconds.toFixed(2)} s`);
  gc();
  const jsAfter = process.memoryUsage();
  const wasmAfter = adapter.wasmMemoryBytes?.() ?? null;
  out.memory = {
    libReported: adapter.memoryBytes ? adapter.memoryBytes() : null,
    libReportedNote: adapter.memoryNote ?? null,
    libDetail: adapter.memoryDetail ? adapter.memoryDetail() : null,
    wasmHeapGrowth: wasmBefore !== null && wasmAfter !== null ? wasmAfter - wasmBefore : null,
    wasmHeapTotal: wasmAfter,
    jsHeapGrowth: jsAfter.heapUsed - jsBefore.heapUsed,
    // Typed arrays held outside the JS heap (e.g. data a library copies out of wasm).
    arrayBuffersGrowth: jsAfter.arrayBuffers - jsBefore.arrayBuffers,
  };

  try {
    out.serializedBytes = adapter.serializedBytes ? await adapter.serializedBytes() : null;
    out.serializedNote = adapter.serializedNote ?? null;
  } catch (e) {
    out.serializedBytes = null;
    out.serializedError = String(e.message ?? e);
    log(`serialization failed: ${out.serializedError}`);
  }

  log(`searching ${nq} queries at the config's ef`);
  out.atDefault = { ef: baseOpts.ef ?? adapter.defaults?.ef ?? null, ...measureSearch(adapter, data, qViews, searchOpts) };
  log(`p50 ${out.atDefault.p50.toFixed(1)} us, recall ${out.atDefault.recall.toFixed(4)}`);

  if (sweepThis && job.sweep.length > 0) {
    out.sweep = [];
    for (const ef of job.sweep) {
      const point = { ef };
      if (adapter.setEf) {
        adapter.setEf(ef);
      } else if (adapter.efAtBuild) {
        adapter.dispose();
        point.buildSeconds = await build({ ...baseOpts, ef });
      } else {
        break;
      }
      Object.assign(point, measureSearch(adapter, data, qViews, searchOpts));
      log(`ef ${ef}: p50 ${point.p50.toFixed(1)} us, recall ${point.recall.toFixed(4)}`);
      out.sweep.push(point);
    }
  }
  adapter.dispose();
}

main()
  .then(() => writeFileSync(job.resultPath, JSON.stringify(out)))
  .catch((e) => {
    log(`FAILED: ${e?.stack ?? e}`);
    // Keep what was measured before the failure (each figure is stored only once complete).
    writeFileSync(job.resultPath, JSON.stringify({ ...out, error: String(e?.message ?? e) }));
    process.exitCode = 1;
  });
