#!/usr/bin/env bash
# Before/after recall runs of bench/recall/recall.cpp (see docs/benchmarks.md, "Native recall").
#
#   bash bench/recall/run.sh BEFORE AFTER [case ...]
#
# BEFORE and AFTER are git revisions; each one's include/ is exported with `git archive` (so
# uncommitted edits in the work tree never leak in) and bench/recall/recall.cpp from the work tree
# is compiled against it with the same flags. Each case runs the BEFORE binary, then the AFTER one,
# one process at a time, under nice; results go to bench/results/recall/<case>.jsonl (one JSON
# object per storage x ef, overwritten per case), progress to <case>.log next to it.
# Cases (default: all): see the table below. Exact top-10 lists are cached in $PV_CACHE
# (default /tmp/pv-recall-cache), so only the first run of a set pays for brute force.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
before=${1:?usage: run.sh BEFORE AFTER [case ...]}
after=${2:?usage: run.sh BEFORE AFTER [case ...]}
shift 2
work=${PV_WORK:-/tmp/pv-recall}
out=$root/bench/results/recall
mkdir -p "$work" "$out"

#      case            set            metric  storages       n
cases="fashion         fashion-mnist  l2      f32,sq8,sq8r   60000
synthetic-100k         synthetic      cosine  f32            100000
synthetic-100k-sq8     synthetic      cosine  sq8,sq8r       100000
synthetic-10k          synthetic      cosine  f32,sq8,sq8r   10000
iso768-l2              iso768         l2      f32,sq8,sq8r   20000
iso768-cosine          iso768         cosine  f32,sq8,sq8r   20000
uniform32-l2           uniform32      l2      f32,sq8,sq8r   20000
uniform32-cosine       uniform32      cosine  f32,sq8,sq8r   20000
uniform32-ip           uniform32      ip      f32,sq8,sq8r   20000
clustered128-l2        clustered128   l2      f32,sq8,sq8r   20000
clustered128-cosine    clustered128   cosine  f32,sq8,sq8r   20000
clustered128-ip        clustered128   ip      f32,sq8,sq8r   20000
offset128-l2           offset128      l2      f32,sq8,sq8r   20000
dups128-l2             dups128        l2      f32,sq8,sq8r   20000
dups128-cosine         dups128        cosine  f32,sq8,sq8r   20000
dups128-ip             dups128        ip      f32,sq8,sq8r   20000"

for core in before after; do
  rev=${!core}
  rm -rf "$work/$core" && mkdir -p "$work/$core"
  git -C "$root" archive "$rev" include | tar -x -C "$work/$core"
  short=$(git -C "$root" rev-parse --short "$rev")
  g++ -std=c++20 -O2 -DNDEBUG -DPV_CORE="\"$core\"" -DPV_REV="\"$short\"" -I"$work/$core/include" \
    "$root/bench/recall/recall.cpp" -o "$work/$core/pv_recall"
done

export PV_FASHION_DIR=${PV_FASHION_DIR:-$work/fashion-mnist}
mkdir -p "$PV_FASHION_DIR"
for f in train t10k; do
  img=$PV_FASHION_DIR/$f-images-idx3-ubyte
  [ -s "$img" ] || gunzip -c "/usr/share/datasets/fashion-mnist/$f-images-idx3-ubyte.gz" > "$img"
done

selected=" $* "
while read -r name set metric storages n; do
  if [ $# -gt 0 ] && [[ $selected != *" $name "* ]]; then continue; fi
  : > "$out/$name.jsonl"
  : > "$out/$name.log"
  for core in before after; do
    start=$(date +%s)
    nice "$work/$core/pv_recall" "$set" "$metric" "$storages" "$n" >> "$out/$name.jsonl" 2>> "$out/$name.log"
    echo "  $core $name: $(( $(date +%s) - start )) s" | tee -a "$out/$name.log"
  done
done <<< "$cases"
