// Latency statistics. Percentiles use the nearest-rank definition (the value at rank ceil(p * n)), so every
// reported figure is a latency that was actually observed; with 1 000 samples p99.9 is the largest but one.

export function percentile(sorted, p) {
  if (sorted.length === 0) throw new Error('percentile of an empty sample');
  if (!(p > 0 && p <= 1)) throw new Error(`percentile p must be in (0, 1], got ${p}`);
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length, rank) - 1];
}

export function median(values) {
  if (values.length === 0) throw new Error('median of an empty list');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Summary of one timed pass: latencies in nanoseconds -> microseconds, QPS from the pass's wall time. */
export function summarizePass(latNs, wallNs) {
  const sorted = Float64Array.from(latNs).sort();
  const us = (v) => v / 1e3;
  return {
    p50: us(percentile(sorted, 0.5)),
    p95: us(percentile(sorted, 0.95)),
    p99: us(percentile(sorted, 0.99)),
    p999: us(percentile(sorted, 0.999)),
    mean: us(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    qps: latNs.length / (wallNs / 1e9),
  };
}

/** Per-statistic median over repeated passes (the machine is shared; one noisy pass should not decide). */
export function medianOfPasses(passes) {
  const out = {};
  for (const key of Object.keys(passes[0])) out[key] = median(passes.map((p) => p[key]));
  return out;
}
