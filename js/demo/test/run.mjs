// Browser test of the demo in each engine Debian ships (js/test/browser/engines.mjs: chromium and firefox-esr
// through playwright-core, WebKitGTK through WebKitWebDriver; never downloads a browser). For each engine
// ($POCKETVEC_BROWSERS, default all three) it starts serve.mjs on a free port, opens the demo on a subset
// (?n=, default 20000 in chromium and 5000 in the others; POCKETVEC_DEMO_N sets all), and:
//   waits for the worker's build (progress, insert rate) and the automatic save to IndexedDB;
//   clicks 50+ random images and checks the average top-10 class agreement (query excluded) >= 0.7 and
//   that a latency is shown; ticks SQ8 and checks its index is smaller; deletes a neighbour and checks it
//   is gone from the results (in both indexes); compacts; saves; reloads, loads from IndexedDB and checks
//   the results are identical; feeds a malformed .npy (clear error) and a valid .fvecs (ids + distances);
//   no console errors and no request that leaves 127.0.0.1 (request events where Playwright drives; the
//   page's resource timing list in every engine). The page is driven through DOM calls in the page (click(),
//   a DataTransfer for the file input), the same in every engine.
// Screenshot: $POCKETVEC_ARTIFACTS_DIR (default build/artifacts)/demo-<engine>.png. Exit code 1 on any failure.
//   node js/demo/test/run.mjs        (needs js/dist built and js/demo/data prepared)
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { launch, selectedEngines } from '../../test/browser/engines.mjs';
import { startServer } from '../serve.mjs';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '');
const artifacts = process.env.POCKETVEC_ARTIFACTS_DIR || join(repoRoot, 'build', 'artifacts');
const sizeFor = (engine) => Number(process.env.POCKETVEC_DEMO_N ?? (engine === 'chromium' ? 20000 : 5000));
const CLICKS = 50;
const SEED = Number(process.env.POCKETVEC_DEMO_SEED ?? 7);   // the page's grids and our picks: the same every run
const LIMIT_MS = Number(process.env.POCKETVEC_DEMO_TIMEOUT_MS ?? 300000);

let started = Date.now();
let engineName = '';
const log = (msg) => console.log(`[demo-test ${engineName} ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${msg}`);

let watchdog = null;
let server;
let consoleErrors = [];
let foreignRequests = [];

/** Playwright-like page helpers over a session (engines.mjs), all through evaluate() in the page. */
function pageOf(session) {
  const evaluate = (fn, arg) => session.evaluate(fn, arg);
  return {
    evaluate,
    waitForFunction: (fn, arg, { timeout = 30000 } = {}) => session.waitFor(fn, arg, timeout),
    textContent: (sel) => evaluate((s) => document.querySelector(s).textContent, sel),
    getAttribute: (sel, name) => evaluate(([s, n]) => document.querySelector(s).getAttribute(n), [sel, name]),
    click: (sel) => evaluate((s) => { document.querySelector(s).click(); return true; }, sel),
    isChecked: (sel) => evaluate((s) => document.querySelector(s).checked, sel),
    async check(sel) { if (!(await this.isChecked(sel))) await this.click(sel); },
    async uncheck(sel) { if (await this.isChecked(sel)) await this.click(sel); },
    /** The grid's tiles as { id, label }; clickTile(i) clicks the i-th. */
    tiles: () => evaluate(() => [...document.querySelectorAll('#grid .tile')].map((t) => ({ id: Number(t.dataset.id), label: Number(t.dataset.label) }))),
    clickTile: (i) => evaluate((n) => { document.querySelectorAll('#grid .tile')[n].click(); return true; }, i),
    waitForSelector: (sel) => session.waitFor((s) => document.querySelector(s) !== null, sel, 30000),
    setInputFile: (sel, name, buffer) => evaluate(([s, n, b64]) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], n, { type: 'application/octet-stream' }));
      const input = document.querySelector(s);
      input.files = transfer.files;
      input.dispatchEvent(new Event('change', { bubbles: true }));
      return true;
    }, [sel, name, buffer.toString('base64')]),
    /** URLs this page loaded from anywhere but 127.0.0.1 (resource timing). */
    foreign: () => evaluate(() => performance.getEntriesByType('resource').map((e) => e.name)
      .filter((u) => !/^(data|blob):/.test(u) && new URL(u).hostname !== '127.0.0.1')),
    goto: (url) => session.goto(url),
    reload: () => session.reload(),
    screenshot: ({ path }) => session.screenshot(path),
  };
}

/** Waits until the page is idle ('ready'); fails early on 'error'. */
async function ready(page, timeout = LIMIT_MS) {
  await page.waitForFunction(() => ['ready', 'error', 'choose'].includes(document.body.dataset.state), null,
    { timeout, polling: 200 });
  const stateName = await page.evaluate(() => document.body.dataset.state);
  if (stateName !== 'ready') {
    const error = await page.textContent('#error');
    throw new Error(`page is in state '${stateName}', not 'ready': ${error}`);
  }
}

async function resultSeq(page) {
  return Number(await page.getAttribute('#results', 'data-seq'));
}

/** Waits for a new result (seq > `after`) and reads it from the DOM. */
async function readResults(page, after) {
  await page.waitForFunction((s) => Number(document.getElementById('results').dataset.seq) > s, after, { timeout: 30000 });
  await ready(page);
  return page.evaluate(() => {
    const results = document.getElementById('results');
    return {
      query: Number(results.dataset.query),
      mode: results.dataset.mode,
      latencyText: document.getElementById('latency').textContent,
      latencyMs: Number(document.getElementById('latency').dataset.ms),
      hits: [...document.querySelectorAll('#hits li')].map((li) => ({
        id: Number(li.dataset.id),
        label: li.dataset.label === undefined ? null : Number(li.dataset.label),
        distance: Number(li.dataset.distance),
      })),
    };
  });
}

async function searchById(page, id) {
  const seq = await resultSeq(page);
  await page.evaluate((q) => window.demo.search(q), id);
  return readResults(page, seq);
}

async function memory(page) {
  return page.evaluate(() => ({
    f32: Number(document.getElementById('mem-f32').dataset.bytes || 0),
    sq8: Number(document.getElementById('mem-sq8').dataset.bytes || 0),
  }));
}

async function main(session) {
  const N = sizeFor(session.engine);
  const url = `${server.url}?n=${N}&seed=${SEED}`;
  log(`${session.version}: serving ${url}`);
  session.context?.on('request', (req) => {
    const { protocol, hostname } = new URL(req.url());
    if (!['data:', 'blob:'].includes(protocol) && hostname !== '127.0.0.1') foreignRequests.push(req.url());
  });
  const page = pageOf(session);

  // 1. Build in the worker, then the automatic save.
  await page.goto(url);
  await ready(page);
  const build = await page.evaluate(() => ({
    rate: Number(document.getElementById('rate').dataset.rate),
    status: document.getElementById('status').textContent,
    progress: document.getElementById('progress').value,
  }));
  log(`built: ${build.status}`);
  assert.ok(build.rate > 0, 'an insert rate is shown');
  assert.equal(build.progress, 1, 'the progress bar is full');
  assert.match(build.status, new RegExp(`index of ${N.toLocaleString('en-US')} vectors`));
  assert.match(build.status, /Saved to IndexedDB/);

  // 2. Click random images; class agreement of the neighbours.
  let agreement = 0;
  const latencies = [];
  let pick = SEED;
  const nextPick = (n) => {   // a linear congruential generator: which tile to click
    pick = (Math.imul(pick, 1103515245) + 12345) >>> 0;
    return (pick >>> 8) % n;
  };
  for (let i = 0; i < CLICKS; i++) {
    if (i % 10 === 0) await page.click('#shuffle');
    const tiles = await page.tiles();
    const pickIndex = nextPick(tiles.length);
    const { id: queryId, label: queryLabel } = tiles[pickIndex];
    const seq = await resultSeq(page);
    await page.clickTile(pickIndex);
    const result = await readResults(page, seq);
    assert.equal(result.query, queryId);
    assert.equal(result.hits.length, 10, 'k = 10 hits');
    assert.match(result.latencyText, /\d+(\.\d+)? (µs|ms)/, 'latency shown');
    assert.ok(result.latencyMs > 0 && result.latencyMs < 1000, `latency ${result.latencyMs} ms`);
    latencies.push(result.latencyMs);
    const others = result.hits.filter((h) => h.id !== queryId);
    agreement += others.filter((h) => h.label === queryLabel).length / others.length;
  }
  agreement /= CLICKS;
  latencies.sort((a, b) => a - b);
  log(`${CLICKS} clicks: top-10 class agreement ${agreement.toFixed(3)}, median first-call latency ` +
    `${(latencies[CLICKS >> 1] * 1000).toFixed(0)} us`);
  assert.ok(agreement >= 0.7, `class agreement ${agreement.toFixed(3)} < 0.7`);

  // 3. SQ8: a second index, smaller.
  await page.check('#sq8');
  await ready(page);
  const mem = await memory(page);
  log(`memoryBytes: f32 ${mem.f32}, sq8 ${mem.sq8} (${(mem.f32 / mem.sq8).toFixed(2)}x); ${await page.textContent('#status')}`);
  assert.ok(mem.sq8 > 0 && mem.sq8 < mem.f32 / 2, 'the SQ8 index is much smaller');
  assert.ok(await page.isChecked('#sq8'));

  const gridIds = (await page.tiles()).map((t) => t.id);
  const sq8Latencies = [];
  for (const q of gridIds.slice(20, 30)) sq8Latencies.push((await searchById(page, q)).latencyMs);
  sq8Latencies.sort((a, b) => a - b);
  log(`SQ8: median first-call latency of 10 queries ${(sq8Latencies[5] * 1000).toFixed(0)} us`);

  // 4. Delete the query's nearest other neighbour; it disappears (SQ8 and f32).
  const probe = gridIds[3];
  let result = await searchById(page, probe);
  assert.equal(result.mode, 'sq8');
  const victim = result.hits.find((h) => h.id !== probe).id;
  let seq = await resultSeq(page);
  await page.click(`#hits li[data-id="${victim}"] button.delete`);
  result = await readResults(page, seq);
  assert.ok(!result.hits.some((h) => h.id === victim), 'deleted id gone from the SQ8 results');
  assert.equal(await page.getAttribute('#tombstones', 'data-deleted'), '1');
  assert.ok(Number(await page.getAttribute('#tombstones', 'data-ratio')) > 0);
  seq = await resultSeq(page);
  await page.uncheck('#sq8');
  result = await readResults(page, seq);
  assert.equal(result.mode, 'f32');
  assert.ok(!result.hits.some((h) => h.id === victim), 'deleted id gone from the f32 results');
  log(`deleted #${victim} (neighbour of #${probe}); tombstones: ${await page.textContent('#tombstones')}`);

  // 5. Compact, then save.
  await page.click('#compact');
  await ready(page);
  assert.equal(await page.getAttribute('#tombstones', 'data-deleted'), '0');
  assert.equal(Number(await page.getAttribute('#tombstones', 'data-ratio')), 0);
  log(await page.textContent('#status'));
  await page.click('#save');
  await ready(page);
  assert.match(await page.textContent('#persist'), /^saved to IndexedDB/);
  log(await page.textContent('#persist'));
  const queries = [probe, ...(await page.tiles()).slice(10, 15).map((t) => t.id)];
  const before = [];
  for (const q of queries) before.push((await searchById(page, q)).hits);

  // 6. Reload: the saved copy is offered, loaded, and answers identically.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.state === 'choose', null, { timeout: 60000 });
  assert.match(await page.textContent('#saved-text'), /float32 \+ SQ8/);
  await page.click('#load-saved');
  await ready(page);
  assert.equal(await page.getAttribute('#status', 'data-loaded-from'), 'indexeddb');
  const loadMs = Number(await page.getAttribute('#status', 'data-load-ms'));
  assert.ok(loadMs > 0);
  log(await page.textContent('#status'));
  for (const [i, q] of queries.entries()) {
    const hits = (await searchById(page, q)).hits;
    assert.deepEqual(hits, before[i], `results for #${q} after the reload`);
    assert.ok(!hits.some((h) => h.id === victim));
  }
  log(`results of ${queries.length} queries identical after the reload`);
  // The SQ8 copy came back too: switching needs no build.
  seq = await resultSeq(page);
  await page.check('#sq8');
  result = await readResults(page, seq);
  assert.equal(result.mode, 'sq8');
  assert.ok(!result.hits.some((h) => h.id === victim));
  seq = await resultSeq(page);
  await page.uncheck('#sq8');
  await readResults(page, seq);
  await searchById(page, probe);

  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `demo-${session.engine}.png`) });
  log(`screenshot: ${join(artifacts, `demo-${session.engine}.png`)}`);

  // 7. The user's own vectors: a malformed .npy is refused clearly; a valid .fvecs is indexed.
  const badNpy = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, 70, 0]),
    Buffer.from("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }".padEnd(70)), Buffer.alloc(96)]);
  await page.setInputFile('#file', 'bad.npy', badNpy);
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /bad\.npy: .*'<f8'.*float32/);
  const dim = 16;
  const count = 500;
  const fvecs = Buffer.alloc(count * (4 + dim * 4));
  for (let i = 0; i < count; i++) {
    fvecs.writeInt32LE(dim, i * (4 + dim * 4));
    for (let j = 0; j < dim; j++) fvecs.writeFloatLE(Math.sin(i * 0.37 + j * 1.3) + (i % 7), i * (4 + dim * 4) + 4 + j * 4);
  }
  await page.setInputFile('#file', 'mine.fvecs', fvecs);
  await page.waitForFunction(() => document.getElementById('about').textContent.startsWith('mine.fvecs'));
  await ready(page);
  seq = await resultSeq(page);
  await page.click('#grid .tile');
  result = await readResults(page, seq);
  assert.equal(result.hits.length, 10);
  assert.equal(result.hits[0].id, result.query, 'a vector is its own nearest neighbour');
  assert.equal(result.hits[0].distance, 0);
  log(`custom .fvecs (${count} x ${dim}): indexed and searched`);

  assert.deepEqual(foreignRequests, [], 'requests that leave 127.0.0.1');
  assert.deepEqual(await page.foreign(), [], 'resources from other hosts');
  assert.deepEqual(consoleErrors, [], 'console errors');
  assert.deepEqual(await page.evaluate(() => window.demo?.errors ?? null), [], 'uncaught errors in the page');
}

const failures = [];
server = await startServer({ port: 0, fallback: false });
for (const engine of selectedEngines()) {
  engineName = engine;
  started = Date.now();
  consoleErrors = [];
  foreignRequests = [];
  let session = null;
  watchdog = setTimeout(() => {
    console.error(`demo-test: FAILED: ${engine} did not finish within ${LIMIT_MS / 1000} s`);
    process.exit(1);
  }, LIMIT_MS);
  try {
    session = await launch(engine, { onConsoleError: (text) => consoleErrors.push(text) });
    await main(session);
    log(`PASS in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    failures.push(engine);
    console.error(`demo-test: ${engine} FAILED:`, err);
    const shown = await session?.evaluate(() => document.getElementById('error')?.textContent).catch(() => null);
    if (shown) console.error(`the page shows: ${shown}`);
    if (consoleErrors.length) console.error('console errors:', consoleErrors);
  } finally {
    await session?.close();
    clearTimeout(watchdog);
  }
}
await server.close();
console.log(`demo-test: ${selectedEngines().length - failures.length} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
