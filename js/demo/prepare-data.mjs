// prepare-data.mjs — converts Debian's Fashion-MNIST (idx format, gzipped) into the one binary file the
// demo page loads: js/demo/data/fashion-mnist.bin (gitignored).
//
// Layout, little-endian:
//   bytes 0..3    magic "PVFM"
//   bytes 4..7    u32 version (1)
//   bytes 8..11   u32 count (70 000: the 60 000 train images, then the 10 000 test images)
//   bytes 12..15  u32 rows (28)
//   bytes 16..19  u32 cols (28)
//   then count u8 labels (0..9), then count * rows * cols u8 pixels (row-major, 0 = background).
//
// Usage: node prepare-data.mjs [--source DIR] [--out FILE] [--force]
// Skips the work when FILE is newer than the four source files (and this script).
import { gunzipSync } from 'node:zlib';
import { mkdirSync, readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const source = option('--source', '/usr/share/datasets/fashion-mnist');
const out = option('--out', fileURLToPath(new URL('./data/fashion-mnist.bin', import.meta.url)));
const force = args.includes('--force');

const parts = [
  ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'],
  ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'],
];
const inputs = [...parts.flat().map((f) => join(source, f)), fileURLToPath(import.meta.url)];

function mtime(path) {
  try { return statSync(path).mtimeMs; } catch { return null; }
}

const missing = inputs.filter((p) => mtime(p) === null);
if (missing.length) {
  console.error(`prepare-data: missing ${missing.join(', ')} (apt-get install dataset-fashion-mnist)`);
  process.exit(1);
}
const outTime = mtime(out);
if (!force && outTime !== null && inputs.every((p) => mtime(p) < outTime)) {
  console.log(`prepare-data: ${out} is up to date`);
  process.exit(0);
}

/** Reads one gzipped idx file; checks its magic number and dimensions. */
function readIdx(path, expectedDims) {
  const bytes = gunzipSync(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);            // idx is big-endian: 0x00 0x00 type ndims
  const type = (magic >>> 8) & 0xff;
  const ndims = magic & 0xff;
  if ((magic >>> 16) !== 0 || type !== 0x08 || ndims !== expectedDims) {
    throw new Error(`${path}: not an idx file of u8 with ${expectedDims} dimensions (magic 0x${magic.toString(16)})`);
  }
  const shape = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i));
  const offset = 4 + 4 * ndims;
  const size = shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== offset + size) {
    throw new Error(`${path}: ${bytes.byteLength} bytes, expected ${offset + size} for shape ${shape.join('x')}`);
  }
  return { shape, data: bytes.subarray(offset) };
}

const loaded = parts.map(([images, labels]) => {
  const img = readIdx(join(source, images), 3);
  const lab = readIdx(join(source, labels), 1);
  if (img.shape[0] !== lab.shape[0]) throw new Error(`${images}: ${img.shape[0]} images but ${lab.shape[0]} labels`);
  return { img, lab };
});
const [rows, cols] = loaded[0].img.shape.slice(1);
if (loaded.some(({ img }) => img.shape[1] !== rows || img.shape[2] !== cols)) throw new Error('image sizes differ');
const count = loaded.reduce((n, { lab }) => n + lab.shape[0], 0);

const headerSize = 20;
const file = new Uint8Array(headerSize + count + count * rows * cols);
const header = new DataView(file.buffer);
file.set(new TextEncoder().encode('PVFM'), 0);
header.setUint32(4, 1, true);
header.setUint32(8, count, true);
header.setUint32(12, rows, true);
header.setUint32(16, cols, true);
let at = 0;
for (const { img, lab } of loaded) {
  file.set(lab.data, headerSize + at);
  file.set(img.data, headerSize + count + at * rows * cols);
  at += lab.shape[0];
}
for (let i = 0; i < count; i++) {
  if (file[headerSize + i] > 9) throw new Error(`label ${file[headerSize + i]} of image ${i} is not 0..9`);
}

mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.tmp`, file);
renameSync(`${out}.tmp`, out);
console.log(`prepare-data: wrote ${out} (${count} images of ${rows}x${cols}, ${file.byteLength} bytes)`);
