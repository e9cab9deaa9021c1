// Real-browser test in every engine Debian ships (engines.mjs: chromium, firefox-esr, WebKitGTK), each
// loading test/browser/page.html from a server on 127.0.0.1 (bundler-free <script type="module">) under
// a strict CSP, then:
//   insert + search + save to IndexedDB -> reload the page -> load -> identical results;
//   a save that fails midway (QuotaExceededError, or an aborted transaction) -> the old copy still loads;
//   errors arrive as PocketvecError; the same answers come from a module Worker;
//   the parity suite (test/parity/cases.js) against Index and against WorkerIndex, IndexedDB included;
//   WorkerIndex's dispose() terminates its Worker, and transfer detaches only on request;
//   the capability probe (wasm SIMD, SharedArrayBuffer with and without isolation, OPFS), pinned per engine;
//   no console or page errors.
// Run: npm run test:browser (needs js/dist from `npm run build:wasm`); POCKETVEC_BROWSERS=chromium,firefox
// picks engines. Screenshots and probe results: $POCKETVEC_ARTIFACTS_DIR (default js/build/browser).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { cases } from '../parity/cases.js';
import { launch, selectedEngines } from './engines.mjs';
import { serve } from './server.mjs';

const jsRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const artifacts = process.env.POCKETVEC_ARTIFACTS_DIR ?? join(jsRoot, 'build', 'browser');
mkdirSync(artifacts, { recursive: true });

/**
 * What each engine offers as measured on Debian 12's packages (docs/js.md, "Where it runs"). A change
 * fails here, so that the documented table is updated with it.
 */
const EXPECTED = {
  chromium: { wasmSimd: true, sharedArrayBuffer: false, isolatedSharedArrayBuffer: true, sharedWasmMemory: 'SharedArrayBuffer', opfs: 'ok', opfsSyncAccessHandle: 'ok' },
  firefox: { wasmSimd: true, sharedArrayBuffer: false, isolatedSharedArrayBuffer: true, sharedWasmMemory: 'SharedArrayBuffer', opfs: 'ok', opfsSyncAccessHandle: 'ok' },
  webkit: { wasmSimd: true, sharedArrayBuffer: false, isolatedSharedArrayBuffer: false, sharedWasmMemory: 'SharedArrayBuffer', opfs: 'no', opfsSyncAccessHandle: 'no' },
};

let server;
before(async () => { server = await serve(jsRoot); });
after(async () => { await server?.close(); });

for (const engine of selectedEngines()) {
  describe(engine, () => {
    let session;
    let started;
    const consoleErrors = [];
    const step = (name, ...args) => session.evaluate(([n, a]) => window.steps[n](...a), [name, args]);
    const open = async (query = '') => {
      await session.goto(`${server.url}/test/browser/page.html${query}`);
      await session.waitFor(() => window.ready === true, null, 30000);
    };

    before(async () => {
      started = Date.now();
      session = await launch(engine, { onConsoleError: (text) => consoleErrors.push(text) });
      await open();
    });
    after(async () => {
      await session?.close();
      console.log(`${engine}: ${session?.version ?? 'did not start'}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });

    let saved;
    test('insert, search and save, reload the page, load: identical results', async () => {
      saved = await step('buildAndSave', 'notes', 1);
      assert.equal(saved.length, 5);
      assert.equal(saved[0].length, 10);
      await session.reload();
      await session.waitFor(() => window.ready === true);
      assert.deepEqual(await step('loadAndSearch', 'notes'), saved);
      assert.deepEqual(await step('list'), ['notes']);
      await session.screenshot(join(artifacts, `pocketvec-browser-${engine}.png`));
    });

    for (const how of ['quota', 'abort']) {
      test(`a failed save (${how}) leaves the previous copy loadable after a reload`, async () => {
        const outcome = await step('failedSave', 'notes', how);
        assert.match(outcome, /^io_error: saving "notes" to IndexedDB failed .*previously saved copy.*unchanged/);
        await session.reload();
        await session.waitFor(() => window.ready === true);
        assert.deepEqual(await step('loadAndSearch', 'notes'), saved);
      });
    }

    test('errors reach the page as PocketvecError and the index stays usable', async () => {
      assert.deepEqual(await step('errors'), ['dimension_mismatch', 'empty_index', 0]);
    });

    test('a module Worker gets the same answers as the page', async () => {
      const result = await step('inWorker', 1);
      assert.equal(result.error, undefined, result.error);
      assert.deepEqual(result.hits, saved);
    });

    for (const kind of ['direct', 'worker']) {
      for (const [name] of cases) {
        test(`parity (${kind}): ${name}`, async (t) => {
          const { info, error } = await step('parity', kind, name);
          assert.equal(error, undefined, error);
          if (info) t.diagnostic(JSON.stringify(info));
        });
      }
    }

    test('WorkerIndex: dispose() terminates the worker; transfer detaches only on request', async () => {
      assert.deepEqual(await step('workerLifetime'), { keptLength: 32 * 500, movedLength: 0, terminated: 1, pending: 'disposed', failed: 'disposed' });
    });

    test('capabilities: wasm SIMD, SharedArrayBuffer, OPFS (pinned per engine)', async () => {
      const plain = await step('probe');
      await open('?coi');
      const isolated = await step('probe');
      await open();
      writeFileSync(join(artifacts, `capabilities-${engine}.json`), `${JSON.stringify({ version: session.version, plain, isolated }, null, 2)}\n`);
      const measured = {
        wasmSimd: plain.wasmSimd,
        sharedArrayBuffer: plain.sharedArrayBuffer,
        isolatedSharedArrayBuffer: isolated.crossOriginIsolated && isolated.sharedArrayBuffer,
        sharedWasmMemory: plain.sharedWasmMemory,
        opfs: plain.opfs.startsWith('no') ? 'no' : plain.opfs,
        opfsSyncAccessHandle: plain.opfsSyncAccessHandle.startsWith('no') ? 'no' : plain.opfsSyncAccessHandle,
      };
      assert.deepEqual(measured, EXPECTED[engine], `measured ${JSON.stringify(plain)} / isolated ${JSON.stringify(isolated)}`);
    });

    test('no console or page errors', async () => {
      assert.deepEqual(await step('errorsSeen'), []);
      assert.deepEqual(consoleErrors, []);
    });
  });
}
