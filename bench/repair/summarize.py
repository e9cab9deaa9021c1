#!/usr/bin/env python3
"""Markdown tables from bench/repair/results/*.jsonl (prints to stdout).

    python3 bench/repair/summarize.py [results-dir]
"""
import json, os, sys

d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")
rows = []
for name in sorted(os.listdir(d)):
    if name.endswith(".jsonl"):
        with open(os.path.join(d, name)) as f:
            rows += [dict(json.loads(l), file=name) for l in f if l.startswith("{")]

def mib(b): return f"{b / 1048576:.1f}"
def pts(a, b): return f"{(a - b) * 100:+.2f}"

builds = [r for r in rows if r["kind"] == "build"]
if builds:
    print("### Builds\n\n| core | storage | n x dim | build s | memory_bytes MiB | truth s (all fractions) |\n|---|---|---|---|---|---|")
    for r in builds:
        print(f"| {r['core']} {r['rev']} | {r['storage']} | {r['n']} x {r['dim']} | {r['build_s']:.1f} | {mib(r['memory_bytes'])} | {r['truth_s']:.1f} |")
    print()

comp = [r for r in rows if r["kind"] == "compact"]
if comp:
    print("### Time: compact() vs rebuild() vs a fresh build over the survivors\n")
    print("| core | storage | deleted | compact s | repaired nodes | rebuild s | fresh build s | rebuild / compact | fresh / compact |\n|---|---|---|---|---|---|---|---|---|")
    for c in comp:
        key = lambda r: r["core"] == c["core"] and r["storage"] == c["storage"] and r["fraction"] == c["fraction"] and r["n"] == c["n"]
        rb = next((r for r in rows if r["kind"] == "rebuild" and key(r)), None)
        fr = next((r for r in rows if r["kind"] == "fresh" and key(r)), None)
        print(f"| {c['core']} {c['rev']} | {c['storage']} | {c['fraction']:.0%} of {c['n']} | {c['seconds']:.2f} | {c['last_repair_count'] if c['core'] != 'before' else 'n/a'} | "
              f"{rb['seconds']:.2f} | " if rb else f"| {c['core']} {c['rev']} | {c['storage']} | {c['fraction']:.0%} of {c['n']} | {c['seconds']:.2f} | n/a | – | ", end="")
        print(f"{fr['seconds']:.2f} |" if fr else "– |", end="")
        print(f" {rb['seconds'] / c['seconds']:.1f}x |" if rb else " – |", end="")
        print(f" {fr['seconds'] / c['seconds']:.1f}x |" if fr else " – |")
    print()
    print("### recall@10 (exact top-10 over the survivors; points = 100 x difference)\n")
    print("| core | storage | deleted | ef | tombstoned | after compact() | after rebuild() | fresh build | compact - fresh (points) |\n|---|---|---|---|---|---|---|---|---|")
    for c in comp:
        key = lambda r: r["core"] == c["core"] and r["storage"] == c["storage"] and r["fraction"] == c["fraction"] and r["n"] == c["n"]
        rb = next((r for r in rows if r["kind"] == "rebuild" and key(r)), None)
        fr = next((r for r in rows if r["kind"] == "fresh" and key(r)), None)
        for ef in ("16", "32", "64"):
            print(f"| {c['core']} | {c['storage']} | {c['fraction']:.0%} | {ef} | {c['recall_tombstoned'][ef]:.4f} | {c['recall'][ef]:.4f} | "
                  f"{rb['recall'][ef]:.4f} | " if rb else f"| {c['core']} | {c['storage']} | {c['fraction']:.0%} | {ef} | {c['recall_tombstoned'][ef]:.4f} | {c['recall'][ef]:.4f} | – | ", end="")
            print(f"{fr['recall'][ef]:.4f} | {pts(c['recall'][ef], fr['recall'][ef])} |" if fr else "– | – |")
    print()
    print("### Peak heap during the call (counting operator new/delete)\n")
    print("| core | storage | deleted | call | memory_bytes before MiB | peak extra MiB | peak / index | after MiB |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["kind"] in ("compact", "rebuild"):
            print(f"| {r['core']} | {r['storage']} | {r['fraction']:.0%} | {r['kind']}() | {mib(r['memory_before'])} | {mib(r['peak_extra'])} | {r['peak_ratio']:.3f} | {mib(r['memory_after'])} |")
    print()

for s in [r for r in rows if r["kind"] == "churn_summary"]:
    pts_ = [r for r in rows if r["kind"] == "churn_point" and r["core"] == s["core"] and r["dim"] == s["dim"] and r["file"] == s["file"]]
    cps = [r for r in rows if r["kind"] == "churn_compact" and r["core"] == s["core"] and r["dim"] == s["dim"] and r["file"] == s["file"]]
    print(f"### Churn {s['core']} {s['rev']}: {s['storage']}, {s['live_target']} live x {s['dim']}, {s['ops']} ops (rounds of {s['round']} inserts + {s['round']} erases), {s['compactions']} compactions, {s['wall_s']:.0f} s\n")
    print("| ops | live | tombstone ratio | memory_bytes MiB | RSS MiB | recall@10 ef 64 | fresh build recall | compactions so far |\n|---|---|---|---|---|---|---|---|")
    for p in pts_:
        fr = f"{p['fresh_recall64']:.4f}" if p["fresh_recall64"] >= 0 else ""
        print(f"| {p['ops']} | {p['live']} | {p['tombstone_ratio']:.3f} | {mib(p['memory_bytes'])} | {mib(p['rss'])} | {p['recall64']:.4f} | {fr} | {p['compactions']} |")
    print()
    print("| call | count | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    for kind in ("insert", "erase", "compact"):
        t = s[kind]
        print(f"| {kind if not (kind == 'compact' and s['core'] == 'before') else 'erase that auto-compacted'} | {t['count']} | {t['p50_ms']:.3f} | {t['p99_ms']:.3f} | {t['max_ms']:.1f} |")
    w = s["worst"]
    print(f"\nWorst single call: **{w['kind']}, {w['ms']:.1f} ms** (op {w['op']}).")
    if cps:
        ts = sorted(c["seconds"] * 1e3 for c in cps)
        print(f"compact() calls: {len(cps)}, {ts[0]:.0f}-{ts[-1]:.0f} ms, over {cps[0]['slots_before']}-{max(c['slots_before'] for c in cps)} slots "
              f"({min(c['deleted_before'] for c in cps)}-{max(c['deleted_before'] for c in cps)} deleted)"
              + (f", repairing {min(c['repaired'] for c in cps)}-{max(c['repaired'] for c in cps)} nodes" if s["core"] != "before" else "") + ".")
    print()

ph = [r for r in rows if r["kind"] == "phases"]
if ph:
    print("### compact() phases\n\n| storage | slots x dim | deleted | rep | compact s | plan_repair s | rest s | level-0 lists planned | plan MiB |\n|---|---|---|---|---|---|---|---|---|")
    for r in ph:
        print(f"| {r['storage']} | {r['slots']} x {r['dim']} | {r['deleted']} | {r['rep']} | {r['compact_s']:.3f} | {r['plan_repair_s']:.3f} | {r['rest_s']:.3f} | {r['planned_level0_lists']} | {mib(r['plan_bytes'])} |")
