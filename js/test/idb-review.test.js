// IndexedDB edge cases from the review of the conflict/quota/watch/persist work.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';

import { Index, PocketvecError, openStore, persist, storageInfo } from 'pocketvec';

const tabs = () => {
  const indexedDB = new IDBFactory();
  return { indexedDB, a: openStore({ indexedDB, dbName: 'r' }), b: openStore({ indexedDB, dbName: 'r' }) };
};
const sample = async (seed) => {
  const index = await Index.create({ dim: 4, seed });
  index.insert(new Float32Array([seed, 1, 2, 3]));
  return index;
};

test('remove + save within one clock tick: a stale tab\'s save is a conflict, not a silent overwrite', async (t) => {
  const { a, b } = tabs();
  const now = Date.now();
  t.mock.method(Date, 'now', () => now);
  const first = await sample(1);
  const g = await first.save('x', { store: a });
  const stale = await Index.load('x', { store: b });
  assert.equal(await Index.remove('x', { store: a }), true);
  const second = await sample(2);
  const g2 = await second.save('x', { store: a });
  assert.notEqual(g2, g);
  await assert.rejects(stale.save('x', { store: b }), { code: 'conflict' });
  assert.deepEqual((await Index.load('x', { store: b })).toBytes(), second.toBytes());
  // Database-wide: another name's first save is above every generation so far; list() shows names only.
  assert.ok(await a.put('y', new Uint8Array(3)) > g2);
  assert.deepEqual(await a.list(), ['x', 'y']);
  for (const i of [first, stale, second]) i.dispose();
});

test('an onProgress that throws on the last report does not fail a committed save or a load; it is reported', async (t) => {
  const { a, b } = tabs();
  const reported = t.mock.method(console, 'error', () => {});
  let stop;
  const heard = new Promise((resolve) => {
    stop = b.watch((m) => resolve(m.generation));
    setTimeout(resolve, 1000, 'nothing heard');
  }).finally(() => stop());
  const index = await sample(3);
  const onProgress = (p) => { if (p.fraction === 1) throw new Error('ui bug'); };
  const g = await index.save('x', { store: a, onProgress });
  assert.equal(await heard, g, 'the save was broadcast');
  assert.equal(await index.save('x', { store: a }), g + 1, 'and remembered: the next save is no conflict');
  const back = await Index.load('x', { store: a, onProgress });
  assert.deepEqual(back.toBytes(), index.toBytes());
  assert.deepEqual(reported.mock.calls.map((c) => c.arguments[0].message), ['ui bug', 'ui bug']);
  index.dispose();
  back.dispose();
});

test('a manifest whose generation is no key (missing, null, NaN, an object) can be overwritten and removed', async () => {
  const req = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
  for (const bad of [undefined, null, NaN, {}]) {
    const { indexedDB, a } = tabs();
    await a.put('x', new Uint8Array(10));
    const db = await req(indexedDB.open('r'));
    const manifests = db.transaction('manifests', 'readwrite').objectStore('manifests');
    await req(manifests.put({ ...(await req(manifests.get('x'))), generation: bad }));
    db.close();
    assert.ok(Number.isSafeInteger(await a.put('x', new Uint8Array(5), { overwrite: true })), String(bad));
    assert.equal((await a.get('x')).length, 5);
    await req(indexedDB.open('r')).then(async (d) => {
      const m = d.transaction('manifests', 'readwrite').objectStore('manifests');
      await req(m.put({ ...(await req(m.get('x'))), generation: bad }));
      d.close();
    });
    assert.equal(await a.delete('x'), true, String(bad));
    assert.equal(await a.get('x'), null);
  }
});

test('persist()/storageInfo(): a navigator.storage that throws is io_error; a grant survives a failing estimate()', async (t) => {
  const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  const nav = (value) => Object.defineProperty(globalThis, 'navigator', { value, configurable: true });
  t.after(() => (had ? Object.defineProperty(globalThis, 'navigator', had) : delete globalThis.navigator));
  nav(Object.defineProperty({}, 'storage', { get() { throw new DOMException('denied', 'SecurityError'); } }));
  await assert.rejects(storageInfo(), (err) => err instanceof PocketvecError && err.code === 'io_error' && err.cause.name === 'SecurityError');
  nav({ storage: { persist: async () => true, estimate: async () => { throw new TypeError('no estimate'); } } });
  assert.deepEqual(await persist(), { supported: true, persisted: true, usage: undefined, quota: undefined });
});

test('a watch callback that throws is reported, not thrown; an open watch does not keep Node alive', async (t) => {
  const { a, b } = tabs();
  const reported = t.mock.method(console, 'error', () => {});
  const stop = a.watch(() => { throw new Error('callback bug'); });
  await b.put('x', new Uint8Array(3));
  for (let i = 0; i < 50 && !reported.mock.callCount(); i++) await new Promise((r) => setTimeout(r, 10));
  stop();
  assert.equal(reported.mock.calls[0]?.arguments[0].message, 'callback bug');
  const { execFileSync } = await import('node:child_process');
  execFileSync(process.execPath, ['--input-type=module', '-e',
    "import { openStore } from 'pocketvec'; openStore({ indexedDB: {} }).watch(() => {});"], { cwd: import.meta.dirname, timeout: 5000 });
});
