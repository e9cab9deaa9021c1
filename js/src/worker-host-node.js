// worker-host-node.js — the worker_threads Worker that WorkerIndex starts in Node (src/worker-node.js).
import { parentPort } from 'node:worker_threads';

import { Index } from './node.js';
import { serve } from './worker-host.js';

serve({
  Index,
  post: (msg, transfer = []) => parentPort.postMessage(msg, transfer),
  listen: (fn) => parentPort.on('message', fn),
  // setImmediate runs after the event loop's poll phase, where messages from the owner are read.
  pause: () => new Promise((resolve) => setImmediate(resolve)),
});
