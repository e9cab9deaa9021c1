#!/usr/bin/env node
// Benchmark harness: pocketvec against the npm libraries people would pick instead, on the same data in
// one run. Prepares the data set and its exact ground truth once (cached in bench/js/.cache), then runs each
// library/configuration in its own `node --no-liftoff` worker process (see worker.mjs for why) one after
// another, and writes a JSON file plus a Markdown report.
//
//   node bench/js/run.mjs --dataset synthetic-10k --libs pocketvec,edgevec,voy-search,hnswlib-wasm \
//        --queries 1000 --warmup 100 --sweep 16,32,64,128,256 --out results.json
//   node bench/js/run.mjs --quick          # CI smoke run: 5k x 128, 200 queries, one pass

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ALIASES, LIBS } from './adapters/index.mjs';
import { DATASETS, prepareDataset } from './lib/data.mjs';
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
  --k N                  neighbours per query (default 10)
  --out FILE             JSON results (default bench/js/results-<dataset>.json)
  --md FILE              Markdown report (default: print to stdout)
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
  return {
    datasets,
    libs,
    configs: values.configs ? values.configs.split(',') : null,
    queries: int('queries', values.queries, quick ? 200 : 1000, 1),
    warmup: int('warmup', values.warmup, quick ? 20 : 100),
    repeats: int('repeats', values.repeats, quick ? 1 : 3, 1),
    sweep,
    k: int('k', values.k, 10, 1),
    out: values.out,
    md: values.md,
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

function runWorker(job) {
  const dir = mkdtempSync(join(tmpdir(), 'pocketvec-bench-'));
  const resultPath = join(dir, 'result.json');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [...NODE_FLAGS, join(HERE, 'worker.mjs'), JSON.stringify({ ...job, resultPath })], {
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  process.stderr.write(r.stderr ?? '');
  let result;
  try {
    result = JSON.parse(readFileSync(resultPath, 'utf8'));
  } catch {
    // No result file: the process died (wasm trap, out of memory, signal) before it could write one.
    const tail = (r.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
    result = { lib: job.lib, config: job.config, error: `worker died (${r.signal ?? `exit ${r.status}`}): ${tail}` };
  }
  rmSync(dir, { recursive: true, force: true });
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
        const result = runWorker({
          lib,
          config: cfg.label,
          meta: metaPublic,
          dataDir: dir,
          queries: opts.queries,
          warmup: opts.warmup,
          repeats: opts.repeats,
          sweep: opts.sweep,
          k: opts.k,
        });
        if (result.error) console.error(`[run] ${lib} / ${cfg.label} FAILED: ${result.error}`);
        run.results.push(result);
      }
    }
    run.machine.loadAvgEnd = loadavg().map((x) => +x.toFixed(2));
    run.finishedAt = new Date().toISOString();
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
