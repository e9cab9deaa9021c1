// node.js — the package entry for Node (package.json `exports` condition "node").
import { defineIndex } from './index.js';
import { loadModule } from './loader-node.js';

export const Index = /* @__PURE__ */ defineIndex(loadModule);
export { PocketvecError } from './errors.js';
export { IdbStore, openOpfsStore, openStore, persist, storageInfo } from './idb.js';
