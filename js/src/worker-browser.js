// worker-browser.js — `pocketvec/worker` in browsers and bundlers: WorkerIndex over a module Worker.
// The worker's URL is spelled `new URL('<literal>', import.meta.url)` inside `new Worker(...)` on
// purpose: Vite and webpack recognise exactly that and bundle the worker (and its .wasm) as assets;
// a bundler-free page resolves it next to this file.
import { defineWorkerIndex } from './worker.js';

export const WorkerIndex = /* @__PURE__ */ defineWorkerIndex(() => {
  const worker = new Worker(new URL('./worker-host-browser.js', import.meta.url), { type: 'module', name: 'pocketvec' });
  return {
    post: (msg, transfer) => worker.postMessage(msg, transfer),
    listen(onMessage, onFailure) {
      worker.onmessage = (event) => onMessage(event.data);
      worker.onmessageerror = () => onFailure('a message from the worker could not be read');
      // A script that fails to load or an exception nothing caught in the worker.
      worker.onerror = (event) => {
        event.preventDefault?.();
        onFailure(event.message || 'the worker script failed to load or threw');
      };
    },
    terminate: () => worker.terminate(),
  };
});
export { PocketvecError } from './errors.js';
