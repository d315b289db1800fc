#!/bin/bash
# run_env.sh COMMIT TAG [ENV=VALUE ...]: run.sh with extra environment
C=$(cd /work/main && git rev-parse --short=7 $1); T=$2; shift 2
W=/tmp/bis/wt/$C
OUT=/tmp/bis/out/$C-$T
mkdir -p $OUT
cd $W && env "$@" PYTHONPATH=$W /usr/bin/time -f "%e s wall %U user %S sys %M KB" python3 -m benchmarks.backfill --jobs example --memory-limit 3.5GiB --out $OUT > $OUT/log.txt 2>&1
R=$(grep -E "^\| *example" $OUT/backfill.md | head -1)
echo "$C $T $* $(date +%H:%M:%S) | $R | $(tail -1 $OUT/log.txt)" >> /tmp/bis/runs_env.log
tail -1 /tmp/bis/runs_env.log
