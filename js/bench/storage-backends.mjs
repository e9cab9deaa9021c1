// Save and load throughput of the two stores, IndexedDB (openStore) and OPFS (openOpfsStore), in a
// module worker of headless Chromium (or $POCKETVEC_BROWSERS's first engine): Index.save / Index.load of
// one n x dim index (m 8, efConstruction 16, built in the worker), medians of `runs`; MB = 10^6 bytes.
// Usage: nice node bench/storage-backends.mjs [n=20000] [dim=768] [runs=3]
import { fileURLToPath } from 'node:url';

import { launch, selectedEngines } from '../test/browser/engines.mjs';
import { serve } from '../test/browser/server.mjs';

const [n = 20000, dim = 768, runs = 3] = process.argv.slice(2).map(Number);
const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const server = await serve(root);
const session = await launch(process.env.POCKETVEC_BROWSERS ? selectedEngines()[0] : 'chromium');
try {
  await session.goto(`${server.url}/test/browser/page.html`);
  await session.waitFor(() => window.ready === true);
  const r = await session.evaluate((b) => window.steps.opfsStore(b), { n, dim, runs });
  console.log(JSON.stringify({ version: session.version, ...r }, null, 2));
} finally {
  await session.close();
  await server.close();
}
