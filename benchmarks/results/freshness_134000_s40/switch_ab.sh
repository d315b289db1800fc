#!/bin/bash
# alternate: default switch interval vs SF_SWITCH=$1 for the flow, PAIRS rounds
cd /work/main
for i in $(seq 1 ${PAIRS:-3}); do
  for v in base sw; do
    if [ $v = sw ]; then export SF_SWITCH=$1; else unset SF_SWITCH; fi
    PYTHONPATH=$(cd "$(dirname "$0")" && pwd)/sc timeout 600 python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant "$v=" --out $2/${v}_$i > $2/${v}_$i.log 2>&1
    grep "round" $2/${v}_$i.log
  done
done
