// Benchmark data sets: seeded synthetic clustered vectors and Fashion-MNIST, plus their exact ground truth.
// Everything here is deterministic: the same name always yields the same bytes, so every library in a run
// (each in its own process) and every later run sees identical data. Prepared sets are cached as raw
// little-endian files under bench/js/.cache/<name>/ so the per-library workers only read them.
// Distances follow pocketvec's conventions: cosine = 1 - dot of unit vectors, l2 = squared Euclidean.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { bruteForceTopK } from './groundtruth.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const CACHE_DIR = process.env.POCKETVEC_BENCH_CACHE ?? join(HERE, '..', '.cache');
export const FASHION_DIR = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
export const GT_K = 10;

// Synthetic sets: `clusters` Gaussian clusters, each with its own random low-rank shape, so the data has a
// low intrinsic dimension like real embeddings instead of being isotropic noise (on which every graph
// index degrades to a near-linear scan). Queries come from the same process but are never in the base.
const SYNTHETIC = {
  'synthetic-quick': { n: 5_000, dim: 128, queries: 200 },
  'synthetic-10k': { n: 10_000, dim: 768, queries: 1_000 },
  'synthetic-100k': { n: 100_000, dim: 768, queries: 1_000 },
};
export const SYNTHETIC_SHAPE = { clusters: 100, rank: 16, latentScale: 0.5, noise: 0.25, seed: 20240601 };

export const DATASETS = [...Object.keys(SYNTHETIC), 'fashion-mnist'];

/** mulberry32: tiny, fast, fully specified 32-bit PRNG (so the C++ side can reproduce the stream). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal via Box-Muller; uses both outputs so the stream is two uniforms per two normals. */
export function gaussian(rng) {
  let spare = null;
  return function next() {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u1 = 1 - rng(); // (0, 1]: log never sees 0
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
}

export function normalizeRows(data, dim) {
  const n = data.length / dim;
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) s += data[o + j] * data[o + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) data[o + j] *= inv;
  }
}

/**
 * Draws n base rows then q query rows. Per cluster c: centre m_c ~ N(0, I_dim), basis B_c (dim x rank)
 * with entries N(0, 1/rank). A row: pick c uniformly, z ~ N(0, I_rank),
 * x = m_c + latentScale * B_c z + noise * N(0, I_dim), then scaled to unit length (cosine data).
 */
export function generateSynthetic({ n, dim, queries }, shape = SYNTHETIC_SHAPE) {
  const rng = mulberry32(shape.seed);
  const normal = gaussian(rng);
  const { clusters, rank } = shape;
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = normal();
  const bases = new Float32Array(clusters * dim * rank);
  const bScale = 1 / Math.sqrt(rank);
  for (let i = 0; i < bases.length; i++) bases[i] = normal() * bScale;

  const z = new Float64Array(rank);
  const draw = (out, rows) => {
    for (let i = 0; i < rows; i++) {
      const c = Math.min(clusters - 1, Math.floor(rng() * clusters));
      for (let r = 0; r < rank; r++) z[r] = normal();
      const o = i * dim;
      const cb = c * dim * rank;
      for (let j = 0; j < dim; j++) {
        let v = centres[c * dim + j];
        const bo = cb + j * rank;
        let lat = 0;
        for (let r = 0; r < rank; r++) lat += bases[bo + r] * z[r];
        v += shape.latentScale * lat + shape.noise * normal();
        out[o + j] = v;
      }
    }
    normalizeRows(out, dim);
  };
  const base = new Float32Array(n * dim);
  draw(base, n);
  const query = new Float32Array(queries * dim);
  draw(query, queries);
  return { base, query };
}

/** Parses an idx3 (images) file: big-endian magic 0x00000803, count, rows, cols, then u8 pixels. */
export function readIdxImages(path, limit = Infinity) {
  const buf = gunzipSync(readFileSync(path));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  if (magic !== 0x00000803) throw new Error(`${path}: not an idx3 image file (magic 0x${magic.toString(16)})`);
  const count = view.getUint32(4);
  const dim = view.getUint32(8) * view.getUint32(12);
  const rows = Math.min(count, limit);
  if (buf.byteLength < 16 + count * dim) throw new Error(`${path}: truncated (${buf.byteLength} bytes for ${count} images)`);
  // Raw pixel values 0..255 as f32, unscaled (as in the usual fashion-mnist-784-euclidean benchmark).
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < out.length; i++) out[i] = buf[16 + i];
  return { data: out, rows, dim };
}

function spec(name) {
  if (SYNTHETIC[name]) return { name, metric: 'cosine', ...SYNTHETIC[name] };
  if (name === 'fashion-mnist') return { name, metric: 'l2', n: 60_000, dim: 784, queries: 1_000 };
  throw new Error(`unknown dataset "${name}"; expected one of ${DATASETS.join(', ')}`);
}

const FILES = { base: 'base.f32', query: 'query.f32', gtIds: 'gt-ids.u32', gtDist: 'gt-dist.f32' };

/**
 * Makes sure the dataset and its ground truth are on disk (generating/reading and brute-forcing only when
 * missing or stale) and returns its meta. `log` receives progress lines.
 */
export function prepareDataset(name, log = () => {}) {
  const s = spec(name);
  const dir = join(CACHE_DIR, name);
  const metaPath = join(dir, 'meta.json');
  const wanted = { ...s, gtK: GT_K, shape: s.metric === 'cosine' ? SYNTHETIC_SHAPE : null, format: 1 };
  if (existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
    const { gtSeconds, ...rest } = meta;
    if (JSON.stringify(rest) === JSON.stringify(wanted)) return { ...meta, dir };
  }
  mkdirSync(dir, { recursive: true });
  let base;
  let query;
  if (name === 'fashion-mnist') {
    log(`reading Fashion-MNIST from ${FASHION_DIR}`);
    const train = readIdxImages(join(FASHION_DIR, 'train-images-idx3-ubyte.gz'));
    const test = readIdxImages(join(FASHION_DIR, 't10k-images-idx3-ubyte.gz'), s.queries);
    if (train.dim !== s.dim || train.rows !== s.n) throw new Error(`unexpected Fashion-MNIST train shape ${train.rows}x${train.dim}`);
    base = train.data;
    query = test.data;
  } else {
    log(`generating ${name} (${s.n} x ${s.dim}, ${s.queries} queries)`);
    ({ base, query } = generateSynthetic(s));
  }
  log(`exact ground truth: ${s.queries} queries x ${s.n} rows (${s.metric})`);
  const t0 = process.hrtime.bigint();
  const gt = bruteForceTopK(base, query, s.dim, s.metric, GT_K);
  const gtSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  log(`ground truth took ${gtSeconds.toFixed(1)} s`);
  writeFileSync(join(dir, FILES.base), Buffer.from(base.buffer, base.byteOffset, base.byteLength));
  writeFileSync(join(dir, FILES.query), Buffer.from(query.buffer, query.byteOffset, query.byteLength));
  writeFileSync(join(dir, FILES.gtIds), Buffer.from(gt.ids.buffer));
  writeFileSync(join(dir, FILES.gtDist), Buffer.from(gt.dist.buffer));
  const meta = { ...wanted, gtSeconds };
  writeFileSync(metaPath, JSON.stringify(meta, null, 2));
  return { ...meta, dir };
}

function readTyped(path, Type) {
  const b = readFileSync(path);
  // Copy into a fresh, aligned buffer: Buffer slices can start at odd offsets in Node's pool.
  const out = new Type(b.byteLength / Type.BYTES_PER_ELEMENT);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Loads a prepared dataset (see prepareDataset) into typed arrays. */
export function loadPrepared(dir) {
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
  return {
    meta,
    base: readTyped(join(dir, FILES.base), Float32Array),
    query: readTyped(join(dir, FILES.query), Float32Array),
    gtIds: readTyped(join(dir, FILES.gtIds), Uint32Array),
    gtDist: readTyped(join(dir, FILES.gtDist), Float32Array),
  };
}
