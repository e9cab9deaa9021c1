// The FinalizationRegistry backstop: forgotten indexes are freed after GC, disposed ones exactly once.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

test('indexes dropped without dispose() are freed once garbage-collected', () => {
  const child = fileURLToPath(new URL('./fixtures/finalizer-child.mjs', import.meta.url));
  const out = execFileSync(process.execPath, ['--expose-gc', child], { encoding: 'utf8' });
  // 5 forgotten indexes freed by the registry + 1 explicit dispose().
  assert.deepEqual(JSON.parse(out.trim().split('\n').pop()), { deleted: 6 });
});
