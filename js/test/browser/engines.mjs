// engines.mjs — one small driver interface over the three browser engines Debian ships, so that the
// package's browser test (run.mjs) and the demo's (demo/test/run.mjs) run the same steps in each:
//   chromium     /usr/bin/chromium through playwright-core (CDP)
//   firefox      /usr/bin/firefox-esr through playwright-core's WebDriver BiDi path (channel 'moz-firefox';
//                playwright-core 1.64.1: 1.65 sends a BiDi command ESR 153 lacks)
//   webkit       WebKitGTK's MiniBrowser through /usr/bin/WebKitWebDriver (W3C WebDriver over HTTP, spoken
//                here with fetch), under an Xvfb of our own (MiniBrowser cannot run headless)
// Nothing is downloaded: every browser is a Debian package (scripts/deps.sh). Each session has a fresh
// profile in the temp dir, removed on close. Firefox gets a dead proxy for every non-loopback host.
//
// A session: { engine, version, goto(url), evaluate(fn, arg), waitFor(fn, arg, ms), reload(),
//   screenshot(path), close() }. evaluate() runs `fn` (a function, sent as source) in the page with one
//   JSON argument and resolves to its JSON result (a returned promise is awaited).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ENGINES = ['chromium', 'firefox', 'webkit'];

/** The engines to run: $POCKETVEC_BROWSERS (comma-separated), default all three. */
export function selectedEngines() {
  const list = (process.env.POCKETVEC_BROWSERS ?? ENGINES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const e of list) if (!ENGINES.includes(e)) throw new Error(`unknown engine '${e}' in POCKETVEC_BROWSERS (known: ${ENGINES.join(', ')})`);
  return list;
}

const MINIBROWSER = process.env.MINIBROWSER_PATH ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/** Firefox off the network: everything but loopback goes to a proxy nobody listens on; no background services. */
const FIREFOX_PREFS = {
  'network.proxy.type': 1,
  'network.proxy.http': '127.0.0.1',
  'network.proxy.http_port': 9,
  'network.proxy.ssl': '127.0.0.1',
  'network.proxy.ssl_port': 9,
  'network.proxy.no_proxies_on': '',
  'network.proxy.allow_hijacking_localhost': false,
  'network.proxy.failover_direct': false,
  'network.dns.native-is-localhost': true,
  'network.trr.mode': 5,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.predictor.enabled': false,
  'dom.push.connection.enabled': false,
  'toolkit.telemetry.enabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'app.normandy.enabled': false,
  'app.update.disabledForTesting': true,
  'messaging-system.rsexperimentloader.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'extensions.update.enabled': false,
  'extensions.blocklist.enabled': false,
  'browser.region.update.enabled': false,
};

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Starts `engine` with a fresh profile. `onConsoleError(text)` gets console errors and page errors where
 * the driver reports them (chromium, firefox); pages should also keep their own list (webkit has no log).
 */
export async function launch(engine, { viewport = { width: 1280, height: 1000 }, onConsoleError = () => {} } = {}) {
  if (engine === 'webkit') return launchWebKit(viewport);
  const { chromium, firefox } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), `pocketvec-${engine}-`));
  let context;
  try {
    context = engine === 'chromium'
      ? await chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, viewport, args: CHROMIUM_ARGS,
      })
      : await firefox.launchPersistentContext(profile, {
        channel: 'moz-firefox', executablePath: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr', headless: true,
        viewport, firefoxUserPrefs: FIREFOX_PREFS, timeout: 60000,
        // Firefox writes a cache under $XDG_CACHE_HOME even with its own profile.
        env: { ...process.env, XDG_CACHE_HOME: join(profile, 'xdg-cache') },
      });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? await context.newPage();
  // Playwright's screenshot adds a <style> to the page, which a strict CSP (the demo's) refuses and Firefox
  // reports on the console: that report, during a screenshot, is the harness's, not the page's.
  // The reports come asynchronously, so the window stays open for a second after the screenshot.
  let shootingUntil = 0;
  const harness = (text) => Date.now() < shootingUntil && /^Content-Security-Policy: .*inline style/.test(text);
  page.on('console', (msg) => { if (msg.type() === 'error' && !harness(msg.text())) onConsoleError(msg.text()); });
  page.on('pageerror', (err) => { if (!harness(String(err))) onConsoleError(String(err)); });
  const version = context.browser()?.version() ?? (engine === 'chromium' ? 'chromium' : 'firefox');
  return {
    engine,
    version: `${engine} ${version}`,
    page, // the Playwright page, for what only Playwright offers (request events)
    context,
    goto: (url) => page.goto(url).then(() => {}),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    waitFor: (fn, arg, ms = 30000) => page.waitForFunction(fn, arg, { timeout: ms, polling: 100 }).then(() => {}),
    reload: () => page.reload().then(() => {}),
    async screenshot(path) {
      shootingUntil = Infinity;
      try {
        await page.screenshot({ path });
      } finally {
        shootingUntil = Date.now() + 1000;
      }
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    },
  };
}

// --- WebKitGTK ------------------------------------------------------------------------------------------

/** Children we started: killed if this process exits without closing its session (a failed run, ^C). */
const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGTERM'); });
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Ends a child: SIGTERM, then SIGKILL after `ms`; resolves when it has exited. */
function stop(child, ms = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

/** An Xvfb on a display it picks itself (-displayfd); resolves to { child, display }. */
function startXvfb() {
  return new Promise((resolve, reject) => {
    const child = track(spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp', '-noreset'],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] }));
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('Xvfb did not start within 10 s')); }, 10000);
    child.on('error', (err) => { clearTimeout(timer); reject(new Error(`cannot start Xvfb (apt-get install xvfb): ${err.message}`)); });
    child.stdio[3].on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve({ child, display: `:${out.trim()}` });
      }
    });
  });
}

async function launchWebKit(viewport) {
  const home = mkdtempSync(join(tmpdir(), 'pocketvec-webkit-'));
  const children = [];
  const cleanup = async () => {
    for (const c of children.reverse()) await stop(c);
    rmSync(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  };
  try {
    const x = await startXvfb();
    children.push(x.child);
    for (const d of ['data', 'cache', 'config', 'tmp']) mkdirSync(join(home, d));
    const port = await freePort();
    // MiniBrowser inherits this environment: its data and caches stay in the fresh profile dir.
    const env = { ...process.env, DISPLAY: x.display, XDG_DATA_HOME: join(home, 'data'), XDG_CACHE_HOME: join(home, 'cache'),
      XDG_CONFIG_HOME: join(home, 'config'), TMPDIR: join(home, 'tmp'), MESA_SHADER_CACHE_DISABLE: 'true' };
    const driver = track(spawn(process.env.WEBKIT_DRIVER_PATH ?? 'WebKitWebDriver', [`--port=${port}`, '--host=127.0.0.1'],
      { env, stdio: ['ignore', 'ignore', 'inherit'] }));
    children.push(driver);
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15000;
    for (;;) {
      if (driver.exitCode !== null) throw new Error('WebKitWebDriver exited at start (apt-get install webkit2gtk-driver)');
      try {
        if ((await fetch(`${base}/status`)).ok) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error('WebKitWebDriver did not answer within 15 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const wd = async (method, path, body) => {
      const res = await fetch(`${base}${path}`, {
        method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await res.json().catch(() => ({}));
      if (!res.ok) {
        const v = json.value ?? {};
        throw new Error(`WebDriver ${method} ${path}: ${v.error ?? res.status}: ${v.message ?? ''}`.trim());
      }
      return json.value;
    };
    // The args replace MiniBrowser's defaults, so --automation must be among them.
    const session = await wd('POST', '/session', { capabilities: { alwaysMatch: {
      browserName: 'MiniBrowser', 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
    } } });
    const id = session.sessionId;
    const s = `/session/${id}`;
    await wd('POST', `${s}/timeouts`, { script: 300000, pageLoad: 60000 });
    await wd('POST', `${s}/window/rect`, { width: viewport.width, height: viewport.height }).catch(() => {});
    const evaluate = (fn, arg) => wd('POST', `${s}/execute/sync`, {
      script: `return (${fn}).apply(null, arguments)`, args: [arg === undefined ? null : arg],
    });
    return {
      engine: 'webkit',
      version: `webkit ${session.capabilities?.browserVersion ?? '?'} (MiniBrowser)`,
      goto: (url) => wd('POST', `${s}/url`, { url }).then(() => {}),
      evaluate,
      async waitFor(fn, arg, ms = 30000) {
        const end = Date.now() + ms;
        for (;;) {
          if (await evaluate(fn, arg)) return;
          if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${String(fn).slice(0, 120)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      reload: () => wd('POST', `${s}/refresh`, {}).then(() => {}),
      async screenshot(path) {
        // Right after a navigation nothing may be painted yet: wait two frames.
        await evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true)))));
        writeFileSync(path, Buffer.from(await wd('GET', `${s}/screenshot`), 'base64'));
      },
      async close() {
        await wd('DELETE', s).catch(() => {});
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
