// The measurement behind search-batch.mjs: queries per second of a loop of search() calls vs one
// searchBatch() call over the same queries, for Index and for WorkerIndex (no Node import here).
import { vectors } from './overhead.mjs';

export async function measureSearchBatch({ Index, WorkerIndex, dim, n, k = 10, queries: q = 1000, ef = 64, rounds = 3 }) {
  const data = vectors(n, dim, 1);
  const buildStart = performance.now();
  const direct = await Index.create({ dim });
  direct.insertBatch(data);
  const buildSeconds = (performance.now() - buildStart) / 1000;
  const worker = await WorkerIndex.fromBytes(direct.toBytes());
  const queries = vectors(q, dim, 2);
  const row = (i) => queries.subarray(i * dim, (i + 1) * dim);
  const best = { directLoop: Infinity, directBatch: Infinity, workerLoop: Infinity, workerBatch: Infinity };
  const time = async (name, fn) => {
    const t0 = performance.now();
    await fn();
    best[name] = Math.min(best[name], performance.now() - t0);
  };
  for (let r = 0; r < rounds; r++) {
    await time('directLoop', () => { for (let i = 0; i < q; i++) direct.search(row(i), k, { ef }); });
    await time('directBatch', () => direct.searchBatch(queries, k, { ef }));
    await time('workerLoop', async () => { for (let i = 0; i < q; i++) await worker.search(row(i), k, { ef }); });
    await time('workerBatch', () => worker.searchBatch(queries, k, { ef }));
  }
  // Same answers both ways.
  const batch = direct.searchBatch(queries, k, { ef });
  const single = direct.search(row(q - 1), k, { ef });
  const same = single.every((h, j) => h.id === batch.ids[(q - 1) * k + j]);
  await worker.dispose();
  direct.dispose();
  const qps = (ms) => Math.round((q / ms) * 1000);
  return {
    dim, n, k, ef, queries: q, buildSeconds: Math.round(buildSeconds * 10) / 10, same,
    qps: Object.fromEntries(Object.entries(best).map(([name, ms]) => [name, qps(ms)])),
    speedup: { direct: Math.round((best.directLoop / best.directBatch) * 100) / 100, worker: Math.round((best.workerLoop / best.workerBatch) * 100) / 100 },
  };
}
