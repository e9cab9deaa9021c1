// A worker that answers every message with a copy of it: the floor of a message round trip, for bench/lib/overhead.mjs.
self.onmessage = (e) => self.postMessage(e.data);
