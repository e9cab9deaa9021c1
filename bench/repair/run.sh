#!/usr/bin/env bash
# Deletion benchmarks of bench/repair/repair.cpp (see bench/repair/README.md).
#
#   bash bench/repair/run.sh [case ...]            default: every case, in the order below
#
# AFTER (default HEAD) and BEFORE (default 7dd93b2, the last core whose compact() was a full rebuild
# and whose erase() compacted by itself) are git revisions; each one's include/ is exported with
# `git archive` (uncommitted edits never leak in) and bench/repair/repair.cpp from the work tree is
# compiled against it: g++ -O3 -std=c++20 -DNDEBUG (BEFORE adds -DPV_OLD). Cases run one process at a
# time under nice; each writes bench/repair/results/<case>.jsonl (overwritten) and <case>.log.
# Extra key=value arguments for every case: PV_ARGS (e.g. PV_ARGS="n=50000").
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
after=${AFTER:-HEAD}
before=${BEFORE:-7dd93b2}
work=${PV_WORK:-/tmp/pv-repair}
out=$root/bench/repair/results
mkdir -p "$work" "$out"

#  case              core    mode     arguments
cases="deletes-after   after   deletes  n=100000 dim=768 fractions=0.1,0.3 storages=f32,sq8
deletes-before         before  deletes  n=100000 dim=768 fractions=0.3 storages=f32,sq8 fresh=0
churn128-after         after   churn    live=20000 dim=128 ops=200000 round=1000
churn128-before        before  churn    live=20000 dim=128 ops=200000 round=1000
churn768-after         after   churn    live=20000 dim=768 ops=200000 round=1000 queries=200
churn128-t005-after    after   churn    live=20000 dim=128 ops=200000 round=1000 threshold=0.005
deletes100k-after      after   deletes  n=100000 dim=768 fractions=0.1,0.3 storages=f32,sq8 rebuild=0 export=/tmp/pv-repair/export"

for core in before after; do
  rev=${!core}
  rm -rf "$work/$core" && mkdir -p "$work/$core"
  git -C "$root" archive "$rev" include | tar -x -C "$work/$core"
  short=$(git -C "$root" rev-parse --short "$rev")
  flags=""
  [ "$core" = before ] && flags="-DPV_OLD"
  g++ -O3 -std=c++20 -DNDEBUG $flags -DPV_CORE="\"$core\"" -DPV_REV="\"$short\"" -I"$work/$core/include" \
    "$root/bench/repair/repair.cpp" -o "$work/$core/pv_repair"
done

selected=" $* "
while read -r name core mode args; do
  if [ $# -gt 0 ] && [[ $selected != *" $name "* ]]; then continue; fi
  start=$(date +%s)
  # shellcheck disable=SC2086
  nice "$work/$core/pv_repair" "$mode" $args ${PV_ARGS:-} > "$out/$name.jsonl" 2> "$out/$name.log"
  echo "  $name: $(( $(date +%s) - start )) s" | tee -a "$out/$name.log"
done <<< "$cases"
