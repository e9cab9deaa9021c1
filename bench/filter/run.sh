#!/usr/bin/env bash
# Filtered search benchmark (bench/filter/filter.cpp, see bench/filter/README.md).
#   bash bench/filter/run.sh [n=100000] [dim=768] [queries=300] [ef=64]
# Compiles the work tree's include/ with g++ -O3 -std=c++20 -DNDEBUG (default flags: SSE2), runs
# under nice, caches the built index in $PV_WORK (default /tmp/pv-filter) per n and dim, and
# writes the table to bench/filter/results/<n>x<dim>.md (progress in the .log beside it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${PV_WORK:-/tmp/pv-filter}
mkdir -p "$work" "$root/bench/filter/results"
g++ -O3 -std=c++20 -DNDEBUG -I"$root/include" "$root/bench/filter/filter.cpp" -o "$work/pv_filter"
n=100000 dim=768
for a in "$@"; do case $a in n=*) n=${a#n=};; dim=*) dim=${a#dim=};; esac; done
out=$root/bench/filter/results/${n}x${dim}
nice "$work/pv_filter" "$@" cache="$work/index-${n}x${dim}.bin" > "$out.md" 2> "$out.log"
cat "$out.md"
