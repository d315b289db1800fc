#!/usr/bin/env bash
# OUT=DIR PAIRS=2 RATE=232342 SECONDS_=45: the flow's state directory on ext4 (/tmp) vs tmpfs (/dev/shm), alternated
set -u
mkdir -p "$OUT"
cd /work/main
for i in $(seq 1 "${PAIRS:-2}"); do
  if (( i % 2 )); then order="ext4 tmpfs"; else order="tmpfs ext4"; fi
  for v in $order; do
    if [ "$v" = tmpfs ]; then tmp=/dev/shm; else tmp=/tmp; fi
    TMPDIR=$tmp python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate "${RATE:-232342}" \
      --seconds "${SECONDS_:-45}" --rounds 1 --variant "$v=--nice -10" --out "$OUT/$v-$i" 2>&1 | grep "^round"
    python3 -c "
import json; r=json.load(open('$OUT/$v-$i/freshness.json')); run=list(r['variants'].values())[0]['runs'][0]; c=run['cpu']
print('   ', '$v', $i, 'p99', run['p99_ms'], 'per5s', run['p99_ms_per_5s'], 'flow us/ev', c['flow_us_per_event'], 'flow%/5s', c['percent_per_interval']['flow'], 'busy', c['machine']['busy_percent_of_one_core'])"
  done
done
