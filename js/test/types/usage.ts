// Type-level test of index.d.ts: compiled by `tsc -p test/types` (test/types.test.js), never run.
// Lines marked @ts-expect-error must stay errors: they are the API misuses the types must reject.
import { Index, PocketvecError, openStore, IdbStore, openOpfsStore, OpfsStore, persist, storageInfo } from 'pocketvec';
import type { ChunkWriter, ErrorCode, IndexOptions, MemoryReport, Metric, SavedCopy, SearchHit, Sq8Stats, StorageInfo } from 'pocketvec';

async function main(): Promise<void> {
  const options: IndexOptions = { dim: 768, metric: 'cosine', quantization: 'sq8', m: 16, efConstruction: 200, seed: 42 };
  const index: Index = await Index.create(options);
  const id: number = index.insert(new Float32Array(768));
  index.insert(new Float32Array(768), 7);
  const ids: Uint32Array = index.insertBatch(new Float32Array(768 * 4));
  const hits: SearchHit[] = index.search(new Float32Array(768), 10, { ef: 64 });
  const first: { id: number; distance: number } | undefined = hits[0];
  index.delete(id);
  index.compact();
  const numbers: number[] = [index.size, index.dim, index.tombstoneRatio, index.memoryBytes, index.deletedCount, ids.length];
  const report: MemoryReport = index.memory();
  numbers.push(report.indexBytes, report.heapBytes, report.heapUsedBytes);
  const metric: Metric = index.metric;
  const sq8: Sq8Stats = index.sq8;
  const drift: number = sq8.clampedFraction + sq8.encoded + sq8.clamped;
  const trained: boolean = sq8.trained;
  index.train(new Float32Array(768 * 10));
  const bytes: Uint8Array = index.toBytes();
  const copy: Index = await Index.fromBytes(bytes);
  await Index.fromBytes(bytes.buffer);
  await index.save('notes');
  const again: Index | null = await Index.load('notes');
  const names: string[] = await Index.list();
  const removed: boolean = await Index.remove('notes');
  const store: IdbStore = openStore({ indexedDB, dbName: 'test' });
  await index.save('notes', { store, chunkSize: 1024 });
  const generation: number = await index.save('notes', { store, overwrite: true });
  const next: number = await store.put('raw', new Uint8Array(3), { expectGeneration: generation, overwrite: false });
  await store.get('raw', { onGeneration: (g: number) => void g });
  const stop: () => void = store.watch((s: SavedCopy) => void [s.dbName, s.name, s.generation]);
  stop();
  const info: StorageInfo = await persist();
  const quota: number | undefined = (await storageInfo()).quota;
  const kept: boolean = info.persisted && info.supported;
  const conflict: ErrorCode = 'conflict';
  const full: ErrorCode = 'quota_exceeded';
  void [next, quota, kept, conflict, full];
  // @ts-expect-error overwrite is a boolean
  await index.save('notes', { overwrite: 'yes' });
  await Index.load('notes', { store });
  await index.save('notes', { store, full: true });
  // @ts-expect-error full is a boolean
  await index.save('notes', { full: 1 });
  const writer: ChunkWriter = (size: number, appending: boolean) => ({ length: 1, next: () => new Uint8Array(size), base: appending ? 1 : 0, digest: 2 });
  await store.put('raw', writer, { append: true, expectGeneration: next });
  const opfs: OpfsStore = openOpfsStore({ dir: 'indexes' });
  await index.save('notes', { store: opfs, overwrite: true });
  const fromOpfs: Index | null = await Index.load('notes', { store: opfs });
  const opfsNames: string[] = await Index.list({ store: opfs });
  const opfsGeneration: number = await opfs.put('raw', new Uint8Array(3), { expectGeneration: () => undefined });
  // @ts-expect-error: an OPFS store has no watch()
  opfs.watch(() => {});
  const has: boolean = index.has(3);
  const vector: Float32Array = index.get(3);
  {
    using scoped = await Index.create({ dim: 3 });
    scoped.insert(new Float32Array(3));
  }
  index.dispose();
  copy[Symbol.dispose]();
  try {
    index.search(new Float32Array(768));
  } catch (err) {
    if (err instanceof PocketvecError) {
      const code: ErrorCode = err.code;
      void code;
    }
  }
  void [first, numbers, metric, again, names, removed, has, vector, drift, trained];

  // @ts-expect-error dim is required
  await Index.create({ metric: 'l2' });
  // @ts-expect-error unknown metric
  await Index.create({ dim: 3, metric: 'euclid' });
  // @ts-expect-error vectors are Float32Array, not number[]
  index.insert([1, 2, 3]);
  // @ts-expect-error size is read-only
  index.size = 3;
  // @ts-expect-error sq8 stats are read-only
  index.sq8.clamped = 0;
  // @ts-expect-error the constructor is private: use Index.create()
  new Index();
  // @ts-expect-error error codes are a closed set
  const bad: ErrorCode = 'oops';
  void bad;
}
void main;

import { WorkerIndex } from 'pocketvec/worker';
import type { BatchResults, Progress } from 'pocketvec';

async function workerUsage(): Promise<void> {
  const w: WorkerIndex = await WorkerIndex.create({ dim: 8 });
  const controller = new AbortController();
  const seen: Progress[] = [];
  const ids: Uint32Array = await w.insertBatch(new Float32Array(80), { transfer: true, signal: controller.signal, onProgress: (p) => seen.push(p) });
  const hits: SearchHit[] = await w.search(new Float32Array(8), 3, { ef: 32 });
  const batch: BatchResults = await w.searchBatch(new Float32Array(16), 3);
  const live: Uint32Array = await w.ids();
  const size: number = await w.size;
  const dim: number = w.dim;
  await w.compact({ onProgress: (p) => void p.fraction });
  await w.save('notes', { dbName: 'db', onProgress: () => {} });
  const saved: number = await w.save('notes', { dbName: 'db', overwrite: true, full: false });
  void saved;
  const loaded: WorkerIndex | null = await WorkerIndex.load('notes', { signal: controller.signal });
  // @ts-expect-error: the worker API is async
  const wrong: number = w.size;
  // @ts-expect-error: no store object crosses into the worker
  await w.save('notes', { store: openStore() });
  await w.dispose();
  const direct = await Index.create({ dim: 8 });
  const both: BatchResults = direct.searchBatch(new Float32Array(16), 2, { ef: 10 });
  const all: Uint32Array = direct.ids();
  direct.insertBatch(new Float32Array(8), { onProgress: (p: Progress) => void p.done, signal: controller.signal });
  direct.compact({ signal: controller.signal });
  void [ids, hits, batch, live, size, dim, loaded, wrong, both, all];
}
void workerUsage;
