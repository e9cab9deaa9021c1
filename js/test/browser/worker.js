// A module worker using pocketvec: builds the same index as page.js and answers the same queries.
import { Index } from '../../src/browser.js';

self.onmessage = async ({ data: { flat, queries, dim } }) => {
  try {
    const index = await Index.create({ dim, metric: 'cosine', seed: 42 });
    index.insertBatch(flat);
    const hits = Array.from({ length: queries.length / dim }, (_, q) => index.search(queries.subarray(q * dim, (q + 1) * dim), 10, { ef: 64 }));
    index.dispose();
    self.postMessage({ hits });
  } catch (err) {
    self.postMessage({ error: `${err.code}: ${err.message}` });
  }
};
