// Exact k-nearest neighbours by brute force, and recall@k scored against it.
// Accumulates in double precision (JS numbers), so ground truth is at least as exact as any library's f32
// arithmetic. Queries are processed in blocks so each base row is read from memory once per block rather
// than once per query: the scan is memory-bound, and 100k x 768 floats do not fit in cache.

const BLOCK = 8;

/** Distance in pocketvec's conventions: cosine = 1 - dot (rows are unit length), l2 = squared L2. */
export function exactDistance(a, aOff, b, bOff, dim, metric) {
  let s = 0;
  if (metric === 'l2') {
    for (let j = 0; j < dim; j++) {
      const d = a[aOff + j] - b[bOff + j];
      s += d * d;
    }
    return s;
  }
  for (let j = 0; j < dim; j++) s += a[aOff + j] * b[bOff + j];
  return 1 - s;
}

/**
 * Returns { ids: Uint32Array(q*k), dist: Float32Array(q*k) }, each query's row sorted by ascending
 * distance, ties broken by the smaller id so the result is deterministic.
 */
export function bruteForceTopK(base, query, dim, metric, k) {
  if (metric !== 'l2' && metric !== 'cosine') throw new Error(`unsupported metric "${metric}"`);
  const n = base.length / dim;
  const q = query.length / dim;
  if (!Number.isInteger(n) || !Number.isInteger(q)) throw new Error('data length is not a multiple of dim');
  if (k > n) throw new Error(`k=${k} exceeds base size ${n}`);
  const ids = new Uint32Array(q * k);
  const dist = new Float32Array(q * k);
  const baseNorm = new Float64Array(n);
  if (metric === 'l2') {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0, o = i * dim; j < dim; j++) s += base[o + j] * base[o + j];
      baseNorm[i] = s;
    }
  }
  const topD = new Float64Array(BLOCK * k);
  const topI = new Int32Array(BLOCK * k);
  const acc = new Float64Array(BLOCK);
  const qNorm = new Float64Array(BLOCK);

  for (let q0 = 0; q0 < q; q0 += BLOCK) {
    const bq = Math.min(BLOCK, q - q0);
    topD.fill(Infinity);
    topI.fill(-1);
    for (let b = 0; b < bq; b++) {
      let s = 0;
      for (let j = 0, o = (q0 + b) * dim; j < dim; j++) s += query[o + j] * query[o + j];
      qNorm[b] = s;
    }
    for (let i = 0; i < n; i++) {
      const o = i * dim;
      if (bq === BLOCK) {
        // Hand-unrolled over the block: V8 keeps the eight sums in registers.
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        const p = q0 * dim;
        for (let j = 0; j < dim; j++) {
          const x = base[o + j];
          s0 += x * query[p + j];
          s1 += x * query[p + dim + j];
          s2 += x * query[p + 2 * dim + j];
          s3 += x * query[p + 3 * dim + j];
          s4 += x * query[p + 4 * dim + j];
          s5 += x * query[p + 5 * dim + j];
          s6 += x * query[p + 6 * dim + j];
          s7 += x * query[p + 7 * dim + j];
        }
        acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
        acc[4] = s4; acc[5] = s5; acc[6] = s6; acc[7] = s7;
      } else {
        for (let b = 0; b < bq; b++) {
          let s = 0;
          const p = (q0 + b) * dim;
          for (let j = 0; j < dim; j++) s += base[o + j] * query[p + j];
          acc[b] = s;
        }
      }
      for (let b = 0; b < bq; b++) {
        const d = metric === 'l2' ? Math.max(0, baseNorm[i] - 2 * acc[b] + qNorm[b]) : 1 - acc[b];
        const t = b * k;
        // Strict '<' keeps the earlier (smaller) id on ties, since ids arrive in increasing order.
        if (d < topD[t + k - 1]) {
          let pos = k - 1;
          while (pos > 0 && topD[t + pos - 1] > d) {
            topD[t + pos] = topD[t + pos - 1];
            topI[t + pos] = topI[t + pos - 1];
            pos--;
          }
          topD[t + pos] = d;
          topI[t + pos] = i;
        }
      }
    }
    for (let b = 0; b < bq; b++) {
      for (let r = 0; r < k; r++) {
        ids[(q0 + b) * k + r] = topI[b * k + r];
        dist[(q0 + b) * k + r] = topD[b * k + r];
      }
    }
  }
  return { ids, dist };
}

/**
 * recall@k for one query, ann-benchmarks style: a returned id counts when its exact distance is within the
 * true k-th distance (plus a relative epsilon), so a library is not penalised for picking a different one of
 * several equidistant rows (Fashion-MNIST has duplicates). Duplicate or out-of-range ids never count.
 */
export function recallAtK(resultIds, qi, data, k) {
  const { base, query, gtDist, meta } = data;
  const { dim, metric } = meta;
  const n = base.length / dim;
  const kth = gtDist[qi * meta.gtK + k - 1];
  const limit = kth + Math.abs(kth) * 1e-5 + 1e-6;
  const seen = new Set();
  let hits = 0;
  const m = Math.min(k, resultIds.length);
  for (let r = 0; r < m; r++) {
    const id = resultIds[r];
    if (!Number.isInteger(id) || id < 0 || id >= n || seen.has(id)) continue;
    seen.add(id);
    if (exactDistance(base, id * dim, query, qi * dim, dim, metric) <= limit) hits++;
  }
  return hits / k;
}
