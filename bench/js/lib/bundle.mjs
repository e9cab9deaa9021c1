// Bundle size of what a browser downloads for a library: raw bytes, and gzip -9 / brotli (quality 11)
// sizes of each file compressed on its own, as a web server would serve them.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

export function bundleSize(files) {
  let raw = 0;
  let gzip = 0;
  let brotli = 0;
  const perFile = [];
  for (const f of files) {
    const bytes = readFileSync(f);
    const g = gzipSync(bytes, { level: 9 }).byteLength;
    const b = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).byteLength;
    raw += bytes.byteLength;
    gzip += g;
    brotli += b;
    perFile.push({ file: basename(f), raw: bytes.byteLength, gzip: g, brotli: b });
  }
  return { raw, gzip, brotli, files: perFile };
}

/**
 * Files a browser fetches starting from an ES module entry: follows relative static imports/re-exports,
 * string-literal dynamic import()s and `new URL('<literal>', import.meta.url)` assets (how wasm-bindgen and
 * Emscripten ES6 glue locate their .wasm). Bare package imports are not followed (none of the measured
 * packages has runtime dependencies).
 */
export function browserFiles(entry) {
  const seen = new Set();
  const order = [];
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!existsSync(file)) throw new Error(`bundle walk: ${file} does not exist`);
    order.push(file);
    if (!/\.m?js$/.test(file)) return;
    // Comments may quote import patterns (pocketvec's loader does); drop block and whole-line comments.
    const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    const modules = [
      ...src.matchAll(/\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g),
      ...src.matchAll(/\bimport\s*['"]([^'"]+)['"]/g),
      ...src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => m[1]);
    for (const s of modules) if (s.startsWith('./') || s.startsWith('../')) visit(resolve(dirname(file), s));
    // A URL literal is relative to the module unless it has a scheme ('edgevec_bg.wasm' has no './').
    const assets = [...src.matchAll(/new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g)].map((m) => m[1]);
    for (const s of assets) if (!/^[a-z][a-z0-9+.-]*:/i.test(s) && !s.startsWith('/')) visit(resolve(dirname(file), s));
  };
  visit(resolve(entry));
  return order;
}
