#!/bin/bash
# perf record (all threads, 499 Hz) of the pipeline simulation's last quarter of events (4M events, from GOAT=0.75 to
# the process's exit), with VIEW=$1 (empty: the example view); writes $2.data and $2.log.
# Usage: diffprof.sh '' /tmp/full; diffprof.sh VIEWS/no_hll30d.py /tmp/nohll; python3 diffsym.py /tmp/full.data /tmp/nohll.data
# (VIEWS: python3 benchmarks/results/s47/drop_one_feature/make_views.py VIEWS)
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || exit 1
rm -f /tmp/q_go
if [ -n "$1" ]; then export VIEW=$1; fi
GOAT=0.75 WAL=0 PYTHONPATH=. python3 benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py 4000000 1500 > $2.log 2>&1 &
for i in $(seq 1 300); do [ -s /tmp/q_go ] && break; sleep 0.2; done
perf record -F 499 -g -o $2.data -p $(cat /tmp/q_go) 2>/dev/null >/dev/null &
PP=$!
wait %1
sleep 1
kill -INT $PP 2>/dev/null; wait $PP 2>/dev/null
