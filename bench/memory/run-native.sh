#!/usr/bin/env bash
# Native memory against native hnswlib (bench/memory/native_memory.cpp): builds n x dim random rows
# in batches of 1000 into pocketvec f32, pocketvec SQ8 and hnswlib HierarchicalNSW<float> (L2, same M
# and ef_construction), each in its own process, one after another, and prints a Markdown table of
# RSS growth, peak RSS growth (VmHWM) and malloc'd bytes next to pocketvec's memory_bytes().
#   bash bench/memory/run-native.sh [N [DIM [EF_CONSTRUCTION [SEED]]]]   (default 100000 768 32 1; M = 16)
#   PV_REV=<revision>  compile against that revision's include/ (git archive) instead of the work tree's
#   PV_OUT=<file>      also keep the JSON lines (one per library) there
# hnswlib's headers come from Debian's libhnswlib-dev (0.6.2), installed here when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-100000}
dim=${2:-768}
efc=${3:-32}
seed=${4:-1}
work=${PV_WORK:-/tmp/pv-native-memory}
mkdir -p "$work"

if ! dpkg-query -W -f='${Status}' libhnswlib-dev 2>/dev/null | grep -q 'install ok installed'; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libhnswlib-dev
fi

include=$root/include
label="work tree"
if [ -n "${PV_REV:-}" ]; then
  rm -rf "$work/src" && mkdir -p "$work/src"
  git -C "$root" archive "$PV_REV" include | tar -x -C "$work/src"
  include=$work/src/include
  label=$(git -C "$root" rev-parse --short "$PV_REV")
fi
# The project's default native flags (xsimd from /usr/include, SSE2), as bench/recall/run.sh builds.
g++ -std=c++20 -O2 -DNDEBUG -I"$include" "$root/bench/memory/native_memory.cpp" -o "$work/pv_native_memory"

out=${PV_OUT:-$work/results.jsonl}
: > "$out"
for lib in pocketvec-f32 pocketvec-sq8 hnswlib; do
  echo "[native] $lib $n x $dim, M 16, ef_construction $efc (pocketvec: $label)" >&2
  "$work/pv_native_memory" "$lib" "$n" "$dim" 16 "$efc" "$seed" >> "$out"
done

node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const mib = (b) => (b / 2 ** 20).toFixed(1);
console.log(`${rows[0].n} x ${rows[0].dim}, M ${rows[0].m}, ef_construction ${rows[0].ef_construction}; MiB; raw f32 rows ${mib(rows[0].raw_f32_bytes)}`);
console.log("");
console.log("| library | memory_bytes | malloc in use | RSS growth | peak RSS growth | peak RSS growth / malloc in use | build s |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  const used = r.heap_used_after - r.heap_used_before;
  const peak = r.hwm_after - r.rss_before;
  const own = r.memory_bytes ? mib(r.memory_bytes) : `— (level-0 block ${mib(r.hnswlib_level0_bytes)})`;
  console.log(`| ${r.lib} | ${own} | ${mib(used)} | ${mib(r.rss_after - r.rss_before)} | ${mib(peak)} | ${(peak / used).toFixed(2)} | ${r.seconds} |`);
}' "$out"
