// The measurement behind worker-overhead.mjs, shared with the browser bench (no Node import here).

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return (s / 4294967296) * 2 - 1;
  };
}

export function vectors(n, dim, seed) {
  const next = rng(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = next();
  return out;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const us = (ms) => Math.round(ms * 1000 * 100) / 100;

/**
 * `echo()` starts a bare echo worker and resolves to { roundTrip(msg): Promise, close() }: a message's round
 * trip with no pocketvec in it, the floor under any worker API's overhead.
 */
export async function measureOverhead({ Index, WorkerIndex, echo, dim, n, k, calls, rounds = 10 }) {
  const data = vectors(n, dim, 1);
  const direct = await Index.create({ dim });
  direct.insertBatch(data);
  const worker = await WorkerIndex.create({ dim });
  await worker.insertBatch(data);
  const queries = vectors(64, dim, 2);
  const query = (i) => queries.subarray((i % 64) * dim, (i % 64 + 1) * dim);
  const times = { direct: [], worker: [], echo: [] };
  const bare = await echo();
  for (let i = 0; i < 500; i++) { direct.search(query(i), k); await worker.search(query(i), k); await bare.roundTrip({ id: i, op: 'search', args: [query(i), k, {}] }); } // warm-up
  const perRound = Math.ceil(calls / rounds);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < perRound; i++) {
      const t0 = performance.now();
      direct.search(query(i), k);
      times.direct.push(performance.now() - t0);
    }
    for (let i = 0; i < perRound; i++) {
      const t0 = performance.now();
      await worker.search(query(i), k);
      times.worker.push(performance.now() - t0);
    }
    for (let i = 0; i < perRound; i++) {
      const t0 = performance.now();
      await bare.roundTrip({ id: i, op: 'search', args: [query(i), k, {}] });
      times.echo.push(performance.now() - t0);
    }
  }
  await bare.close();
  await worker.dispose();
  direct.dispose();
  const out = { dim, n, k, calls: perRound * rounds };
  for (const [name, list] of Object.entries(times)) {
    list.sort((a, b) => a - b);
    out[name] = { p50_us: us(quantile(list, 0.5)), p99_us: us(quantile(list, 0.99)) };
  }
  // What the worker API adds over a bare message round trip, and over the direct call.
  out.aboveEcho = { p50_us: us(quantile(times.worker, 0.5) - quantile(times.echo, 0.5) - quantile(times.direct, 0.5)) };
  out.overhead = { p50_us: us((quantile(times.worker, 0.5) - quantile(times.direct, 0.5))), p99_us: us(quantile(times.worker, 0.99) - quantile(times.direct, 0.99)) };
  return out;
}
