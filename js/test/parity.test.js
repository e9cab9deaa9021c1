// The parity suite (test/parity/cases.js) against the direct Index and against WorkerIndex, whose index
// lives in a worker_threads Worker. IndexedDB: fake-indexeddb for the direct API; a Node worker has no
// IndexedDB (its own test below pins what happens).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { IDBFactory } from 'fake-indexeddb';
import { Index, openStore } from 'pocketvec';
import { WorkerIndex } from 'pocketvec/worker';

import { cases } from './parity/cases.js';

const store = openStore({ indexedDB: new IDBFactory() });
const apis = {
  direct: {
    kind: 'direct', idb: true, storeOptions: { store },
    create: (o) => Index.create(o), fromBytes: (b) => Index.fromBytes(b), load: (n, o) => Index.load(n, o),
    list: () => Index.list({ store }), remove: (n) => Index.remove(n, { store }),
  },
  worker: {
    kind: 'worker', idb: false, storeOptions: {},
    create: (o) => WorkerIndex.create(o), fromBytes: (b) => WorkerIndex.fromBytes(b), load: (n, o) => WorkerIndex.load(n, o),
    list: () => WorkerIndex.list(), remove: (n) => WorkerIndex.remove(n),
  },
};

for (const api of Object.values(apis)) {
  describe(`parity (${api.kind})`, () => {
    for (const [name, fn] of cases) {
      test(name, async (t) => {
        const info = await fn(api);
        if (info?.skipped) t.skip(info.skipped);
        else if (info) t.diagnostic(JSON.stringify(info));
      });
    }
  });
}
