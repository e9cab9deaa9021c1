// Browser benchmarks of the worker API, in the engines of test/browser/engines.mjs (Debian packages):
//   overhead   WorkerIndex.search vs Index.search per call, p50 / p99 (as worker-overhead.mjs)
//   batch      searchBatch vs a loop of search (as search-batch.mjs)
//   longtask   a build through WorkerIndex while the page records long tasks (Chromium: PerformanceObserver 'longtask')
// Usage: node bench/browser.mjs overhead|batch|longtask [key=value ...]   e.g. longtask n=100000 dim=768
//        POCKETVEC_BROWSERS=chromium,firefox,webkit picks engines (longtask: chromium only has the entries).
import { fileURLToPath } from 'node:url';

import { launch, selectedEngines } from '../test/browser/engines.mjs';
import { serve } from '../test/browser/server.mjs';

const [what = 'overhead', ...rest] = process.argv.slice(2);
const defaults = { overhead: { dim: 32, n: 1000, k: 10, calls: 20000 }, batch: { dim: 768, n: 10000, queries: 1000 }, longtask: { n: 20000, dim: 768 } };
if (!defaults[what]) throw new Error(`usage: node bench/browser.mjs overhead|batch|longtask [key=value ...]`);
const params = { ...defaults[what], ...Object.fromEntries(rest.map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)])) };
const fn = { overhead: 'overhead', batch: 'searchBatch', longtask: 'longTasks' }[what];

const jsRoot = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
// Cross-origin isolated: performance.now() then has microsecond resolution (100 us otherwise).
const server = await serve(jsRoot, { isolated: true });
try {
  for (const engine of selectedEngines()) {
    const session = await launch(engine);
    try {
      await session.goto(`${server.url}/bench/page.html`);
      await session.waitFor(() => window.ready === true, null, 30000);
      const result = await session.evaluate(([f, p]) => window.bench[f](p), [fn, params]);
      console.log(JSON.stringify({ where: session.version, what, ...result }));
    } finally {
      await session.close();
    }
  }
} finally {
  await server.close();
}
