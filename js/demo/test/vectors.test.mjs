// Unit tests of the demo's .npy / .fvecs parser (js/demo/vectors.js): node --test js/demo/test/
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseVectors } from '../vectors.js';

/** A .npy file (version 1.0) with `header` (a dict literal) and `data` bytes; the header is padded to 64. */
function npy(header, data, major = 1) {
  const lenBytes = major === 1 ? 2 : 4;
  const preamble = 8 + lenBytes;
  const total = Math.ceil((preamble + header.length + 1) / 64) * 64;
  const text = header.padEnd(total - preamble - 1) + '\n';
  const out = Buffer.alloc(total + data.byteLength);
  out[0] = 0x93;
  out.write('NUMPY', 1, 'latin1');
  out[6] = major;
  out[7] = 0;
  if (major === 1) out.writeUInt16LE(text.length, 8);
  else out.writeUInt32LE(text.length, 8);
  out.write(text, preamble, 'latin1');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, total);
  return out;
}

function fvecs(rows) {
  const parts = rows.map((r) => {
    const b = Buffer.alloc(4 + r.length * 4);
    b.writeInt32LE(r.length, 0);
    r.forEach((v, j) => b.writeFloatLE(v, 4 + j * 4));
    return b;
  });
  return Buffer.concat(parts);
}

const f32 = (...v) => new Float32Array(v);

test('.npy float32 2-D, versions 1 and 2', () => {
  for (const major of [1, 2]) {
    const file = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f32(1, 2, 3, 4, 5, 6), major);
    const got = parseVectors(file, 'x.npy');
    assert.deepEqual([got.count, got.dim, got.format], [2, 3, 'npy']);
    assert.deepEqual([...got.vectors], [1, 2, 3, 4, 5, 6]);
  }
});

test('.npy refusals name the problem', () => {
  const cases = [
    ["{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", new Float64Array(6), /'<f8'.*float32/],
    ["{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f32(1, 2, 3, 4, 5, 6), /Fortran order/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f32(1, 2, 3, 4, 5, 6), /2-D/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 1), }", f32(1, 2, 3, 4, 5, 6), /2-D/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f32(1, 2, 3, 4, 5), /20 bytes; shape \(2, 3\) of float32 needs 24/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", f32(), /no vectors/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (1, 5000), }", new Float32Array(5000), /5000 dimensions/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", f32(1, Number.NaN), /vector 0, component 1 is NaN/],
    ["{'shape': (1, 2)}", f32(1, 2), /header is not understood/],
  ];
  for (const [header, data, message] of cases) {
    assert.throws(() => parseVectors(npy(header, data), 'x.npy'), message, header);
  }
  assert.throws(() => parseVectors(Buffer.from('\x93NUMPY', 'latin1'), 'x.npy'), /truncated/);
  const truncated = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", f32(1, 2)).subarray(0, 30);
  assert.throws(() => parseVectors(truncated, 'x.npy'), /truncated inside its header/);
  assert.throws(() => parseVectors(Buffer.from('hello'), 'x.npy'), /not a \.npy file/);
});

test('.fvecs', () => {
  const got = parseVectors(fvecs([[1, 2], [3, 4], [5, 6]]), 'v.fvecs');
  assert.deepEqual([got.count, got.dim, got.format], [3, 2, 'fvecs']);
  assert.deepEqual([...got.vectors], [1, 2, 3, 4, 5, 6]);
});

test('.fvecs refusals name the problem', () => {
  assert.throws(() => parseVectors(fvecs([[1, 2], [3, 4, 5]]), 'v.fvecs'), /not a whole number of 12-byte records/);
  assert.throws(() => parseVectors(Buffer.concat([fvecs([[1, 2, 3]]), fvecs([[4], [5]])]), 'v.fvecs'),
    /record 1 has dimension 1, the first has 3/);
  assert.throws(() => parseVectors(fvecs([[1, 2]]).subarray(0, 10), 'v.fvecs'), /not a whole number/);
  assert.throws(() => parseVectors(Buffer.alloc(2), 'v.fvecs'), /shorter than one dimension field/);
  assert.throws(() => parseVectors(Buffer.from([0, 0, 0, 0]), 'v.fvecs'), /dimension 0/);
  assert.throws(() => parseVectors(fvecs([[1, Number.POSITIVE_INFINITY]]), 'v.fvecs'), /Infinity/);
  assert.throws(() => parseVectors(fvecs([[1, 2]]), 'v.csv'), /neither \.npy nor \.fvecs/);
});
