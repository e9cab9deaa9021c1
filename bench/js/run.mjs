#!/usr/bin/env node
// Benchmark harness: pocketvec against the npm libraries people would pick instead, on the same data in
// one run. Prepares the data set and its exact ground truth once (cached in bench/js/.cache), then runs each
// library/configuration in its own `node --no-liftoff` worker process (see worker.mjs for why) one after
// another, and writes a JSON file plus a Markdown report.
//
//   node bench/js/run.mjs --dataset synthetic-10k --libs pocketvec,edgevec,voy-search,hnswlib-wasm \
//        --queries 1000 --warmup 100 --sweep 16,32,64,128,256 --out results.json
//   node bench/js/run.mjs --quick          # CI smoke run: 5k x 128, 200 queries, one pass

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ALIASES, LIBS } from './adapters/index.mjs';
import { DATASETS, GT_K, prepareDataset } from './lib/data.mjs';
import { renderMarkdown } from './lib/report.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
// TurboFan only: Liftoff (V8's baseline wasm compiler) would otherwise time the first queries' code.
export const NODE_FLAGS = ['--no-liftoff', '--expose-gc', '--max-old-space-size=12288'];

const USAGE = `usage: node bench/js/run.mjs [options]
  --dataset NAME[,NAME]  ${DATASETS.join(' | ')} (default synthetic-10k)
  --libs A,B             ${Object.keys(LIBS).join(',')} (default: all)
  --configs A,B          only these config labels (default: all of each library's; diagnostic
                         ones such as edgevec/cosine-native are skipped above 20k rows and in --quick)
  --queries N            timed queries (default 1000, capped by the data set)
  --warmup N             untimed queries first (default 100)
  --repeats N            timed passes; each statistic is the median over passes (default 3)
  --sweep E,E,...        ef values for the recall/latency curve (default 16,32,64,128,256; "none" to skip)
  --timeout-min N        give up on a library/config after N minutes and say so in the table
                         (default 0: no limit)
  --sweep-config LABEL   sweep this config instead of each library's own choice (usually 'matched');
                         for edgevec, whose ef is fixed at build time, every sweep point is a rebuild
  --k N                  neighbours per query, 1..10 (default 10)
  --out FILE             JSON results (default bench/js/results-<dataset>.json)
  --md FILE              Markdown report (default: print to stdout)
  --merge FILE           start from an earlier results JSON of the same data set and parameters and
                         replace only the library/config rows measured now (e.g. re-run pocketvec alone)
  --quick                CI smoke run: synthetic-quick (5k x 128), 200 queries, 20 warm-up, 1 pass, sweep 16,64`;

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      dataset: { type: 'string' },
      libs: { type: 'string' },
      configs: { type: 'string' },
      queries: { type: 'string' },
      warmup: { type: 'string' },
      repeats: { type: 'string' },
      sweep: { type: 'string' },
      k: { type: 'string' },
      out: { type: 'string' },
      md: { type: 'string' },
      merge: { type: 'string' },
      'sweep-config': { type: 'string' },
      'timeout-min': { type: 'string' },
      quick: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name, v, def, min = 0) => {
    if (v === undefined) return def;
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`);
    return x;
  };
  const quick = Boolean(values.quick);
  const datasets = (values.dataset ?? (quick ? 'synthetic-quick' : 'synthetic-10k')).split(',');
  for (const d of datasets) if (!DATASETS.includes(d)) throw new Error(`unknown --dataset "${d}" (${DATASETS.join(', ')})`);
  const libs = (values.libs ?? Object.keys(LIBS).join(',')).split(',').map((l) => ALIASES[l] ?? l);
  for (const l of libs) if (!LIBS[l]) throw new Error(`unknown library "${l}" (${Object.keys(LIBS).join(', ')})`);
  const sweepArg = values.sweep ?? (quick ? '16,64' : '16,32,64,128,256');
  const sweep = sweepArg === 'none' ? [] : sweepArg.split(',').map((e) => int('sweep', e, 0, 1));
  const k = int('k', values.k, 10, 1);
  if (k > GT_K) throw new Error(`--k must be at most ${GT_K} (the cached ground truth holds ${GT_K} neighbours)`);
  if (values.merge && datasets.length !== 1) throw new Error('--merge takes exactly one --dataset');
  return {
    datasets,
    libs,
    configs: values.configs ? values.configs.split(',') : null,
    queries: int('queries', values.queries, quick ? 200 : 1000, 1),
    warmup: int('warmup', values.warmup, quick ? 20 : 100),
    repeats: int('repeats', values.repeats, quick ? 1 : 3, 1),
    sweep,
    k,
    out: values.out,
    md: values.md,
    merge: values.merge,
    sweepConfig: values['sweep-config'] ?? null,
    timeoutMin: int('timeout-min', values['timeout-min'], 0),
    quick,
  };
}

function machineInfo() {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${process.platform} ${release()}`,
    node: process.version,
    v8: process.versions.v8,
    nodeFlags: NODE_FLAGS.join(' '),
  };
}

function outputPath(opts, dataset) {
  if (!opts.out) return join(HERE, `results-${dataset}.json`);
  if (opts.datasets.length === 1) return opts.out;
  return opts.out.replace(/(\.json)?$/, `-${dataset}.json`);
}

/**
 * Rows of `earlier` that were not measured again are kept; the earlier run's machine and times are
 * recorded under `mergedFrom` so the report can say that rows come from different runs.
 */
function mergeInto(run, earlier) {
  if (earlier.dataset?.name !== run.dataset.name) throw new Error(`--merge file is for ${earlier.dataset?.name}, not ${run.dataset.name}`);
  // The sweep may differ (each row carries its own sweep points); the measurement protocol may not.
  const protocol = ({ queries, warmup, repeats, k }) => JSON.stringify({ queries, warmup, repeats, k });
  const a = protocol(earlier.params);
  const b = protocol(run.params);
  if (a !== b) throw new Error(`--merge file was measured with different parameters (${a} vs ${b})`);
  const fresh = new Set(run.results.map((r) => `${r.lib}/${r.config}`));
  const kept = earlier.results.filter((r) => !fresh.has(`${r.lib}/${r.config}`));
  const order = Object.keys(LIBS);
  const rank = (r) => (order.includes(r.lib) ? order.indexOf(r.lib) : order.length);
  run.results = [...kept, ...run.results].sort((x, y) => rank(x) - rank(y)); // stable: configs keep their order
  const { mergedFrom = [], results, ...rest } = earlier;
  run.mergedFrom = [{ startedAt: rest.startedAt, finishedAt: rest.finishedAt, machine: rest.machine, rows: kept.map((r) => `${r.lib}/${r.config}`) }, ...mergedFrom];
}

/** Runs one worker; its stderr is shown live and also kept, for the error message if it dies. */
async function runWorker(job, timeoutMin) {
  const dir = mkdtempSync(join(tmpdir(), 'pocketvec-bench-'));
  const resultPath = join(dir, 'result.json');
  const t0 = Date.now();
  const loadAvg1 = loadavg()[0];
  const child = spawn(process.execPath, [...NODE_FLAGS, join(HERE, 'worker.mjs'), JSON.stringify({ ...job, resultPath })], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    process.stderr.write(chunk);
    stderr = (stderr + chunk).slice(-64 * 1024);
  });
  let timedOut = false;
  const timer = timeoutMin > 0 ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMin * 60_000) : null;
  const [status, signal] = await new Promise((resolve) => child.on('close', (code, sig) => resolve([code, sig])));
  if (timer) clearTimeout(timer);
  let result;
  try {
    result = JSON.parse(readFileSync(resultPath, 'utf8'));
  } catch {
    // No result file: the process died (wasm trap, out of memory, signal) before it could write one.
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    const why = timedOut ? `did not finish within ${timeoutMin} min` : `worker died (${signal ?? `exit ${status}`})`;
    result = { lib: job.lib, config: job.config, error: `${why}: ${tail}` };
  }
  rmSync(dir, { recursive: true, force: true });
  // A Rust panic inside wasm surfaces as "unreachable"; its message only reaches stderr.
  const panic = /panicked at '([^']+)'/.exec(stderr);
  if (result.error && panic) result.error = `${result.error} (wasm panic: ${panic[1]})`;
  result.measuredAt = new Date(t0).toISOString();
  result.loadAvgAtStart = +loadAvg1.toFixed(2);
  result.wallSeconds = (Date.now() - t0) / 1e3;
  return result;
}

async function main() {
  const opts = parseCli(process.argv.slice(2));
  const allRuns = [];
  for (const dataset of opts.datasets) {
    const meta = prepareDataset(dataset, (m) => console.error(`[data] ${m}`));
    const { dir, ...metaPublic } = meta;
    const run = {
      dataset: metaPublic,
      params: { queries: Math.min(opts.queries, meta.queries), warmup: opts.warmup, repeats: opts.repeats, k: opts.k, sweep: opts.sweep },
      machine: { ...machineInfo(), loadAvgStart: loadavg().map((x) => +x.toFixed(2)) },
      startedAt: new Date().toISOString(),
      results: [],
    };
    for (const lib of opts.libs) {
      const { configs } = await LIBS[lib]();
      for (const cfg of configs(meta)) {
        if (opts.configs && !opts.configs.includes(cfg.label)) continue;
        // Diagnostic configs only show a defect (their timings mean nothing); skip them on big sets
        // unless asked for by name.
        if (cfg.diagnostic && (meta.n > 20_000 || opts.quick) && !opts.configs) continue;
        console.error(`[run] ${dataset}: ${lib} / ${cfg.label}`);
        const result = await runWorker({
          lib,
          config: cfg.label,
          meta: metaPublic,
          dataDir: dir,
          queries: opts.queries,
          warmup: opts.warmup,
          repeats: opts.repeats,
          sweep: opts.sweep,
          sweepConfig: opts.sweepConfig,
          k: opts.k,
        }, opts.timeoutMin);
        if (result.error) console.error(`[run] ${lib} / ${cfg.label} FAILED: ${result.error}`);
        run.results.push(result);
      }
    }
    run.machine.loadAvgEnd = loadavg().map((x) => +x.toFixed(2));
    run.finishedAt = new Date().toISOString();
    if (opts.merge) mergeInto(run, JSON.parse(readFileSync(opts.merge, 'utf8')));
    allRuns.push(run);
    const out = outputPath(opts, dataset);
    writeFileSync(out, JSON.stringify(run, null, 2));
    console.error(`[run] wrote ${out}`);
  }
  const md = allRuns.map(renderMarkdown).join('\n');
  if (opts.md) writeFileSync(opts.md, md);
  else process.stdout.write(md);
  const failed = allRuns.flatMap((r) => r.results).filter((r) => r.error);
  if (failed.length) console.error(`[run] ${failed.length} library run(s) failed; see the table`);
}

main().catch((e) => {
  console.error(e?.message ?? e);
  process.exitCode = 2;
});
