// Markdown report of one run (one data set): main table at each configuration's own ef, bundle sizes, the
// ef sweep, and the issue-6 target check (fastest point per library at recall@10 >= 0.95).

export const RECALL_TARGET = 0.95;

export function fmtBytes(b) {
  if (b === null || b === undefined) return '—';
  if (b < 1024) return `${b} B`;
  if (b < 2 ** 20) return `${(b / 1024).toFixed(1)} KiB`;
  if (b < 2 ** 30) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  return `${(b / 2 ** 30).toFixed(2)} GiB`;
}
const fmtUs = (v) => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const fmtQps = (v) => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const fmtRecall = (v) => (v === undefined ? '—' : v.toFixed(4));
const fmtS = (v) => (v === undefined ? '—' : v.toFixed(2));
const row = (cells) => `| ${cells.join(' | ')} |`;

/** The module's whole WebAssembly memory over the library's own figure, when it has both. */
export function heapOverLib(memory) {
  if (!memory?.wasmHeapTotal || !memory.libReported) return '—';
  return `${(memory.wasmHeapTotal / memory.libReported).toFixed(2)}x`;
}

/** Every measured (config, ef) point of a result, with the build time that produced it. */
export function points(r) {
  if (!r.atDefault) return [];
  const pts = [{ config: r.config, ...r.atDefault, buildSeconds: r.buildSeconds }];
  for (const p of r.sweep ?? []) pts.push({ config: r.config, buildSeconds: p.buildSeconds ?? r.buildSeconds, ...p });
  return pts;
}

/** Lowest-p50 point with recall >= target for each library (null when none reaches it). */
export function bestAtRecall(results, target = RECALL_TARGET) {
  const best = new Map();
  for (const r of results) {
    if (!best.has(r.lib)) best.set(r.lib, null);
    for (const p of points(r)) {
      if (p.recall + 1e-12 < target) continue;
      const cur = best.get(r.lib);
      if (!cur || p.p50 < cur.p50) best.set(r.lib, p);
    }
  }
  return best;
}

export function renderMarkdown(run) {
  const { dataset: d, params: p, machine: m } = run;
  const out = [];
  out.push(`### ${d.name}: ${d.n.toLocaleString('en-US')} x ${d.dim}, ${d.metric}`);
  out.push('');
  out.push(
    `${p.queries} single-query searches (k=${p.k}) after ${p.warmup} warm-up queries, ${p.repeats} timed pass(es); ` +
      `latency/QPS are medians over passes, recall@${p.k} is against exact brute force. ` +
      `${m.cpu}, ${m.cores} cores (shared), Node ${m.node} ${m.nodeFlags}; load average ${m.loadAvgStart.join(' / ')} at start, ` +
      `${(m.loadAvgEnd ?? []).join(' / ')} at end.`,
  );
  if (run.mergedFrom?.length) {
    out.push('');
    out.push('Rows were measured in separate runs on this machine (merged with --merge); each configuration below gives its start time (UTC) and the 1-minute load average then.');
  }
  out.push('');
  // What the library says it holds, then what the page pays for it: the module's whole WebAssembly
  // memory (its high-water mark: it never shrinks), and the ratio of the two.
  out.push(row(['Library', 'Config', 'Build (s)', 'ef', 'p50 (µs)', 'p95 (µs)', 'p99 (µs)', 'p99.9 (µs)', 'QPS', `Recall@${p.k}`, 'Index memory (lib)', 'Wasm heap: growth (total)', 'Wasm total / lib', 'Serialized']));
  out.push(row(Array(14).fill('---')));
  for (const r of run.results) {
    if (!r.atDefault) {
      out.push(row([`${r.lib}${r.version ? ` ${r.version}` : ''}`, r.config, `failed: ${(r.error ?? 'no result').replace(/\|/g, '/').slice(0, 160)}`, ...Array(11).fill('')]));
      continue;
    }
    const a = r.atDefault;
    out.push(
      row([
        `${r.lib} ${r.version}`,
        r.config,
        fmtS(r.buildSeconds),
        a.ef ?? (r.exact ? 'exact' : '—'),
        fmtUs(a.p50),
        fmtUs(a.p95),
        fmtUs(a.p99),
        fmtUs(a.p999),
        fmtQps(a.qps),
        fmtRecall(a.recall),
        fmtBytes(r.memory?.libReported),
        r.memory?.wasmHeapTotal ? `${fmtBytes(r.memory.wasmHeapGrowth)} (${fmtBytes(r.memory.wasmHeapTotal)})` : '—',
        heapOverLib(r.memory),
        r.serializedBytes !== null && r.serializedBytes !== undefined ? fmtBytes(r.serializedBytes) : r.serializedError ? 'failed' : '—',
      ]),
    );
  }
  out.push('');
  out.push('Configurations:');
  for (const r of run.results) {
    const when = r.measuredAt ? ` [${r.measuredAt.slice(0, 16).replace('T', ' ')}, load ${r.loadAvgAtStart}]` : '';
    const extra = [r.note, r.buildNote, r.serializedError ? `serialization failed: ${r.serializedError}` : null, r.error ? `error: ${r.error}` : null]
      .filter(Boolean)
      .join('; ');
    out.push(`- ${r.lib} / ${r.config}${when}: ${extra}`);
  }
  out.push('');

  const sweeps = run.results.filter((r) => r.sweep?.length);
  if (sweeps.length) {
    out.push(`ef sweep (recall vs latency):`);
    out.push('');
    out.push(row(['Library', 'Config', 'ef', `Recall@${p.k}`, 'p50 (µs)', 'p99 (µs)', 'QPS', 'Build (s)']));
    out.push(row(Array(8).fill('---')));
    for (const r of sweeps) {
      for (const s of r.sweep) {
        out.push(row([r.lib, r.config, s.ef, fmtRecall(s.recall), fmtUs(s.p50), fmtUs(s.p99), fmtQps(s.qps), s.buildSeconds !== undefined ? `${fmtS(s.buildSeconds)} (rebuilt)` : '—']));
      }
    }
    out.push('');
  }

  const bundles = new Map();
  for (const r of run.results) if (!bundles.has(r.lib) && r.bundle) bundles.set(r.lib, r);
  if (bundles.size) {
    out.push('Bundle (files a browser loads; gzip -9 and brotli q11 per file):');
    out.push('');
    out.push(row(['Library', 'Files', 'Raw', 'gzip', 'brotli']));
    out.push(row(Array(5).fill('---')));
    for (const [lib, r] of bundles) {
      const b = r.bundle;
      if (b.error) out.push(row([lib, `unavailable: ${b.error}`, '', '', '']));
      else out.push(row([`${lib} ${r.version}`, b.files.map((f) => f.file).join(', '), fmtBytes(b.raw), fmtBytes(b.gzip), fmtBytes(b.brotli)]));
    }
    out.push('');
  }

  const best = bestAtRecall(run.results);
  out.push(`Fastest measured point per library at recall@${p.k} >= ${RECALL_TARGET}:`);
  out.push('');
  out.push(row(['Library', 'Config', 'ef', `Recall@${p.k}`, 'p50 (µs)', 'Build (s)', 'p50 / pocketvec p50']));
  out.push(row(Array(7).fill('---')));
  const pv = best.get('pocketvec');
  for (const [lib, b] of best) {
    if (!b) {
      const measured = run.results.some((r) => r.lib === lib && points(r).length > 0);
      out.push(row([lib, '—', '—', measured ? `none >= ${RECALL_TARGET}` : 'no result (failed)', '—', '—', '—']));
      continue;
    }
    const ratio = pv && lib !== 'pocketvec' ? `${(b.p50 / pv.p50).toFixed(2)}x` : '';
    out.push(row([lib, b.config, b.ef ?? 'exact', fmtRecall(b.recall), fmtUs(b.p50), fmtS(b.buildSeconds), ratio]));
  }
  out.push('');
  return out.join('\n');
}
