// worker-host-browser.js — the module Worker that WorkerIndex starts in browsers (src/worker-browser.js).
import { Index } from './browser.js';
import { serve } from './worker-host.js';

// A macrotask turn, so that messages from the owner (an abort) are read between the pieces of a batch;
// a MessageChannel round trip, which, unlike setTimeout, is not clamped to 4 ms when nested.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();

serve({
  Index,
  post: (msg, transfer = []) => self.postMessage(msg, transfer),
  listen: (fn) => { self.onmessage = (event) => fn(event.data); },
  pause: () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); }),
});
