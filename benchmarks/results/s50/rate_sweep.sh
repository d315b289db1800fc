#!/usr/bin/env bash
# Freshness of the example view at several paced rates, the flow at nice -10 and at nice 0
# alternated (benchmarks.freshness): OUT=DIR RATES="150000 200000" [ROUNDS=1] [EXTRA="--trace"]
# bash benchmarks/results/s50/rate_sweep.sh   (a broker on 127.0.0.1:19092: deploy/local/kafka.sh start)
set -u
cd "$(dirname "$0")/../../.."
for rate in $RATES; do
  python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate "$rate" --seconds 30 --rounds "${ROUNDS:-1}" \
    --variant "nice10=--nice -10" --variant "plain=" ${EXTRA:-} --out "$OUT/rate_$rate" 2>&1 | grep -v PARTCNT
done
