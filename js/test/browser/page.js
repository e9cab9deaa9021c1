// The browser test page: exposes steps the Playwright driver (run.mjs) calls with page.evaluate().
import { Index, PocketvecError, openOpfsStore, openStore, persist, storageInfo } from '../../src/browser.js';
import { WorkerIndex } from '../../src/worker-browser.js';
import { cases } from '../parity/cases.js';

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

const PARITY_DB = 'pocketvec-parity';
const parityStore = openStore({ dbName: PARITY_DB });
const apis = {
  direct: {
    kind: 'direct', idb: true, storeOptions: { store: parityStore },
    create: (o) => Index.create(o), fromBytes: (b) => Index.fromBytes(b), load: (n, o) => Index.load(n, o),
    list: () => Index.list({ store: parityStore }), remove: (n) => Index.remove(n, { store: parityStore }),
  },
  worker: {
    kind: 'worker', idb: true, storeOptions: { dbName: PARITY_DB },
    create: (o) => WorkerIndex.create(o), fromBytes: (b) => WorkerIndex.fromBytes(b), load: (n, o) => WorkerIndex.load(n, o),
    list: () => WorkerIndex.list({ store: parityStore }), remove: (n) => WorkerIndex.remove(n, { store: parityStore }),
  },
};

/** A tiny wasm module whose one function returns a v128 constant: valid only where SIMD128 is. */
const SIMD_PROBE = Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
  10, 22, 1, 20, 0, 253, 12, ...new Array(16).fill(0), 11);

function withTimeout(promise, ms, what) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms))]);
}

window.steps = {
  /** One case of the parity suite against 'direct' or 'worker'; { info } or { error }. */
  async parity(kind, name) {
    const found = cases.find(([n]) => n === name);
    if (!found) return { error: `no case '${name}'` };
    try {
      return { info: (await found[1](apis[kind])) ?? null };
    } catch (err) {
      return { error: `${err.name}: ${err.code ? `${err.code}: ` : ''}${err.message}\n${err.stack ?? ''}` };
    }
  },
  parityNames() {
    return cases.map(([n]) => n);
  },
  /** What this engine offers, measured: wasm SIMD, SharedArrayBuffer (isolated or not), OPFS. */
  async probe() {
    const out = {
      userAgent: navigator.userAgent,
      wasmSimd: WebAssembly.validate(SIMD_PROBE),
      crossOriginIsolated: self.crossOriginIsolated === true,
      sharedArrayBuffer: typeof SharedArrayBuffer === 'function',
      indexedDB: typeof indexedDB === 'object',
    };
    try {
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      out.sharedWasmMemory = Object.prototype.toString.call(memory.buffer).slice(8, -1);
    } catch (err) {
      out.sharedWasmMemory = `no: ${err.name}`;
    }
    try {
      const root = await withTimeout(navigator.storage.getDirectory(), 5000, 'getDirectory');
      await root.getFileHandle('pocketvec-probe-main', { create: true });
      await root.removeEntry('pocketvec-probe-main');
      out.opfs = 'ok';
    } catch (err) {
      out.opfs = `no: ${err.name}: ${err.message}`;
    }
    const worker = new Worker(new URL('./opfs-worker.js', import.meta.url));
    try {
      out.opfsSyncAccessHandle = await withTimeout(new Promise((resolve) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => resolve(`no: worker error ${e.message}`);
        worker.postMessage(0);
      }), 8000, 'OPFS worker');
    } catch (err) {
      out.opfsSyncAccessHandle = `no: ${err.message}`;
    } finally {
      worker.terminate();
    }
    return out;
  },
  /** WorkerIndex: dispose() terminates its Worker and fails the pending call; transfer detaches only on request. */
  async workerLifetime() {
    const terminate = Worker.prototype.terminate;
    let terminated = 0;
    Worker.prototype.terminate = function spy() { terminated += 1; return terminate.call(this); };
    try {
      const index = await WorkerIndex.create({ dim: DIM });
      const kept = vectors(500, 3);
      await index.insertBatch(kept);
      const moved = vectors(500, 4);
      await index.insertBatch(moved, { transfer: true });
      const pending = index.insertBatch(vectors(3000, 5)).then(() => 'resolved', (err) => err.code);
      await index.dispose();
      const failed = await index.search(vectors(1, 1), 1).then(() => 'resolved', (err) => err.code);
      return { keptLength: kept.length, movedLength: moved.length, terminated, pending: await pending, failed };
    } finally {
      Worker.prototype.terminate = terminate;
    }
  },
  errorsSeen() {
    return window.pageErrors;
  },
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
      await index.save(name, { chunkSize: 16384, overwrite: true });
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
  /** storageInfo() and persist() (which may wait for a prompt: 5 s at most); usage and quota by type. */
  async storage() {
    const shape = (i) => ({ ...i, usage: typeof i.usage, quota: typeof i.quota });
    const info = shape(await storageInfo());
    const persisted = await withTimeout(persist(), 5000, 'persist()').then(shape, () => 'no answer in 5 s');
    return { hasStorage: typeof navigator.storage === 'object', info, persist: persisted };
  },
  /** Saves an index of n vectors under `name` (overwrite); keeps its bytes to compare with. */
  async saveSized(name, n) {
    const index = await Index.create({ dim: DIM });
    index.insertBatch(vectors(n, 11));
    window.savedBytes = index.toBytes();
    await index.save(name, { overwrite: true });
    index.dispose();
    return { bytes: window.savedBytes.length, ...(await storageInfo()) };
  },
  /** A save of n vectors over `name` that should fail: its error, and the errors its requests reported. */
  async failingSave(name, n) {
    const index = await Index.create({ dim: DIM });
    index.insertBatch(vectors(n, 12));
    const requestErrors = [];
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function spy(...args) {
      const req = put.apply(this, args);
      req.addEventListener('error', () => requestErrors.push(req.error?.name));
      return req;
    };
    try {
      await index.save(name, { overwrite: true });
      return { saved: index.toBytes().length };
    } catch (err) {
      return { code: err.code, message: err.message, cause: `${err.cause?.constructor?.name} ${err.cause?.name}`, requestErrors };
    } finally {
      IDBObjectStore.prototype.put = put;
      index.dispose();
    }
  },
  /** Whether `name` loads with the bytes saveSized() saved. */
  async loadsSaved(name) {
    const bytes = (await Index.load(name)).toBytes();
    return bytes.length === window.savedBytes.length && bytes.every((b, i) => b === window.savedBytes[i]);
  },
  // Two tabs: each page (or frame) keeps one index (`tab`) and one watch on the default store.
  async tabCreate(name) {
    window.tab = await Index.create({ dim: DIM });
    window.tab.insertBatch(vectors(100, 13));
    return window.tab.save(name);
  },
  async tabLoad(name) {
    window.tab = await Index.load(name);
    return window.tab.size;
  },
  tabWatch() {
    window.heard = [];
    window.stopWatch?.();
    window.stopWatch = openStore().watch((m) => window.heard.push(m));
  },
  tabHeard() {
    return window.heard;
  },
  tabSource() {
    return openStore().source;
  },
  async tabSave(name, overwrite = false) {
    window.tab.insert(vectors(1, window.tab.size)); // a change, so the copies differ
    try {
      return { generation: await window.tab.save(name, { overwrite }) };
    } catch (err) {
      return { code: err.code, message: err.message };
    }
  },
  async tabSize(name) {
    return (await Index.load(name)).size;
  },
  /** A same-origin frame of this page: a second "tab" (own realm, module instances, channels). */
  openFrame() {
    const frame = document.createElement('iframe');
    frame.id = 'tab2';
    frame.src = 'page.html?frame';
    document.body.append(frame);
    return withTimeout(new Promise((resolve) => {
      const poll = () => (frame.contentWindow?.ready === true ? resolve(true) : setTimeout(poll, 50));
      poll();
    }), 20000, 'the frame');
  },
  closeFrame() {
    document.getElementById('tab2')?.contentWindow.stopWatch?.();
    document.getElementById('tab2')?.remove();
  },
  /** The OPFS store: in a module worker (opfs-store.js; with `bench`, its timings), and on this page. */
  async opfsStore(bench) {
    const worker = new Worker(new URL('./opfs-store.js', import.meta.url), { type: 'module' });
    try {
      const inWorker = await withTimeout(new Promise((resolve) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => resolve({ error: `worker error ${e.message}` });
        worker.postMessage({ bench });
      }), bench ? 600000 : 30000, 'OPFS store worker');
      if (bench) return inWorker;
      const onPage = await Index.list({ store: openOpfsStore() }).then(() => 'listed', (err) => `${err.code}: ${err.message}`);
      return { inWorker, onPage };
    } finally {
      worker.terminate();
    }
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
