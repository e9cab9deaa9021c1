// vectors.js — parses a user's vector file in the page: NumPy .npy (float32, 2-D, C order) or .fvecs
// (per vector: int32 dimension d, then d float32; little-endian). Throws an Error with a message meant
// for the user when the file does not fit. No DOM here, so Node can import it too.

export const MAX_DIM = 4096;  // pocketvec's limit

/** { vectors: Float32Array (count * dim), count, dim, format } from a file's bytes and name. */
export function parseVectors(buffer, name = '') {
  const bytes = new Uint8Array(buffer);
  const lower = name.toLowerCase();
  let parsed;
  if (lower.endsWith('.npy') || isNpy(bytes)) parsed = parseNpy(bytes);
  else if (lower.endsWith('.fvecs')) parsed = parseFvecs(bytes);
  else throw new Error(`"${name}" is neither .npy nor .fvecs (the name must end in one of those)`);
  checkShape(parsed);
  checkFinite(parsed);
  return parsed;
}

function isNpy(bytes) {
  return bytes.length >= 6 && bytes[0] === 0x93 && String.fromCharCode(...bytes.subarray(1, 6)) === 'NUMPY';
}

function checkShape({ count, dim }) {
  if (count < 1) throw new Error('the file holds no vectors');
  if (dim < 1 || dim > MAX_DIM) throw new Error(`vectors have ${dim} dimensions; pocketvec takes 1 to ${MAX_DIM}`);
}

function checkFinite({ vectors, dim }) {
  for (let i = 0; i < vectors.length; i++) {
    if (!Number.isFinite(vectors[i])) {
      throw new Error(`vector ${Math.floor(i / dim)}, component ${i % dim} is ${vectors[i]} (only finite numbers can be indexed)`);
    }
  }
}

/** .npy versions 1.0, 2.0 and 3.0; only '<f4' (little-endian float32), C order, 2-D. */
export function parseNpy(bytes) {
  if (!isNpy(bytes)) throw new Error('not a .npy file: it does not start with \\x93NUMPY');
  if (bytes.length < 10) throw new Error('.npy file is truncated inside its preamble');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen;
  let offset;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error('.npy file is truncated inside its preamble');
    headerLen = view.getUint32(8, true);
    offset = 12;
  } else {
    throw new Error(`.npy format version ${major}.${bytes[7]} is not supported (1.0, 2.0 and 3.0 are)`);
  }
  if (offset + headerLen > bytes.length) throw new Error('.npy file is truncated inside its header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(offset, offset + headerLen));
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`.npy header is not understood: ${header.trim().slice(0, 120)}`);
  }
  if (descr !== '<f4') {
    throw new Error(`.npy holds dtype '${descr}'; the demo takes float32 ('<f4'), e.g. np.save(path, x.astype(np.float32))`);
  }
  if (fortran === 'True') throw new Error('.npy is in Fortran order; save a C-ordered array (np.ascontiguousarray)');
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.length !== 2 || !shape.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new Error(`.npy array has shape (${shapeText.trim()}); the demo takes a 2-D array (count, dim)`);
  }
  const [count, dim] = shape;
  const dataStart = offset + headerLen;
  const expected = count * dim * 4;
  const actual = bytes.length - dataStart;
  if (actual !== expected) {
    throw new Error(`.npy data is ${actual} bytes; shape (${count}, ${dim}) of float32 needs ${expected}`);
  }
  const vectors = new Float32Array(count * dim);
  new Uint8Array(vectors.buffer).set(bytes.subarray(dataStart));   // copy: the data may be unaligned
  return { vectors, count, dim, format: 'npy' };
}

/** .fvecs: every record is int32 d followed by d float32, with the same d throughout. */
export function parseFvecs(bytes) {
  if (bytes.length < 4) throw new Error('.fvecs file is shorter than one dimension field (4 bytes)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dim = view.getInt32(0, true);
  if (dim < 1 || dim > MAX_DIM) {
    throw new Error(`.fvecs starts with dimension ${dim}; expected 1 to ${MAX_DIM} (is this really .fvecs?)`);
  }
  const record = 4 + dim * 4;
  if (bytes.length % record !== 0) {
    throw new Error(`.fvecs is ${bytes.length} bytes, not a whole number of ${record}-byte records (dimension ${dim})`);
  }
  const count = bytes.length / record;
  const vectors = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    const at = i * record;
    const d = view.getInt32(at, true);
    if (d !== dim) throw new Error(`.fvecs record ${i} has dimension ${d}, the first has ${dim}`);
    for (let j = 0; j < dim; j++) vectors[i * dim + j] = view.getFloat32(at + 4 + j * 4, true);
  }
  return { vectors, count, dim, format: 'fvecs' };
}
