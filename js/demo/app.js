// app.js — the demo page: loads Fashion-MNIST (prepared by prepare-data.mjs) and builds, searches, saves
// and loads pocketvec indexes through the package's worker API (WorkerIndex: each index lives in a module
// Worker the package starts), so the page never blocks; it draws everything.
// URL parameters: ?n=20000 indexes only the first n images (the browser test uses this); default: all.
// ?seed=7 makes the random grids reproducible (the test uses it, so its outcome does not vary by run).
import { WorkerIndex } from '../src/worker-browser.js';
import { parseVectors } from './vectors.js';

const DATA_URL = './data/fashion-mnist.bin';
const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const K = 10;
const GRID_SIZE = 80;
const MODE_NAMES = { f32: 'float32', sq8: 'SQ8' };
/** Index parameters of the demo (efConstruction below the package default of 200: builds ~1.6x faster). */
const PARAMS = { metric: 'l2', m: 16, efConstruction: 100, efSearch: 64, seed: 42, compactThreshold: 0 };
const CHUNK = 4096;         // rows converted to floats and sent (transferred) per insertBatch call
const SEARCH_REPEATS = 20;  // extra runs of a query in one searchBatch, for a steadier latency figure

const $ = (id) => document.getElementById(id);

/** Math.random, or with ?seed= a small seeded generator (xorshift32) in [0, 1). */
const random = (() => {
  const seed = new URLSearchParams(location.search).get('seed');
  if (seed === null) return Math.random;
  let s = (Number.parseInt(seed, 10) >>> 0) || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
})();

/** The current dataset and what the worker holds. */
const state = {
  kind: 'fashion',       // 'fashion' | 'custom'
  name: '',
  count: 0,
  dim: 0,
  labels: null,          // Uint8Array (fashion only)
  pixels: null,          // Uint8Array count * dim (fashion only)
  mode: 'f32',           // the index searches use
  built: new Set(),      // modes the worker has
  deleted: new Set(),
  stats: {},
  dirty: false,          // changes since the last save
  saved: [],             // modes saved in IndexedDB
  query: null,           // id of the last query
};

// ------------------------------------------------------------------------------------------- the indexes

const indexes = new Map();  // 'f32' | 'sq8' -> WorkerIndex
let source = null;          // { rows: Uint8Array | Float32Array, scale, key, persist }: what is indexed

function savedName(mode) {
  return `${source.key}-${mode}`;
}

/** Rows [first, first + n) as floats (pixels times `scale`), in a fresh buffer that can be transferred. */
function floats(first, n) {
  const { rows, scale } = source;
  const dim = state.dim;
  const out = new Float32Array(n * dim);
  const base = first * dim;
  for (let i = 0; i < out.length; i++) out[i] = rows[base + i] * scale;
  return out;
}

async function stats() {
  const out = {};
  for (const [mode, index] of indexes) out[mode] = await index.stats();
  return out;
}

async function disposeAll() {
  await Promise.all([...indexes.values()].map((index) => index.dispose()));
  indexes.clear();
}

// -------------------------------------------------------------------------------------------- formatting

function formatMs(ms) {
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  if (ms < 10000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

function formatMB(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

const int = (n) => n.toLocaleString('en-US');

// ------------------------------------------------------------------------------------------------ status

function setState(name) {
  document.body.dataset.state = name;
  const idle = name === 'ready';
  $('control-set').disabled = !idle;
  $('shuffle').disabled = state.count === 0;
  for (const button of document.querySelectorAll('#hits button')) button.disabled = !idle;
}

function status(text) {
  $('status').textContent = text;
}

function showError(message) {
  $('error').hidden = false;
  $('error').textContent = message;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function progress(fraction, text = '') {
  $('progress').value = fraction;
  $('rate').textContent = text;
}

/** Runs an operation with the controls disabled; shows its error and returns to 'ready'. */
async function busy(name, fn) {
  setState(name);
  try {
    return await fn();
  } catch (err) {
    showError(err.message);
    return undefined;
  } finally {
    setState('ready');
    renderStats();
  }
}

function renderStats() {
  const { f32, sq8 } = state.stats;
  $('mem-f32').textContent = f32 ? formatMB(f32.memoryBytes) : '–';
  $('mem-sq8').textContent = sq8 ? formatMB(sq8.memoryBytes) : 'not built (tick SQ8)';
  $('mem-ratio').textContent = f32 && sq8 ? `SQ8 is ${(f32.memoryBytes / sq8.memoryBytes).toFixed(2)}x smaller` : '–';
  for (const mode of ['f32', 'sq8']) $(`mem-${mode}`).dataset.bytes = state.stats[mode]?.memoryBytes ?? '';
  const current = state.stats[state.mode];
  if (current) {
    $('tombstones').textContent = `deleted (tombstones): ${int(current.deletedCount)} of ${int(current.size + current.deletedCount)}` +
      ` — ratio ${(current.tombstoneRatio * 100).toFixed(3)} %`;
    $('tombstones').dataset.ratio = current.tombstoneRatio;
    $('tombstones').dataset.deleted = current.deletedCount;
  }
  if (state.kind === 'custom') $('persist').textContent = 'your file is not saved to IndexedDB';
  else if (state.dirty) $('persist').textContent = 'unsaved changes (deletes / compaction)';
  $('save').disabled = state.kind === 'custom';
  $('forget').disabled = state.kind === 'custom' || state.saved.length === 0;
}

// --------------------------------------------------------------------------------------------- drawing

/** A 28 x 28 canvas of image `id`, drawn dark-on-light (the pixels are inverted). */
function imageCanvas(id) {
  const side = Math.sqrt(state.dim);
  const canvas = document.createElement('canvas');
  canvas.width = side;
  canvas.height = side;
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(side, side);
  const base = id * state.dim;
  for (let i = 0; i < state.dim; i++) {
    const v = 255 - state.pixels[base + i];
    image.data[i * 4] = v;
    image.data[i * 4 + 1] = v;
    image.data[i * 4 + 2] = v;
    image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

function label(id) {
  return state.labels ? CLASSES[state.labels[id]] : null;
}

function renderGrid() {
  const grid = $('grid');
  grid.replaceChildren();
  const ids = new Set();
  const live = state.count - state.deleted.size;
  const want = Math.min(GRID_SIZE, live);
  while (ids.size < want) {
    const id = Math.floor(random() * state.count);
    if (!state.deleted.has(id)) ids.add(id);
  }
  for (const id of ids) {
    const tile = document.createElement('button');
    tile.type = 'button';
    tile.className = 'tile';
    tile.dataset.id = id;
    if (state.labels) {
      tile.dataset.label = state.labels[id];
      tile.title = `#${id} ${label(id)}`;
      tile.append(imageCanvas(id));
    } else {
      tile.title = `vector #${id}`;
      tile.textContent = `#${id}`;
    }
    if (id === state.query) tile.classList.add('selected');
    grid.append(tile);
  }
}

function markDeletedTiles() {
  for (const tile of $('grid').querySelectorAll('.tile')) {
    tile.classList.toggle('deleted', state.deleted.has(Number(tile.dataset.id)));
  }
}

function renderResults(queryId, { hits, firstMs, meanMs, repeats }) {
  const results = $('results');
  const query = $('query');
  query.replaceChildren();
  if (state.pixels) query.append(imageCanvas(queryId));
  const caption = document.createElement('div');
  caption.textContent = state.labels ? `query #${queryId}: ${label(queryId)}` : `query: vector #${queryId}`;
  query.append(caption);

  $('latency').textContent = `search (k = ${K}, ${MODE_NAMES[state.mode]} index of ${int(state.stats[state.mode].size)}): ` +
    `${formatMs(firstMs)} as the page sees it, round trip to the worker included (the same query ${repeats}x in one ` +
    `searchBatch, warm cache: ${formatMs(meanMs)} each)`;
  $('latency').dataset.ms = firstMs;
  $('latency').dataset.meanMs = meanMs;

  const others = hits.filter((h) => h.id !== queryId);
  if (state.labels) {
    const same = others.filter((h) => state.labels[h.id] === state.labels[queryId]).length;
    $('agreement').textContent = `${same} of ${others.length} neighbours (not counting the query itself) are also “${label(queryId)}”`;
  } else {
    $('agreement').textContent = '';
  }

  const list = $('hits');
  list.replaceChildren();
  for (const hit of hits) {
    const li = document.createElement('li');
    li.dataset.id = hit.id;
    li.dataset.distance = hit.distance;
    if (state.pixels) li.append(imageCanvas(hit.id));
    const name = document.createElement('div');
    name.className = 'label';
    if (state.labels) {
      li.dataset.label = state.labels[hit.id];
      name.textContent = label(hit.id);
      li.classList.add(hit.id === queryId ? 'self' : state.labels[hit.id] === state.labels[queryId] ? 'same' : 'other');
    } else {
      name.textContent = `#${hit.id}`;
      if (hit.id === queryId) li.classList.add('self');
    }
    const meta = document.createElement('div');
    meta.className = 'meta';
    meta.textContent = `${state.labels ? `#${hit.id}${hit.id === queryId ? ' (itself)' : ''}\n` : ''}d² = ${hit.distance.toFixed(3)}`;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'secondary delete';
    remove.textContent = 'delete';
    remove.title = `delete #${hit.id} from the index`;
    remove.addEventListener('click', () => deleteId(hit.id));
    li.append(name, meta, remove);
    list.append(li);
  }
  results.dataset.query = queryId;
  results.dataset.mode = state.mode;
  results.dataset.seq = Number(results.dataset.seq) + 1;

  for (const tile of $('grid').querySelectorAll('.tile')) {
    tile.classList.toggle('selected', Number(tile.dataset.id) === queryId);
  }
}

// ------------------------------------------------------------------------------------------- operations

async function search(queryId) {
  if (document.body.dataset.state !== 'ready') return;
  state.query = queryId;
  await busy('searching', async () => {
    renderResults(queryId, await searchIndex(state.mode, queryId));
  });
}

/**
 * Builds the `mode` index over every row in a new WorkerIndex, CHUNK rows per insertBatch (converted here,
 * transferred, two calls in flight), with the progress bar and insert rate; deleted rows are deleted after.
 */
async function build(mode) {
  setState('building');
  status(`Building the ${MODE_NAMES[mode]} index in a Web Worker (HNSW, m = 16, efConstruction = 100)…`);
  const started = performance.now();
  const { count } = state;
  const index = await WorkerIndex.create({ dim: state.dim, ...PARAMS, quantization: mode === 'sq8' ? 'sq8' : 'none' });
  try {
    await index.reserve(count);
    let lastShown = 0;
    const show = (done) => {
      const now = performance.now();
      if (now - lastShown < 100 && done < count) return;
      lastShown = now;
      progress(done / count, `${int(done)} / ${int(count)} · ${int(Math.round(done / ((now - started) / 1000)))} vectors/s`);
    };
    const calls = [];
    for (let first = 0; first < count; first += CHUNK) {
      const n = Math.min(CHUNK, count - first);
      if (calls.length >= 2) await calls[calls.length - 2];
      calls.push(index.insertBatch(floats(first, n), { transfer: true, onProgress: (p) => show(first + p.done) }).then((ids) => {
        if (ids[0] !== first) throw new Error(`insertBatch gave id ${ids[0]} to row ${first}`);
      }));
    }
    await Promise.all(calls);
    // Fresh ids are 0, 1, 2, ... in row order, so id == row number; rows deleted earlier go again.
    for (const id of state.deleted) await index.delete(id);
    if (state.deleted.size > 0 && Object.values(state.stats).every((s) => s.deletedCount === 0)) await index.compact();
  } catch (err) {
    await index.dispose();
    throw err;
  }
  await indexes.get(mode)?.dispose();
  indexes.set(mode, index);
  const seconds = (performance.now() - started) / 1000;
  const rate = count / seconds;
  state.built.add(mode);
  state.stats = await stats();
  progress(1, `${int(Math.round(rate))} vectors/s`);
  $('rate').dataset.rate = rate;
  $('rate').dataset.mode = mode;
  status(`Built the ${MODE_NAMES[mode]} index of ${int(count)} vectors in ${seconds.toFixed(1)} s ` +
    `(${int(Math.round(rate))} vectors/s).`);
}

/** k nearest neighbours of row `queryId` in the `mode` index, timed as the page sees it (worker round trip). */
async function searchIndex(mode, queryId) {
  const index = indexes.get(mode);
  if (!index) throw new Error(`the ${mode} index is not built`);
  const query = floats(queryId, 1);
  let start = performance.now();
  const hits = await index.search(query, K);
  const firstMs = performance.now() - start;
  const repeated = new Float32Array(SEARCH_REPEATS * state.dim);
  for (let r = 0; r < SEARCH_REPEATS; r++) repeated.set(query, r * state.dim);
  start = performance.now();
  await index.searchBatch(repeated, K, { transfer: true });
  const meanMs = (performance.now() - start) / SEARCH_REPEATS;
  return { hits, firstMs, meanMs, repeats: SEARCH_REPEATS };
}

/**
 * Saves the indexes (or only `modes`, when nothing else changed) to IndexedDB, each atomically, from their workers.
 * `overwrite` right after a build: the new index replaces whatever copy is there. Otherwise a copy another tab
 * saved since this one loaded or saved is a 'conflict' (shown; nothing is written).
 */
async function save(modes, overwrite = false) {
  if (state.kind !== 'fashion') return;
  setState('saving');
  const before = $('status').textContent;
  status(`${before} Saving to IndexedDB…`);
  const times = {};
  for (const mode of state.dirty || !modes ? [...indexes.keys()] : modes) {
    const start = performance.now();
    await indexes.get(mode).save(savedName(mode), { overwrite, onProgress: (p) => progress(p.fraction, `saving ${MODE_NAMES[mode]}…`) });
    times[mode] = performance.now() - start;
  }
  state.saved = [...new Set([...state.saved, ...Object.keys(times)])];
  state.dirty = false;
  const text = Object.entries(times).map(([mode, ms]) => `${MODE_NAMES[mode]} in ${formatMs(ms)}`).join(', ');
  $('persist').textContent = `saved to IndexedDB (${text})`;
  status(`${before} Saved to IndexedDB (${text}).`);
}

async function deleteId(id) {
  await busy('deleting', async () => {
    for (const index of indexes.values()) await index.delete(id);
    state.stats = await stats();
    state.deleted.add(id);
    state.dirty = true;
    markDeletedTiles();
    status(`Deleted #${id}${label(id) ? ` (${label(id)})` : ''}; the search below is re-run without it.`);
    if (state.query !== null) {
      renderResults(state.query, await searchIndex(state.mode, state.query));
    }
  });
}

async function compact() {
  status('Compacting: the graph is rebuilt over the live vectors, which takes about as long as building…');
  await busy('compacting', async () => {
    // Each index has its own worker: both compact at once.
    const times = {};
    await Promise.all([...indexes].map(async ([mode, index]) => {
      const start = performance.now();
      await index.compact();
      times[mode] = performance.now() - start;
    }));
    state.stats = await stats();
    state.dirty = true;
    const text = Object.entries(times).map(([mode, ms]) => `${MODE_NAMES[mode]} ${formatMs(ms)}`).join(', ');
    status(`Compacted (tombstones dropped, ids kept): ${text}.`);
  });
}

async function switchMode(sq8) {
  const mode = sq8 ? 'sq8' : 'f32';
  clearError();
  if (!state.built.has(mode)) {
    try {
      await build(mode);
      if (state.kind === 'fashion') await save([mode], true);
    } catch (err) {
      showError(err.message);
      $('sq8').checked = state.mode === 'sq8';
      setState('ready');
      renderStats();
      return;
    }
  }
  state.mode = mode;
  setState('ready');
  renderStats();
  if (state.query !== null) await search(state.query);
}

// ----------------------------------------------------------------------------------------------- startup

async function fetchData() {
  const response = await fetch(DATA_URL);
  if (!response.ok) {
    throw new Error(`${DATA_URL}: HTTP ${response.status}. Prepare it with: node js/demo/prepare-data.mjs ` +
      '(bash scripts/demo.sh does this)');
  }
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (total) progress(received / total, `${(received / 1e6).toFixed(1)} / ${(total / 1e6).toFixed(1)} MB`);
  }
  const bytes = new Uint8Array(received);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (bytes.length < 20 || magic !== 'PVFM' || view.getUint32(4, true) !== 1) {
    throw new Error(`${DATA_URL} is not a pocketvec demo data file (re-run prepare-data.mjs)`);
  }
  const count = view.getUint32(8, true);
  const dim = view.getUint32(12, true) * view.getUint32(16, true);
  if (bytes.length !== 20 + count + count * dim) throw new Error(`${DATA_URL} is truncated`);
  return { count, dim, labels: bytes.subarray(20, 20 + count), pixels: bytes.subarray(20 + count) };
}

function subsetSize(count) {
  const raw = new URLSearchParams(location.search).get('n');
  if (raw === null) return count;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`?n=${raw} must be a positive whole number`);
  return Math.min(n, count);
}

async function startFashion() {
  status('Loading Fashion-MNIST (prepared by js/demo/prepare-data.mjs)…');
  const data = await fetchData();
  const n = subsetSize(data.count);
  Object.assign(state, {
    kind: 'fashion', name: 'Fashion-MNIST', count: n, dim: data.dim,
    labels: data.labels.subarray(0, n), pixels: data.pixels.subarray(0, n * data.dim),
  });
  $('about').textContent = `${int(n)} Fashion-MNIST images${n < data.count ? ` (the first ${int(n)} of ${int(data.count)}: ?n=${n})` : ' (60 000 train + 10 000 test)'}, ` +
    `${data.dim} dimensions each: the 28 × 28 pixels as floats scaled to 0..1. Metric: squared L2. ` +
    'HNSW m = 16, efConstruction = 100, efSearch = 64, k = 10. Everything runs in this tab (WebAssembly in a Web Worker).';
  $('grid-title').textContent = 'Images (a random 80)';
  renderGrid();
  await disposeAll();
  source = { rows: state.pixels, scale: 1 / 255, key: `demo-fashion-mnist-${n}`, persist: true };
  const names = await WorkerIndex.list();
  state.saved = ['f32', 'sq8'].filter((mode) => names.includes(savedName(mode)));
  renderStats();
  if (state.saved.includes('f32')) {
    offerSaved();
  } else {
    await buildAndSave();
  }
}

function offerSaved() {
  setState('choose');
  status('A saved index was found in IndexedDB.');
  progress(0, '');
  $('saved-text').textContent = `IndexedDB holds a saved index of these ${int(state.count)} images ` +
    `(${state.saved.map((m) => MODE_NAMES[m]).join(' + ')}). Load it instead of rebuilding?`;
  $('saved-banner').hidden = false;
}

async function buildAndSave() {
  try {
    await build('f32');
    state.mode = 'f32';
    await save(undefined, true);
    setState('ready');
  } catch (err) {
    showError(err.message);
    setState('error');
  }
  renderStats();
}

async function loadSaved() {
  $('saved-banner').hidden = true;
  setState('loading-index');
  status('Loading the saved index from IndexedDB…');
  try {
    const times = {};
    await disposeAll();
    for (const mode of state.saved) {
      const start = performance.now();
      const index = await WorkerIndex.load(savedName(mode), { onProgress: (p) => progress(p.fraction, `loading ${MODE_NAMES[mode]}…`) });
      times[mode] = performance.now() - start;
      if (!index) throw new Error(`no saved index "${savedName(mode)}"`);
      if (index.dim !== state.dim) {
        await index.dispose();
        throw new Error(`saved index "${savedName(mode)}" has dim ${index.dim}, the data has ${state.dim}`);
      }
      indexes.set(mode, index);
    }
    // The saved copy knows which rows were deleted before it was saved: every row that is not a live id.
    const live = await indexes.get('f32').ids();
    const deleted = [];
    for (let id = 0, j = 0; id < state.count; id++) {
      if (j < live.length && live[j] === id) j++;
      else deleted.push(id);
    }
    state.built = new Set(state.saved);
    state.stats = await stats();
    state.deleted = new Set(deleted);
    state.mode = 'f32';
    $('sq8').checked = false;
    const text = Object.entries(times).map(([mode, ms]) => `${MODE_NAMES[mode]} in ${formatMs(ms)}`).join(', ');
    status(`Loaded from IndexedDB: ${text} (${int(state.stats.f32.size)} live vectors, ${int(deleted.length)} deleted).`);
    $('status').dataset.loadedFrom = 'indexeddb';
    $('status').dataset.loadMs = times.f32;
    $('persist').textContent = `loaded from IndexedDB (${text})`;
    progress(1, '');
    renderGrid();
    setState('ready');
  } catch (err) {
    showError(`${err.message}\nRebuilding instead.`);
    await buildAndSave();
  }
  renderStats();
}

async function rebuild() {
  $('saved-banner').hidden = true;
  await forget();
  await buildAndSave();
}

/** Removes the saved copies of this dataset's indexes from IndexedDB. */
async function forget() {
  for (const mode of ['f32', 'sq8']) await WorkerIndex.remove(savedName(mode));
  state.saved = [];
}

/** Replaces the dataset with the user's .npy / .fvecs file. */
async function useFile(file) {
  if (!file) return;
  if (!['ready', 'choose', 'error'].includes(document.body.dataset.state)) {
    showError('Wait for the current operation to finish, then drop the file again.');
    return;
  }
  clearError();
  let parsed;
  try {
    parsed = parseVectors(await file.arrayBuffer(), file.name);
  } catch (err) {
    showError(`${file.name}: ${err.message}`);
    return;
  }
  $('saved-banner').hidden = true;
  Object.assign(state, {
    kind: 'custom', name: file.name, count: parsed.count, dim: parsed.dim, labels: null, pixels: null,
    mode: 'f32', built: new Set(), deleted: new Set(), stats: {}, dirty: false, saved: [], query: null,
  });
  $('sq8').checked = false;
  $('about').textContent = `${file.name}: ${int(parsed.count)} vectors of ${parsed.dim} dimensions (${parsed.format}), ` +
    'metric squared L2, HNSW m = 16, efConstruction = 100, k = 10. Reload the page to return to Fashion-MNIST.';
  $('grid-title').textContent = 'Vectors (a random 80 ids)';
  for (const id of ['query', 'hits']) $(id).replaceChildren();
  $('latency').textContent = '';
  $('agreement').textContent = '';
  renderGrid();
  await disposeAll();
  source = { rows: parsed.vectors, scale: 1, key: 'custom', persist: false };
  await buildAndSave();
}

// -------------------------------------------------------------------------------------------------- wiring

$('grid').addEventListener('click', (event) => {
  const tile = event.target.closest('.tile');
  if (tile) search(Number(tile.dataset.id));
});
$('shuffle').addEventListener('click', renderGrid);
$('sq8').addEventListener('change', (event) => switchMode(event.target.checked));
$('compact').addEventListener('click', compact);
$('save').addEventListener('click', () => busy('saving', save));
$('forget').addEventListener('click', () => busy('forgetting', async () => {
  await forget();
  state.dirty = true;
  $('persist').textContent = 'the saved copy was removed from IndexedDB';
}));
$('load-saved').addEventListener('click', loadSaved);
$('rebuild').addEventListener('click', rebuild);
$('file').addEventListener('change', (event) => useFile(event.target.files[0]));
document.addEventListener('dragover', (event) => {
  event.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', (event) => {
  if (event.relatedTarget === null) document.body.classList.remove('dragging');
});
document.addEventListener('drop', (event) => {
  event.preventDefault();
  document.body.classList.remove('dragging');
  useFile(event.dataTransfer.files[0]);
});

// A hook for the browser test (test/run.mjs): search by id without finding a tile, read the state, and
// the errors nothing caught (also shown on the page).
const uncaught = [];
window.addEventListener('error', (e) => { uncaught.push(String(e.message)); showError(String(e.message)); });
window.addEventListener('unhandledrejection', (e) => { uncaught.push(String(e.reason?.message ?? e.reason)); showError(String(e.reason?.message ?? e.reason)); });
window.demo = { search, state, errors: uncaught };

startFashion().catch((err) => {
  showError(err.message);
  status('The demo could not start.');
  setState('error');
});
