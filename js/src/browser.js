// browser.js — the package entry for browsers, workers and bundlers (`exports` condition "default").
// Bundler-free pages can import this file directly: it has no bare imports.
import { defineIndex } from './index.js';
import { loadModule } from './loader-browser.js';

export const Index = /* @__PURE__ */ defineIndex(loadModule);
export { PocketvecError } from './errors.js';
export { IdbStore, openOpfsStore, openStore, persist, storageInfo } from './idb.js';
