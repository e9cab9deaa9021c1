// serve.mjs — a tiny static server for the demo, node: built-ins only. Serves the js/ folder (the demo
// in js/demo/, the package's browser entry in js/src/ and js/dist/) on 127.0.0.1.
//
//   node js/demo/serve.mjs            # PORT from the environment, default 8080; a free port if busy
//
// Also importable: `await startServer({ port: 0 })` resolves to { url, close } (used by test/run.mjs).
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');   // js/
const allowed = ['/demo/', '/src/', '/dist/'];                                   // nothing else is served

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

const HEADERS = {
  // Only this origin may be contacted; 'wasm-unsafe-eval' lets the page compile WebAssembly.
  'content-security-policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
    "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'",
  // Cross-origin isolation: performance.now() then has ~5 us resolution instead of 100 us.
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

async function handle(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
  } catch {
    res.writeHead(400).end('bad request');
    return;
  }
  if (pathname === '/' || pathname === '/demo') {
    res.writeHead(302, { location: '/demo/' }).end();
    return;
  }
  if (pathname.endsWith('/')) pathname += 'index.html';
  const path = normalize(join(root, pathname));
  if (!path.startsWith(root + sep) || !allowed.some((p) => path.startsWith(root + p))) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  let info;
  try {
    info = await stat(path);
  } catch {
    info = null;
  }
  if (!info?.isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { ...HEADERS, etag }).end();
    return;
  }
  res.writeHead(200, {
    ...HEADERS,
    'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
    'content-length': info.size,
    etag,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(path).on('error', () => res.destroy()).pipe(res);
}

/** Listens on 127.0.0.1:`port` (0 = any free port); with `fallback`, a busy port falls back to a free one. */
export function startServer({ port = 0, fallback = true } = {}) {
  const server = createServer((req, res) => {
    handle(req, res).catch(() => { if (!res.headersSent) res.writeHead(500).end(); else res.destroy(); });
  });
  return new Promise((resolve, reject) => {
    const listen = (p) => server.listen(p, '127.0.0.1');
    server.on('error', (err) => {
      if (err.code === 'EADDRINUSE' && fallback && port !== 0) {
        console.error(`serve: port ${port} is busy, using a free port instead`);
        port = 0;
        listen(0);
      } else {
        reject(err);
      }
    });
    server.on('listening', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}/demo/`,
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
      });
    });
    listen(port);
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === normalize(process.argv[1])) {
  const port = Number.parseInt(process.env.PORT ?? '8080', 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve: PORT=${process.env.PORT} is not a port number`);
    process.exit(1);
  }
  const { url } = await startServer({ port });
  console.log(`pocketvec demo: ${url}`);
  console.log('(Ctrl-C stops the server)');
}
