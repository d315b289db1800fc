#!/bin/bash
# Alternated 30 s freshness runs (tmpfs store): base against mimalloc's purge delay 1000 ms (env MIMALLOC_PURGE_DELAY) in the flow.
OUT=${OUT:-/tmp/s53/mi}; ROUNDS=${ROUNDS:-2}
cd ${ROOT:-.}
one() { local name=$1; shift
  echo "== $name $*" >> $OUT/runs2.txt
  env "$@" SECONDS_=30 python3 benchmarks/results/s52/step30/run_kept.py 232342 $OUT/work-$name --online-store /dev/shm/streamfeat-mi.lmdb >> $OUT/runs2.txt 2>&1
  rm -rf /dev/shm/streamfeat-mi.lmdb* $OUT/work-$name; }
for r in $(seq 1 $ROUNDS); do
  if [ $((r % 2)) = 1 ]; then one purge1000 MIMALLOC_PURGE_DELAY=1000; one base X=1; else one base X=1; one purge1000 MIMALLOC_PURGE_DELAY=1000; fi
done
