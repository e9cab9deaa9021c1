#!/usr/bin/env bash
# The benchmark regression gate: instruction counts (valgrind callgrind, deterministic) of a fixed
# seeded build + search workload, and its recall@10, compared with bench/gate/baseline.txt.
# Fails when an instruction count grows by more than 10 % or recall drops at all.
#   bash scripts/bench-gate.sh [build-dir]            check
#   UPDATE_BASELINE=1 bash scripts/bench-gate.sh      rewrite the baseline (commit it, with the reason)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/gate}
baseline=$root/bench/gate/baseline.txt
mkdir -p "$out"
# Fixed flags: the counts are only comparable for the same compiler, flags and machine image.
g++ -std=c++20 -O2 -g -DNDEBUG -I"$root/include" "$root/bench/gate/gate.cpp" -o "$out/pv_gate"

status=0
: > "$out/current.txt"
for kind in f32 sq8; do
  "$out/pv_gate" "$kind" | tee "$out/$kind.wall.txt"   # wall-clock p50/p99, for information
  valgrind --tool=callgrind --callgrind-out-file="$out/$kind.callgrind" "$out/pv_gate" "$kind" \
    > "$out/$kind.txt" 2> "$out/$kind.valgrind.log"
  recall=$(awk '{print $3}' "$out/$kind.txt")
  callgrind_annotate --inclusive=yes --threshold=100 "$out/$kind.callgrind" > "$out/$kind.annotate.txt"
  # the inclusive-cost line of a function: "1,234 (5.6%)  file:function"
  count() { grep -m1 -E "^ *[0-9,]+ \( *[0-9.]+%\)  .*$1" "$out/$kind.annotate.txt" | awk '{gsub(",", "", $1); print $1}'; }
  build=$(count gate_build)
  search=$(count gate_search)
  echo "$kind build $build search $search recall $recall" | tee -a "$out/current.txt"
done

if [ "${UPDATE_BASELINE:-0}" = 1 ]; then
  cp "$out/current.txt" "$baseline"
  echo "baseline updated: $baseline"
  exit 0
fi

while read -r kind _ build _ search _ recall; do
  read -r _ _ b_build _ b_search _ b_recall < <(grep "^$kind " "$baseline")
  for pair in "build $build $b_build" "search $search $b_search"; do
    set -- $pair
    ratio=$(awk -v c="$2" -v b="$3" 'BEGIN { printf "%.4f", c / b }')
    if awk -v r="$ratio" 'BEGIN { exit !(r > 1.10) }'; then
      echo "FAIL $kind $1: $2 instructions vs baseline $3 (x$ratio, limit x1.10)"; status=1
    else
      echo "ok   $kind $1: x$ratio of baseline"
    fi
  done
  if awk -v c="$recall" -v b="$b_recall" 'BEGIN { exit !(c < b) }'; then
    echo "FAIL $kind recall@10 $recall < baseline $b_recall"; status=1
  else
    echo "ok   $kind recall@10 $recall (baseline $b_recall)"
  fi
done < "$out/current.txt"
exit $status
