#!/bin/bash
# Alternate the flow as it is and with mimalloc's transparent huge pages off (MIMALLOC_ALLOW_THP=0 in its environment):
# ROUNDS pairs, 30 s at 232,342 events/s, store on tmpfs; THP faults and page faults of the whole machine per run.
set -u
HERE=$(cd "$(dirname "$0")" && pwd); ROUNDS=${ROUNDS:-3}; RATE=${RATE:-232342}
for r in $(seq 1 $ROUNDS); do
  for v in base nothp; do
    a=$(awk '/^thp_fault_alloc/{print $2}' /proc/vmstat); f=$(awk '/^pgfault/{print $2}' /proc/vmstat)
    if [ $v = nothp ]; then export MIMALLOC_ALLOW_THP=0; else unset MIMALLOC_ALLOW_THP; fi
    SECONDS_=30 WORKERS_=2 python3 /work/main/benchmarks/results/s53/phases/run_kept.py $RATE /tmp/s55thp --online-store /dev/shm/s55thp.lmdb > $HERE/${v}_$r.log 2>&1
    b=$(awk '/^thp_fault_alloc/{print $2}' /proc/vmstat); g=$(awk '/^pgfault/{print $2}' /proc/vmstat)
    rm -rf /tmp/s55thp /dev/shm/s55thp.lmdb*
    echo "machine thp_fault_alloc +$((b-a)) pgfault +$((g-f))" >> $HERE/${v}_$r.log
    echo "$v round $r: $(tail -4 $HERE/${v}_$r.log | tr '\n' ' ')"
  done
done
unset MIMALLOC_ALLOW_THP
