// worker-node.js — `pocketvec/worker` in Node: WorkerIndex over a worker_threads Worker.
import { Worker } from 'node:worker_threads';

import { defineWorkerIndex } from './worker.js';

export const WorkerIndex = /* @__PURE__ */ defineWorkerIndex(() => {
  const worker = new Worker(new URL('./worker-host-node.js', import.meta.url));
  // An idle worker does not keep the process alive: only while a call is pending.
  worker.unref();
  return {
    post: (msg, transfer) => worker.postMessage(msg, transfer),
    listen(onMessage, onFailure) {
      worker.on('message', onMessage);
      worker.on('messageerror', () => onFailure('a message from the worker could not be read'));
      worker.on('error', (err) => onFailure(err?.message ?? String(err)));
      worker.on('exit', (code) => onFailure(`the worker exited (code ${code})`));
    },
    busy: (busy) => (busy ? worker.ref() : worker.unref()),
    terminate: () => worker.terminate(),
  };
});
export { PocketvecError } from './errors.js';
