// cases.js — one suite for both APIs: the direct Index and the WorkerIndex. Each case awaits every call,
// so a synchronous Index answer and a WorkerIndex promise are checked by the same code. Runs in Node
// (test/parity.test.js, the worker through worker_threads) and in every browser (test/browser/).
//
// `api` is { kind: 'direct' | 'worker', create(options), fromBytes(bytes, options), load(name, options),
// storeOptions (merged into save/load: { store } for Index, { dbName } for WorkerIndex), list(), remove(name),
// idb (whether IndexedDB is there) }.
import { bruteForce, randomVectors, row } from '../helpers.js';
import { check } from './check.js';

const NO_ID = 0xffffffff;

async function filled(api, { n = 300, dim = 16, seed = 1, ...options } = {}) {
  const index = await api.create({ dim, seed: 7, ...options });
  const flat = randomVectors(n, dim, seed);
  const ids = await index.insertBatch(flat);
  return { index, flat, ids, dim };
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

export const cases = [
  ['search returns the exact top 10 (l2, cosine, ip)', async (api) => {
    for (const metric of ['l2', 'cosine', 'ip']) {
      const { index, flat, ids, dim } = await filled(api, { metric });
      check.ok(ids instanceof Uint32Array && ids.length === 300, 'ids');
      const model = new Map([...ids].map((id, i) => [id, row(flat, dim, i)]));
      const queries = randomVectors(8, dim, 2);
      for (let q = 0; q < 8; q++) {
        const hits = await index.search(row(queries, dim, q), 10, { ef: 400 });
        check.deepEqual(hits.map((h) => h.id), bruteForce(metric, model, row(queries, dim, q), 10).map((h) => h.id), `${metric} query ${q}`);
      }
      await index.dispose();
    }
  }],

  ['properties, has, get, delete, compact and ids()', async (api) => {
    const { index, flat, ids, dim } = await filled(api, { n: 50, compactThreshold: 0 });
    check.equal(await index.dim, dim);
    check.equal(await index.metric, 'l2');
    check.equal(await index.quantization, 'none');
    check.equal(await index.m, 16);
    check.equal(await index.seed, 7);
    check.equal(await index.size, 50);
    check.equal(await index.has(ids[3]), true);
    check.deepEqual(await index.get(ids[3]), row(flat, dim, 3));
    await index.delete(ids[3]);
    await index.delete(ids[10]);
    check.equal(await index.has(ids[3]), false);
    check.equal(await index.deletedCount, 2);
    check.equal(await index.tombstoneRatio, 2 / 50);
    check.deepEqual(await index.ids(), Uint32Array.from([...ids].filter((_, i) => i !== 3 && i !== 10)), 'ids() after deletes');
    const progress = [];
    await index.compact({ onProgress: (p) => progress.push(p) });
    check.deepEqual(progress, [{ done: 0, total: 1, fraction: 0 }, { done: 1, total: 1, fraction: 1 }], 'compact progress');
    check.equal(await index.deletedCount, 0);
    check.equal(await index.size, 48);
    const upserted = await index.insert(row(flat, dim, 0), 1000);
    check.equal(upserted, 1000);
    const ids2 = await index.ids();
    check.equal(ids2.length, 49);
    check.equal(ids2[48], 1000, 'ids() ascending');
    check.ok((await index.memoryBytes) > 50 * dim * 4, 'memoryBytes');
    const mem = await index.memory();
    check.ok(mem.heapBytes >= mem.indexBytes && mem.indexBytes > 0, 'memory()');
    check.deepEqual(await index.sq8, { trained: false, encoded: 0, clamped: 0, clampedFraction: 0 });
    await index.dispose();
  }],

  ['errors arrive as PocketvecError codes and the index still works afterwards', async (api) => {
    await check.rejects(() => api.create({ dim: 8, ef_construction: 5 }), 'invalid_argument', 'unknown option');
    await check.rejects(() => api.create({ dim: 0 }), 'invalid_argument', 'dim 0');
    const index = await api.create({ dim: 4, metric: 'cosine', compactThreshold: 0 });
    await check.rejects(() => index.search(new Float32Array(4).fill(1), 3), 'empty_index');
    await check.rejects(() => index.insert(new Float32Array(3)), 'dimension_mismatch');
    await check.rejects(() => index.insert(new Float32Array(4)), 'zero_vector');
    await check.rejects(() => index.insert(Float32Array.of(1, NaN, 0, 0)), 'non_finite');
    await check.rejects(() => index.insert([1, 2, 3, 4]), 'invalid_argument', 'an Array is not a Float32Array');
    await check.rejects(() => index.insertBatch(new Float32Array(4 * 5).fill(1).fill(NaN, 13, 14)), 'non_finite');
    await check.rejects(() => index.delete(5), 'unknown_id');
    await check.rejects(() => index.get(-1), 'invalid_argument');
    const id = await index.insert(Float32Array.of(1, 0, 0, 0));
    await index.delete(id);
    await check.rejects(() => index.delete(id), 'deleted_id');
    await check.rejects(() => api.fromBytes(new Uint8Array(3)), 'corrupt_data');
    await check.rejects(() => index.searchBatch(new Float32Array(6), 2), 'dimension_mismatch');
    await check.rejects(() => index.insertBatch(new Float32Array(4), { onProgress: 5 }), 'invalid_argument');
    // Still usable, and nothing of the failed calls was stored.
    check.equal(await index.size, 0);
    const next = await index.insert(Float32Array.of(0, 1, 0, 0));
    check.equal(next, id + 1, 'ids are never reused');
    check.deepEqual(await index.search(Float32Array.of(0, 2, 0, 0), 1), [{ id: next, distance: 0 }]);
    await index.dispose();
  }],

  ['searchBatch equals a loop of searches; short rows are padded with 0xFFFFFFFF / Infinity', async (api) => {
    const { index, dim } = await filled(api, { n: 200 });
    const queries = randomVectors(12, dim, 5);
    const { ids, distances } = await index.searchBatch(queries, 10, { ef: 80 });
    check.ok(ids instanceof Uint32Array && distances instanceof Float32Array, 'typed arrays');
    check.equal(ids.length, 120);
    for (let q = 0; q < 12; q++) {
      const hits = await index.search(row(queries, dim, q), 10, { ef: 80 });
      check.deepEqual(Array.from(ids.subarray(q * 10, q * 10 + 10)), hits.map((h) => h.id), `row ${q} ids`);
      check.deepEqual(Array.from(distances.subarray(q * 10, q * 10 + 10)), hits.map((h) => h.distance), `row ${q} distances`);
    }
    const empty = await index.searchBatch(new Float32Array(0), 5);
    check.equal(empty.ids.length, 0);
    await check.rejects(() => index.searchBatch(queries, 0), 'invalid_argument', 'k = 0');
    const bad = queries.slice(0, 3 * dim);
    bad[dim + 2] = NaN;
    const error = await check.rejects(() => index.searchBatch(bad, 5), 'non_finite');
    check.ok(/^query 1: /.test(error.message), `the message names the row: ${error.message}`);
    await index.dispose();

    const small = await filled(api, { n: 3 });
    const wide = await small.index.searchBatch(randomVectors(2, small.dim, 9), 5, { ef: 10 });
    for (let q = 0; q < 2; q++) {
      check.deepEqual(Array.from(wide.ids.subarray(q * 5 + 3, q * 5 + 5)), [NO_ID, NO_ID], 'padding ids');
      check.deepEqual(Array.from(wide.distances.subarray(q * 5 + 3, q * 5 + 5)), [Infinity, Infinity], 'padding distances');
      check.ok(wide.ids.subarray(q * 5, q * 5 + 3).every((id) => id < 3), 'real hits first');
    }
    await small.index.delete(small.ids[0]);
    await small.index.delete(small.ids[1]);
    await small.index.delete(small.ids[2]);
    await check.rejects(() => small.index.searchBatch(randomVectors(1, small.dim, 9), 5), 'empty_index');
    await small.index.dispose();
  }],

  ['insertBatch progress is monotone and ends at 100 %', async (api) => {
    const dim = 32;
    const index = await api.create({ dim, m: 8, efConstruction: 64 });
    const flat = randomVectors(3000, dim, 3);
    const seen = [];
    const ids = await index.insertBatch(flat, { onProgress: (p) => seen.push(p) });
    check.equal(ids.length, 3000);
    check.ok(seen.length >= 2, `at least a first and a last report, got ${seen.length}`);
    check.deepEqual(seen[0], { done: 0, total: 3000, fraction: 0 }, 'first report');
    check.deepEqual(seen.at(-1), { done: 3000, total: 3000, fraction: 1 }, 'last report');
    for (let i = 1; i < seen.length; i++) check.ok(seen[i].done >= seen[i - 1].done, `report ${i} goes back: ${seen[i - 1].done} -> ${seen[i].done}`);
    // Paced pieces build what one call builds.
    const plain = await api.create({ dim, m: 8, efConstruction: 64 });
    await plain.insertBatch(flat);
    check.deepEqual(await index.toBytes(), await plain.toBytes(), 'paced batch == plain batch');
    await index.dispose();
    await plain.dispose();
  }],

  ['an abort mid-batch leaves the index exactly as before (toBytes) and ids are not used up', async (api) => {
    const dim = 32;
    const { index } = await filled(api, { n: 100, dim });
    const before = await index.toBytes();
    const controller = new AbortController();
    const seen = [];
    let abortedAt = 0;
    const error = await check.rejects(() => index.insertBatch(randomVectors(4000, dim, 4), {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p.done);
        if (p.done > 0 && !controller.signal.aborted) {
          abortedAt = performance.now();
          controller.abort(new Error('user cancelled'));
        }
      },
    }), 'aborted');
    const latency = performance.now() - abortedAt;
    check.ok(abortedAt > 0, `aborted mid-batch (reports: ${seen.join(', ')})`);
    check.equal(error.cause?.message, 'user cancelled', 'cause is signal.reason');
    check.ok(latency < 250, `the batch stopped ${latency.toFixed(1)} ms after the abort`);
    check.deepEqual(await index.toBytes(), before, 'bytes after the abort');
    check.equal(await index.size, 100);
    // An aborted signal stops the call before any work.
    await check.rejects(() => index.insertBatch(randomVectors(10, dim, 5), { signal: controller.signal }), 'aborted');
    await check.rejects(() => index.compact({ signal: controller.signal }), 'aborted');
    const more = await index.insertBatch(randomVectors(2, dim, 6));
    check.deepEqual(Array.from(more), [100, 101], 'ids continue as if the batch never ran');
    await index.dispose();
    return { abortLatencyMs: latency };
  }],

  ['toBytes and fromBytes round trip; SQ8 state comes along', async (api) => {
    const { index, flat, dim } = await filled(api, { n: 400, quantization: 'sq8', sq8TrainingSize: 200 });
    const sq8 = await index.sq8;
    check.equal(sq8.trained, true);
    check.equal(sq8.encoded, 400 * dim);
    const bytes = await index.toBytes();
    check.ok(bytes instanceof Uint8Array && bytes.length > 400 * dim, 'bytes');
    const copy = await api.fromBytes(bytes);
    check.equal(await copy.quantization, 'sq8');
    check.deepEqual(await copy.sq8, sq8);
    for (let q = 0; q < 5; q++) {
      check.deepEqual(await copy.search(row(flat, dim, q), 5), await index.search(row(flat, dim, q), 5), `query ${q}`);
    }
    check.deepEqual(await copy.toBytes(), bytes);
    await index.dispose();
    await copy.dispose();
  }],

  ['save and load through IndexedDB, with progress; an abort keeps the previous copy', async (api) => {
    if (!api.idb) return { skipped: 'no IndexedDB here' };
    const name = `parity-${api.kind}`;
    const { index, flat, dim } = await filled(api, { n: 500, dim: 32 });
    const saving = [];
    await index.save(name, { ...api.storeOptions, chunkSize: 4096, onProgress: (p) => saving.push(p) });
    check.ok(saving.length >= 2 && saving[0].done === 0 && saving.at(-1).fraction === 1, `save progress ${JSON.stringify(saving.slice(-2))}`);
    for (let i = 1; i < saving.length; i++) check.ok(saving[i].done >= saving[i - 1].done, 'save progress is monotone');
    const loading = [];
    const loaded = await api.load(name, { ...api.storeOptions, onProgress: (p) => loading.push(p) });
    check.ok(loaded !== null, 'loaded');
    check.ok(loading.length >= 2 && loading[0].done === 0 && loading.at(-1).fraction === 1, 'load progress');
    check.deepEqual(await loaded.search(row(flat, dim, 7), 5), await index.search(row(flat, dim, 7), 5));
    check.ok((await api.list()).includes(name), 'list()');
    // A save aborted part-way (from its first report) rolls back: the copy before it still loads. The
    // worker's save may finish before the abort message reaches it; then the new copy is complete.
    await index.insert(row(flat, dim, 0));
    const controller = new AbortController();
    let outcome = 'aborted';
    try {
      await index.save(name, { ...api.storeOptions, chunkSize: 1024, signal: controller.signal, onProgress: () => controller.abort() });
      outcome = 'saved';
    } catch (err) {
      check.equal(err.code, 'aborted');
    }
    if (api.kind === 'direct') check.equal(outcome, 'aborted', 'a direct save aborted from its first report');
    const again = await api.load(name, api.storeOptions);
    check.equal(await again.size, outcome === 'aborted' ? 500 : 501, `the copy after an abort (${outcome})`);
    // (That save was an append: a segment cut off mid-way.) The next one extends the last committed
    // copy and loads as the index.
    await index.save(name, api.storeOptions);
    const after = await api.load(name, api.storeOptions);
    check.deepEqual(await after.toBytes(), await index.toBytes(), 'the save after an aborted one loads as the index');
    await after.dispose();
    await check.rejects(() => api.load(name, { ...api.storeOptions, signal: controller.signal }), 'aborted');
    check.equal(await api.load(`${name}-none`, api.storeOptions), null);
    check.equal(await api.remove(name), true);
    for (const i of [index, loaded, again]) await i.dispose();
    return { saveAbort: outcome };
  }],

  ['incremental saves: after changes a save writes a segment (a fraction of the file), reloads equal; full and compact rewrite', async (api) => {
    if (!api.idb) return { skipped: 'no IndexedDB here' };
    const name = `parity-segments-${api.kind}`;
    const { index, flat, dim } = await filled(api, { n: 1000, dim: 64 });
    await api.remove(name);
    /** Saves; returns the bytes it wrote (its progress total) after checking that a reload is the index. */
    const save = async (i, options = {}) => {
      let total = -1;
      await i.save(name, { ...api.storeOptions, ...options, onProgress: (p) => { total = p.total; } });
      const back = await api.load(name, api.storeOptions);
      check.deepEqual(await back.toBytes(), await i.toBytes(), 'the reload is the index');
      await back.dispose();
      return total;
    };
    const full = (await index.toBytes()).length;
    check.equal(await save(index), full, 'a first save writes the whole file');
    const extra = randomVectors(60, dim, 5);
    await index.insertBatch(extra.subarray(0, 20 * dim));
    await index.delete(3);
    await index.insert(row(flat, dim, 9), 4); // an upsert
    const s1 = await save(index);
    check.ok(s1 > 0 && s1 < full / 5, `an append after 22 changes writes ${s1} of ${full} bytes`);
    // An index loaded from the copy appends to it too.
    const loaded = await api.load(name, api.storeOptions);
    await loaded.insertBatch(extra.subarray(20 * dim, 40 * dim));
    const s2 = await save(loaded);
    check.ok(s2 > 0 && s2 < full / 5, `an append by the loaded index: ${s2} bytes`);
    await check.rejects(() => index.save(name, api.storeOptions), 'conflict', 'the first index, after the loaded one appended');
    await check.rejects(() => loaded.save(name, { ...api.storeOptions, full: 'yes' }), 'invalid_argument');
    await loaded.insert(row(extra, dim, 50));
    const whole = await save(loaded, { full: true });
    check.equal(whole, (await loaded.toBytes()).length, 'full: true writes the whole file');
    await loaded.delete(5);
    await loaded.compact();
    check.equal(await save(loaded), (await loaded.toBytes()).length, 'a save after compact() writes the whole file');
    await loaded.insert(row(extra, dim, 51));
    const s3 = await save(loaded);
    check.ok(s3 > 0 && s3 < full / 20, `and the next appends again: ${s3} bytes`);
    check.equal(await api.remove(name), true);
    for (const i of [index, loaded]) await i.dispose();
    return { full, appends: [s1, s2, s3] };
  }],

  ['two indexes saving one name: conflict unless loaded from it or overwrite, and the copy is untouched', async (api) => {
    if (!api.idb) return { skipped: 'no IndexedDB here' };
    const name = `parity-conflict-${api.kind}`;
    const { index: a } = await filled(api, { n: 50, dim: 8 });
    const { index: b } = await filled(api, { n: 60, dim: 8, seed: 2 });
    const g1 = await a.save(name, api.storeOptions);
    check.ok(Number.isSafeInteger(g1), `save resolves to the generation, got ${g1}`);
    const err = await check.rejects(() => b.save(name, api.storeOptions), 'conflict', 'a save over a copy this index never had');
    check.ok(err.message.includes(`generation ${g1}`) && err.message.includes('overwrite: true'), err.message);
    const first = await api.load(name, api.storeOptions);
    check.equal(await first.size, 50, 'the conflicting save wrote nothing');
    await check.rejects(() => b.save(name, { ...api.storeOptions, overwrite: 'yes' }), 'invalid_argument');
    check.equal(await b.save(name, { ...api.storeOptions, overwrite: true }), g1 + 1, 'overwrite');
    await check.rejects(() => a.save(name, api.storeOptions), 'conflict', 'a save over a newer copy');
    await check.rejects(() => first.save(name, api.storeOptions), 'conflict', 'the index loaded before, after the overwrite');
    const second = await api.load(name, api.storeOptions);
    await second.insert(new Float32Array(8).fill(0.25));
    check.equal(await second.save(name, api.storeOptions), g1 + 2, 'the index loaded from the copy saves over it');
    check.equal(await second.save(name, api.storeOptions), g1 + 3, 'and again');
    const overlapping = await Promise.all([second.save(name, api.storeOptions), second.save(name, api.storeOptions)]);
    check.deepEqual(overlapping, [g1 + 4, g1 + 5], 'saves of one index, not awaited in between, do not conflict');
    check.equal(await (await api.load(name, api.storeOptions)).size, 61);
    check.equal(await api.remove(name), true);
    check.ok(await a.save(name, api.storeOptions) > g1 + 5, 'after a remove, any index saves; the generation is not reused');
    check.equal(await api.remove(name), true);
    for (const i of [a, b, first, second]) await i.dispose();
  }],

  ['after dispose every call fails with disposed', async (api) => {
    const { index } = await filled(api, { n: 20 });
    await index.dispose();
    await index.dispose();
    check.equal(index.disposed, true);
    await check.rejects(() => index.size, 'disposed');
    await check.rejects(() => index.search(new Float32Array(16), 1), 'disposed');
    await check.rejects(() => index.insertBatch(new Float32Array(16)), 'disposed');
  }],
];

export { same };
