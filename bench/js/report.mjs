#!/usr/bin/env node
// Re-renders the Markdown report from saved results JSON files (as written by run.mjs --out).
//   node bench/js/report.mjs bench/js/results/synthetic-10k.json bench/js/results/fashion-mnist.json
import { readFileSync } from 'node:fs';
import { renderMarkdown } from './lib/report.mjs';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node bench/js/report.mjs results-A.json [results-B.json ...]');
  process.exit(2);
}
process.stdout.write(files.map((f) => renderMarkdown(JSON.parse(readFileSync(f, 'utf8')))).join('\n'));
