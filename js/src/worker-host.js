// worker-host.js — what runs inside the worker that WorkerIndex (worker.js) starts: one Index, and the
// calls of its owner, one at a time. Platform-neutral; worker-host-browser.js and worker-host-node.js
// hand it the Index of their entry and their message port.
//
// Protocol (all plain structured-clone data):
//   owner -> host  { id, op, args, progress?, cancellable? }   a call; ops run in arrival order
//                  { cancel: id }                               abort call `id` (handled at once)
//   host -> owner  { id, result }        success; typed-array results are transferred, never copied
//                  { id, error: { code, message } }             a PocketvecError (or 'internal_error')
//                  { id, progress: { done, total, fraction } }  for calls made with progress
// insertBatch awaits `pause()` between its pieces, so that a { cancel } posted while it runs is read
// and the batch stops within a piece; every other op is one synchronous stretch of work.
import { openStore } from './idb.js';
import { STEPPED } from './index.js';

/**
 * @param {{ Index: any, post: (msg: any, transfer?: Transferable[]) => void,
 *           listen: (fn: (msg: any) => void) => void, pause: () => Promise<void> }} port
 */
export function serve({ Index, post, listen, pause }) {
  let index = null;
  let queue = Promise.resolve();
  const stores = new Map(); // dbName -> the IdbStore of saves
  const controllers = new Map(); // call id -> AbortController, for calls that can be cancelled

  const ops = {
    async init({ how, options, bytes, name, dbName }, extra) {
      if (how === 'create') index = await Index.create(options);
      else if (how === 'fromBytes') index = await Index.fromBytes(bytes);
      else {
        const store = dbName === undefined ? undefined : openStore({ dbName });
        index = await Index.load(name, { ...(store ? { store } : {}), ...extra });
        if (index === null) return null;
      }
      const { dim, metric, quantization, m, efConstruction, efSearch, seed } = index;
      return { dim, metric, quantization, m, efConstruction, efSearch, seed };
    },
    insert: ([vec, id]) => index.insert(vec, id),
    insertBatch: ([flat], extra) => index[STEPPED](flat, extra, pause),
    search: ([query, k, options]) => index.search(query, k, options),
    searchBatch: ([queries, k, options]) => index.searchBatch(queries, k, options),
    delete: ([id]) => index.delete(id),
    has: ([id]) => index.has(id),
    get: ([id]) => index.get(id),
    compact: (_, extra) => index.compact(extra),
    rebuild: (_, extra) => index.rebuild(extra),
    reserve: ([n]) => index.reserve(n),
    train: ([sample]) => index.train(sample),
    toBytes: () => index.toBytes(),
    save([name, { dbName, source, ...options } = {}], extra) {
      // (One store per database, posting as the WorkerIndex: its page's watch() can tell the save apart.)
      // options: chunkSize, overwrite, full.
      if (!stores.has(dbName)) stores.set(dbName, openStore({ dbName, source }));
      return index.save(name, { ...options, store: stores.get(dbName), ...extra });
    },
    ids: () => index.ids(),
    memory: () => index.memory(),
    property: ([name]) => {
      if (!PROPERTIES.includes(name) && name !== 'needsCompaction') throw new TypeError(`no property ${name}`);
      return index[name];
    },
    stats: () => Object.fromEntries(PROPERTIES.map((name) => [name, index[name]])),
  };

  async function run({ id, op, args, progress, cancellable }) {
    const extra = {};
    if (progress) extra.onProgress = (p) => post({ id, progress: p });
    if (cancellable) extra.signal = controllers.get(id).signal;
    try {
      if (!Object.hasOwn(ops, op) || (index === null && op !== 'init')) throw new TypeError(`unknown call ${op}`);
      const result = await ops[op](args, extra);
      post({ id, result }, transferables(result));
    } catch (err) {
      post({ id, error: { code: typeof err?.code === 'string' ? err.code : 'internal_error', message: err?.message ?? String(err) } });
    } finally {
      controllers.delete(id);
    }
  }

  listen((msg) => {
    if (msg.cancel !== undefined) {
      controllers.get(msg.cancel)?.abort();
      return;
    }
    if (msg.cancellable) controllers.set(msg.id, new AbortController());
    queue = queue.then(() => run(msg));
  });
}

const PROPERTIES = ['size', 'deletedCount', 'tombstoneRatio', 'memoryBytes', 'sq8'];

/** The buffers of a typed-array result (or of searchBatch's pair): moved to the owner, not copied. */
function transferables(result) {
  if (ArrayBuffer.isView(result)) return [result.buffer];
  if (result && ArrayBuffer.isView(result.ids) && ArrayBuffer.isView(result.distances)) {
    return [result.ids.buffer, result.distances.buffer];
  }
  return [];
}
