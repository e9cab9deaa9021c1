// Real-browser test: Debian's chromium, driven by playwright-core, loads test/browser/page.html from a
// server on 127.0.0.1 (bundler-free <script type="module">), then:
//   insert + search + save to IndexedDB -> reload the page -> load -> identical results;
//   a save that fails midway (QuotaExceededError, or an aborted transaction) -> the old copy still loads;
//   errors arrive as PocketvecError; the same answers come from a module Worker.
// Run: npm run test:browser (needs js/dist from `npm run build:wasm`). Screenshot: $POCKETVEC_ARTIFACTS_DIR
// (default js/build/browser)/pocketvec-browser.png.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { serve } from './server.mjs';

const jsRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const artifacts = process.env.POCKETVEC_ARTIFACTS_DIR ?? join(jsRoot, 'build', 'browser');
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let server, context, page, profile;
const consoleErrors = [];

before(async () => {
  server = await serve(jsRoot);
  profile = mkdtempSync(join(tmpdir(), 'pocketvec-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  await open();
});

after(async () => {
  await context?.close();
  await server?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function open() {
  await page.goto(`${server.url}/test/browser/page.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 20000 });
}

const step = (name, ...args) => page.evaluate(([n, a]) => window.steps[n](...a), [name, args]);

let saved;

test('insert, search and save, reload the page, load: identical results', async () => {
  saved = await step('buildAndSave', 'notes', 1);
  assert.equal(saved.length, 5);
  assert.equal(saved[0].length, 10);
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  assert.deepEqual(await step('loadAndSearch', 'notes'), saved);
  assert.deepEqual(await step('list'), ['notes']);
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'pocketvec-browser.png') });
});

for (const how of ['quota', 'abort']) {
  test(`a failed save (${how}) leaves the previous copy loadable after a reload`, async () => {
    const outcome = await step('failedSave', 'notes', how);
    assert.match(outcome, /^io_error: saving "notes" to IndexedDB failed .*previously saved copy.*unchanged/);
    await page.reload();
    await page.waitForFunction(() => window.ready === true);
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

test('no console errors', () => {
  assert.deepEqual(consoleErrors, []);
});
