// opfs-worker.js — the capability probe's OPFS check in a worker: a sync access handle writes and reads 64 KiB.
self.onmessage = async () => {
  try {
    const root = await navigator.storage.getDirectory();
    const file = await root.getFileHandle('pocketvec-probe.bin', { create: true });
    const handle = await file.createSyncAccessHandle();
    const data = new Uint8Array(65536).map((_, i) => i * 7);
    handle.write(data, { at: 0 });
    const back = new Uint8Array(65536);
    handle.read(back, { at: 0 });
    handle.close();
    await root.removeEntry('pocketvec-probe.bin');
    self.postMessage(back.every((v, i) => v === data[i]) ? 'ok' : 'no: read back other bytes');
  } catch (err) {
    self.postMessage(`no: ${err.name}: ${err.message}`);
  }
};
