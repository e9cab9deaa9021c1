// Incremental against full saves in a module worker of headless Chromium (or $POCKETVEC_BROWSERS's first
// engine), IndexedDB (openStore) and OPFS (openOpfsStore): one n x dim index (m 8, efConstruction 16, seeded
// rows, built in the worker), per store a full save, then `rounds` of: insert `add` rows, save (a segment),
// then save { full: true } of the same state. Bytes are onProgress's total (what the save wrote); after the
// last round's segment the copy is loaded and its toBytes() compared with the index's. Prints JSON.
// Usage: nice node bench/incremental-save.mjs [n=100000] [dim=768] [rounds=5] [add=100] [quantization=none,sq8]
import { fileURLToPath } from 'node:url';

import { launch, selectedEngines } from '../test/browser/engines.mjs';
import { serve } from '../test/browser/server.mjs';

const args = process.argv.slice(2);
const [n = 100000, dim = 768, rounds = 5, add = 100] = args.slice(0, 4).map(Number);
const quantizations = (args[4] ?? 'none,sq8').split(',');
const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const server = await serve(root);
const session = await launch(process.env.POCKETVEC_BROWSERS ? selectedEngines()[0] : 'chromium');
session.page?.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
try {
  await session.goto(`${server.url}/test/browser/page.html`);
  await session.waitFor(() => window.ready === true);
  const results = [];
  for (const quantization of quantizations) {
    results.push(await session.evaluate((p) => new Promise((resolve) => {
      const w = new Worker('/bench/incremental-save-worker.js', { type: 'module' });
      w.onmessage = ({ data }) => (data.log ? console.log(data.log) : (w.terminate(), resolve(data.result)));
      w.onerror = (e) => { w.terminate(); resolve({ error: `worker error ${e.message}` }); };
      w.postMessage(p);
    }), { n, dim, rounds, add, quantization }));
  }
  console.log(JSON.stringify({ version: session.version, results }, null, 2));
} finally {
  await session.close();
  await server.close();
}
