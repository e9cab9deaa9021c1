// The browser side of bench/browser.mjs: window.bench.{overhead, searchBatch, longTasks}.
import { Index } from '../src/browser.js';
import { WorkerIndex } from '../src/worker-browser.js';
import { measureOverhead, vectors } from './lib/overhead.mjs';
import { measureSearchBatch } from './lib/search-batch.mjs';

/** Rows made a few at a time, yielding between, so that making them is no long task of its own. */
async function rows(n, dim, seed) {
  const out = new Float32Array(n * dim);
  const step = 1000;
  for (let first = 0; first < n; first += step) {
    out.set(vectors(Math.min(step, n - first), dim, seed + first), first * dim);
    await new Promise((r) => setTimeout(r, 0));
  }
  return out;
}

/** A bare echo worker: the floor of a message round trip. */
function echo() {
  const worker = new Worker(new URL('./echo-worker.js', import.meta.url));
  let resolve = null;
  worker.onmessage = (e) => resolve(e.data);
  return { roundTrip: (msg) => new Promise((r) => { resolve = r; worker.postMessage(msg); }), close: () => worker.terminate() };
}

window.bench = {
  overhead: (o) => measureOverhead({ Index, WorkerIndex, echo, ...o }),
  searchBatch: (o) => measureSearchBatch({ Index, WorkerIndex, ...o }),
  /**
   * Builds n x dim through WorkerIndex (rows transferred, progress shown) while a PerformanceObserver
   * records the page's long tasks (Chromium only); resolves to the longest, their count and the build time.
   */
  async longTasks({ n, dim, efConstruction = 200 }) {
    if (!PerformanceObserver.supportedEntryTypes?.includes('longtask')) return { error: 'no longtask entries in this engine' };
    const flat = await rows(n, dim, 1);
    const tasks = [];
    const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) tasks.push(e.duration); });
    observer.observe({ type: 'longtask', buffered: false });
    const start = performance.now();
    const index = await WorkerIndex.create({ dim, efConstruction });
    let reports = 0;
    const gaps = [];
    let last = performance.now();
    const ids = await index.insertBatch(flat, {
      transfer: true,
      onProgress: (p) => {
        const t = performance.now();
        if (reports > 0) gaps.push(t - last);
        last = t;
        reports += 1;
        document.getElementById('status').textContent = `${p.done} / ${p.total}`;
      },
    });
    const seconds = (performance.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 100));
    observer.disconnect();
    await index.dispose();
    gaps.sort((a, b) => a - b);
    const gap = (q) => Math.round(gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))] ?? 0);
    return { n, dim, efConstruction, seconds: Math.round(seconds * 10) / 10, rows: ids.length, reports,
      progressGapMs: { p50: gap(0.5), p99: gap(0.99), max: Math.round(gaps.at(-1) ?? 0) },
      longTasks: tasks.length, longestTaskMs: tasks.length ? Math.max(...tasks) : 0 };
  },
};
window.ready = true;
