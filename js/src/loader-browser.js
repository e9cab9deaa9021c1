// loader-browser.js — instantiates the WASM module in browsers and workers.
//
// The URL is spelled `new URL('<literal>', import.meta.url)` on purpose: bundlers (Vite, webpack,
// Rollup plugins) recognise that pattern and emit pocketvec.wasm as an asset, while a bundler-free
// `<script type="module">` resolves it next to this file. The glue then fetches it (streaming
// compilation when the server sends application/wasm).
import createPocketvec from '../dist/pocketvec.js';

let pending = null;

/** The module, instantiated once per realm (page or worker) and shared by every Index. */
export function loadModule() {
  pending ??= createPocketvec({
    locateFile: () => new URL('../dist/pocketvec.wasm', import.meta.url).href,
  }).catch((err) => {
    pending = null;
    throw err;
  });
  return pending;
}
