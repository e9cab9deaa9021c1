#!/usr/bin/env bash
# Raw and gzip -9 sizes of everything `npm pack` ships that a page downloads (dist/ + lib/, the minified
# src/ that scripts/minify.mjs writes).
# Fails when the gzip total exceeds the 128 KiB budget.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=$((128 * 1024))
total_raw=0 total_gz=0
printf '%-28s %10s %10s\n' file raw gzip
for f in dist/pocketvec.wasm dist/pocketvec.js lib/*.js; do
  raw=$(wc -c <"$f"); gz=$(gzip -9c "$f" | wc -c)
  total_raw=$((total_raw + raw)); total_gz=$((total_gz + gz))
  printf '%-28s %10d %10d\n' "$f" "$raw" "$gz"
done
printf '%-28s %10d %10d  (budget %d gzip)\n' total "$total_raw" "$total_gz" "$budget"
[ "$total_gz" -le "$budget" ] || { echo "size-report: over the gzip budget" >&2; exit 1; }
