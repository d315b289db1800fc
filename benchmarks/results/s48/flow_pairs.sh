#!/bin/bash
# Freshness pairs at 134,000 events/s (--nice -10) of two native cores, the order flipping each pair: run from the
# repository root; each NAME=SO is copied over operators/_native in turn (the second stays installed).
# Usage: PAIRS=4 OUT=DIR bash benchmarks/results/s48/flow_pairs.sh base=BASE_SO new=NEW_SO
# (flow_ab_reads/: base=71e8db2 reads=a551628; flow_ab_head/: base=71e8db2 head=17d195f)
H=benchmarks/results/hll_runs_s46
for p in $(seq 1 "${PAIRS:-4}"); do
  if [ $((p % 2)) = 1 ]; then A=$1; B=$2; else A=$2; B=$1; fi
  PAIRS=1 FLAGS="--nice -10" OUT=$OUT bash $H/alternate_builds.sh "PAIR=$p bash $H/freshness_one.sh" "$A" "$B"
done
