#!/bin/bash
# Stop 42's pipeline simulations (../pipeline_late_regime_s32/pipe_sim_fresh.py, RocksDB without its log as
# `streamfeat run` now commits): records per partition turn; the table files uncompressed; glibc's malloc told
# to keep freed memory (no trimming, mmap only above 32 MiB), with minor page faults (/usr/bin/time).
cd "$(dirname "$0")/../../.."
SIM=benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py
pick() { grep -E 'cpu s per quarter|ev/cpu-s|faults' | sed 's/LSB.*batch [0-9]*: //' | tr '\n' ' '; echo; }
echo "# records per partition turn (3M events)"
for b in 1500 5000 20000 80000 300000; do
  echo "batch $b: $(WAL=0 PYTHONPATH=. python3 $SIM 3000000 $b 2>&1 | pick)"
done
echo "# table files uncompressed (COMP=none) against snappy, alternated (4M events, 1,500)"
for i in 1 2; do for v in none snappy; do
  echo "$v $i: $(env COMP=$v WAL=0 PYTHONPATH=. python3 $SIM 4000000 1500 2>&1 | pick)"
done; done
echo "# glibc malloc keeping freed memory against its defaults, alternated (4M events, 1,500)"
for i in 1 2 3; do for v in tuned default; do
  if [ $v = tuned ]; then E="MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864"; else E="X=1"; fi
  echo "$v $i: $(env $E WAL=0 PYTHONPATH=. /usr/bin/time -f 'minor faults %R' python3 $SIM 4000000 1500 2>&1 | pick)"
done; done
