#!/bin/bash
# Alternated 30 s freshness runs (tmpfs store) with per-part CPU/wall: the state cache decoding a batch's states in one
# call without the GIL (new) or one per call (old, DECODE_MANY=0). Reports with ../phases/phases.py.
OUT=${OUT:-/tmp/s53/decode_ab}; ROUNDS=${ROUNDS:-2}; HOOK=$(dirname $(readlink -f $0))
cd ${ROOT:-.}
one() { local name=$1 r=$2; shift 2
  echo "== $name round $r" >> $OUT/runs.txt
  env PYTHONPATH=$HOOK CPUHOOK_OUT=$OUT/$name-$r.txt "$@" SECONDS_=30 python3 benchmarks/results/s53/phases/run_kept.py 232342 $OUT/work-$name --online-store /dev/shm/streamfeat-dm.lmdb >> $OUT/runs.txt 2>&1
  rm -rf /dev/shm/streamfeat-dm.lmdb* $OUT/work-$name; }
for r in $(seq 1 $ROUNDS); do
  if [ $((r % 2)) = 1 ]; then one new $r DECODE_MANY=1; one old $r DECODE_MANY=0; else one old $r DECODE_MANY=0; one new $r DECODE_MANY=1; fi
done
