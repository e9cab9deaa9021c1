// The browser test page: exposes steps the Playwright driver (run.mjs) calls with page.evaluate().
import { Index, PocketvecError } from '../../src/browser.js';

const DIM = 32;

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return (s / 4294967296) * 2 - 1;
  };
}

function vectors(n, seed) {
  const next = rng(seed);
  const out = new Float32Array(n * DIM);
  for (let i = 0; i < out.length; i++) out[i] = next();
  return out;
}

function searchAll(index) {
  const queries = vectors(5, 99);
  return Array.from({ length: 5 }, (_, q) => index.search(queries.subarray(q * DIM, (q + 1) * DIM), 10, { ef: 64 }));
}

function show(text, hits) {
  document.getElementById('status').textContent = text;
  if (hits) {
    document.getElementById('hits').innerHTML = '<tr><th>rank</th><th>id</th><th>distance</th></tr>' +
      hits.map((h, i) => `<tr><td>${i + 1}</td><td>${h.id}</td><td>${h.distance.toFixed(6)}</td></tr>`).join('');
  }
}

/** Makes IDBObjectStore.put fail from its `nth` call on: 'quota' throws, 'abort' aborts the transaction. */
function sabotagePut(nth, how) {
  const original = IDBObjectStore.prototype.put;
  let calls = 0;
  IDBObjectStore.prototype.put = function put(...args) {
    calls += 1;
    if (calls === nth) {
      if (how === 'quota') throw new DOMException('simulated quota', 'QuotaExceededError');
      const req = original.apply(this, args);
      this.transaction.abort();
      return req;
    }
    return original.apply(this, args);
  };
  return () => { IDBObjectStore.prototype.put = original; };
}

window.steps = {
  async buildAndSave(name, seed) {
    const index = await Index.create({ dim: DIM, metric: 'cosine', seed: 42 });
    index.insertBatch(vectors(2000, seed));
    const hits = searchAll(index);
    await index.save(name, { chunkSize: 16384 });
    show(`saved "${name}": ${index.size} vectors, ${index.toBytes().length} bytes`, hits[0]);
    index.dispose();
    return hits;
  },
  async loadAndSearch(name) {
    const index = await Index.load(name);
    if (index === null) return null;
    const hits = searchAll(index);
    show(`loaded "${name}" after a reload: ${index.size} vectors; nearest to query 0:`, hits[0]);
    index.dispose();
    return hits;
  },
  async failedSave(name, how) {
    const index = await Index.create({ dim: DIM, metric: 'cosine' });
    index.insertBatch(vectors(3000, 7));
    const restore = sabotagePut(3, how);
    try {
      await index.save(name, { chunkSize: 16384 });
      return 'saved (unexpected)';
    } catch (err) {
      return err instanceof PocketvecError ? `${err.code}: ${err.message}` : `other error: ${err}`;
    } finally {
      restore();
      index.dispose();
    }
  },
  async errors() {
    const index = await Index.create({ dim: DIM });
    const seen = [];
    for (const bad of [() => index.insert(new Float32Array(3)), () => index.search(new Float32Array(DIM), 3)]) {
      try { bad(); seen.push('no error'); } catch (err) { seen.push(err instanceof PocketvecError ? err.code : String(err)); }
    }
    index.insert(new Float32Array(DIM).fill(1));
    seen.push(index.search(new Float32Array(DIM).fill(1), 1)[0].distance);
    index.dispose();
    return seen;
  },
  async list() {
    return Index.list();
  },
  async inWorker(seed) {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const result = await new Promise((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage({ seed, flat: vectors(2000, seed), queries: vectors(5, 99), dim: DIM });
    });
    worker.terminate();
    return result;
  },
};
window.ready = true;
