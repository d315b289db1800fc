#!/bin/bash
# writer linger A/B: SF_WRITER_LINGER_MS 0 against 20, alternated
OUT=/work/main/benchmarks/results/s56/writer_linger; mkdir -p $OUT
cd /work/main
for r in 1 2 3; do
  for v in 0 20; do
    echo "== linger $v round $r $(date +%T)"
    SF_WRITER_LINGER_MS=$v SECONDS_=30 WORKERS_=2 python3 benchmarks/results/s53/phases/run_kept.py 232342 /tmp/s56/lw --online-store /dev/shm/s56lw.lmdb 2>&1 | tail -3
    rm -rf /dev/shm/s56lw.lmdb* /tmp/s56/lw
  done
done
