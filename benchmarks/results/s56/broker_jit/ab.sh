#!/bin/bash
# Broker JIT A/B: the local broker with C1 only (kafka.sh's default) against full tiered compilation (C2).
# Each round and variant: restart the broker, a 10 s warm-up run, then one measured 30 s run.
set -u
OUT=${OUT:-/tmp/s56/broker}; ROUNDS=${ROUNDS:-3}
cd /work/main
for r in $(seq 1 $ROUNDS); do
  for v in c1 c2; do
    if [ $v = c1 ]; then opts="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ActiveProcessorCount=2"; else opts="-XX:+UseSerialGC -XX:ActiveProcessorCount=2"; fi
    bash deploy/local/kafka.sh stop >/dev/null 2>&1
    KAFKA_JVM_OPTS="$opts" bash deploy/local/kafka.sh start >/dev/null 2>&1 || { echo "broker start failed"; exit 1; }
    SECONDS_=10 WORKERS_=2 python3 benchmarks/results/s53/phases/run_kept.py 232342 /tmp/s56/broker/warm --online-store /dev/shm/s56b.lmdb > /dev/null 2>&1
    rm -rf /dev/shm/s56b.lmdb* /tmp/s56/broker/warm
    echo "== $v round $r $(date +%T)"
    SECONDS_=30 WORKERS_=2 python3 benchmarks/results/s53/phases/run_kept.py 232342 /tmp/s56/broker/w --online-store /dev/shm/s56b.lmdb 2>&1 | tail -3
    rm -rf /dev/shm/s56b.lmdb* /tmp/s56/broker/w
  done
done
bash deploy/local/kafka.sh stop >/dev/null 2>&1
bash deploy/local/kafka.sh start >/dev/null 2>&1
