// The module worker of bench/incremental-save.mjs: builds one n x dim index, then per store a full save and
// `rounds` of (insert `add` rows, incremental save, full save), timed; verifies the last segment by loading it.
import { Index, openOpfsStore, openStore } from '../src/browser.js';
import { vectors } from './lib/overhead.mjs';

const log = (msg) => self.postMessage({ log: msg });
const ms = (x) => Math.round(x * 10) / 10;
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  const w = a.length >> 3;
  const x = new BigUint64Array(a.buffer, a.byteOffset, w);
  const y = new BigUint64Array(b.buffer, b.byteOffset, w);
  for (let i = 0; i < w; i++) if (x[i] !== y[i]) return false;
  for (let i = w * 8; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
/** One save, timed; bytes: what it wrote (onProgress's total). */
async function timedSave(index, store, opts) {
  let bytes = -1;
  const t = performance.now();
  await index.save('inc', { store, ...opts, onProgress: (p) => { bytes = p.total; } });
  return { ms: performance.now() - t, bytes };
}

async function run({ n, dim, rounds, add, quantization }) {
  let t = performance.now();
  const index = await Index.create({ dim, m: 8, efConstruction: 16, seed: 1, quantization });
  for (let at = 0, step = 10000; at < n; at += step) index.insertBatch(vectors(Math.min(step, n - at), dim, 7 + at));
  const out = { quantization, n, dim, add, rounds, buildMs: Math.round(performance.now() - t) };
  log(`${quantization}: built ${n} x ${dim} in ${out.buildMs} ms`);
  const queries = vectors(5, dim, 99);
  const stores = [['indexeddb', openStore({ dbName: 'pocketvec-bench-inc' })], ['opfs', openOpfsStore({ dir: 'pocketvec-bench-inc' })]];
  for (const [b, [kind, store]] of stores.entries()) {
    await Index.remove('inc', { store });
    const first = await timedSave(index, store, {});
    const r = { first: { ms: ms(first.ms), bytes: first.bytes }, rounds: [] };
    log(`${quantization} ${kind}: first save ${first.bytes} B in ${Math.round(first.ms)} ms`);
    for (let i = 0; i < rounds; i++) {
      t = performance.now();
      index.insertBatch(vectors(add, dim, 1000 + 100 * b + i));
      const insertMs = performance.now() - t;
      const inc = await timedSave(index, store, {});
      const round = { size: index.size, insertMs: ms(insertMs), incMs: ms(inc.ms), incBytes: inc.bytes };
      if (i === rounds - 1) {
        // The copy is now base + this segment: load it (loaded bytes = base + segments) and compare with memory.
        let loaded = -1;
        t = performance.now();
        const back = await Index.load('inc', { store, onProgress: (p) => { loaded = p.total; } });
        const loadMs = performance.now() - t;
        const mine = index.toBytes();
        const theirs = back.toBytes();
        const hits = (x) => JSON.stringify(Array.from({ length: 5 }, (_, q) => x.search(queries.subarray(q * dim, (q + 1) * dim), 10)));
        r.verify = { loadMs: ms(loadMs), loadedBytes: loaded, toBytesLength: mine.length, sameBytes: sameBytes(mine, theirs),
          sameSize: back.size === index.size, sameSearches: hits(back) === hits(index) };
        back.dispose();
      }
      const full = await timedSave(index, store, { full: true });
      Object.assign(round, { fullMs: ms(full.ms), fullBytes: full.bytes });
      r.rounds.push(round);
      log(`${quantization} ${kind} round ${i + 1}: ${JSON.stringify(round)}`);
    }
    await Index.remove('inc', { store });
    const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
    const med = (xs) => ms(median(xs));
    const inc = r.rounds.map((x) => x.incMs);
    const full = r.rounds.map((x) => x.fullMs);
    r.summary = { incMedianMs: med(inc), incMaxMs: Math.max(...inc), fullMedianMs: med(full), fullMaxMs: Math.max(...full),
      timeRatioMedian: Math.round((med(inc) / med(full)) * 1e5) / 1e5,
      incBytesMedian: median(r.rounds.map((x) => x.incBytes)), fullBytesMedian: median(r.rounds.map((x) => x.fullBytes)),
      bytesRatioMedian: Math.round(median(r.rounds.map((x) => x.incBytes / x.fullBytes)) * 1e6) / 1e6,
      allSegments: r.rounds.every((x) => x.incBytes > 0 && x.incBytes < x.fullBytes / 2) };
    out[kind] = r;
  }
  index.dispose();
  return out;
}

self.onmessage = async ({ data }) => {
  try {
    self.postMessage({ result: await run(data) });
  } catch (err) {
    self.postMessage({ result: { error: err?.code ? `${err.code}: ${err.message}` : `${err?.name}: ${err?.message}\n${err?.stack}` } });
  }
};
