#!/usr/bin/env node
// Draws recall@k against median (p50) single-query latency from one or more results-*.json files: one panel
// per data set, one curve per library/config ef sweep, single markers for points without a sweep (exact
// search, default configs). Hand-written SVG, no dependencies. Latency is on a log axis because the
// libraries differ by orders of magnitude.
//
//   node bench/js/plot.mjs bench/js/results-synthetic-10k.json bench/js/results-fashion-mnist.json \
//        --out docs/bench-recall-latency.svg

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const COLORS = { pocketvec: '#d62728', edgevec: '#1f77b4', 'voy-search': '#2ca02c', 'hnswlib-wasm': '#9467bd' };
const FALLBACK = ['#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f'];
const PANEL_W = 460;
const PANEL_H = 340;
const M = { left: 62, right: 16, top: 34, bottom: 46 };
const LEGEND_H = 84;
// Sweeps other than 'matched' are dashed; a few configs get their own pattern so they stay apart.
const DASHES = { sq8: '6 3', 'sq8-rerank': '2 2', default: '10 3 2 3' };

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (v) => +v.toFixed(1);

function colorOf(lib, seen) {
  if (COLORS[lib]) return COLORS[lib];
  if (!seen.has(lib)) seen.set(lib, FALLBACK[seen.size % FALLBACK.length]);
  return seen.get(lib);
}

/** Series of one run: sweeps as lines; configs without a sweep as single points. */
export function seriesOf(run) {
  const series = [];
  for (const r of run.results) {
    if (!r.atDefault) continue;
    if (r.sweep?.length) {
      series.push({ lib: r.lib, label: `${r.lib} ${r.config}`, dashed: r.config !== 'matched', dash: DASHES[r.config] ?? '6 3', points: r.sweep.map((s) => ({ x: s.recall, y: s.p50, ef: s.ef })) });
    } else if (r.exact || !run.results.some((o) => o.lib === r.lib && o.sweep?.length)) {
      const how = r.exact ? 'exact' : `ef ${r.atDefault.ef}`;
      series.push({ lib: r.lib, label: `${r.lib} ${r.config} (${how})`, single: true, points: [{ x: r.atDefault.recall, y: r.atDefault.p50, ef: r.atDefault.ef }] });
    }
  }
  return series;
}

function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

function panel(run, ox, oy, colorSeen) {
  const series = seriesOf(run);
  const all = series.flatMap((s) => s.points);
  const parts = [];
  const d = run.dataset;
  parts.push(`<text x="${ox + M.left}" y="${oy + 20}" font-size="14" font-weight="bold">${esc(`${d.name} (${d.n.toLocaleString('en-US')} x ${d.dim}, ${d.metric})`)}</text>`);
  const w = PANEL_W - M.left - M.right;
  const h = PANEL_H - M.top - M.bottom;
  const x0 = ox + M.left;
  const y0 = oy + M.top;
  if (all.length === 0) {
    parts.push(`<text x="${x0 + 10}" y="${y0 + h / 2}" font-size="12">no successful results</text>`);
    return parts.join('\n');
  }
  // Zoom the recall axis onto the measured points: on easy data every curve lives in [0.99, 1].
  const minRecall = Math.min(...all.map((p) => p.x));
  const span = 1 - minRecall;
  const xStep = span <= 0.04 ? 0.005 : span <= 0.09 ? 0.01 : span <= 0.25 ? 0.05 : 0.1;
  const xLo = Math.max(0, Math.floor((minRecall - xStep / 2) / xStep) * xStep);
  const xHi = 1 + xStep * 0.25; // room right of recall 1.0 for markers and ef labels
  const yLo = 10 ** Math.floor(Math.log10(Math.min(...all.map((p) => p.y))));
  const yHi = 10 ** Math.ceil(Math.log10(Math.max(...all.map((p) => p.y))));
  const sx = (v) => x0 + ((v - xLo) / (xHi - xLo)) * w;
  const sy = (v) => y0 + h - ((Math.log10(v) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * h;

  parts.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="#fff" stroke="#999"/>`);
  const digits = xStep < 0.01 ? 3 : 2;
  for (let i = 0; xLo + i * xStep <= 1 + 1e-9; i++) {
    const v = xLo + i * xStep;
    const X = num(sx(v));
    parts.push(`<line x1="${X}" y1="${y0}" x2="${X}" y2="${y0 + h}" stroke="#eee"/>`);
    parts.push(`<text x="${X}" y="${y0 + h + 16}" font-size="11" text-anchor="middle">${v.toFixed(digits)}</text>`);
  }
  for (const v of logTicks(yLo, yHi)) {
    const Y = num(sy(v));
    parts.push(`<line x1="${x0}" y1="${Y}" x2="${x0 + w}" y2="${Y}" stroke="#eee"/>`);
    parts.push(`<text x="${x0 - 6}" y="${Y + 4}" font-size="11" text-anchor="end">${v >= 1000 ? `${v / 1000}k` : v}</text>`);
  }
  // The issue-6 recall bar.
  if (0.95 > xLo + 1e-9) {
    const X = num(sx(0.95));
    parts.push(`<line x1="${X}" y1="${y0}" x2="${X}" y2="${y0 + h}" stroke="#999" stroke-dasharray="4 3"/>`);
  }
  parts.push(`<text x="${x0 + w / 2}" y="${y0 + h + 36}" font-size="12" text-anchor="middle">recall@${run.params.k} (higher is better)</text>`);
  parts.push(`<text transform="translate(${ox + 16} ${y0 + h / 2}) rotate(-90)" font-size="12" text-anchor="middle">p50 latency, µs (log; lower is better)</text>`);

  let curves = 0;
  for (const s of series) {
    const c = colorOf(s.lib, colorSeen);
    // Alternate ef labels right/left of the points so stacked curves stay readable.
    const right = s.single || curves++ % 2 === 0;
    const pts = s.points.map((p) => [num(sx(p.x)), num(sy(p.y)), p]);
    if (!s.single) {
      parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${s.dashed ? ` stroke-dasharray="${s.dash ?? '6 3'}"` : ''} points="${pts.map(([x, y]) => `${x},${y}`).join(' ')}"/>`);
    }
    for (const [x, y, p] of pts) {
      const title = `<title>${esc(`${s.label}: ef=${p.ef ?? 'exact'}, recall ${p.x.toFixed(4)}, p50 ${p.y.toFixed(1)} µs`)}</title>`;
      if (s.single) parts.push(`<rect x="${x - 5}" y="${y - 5}" width="10" height="10" fill="${c}">${title}</rect>`);
      else parts.push(`<circle cx="${x}" cy="${y}" r="3.5" fill="${c}">${title}</circle>`);
      if (!s.single && p.ef !== undefined && p.ef !== null) {
        parts.push(`<text x="${right ? x + 6 : x - 6}" y="${y + 3}" font-size="9" fill="${c}" text-anchor="${right ? 'start' : 'end'}">${p.ef}</text>`);
      }
    }
  }
  return parts.join('\n');
}

export function renderSvg(runs) {
  const colorSeen = new Map();
  const width = Math.max(PANEL_W * runs.length, 640); // room for the legend notes
  const height = PANEL_H + LEGEND_H;
  const body = runs.map((r, i) => panel(r, i * PANEL_W, 0, colorSeen));
  // Legend: one entry per series label across panels.
  const labels = new Map();
  for (const r of runs) for (const s of seriesOf(r)) if (!labels.has(s.label)) labels.set(s.label, s);
  const legend = [];
  let lx = M.left;
  let ly = PANEL_H + 14;
  for (const [label, s] of labels) {
    const c = colorOf(s.lib, colorSeen);
    const wEntry = 26 + label.length * 6.4 + 18;
    if (lx + wEntry > width) {
      lx = M.left;
      ly += 18;
    }
    if (s.single) legend.push(`<rect x="${lx + 6}" y="${ly - 9}" width="10" height="10" fill="${c}"/>`);
    else legend.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="${c}" stroke-width="2"${s.dashed ? ` stroke-dasharray="${s.dash ?? '6 3'}"` : ''}/>`);
    legend.push(`<text x="${lx + 26}" y="${ly}" font-size="11">${esc(label)}</text>`);
    lx += wEntry;
  }
  legend.push(`<text x="${M.left}" y="${ly + 20}" font-size="10" fill="#555">Lines: ef sweep (numbers are ef); squares: single configuration; dashed grey line: recall 0.95.</text>`);
  legend.push(`<text x="${M.left}" y="${ly + 34}" font-size="10" fill="#555">One query at a time; Node ${esc(runs[0]?.machine?.node ?? '')} --no-liftoff.</text>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 10}" viewBox="0 0 ${width} ${height + 10}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fafafa"/>`,
    ...body,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}

function main() {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' } } });
  if (positionals.length === 0) {
    console.error('usage: node bench/js/plot.mjs results-A.json [results-B.json ...] [--out docs/bench-recall-latency.svg]');
    process.exit(2);
  }
  const runs = positionals.map((f) => JSON.parse(readFileSync(f, 'utf8')));
  const out = values.out ?? join(HERE, '..', '..', 'docs', 'bench-recall-latency.svg');
  writeFileSync(out, renderSvg(runs));
  console.error(`wrote ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
