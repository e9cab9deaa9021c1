// A module worker for the OPFS store (src/idb.js): save an index, load it back (same bytes), incremental
// saves (appended, reloaded equal), a conflict and its overwrite, list/remove; or (bench) save/load times of IndexedDB and OPFS for one large index.
import { Index, openOpfsStore, openStore } from '../../src/browser.js';

const fail = (err) => (err?.code ? `${err.code}: ${err.message}` : `${err?.name}: ${err?.message}`);
const equal = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

function vectors(n, dim, seed) {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

async function roundTrip() {
  const store = openOpfsStore({ dir: 'pocketvec-test' });
  const out = {};
  const a = await Index.create({ dim: 32, metric: 'cosine', seed: 42 });
  a.insertBatch(vectors(2000, 32, 1));
  try {
    const g = await a.save('notes', { store, chunkSize: 65536, overwrite: true });
    const b = await Index.load('notes', { store });
    out.sameBytes = equal(a.toBytes(), b.toBytes());
    b.insertBatch(vectors(3, 32, 2));
    let total = 0;
    out.next = (await b.save('notes', { store, onProgress: (p) => { total = p.total; } })) - g;
    // That save appended a segment (a small part of the file); the copy reloads as b, and so after a second one.
    out.appended = total > 0 && total < a.toBytes().length / 10;
    b.delete(7);
    await b.save('notes', { store });
    out.incremental = equal(b.toBytes(), (await Index.load('notes', { store })).toBytes());
    a.insertBatch(vectors(1, 32, 3));
    out.conflict = await a.save('notes', { store }).then(() => 'saved', fail);
    out.overwrite = (await a.save('notes', { store, overwrite: true })) - g;
    out.reloaded = equal(a.toBytes(), (await Index.load('notes', { store })).toBytes());
    out.list = await Index.list({ store });
    out.removed = await Index.remove('notes', { store });
    out.after = await Index.load('notes', { store });
  } catch (err) {
    out.error = fail(err);
  }
  return out;
}

/** Medians of `runs` saves and loads of an n x dim index through each store, in ms and MB/s. */
async function bench({ n, dim, runs }) {
  const t0 = performance.now();
  const index = await Index.create({ dim, m: 8, efConstruction: 16, seed: 1 });
  index.insertBatch(vectors(n, dim, 7));
  const bytes = index.toBytes().length;
  const out = { n, dim, bytes, buildMs: Math.round(performance.now() - t0), userAgent: navigator.userAgent };
  const median = (xs) => xs.sort((x, y) => x - y)[xs.length >> 1];
  for (const [kind, store] of [['indexeddb', openStore({ dbName: 'pocketvec-bench' })], ['opfs', openOpfsStore({ dir: 'pocketvec-bench' })]]) {
    const save = [];
    const load = [];
    for (let r = 0; r < runs; r++) {
      let t = performance.now();
      await index.save('bench', { store, overwrite: true, full: true });
      save.push(performance.now() - t);
      t = performance.now();
      const back = await Index.load('bench', { store });
      load.push(performance.now() - t);
      if (back.size !== n) throw new Error(`loaded ${back.size} vectors`);
      back.dispose();
    }
    await Index.remove('bench', { store });
    const s = median(save);
    const l = median(load);
    out[kind] = { saveMs: Math.round(s), loadMs: Math.round(l), saveMBps: Math.round(bytes / 1e3 / s), loadMBps: Math.round(bytes / 1e3 / l),
      saves: save.map(Math.round), loads: load.map(Math.round) };
  }
  index.dispose();
  return out;
}

self.onmessage = async ({ data }) => {
  try {
    self.postMessage(data?.bench ? await bench(data.bench) : await roundTrip());
  } catch (err) {
    self.postMessage({ error: fail(err) });
  }
};
