// Shared test helpers: a seeded generator and the brute-force oracle every search is checked against.

/** xorshift32 mapped to [-1, 1): deterministic vectors (bench/search-overhead.mjs has the same one). */
export function rng(seed = 2463534242) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return (s / 4294967296) * 2 - 1;
  };
}

export function randomVectors(n, dim, seed) {
  const next = rng(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = next();
  return out;
}

export function row(flat, dim, i) {
  return flat.subarray(i * dim, (i + 1) * dim);
}

/** Distance in float64 under a metric, as documented in include/pocketvec/metric.hpp. */
export function distance(metric, a, b) {
  let dot = 0, l2 = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    l2 += (a[i] - b[i]) ** 2;
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (metric === 'l2') return l2;
  if (metric === 'ip') return -dot;
  return 1 - dot / Math.sqrt(na * nb);
}

/** The exact k nearest of `vectors` (a Map id -> Float32Array) to `query`, ties by id. */
export function bruteForce(metric, vectors, query, k) {
  return [...vectors]
    .map(([id, v]) => ({ id, distance: distance(metric, v, query) }))
    .sort((x, y) => x.distance - y.distance || x.id - y.id)
    .slice(0, k);
}

/** Asserts that `hits` are the oracle's ids with distances within `tol`. */
export function assertSameHits(assert, hits, expected, tol = 1e-4) {
  assert.deepEqual(hits.map((h) => h.id), expected.map((h) => h.id));
  hits.forEach((h, i) => assert.ok(Math.abs(h.distance - expected[i].distance) <= tol,
    `hit ${i}: distance ${h.distance} vs exact ${expected[i].distance}`));
  for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].distance <= hits[i].distance, 'ascending distances');
}
