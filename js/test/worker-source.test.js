// A WorkerIndex's saves carry its `source`: the page's watch() may hear one before save() resolves.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

test('watch() reports a WorkerIndex save with the index\'s source (a worker with fake-indexeddb)', () => {
  const out = execFileSync(process.execPath, ['--import', 'fake-indexeddb/auto', 'fixtures/worker-source.mjs'],
    { cwd: import.meta.dirname, timeout: 20000 });
  const { heard, g, source, own } = JSON.parse(out);
  assert.equal(typeof source, 'string');
  assert.notEqual(source, own);
  assert.deepEqual(heard, [{ dbName: 'pocketvec', name: 'x', generation: g, source }]);
});
