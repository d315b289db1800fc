#!/bin/bash
# Alternated 30 s freshness runs (tmpfs store) with mimalloc env settings for the flow: base, purge never, no large OS pages.
OUT=${OUT:-/tmp/s53/mi}; ROUNDS=${ROUNDS:-2}
cd ${ROOT:-.}
one() { # name env...
  local name=$1; shift
  echo "== $name $*" >> $OUT/runs.txt
  env "$@" SECONDS_=30 python3 benchmarks/results/s52/step30/run_kept.py 232342 $OUT/work-$name --online-store /dev/shm/streamfeat-mi.lmdb >> $OUT/runs.txt 2>&1
  rm -rf /dev/shm/streamfeat-mi.lmdb* $OUT/work-$name
}
for r in $(seq 1 $ROUNDS); do
  one base X=1
  one purge_never MIMALLOC_PURGE_DELAY=-1
  one no_large MIMALLOC_ALLOW_LARGE_OS_PAGES=0
done
