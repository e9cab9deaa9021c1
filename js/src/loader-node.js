// loader-node.js — instantiates the WASM module in Node.
//
// The glue is built for web and worker only (-sENVIRONMENT=web,worker): Emscripten 3.1.6's Node
// branch uses __dirname/require, which do not exist in ES modules, and its loader would fetch() a
// file path. So Node reads the bytes itself and hands them over as `wasmBinary`.
import { readFile } from 'node:fs/promises';
import createPocketvec from '../dist/pocketvec.js';

let pending = null;

/** The module, instantiated once per process and shared by every Index. */
export function loadModule() {
  pending ??= readFile(new URL('../dist/pocketvec.wasm', import.meta.url))
    .then((wasmBinary) => createPocketvec({ wasmBinary }))
    .catch((err) => {
      pending = null; // let a later call retry
      throw err;
    });
  return pending;
}
