// Opens a URL in Debian's chromium (playwright-core) and waits for the page to set window.pocketvecResult;
// prints it and exits 0 when it starts with "ok", 1 otherwise (page errors are printed too).
// Usage: node scripts/check-page.mjs URL [screenshot.png]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, screenshot] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), 'pocketvec-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let result = 'no result';
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err}`));
  page.on('console', (msg) => { if (msg.type() === 'error') console.error(`console: ${msg.text()}`); });
  await page.goto(url);
  await page.waitForFunction(() => typeof window.pocketvecResult === 'string', null, { timeout: 30000 });
  result = await page.evaluate(() => window.pocketvecResult);
  if (screenshot) await page.screenshot({ path: screenshot });
} catch (err) {
  result = `failed: ${err.message}`;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${url}: ${result}`);
process.exit(result.startsWith('ok') ? 0 : 1);
