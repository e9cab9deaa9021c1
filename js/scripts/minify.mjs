#!/usr/bin/env node
// Writes lib/: each src/*.js minified (terser: ES module, compressed, local names mangled), which is
// what the package exports and ships. src/ stays the readable source the tests import; lib/ is
// derived from it by `npm run build:wasm` (and so by `prepack`) and never committed. Import paths,
// `new URL('<literal>', import.meta.url)` (what bundlers look for) and exported names are kept.
//   node scripts/minify.mjs
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { minify } from 'terser';

const js = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(js, 'src');
const lib = join(js, 'lib');
rmSync(lib, { recursive: true, force: true });
mkdirSync(lib);
for (const name of readdirSync(src).filter((f) => f.endsWith('.js')).sort()) {
  const code = readFileSync(join(src, name), 'utf8');
  const out = await minify(code, { module: true, ecma: 2020, compress: { passes: 2 }, mangle: true, format: { comments: false } });
  writeFileSync(join(lib, name), out.code + '\n');
}
