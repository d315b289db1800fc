#!/usr/bin/env bash
# OUT=DIR PAIRS=3 RATE=232342 SECONDS_=30 EXTRA="" bash ab_fresh.sh : old (/tmp/s51/old) vs new (/work/main), alternated
set -u
mkdir -p "$OUT"
for i in $(seq 1 "${PAIRS:-3}"); do
  if (( i % 2 )); then order="old new"; else order="new old"; fi
  for v in $order; do
    if [ "$v" = old ]; then root=/tmp/s51/old; else root=/work/main; fi
    (cd "$root" && PYTHONPATH="$root" python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate "${RATE:-232342}" \
      --seconds "${SECONDS_:-30}" --rounds 1 --variant "$v=--nice -10 ${EXTRA:-}" --out "$OUT/$v-$i" 2>&1 | grep "^round")
    python3 -c "
import json,sys; r=json.load(open('$OUT/$v-$i/freshness.json')); run=list(r['variants'].values())[0]['runs'][0]; c=run['cpu']
print('   ', '$v', $i, 'p99', run['p99_ms'], 'per5s', run['p99_ms_per_5s'], 'flow us/ev', c['flow_us_per_event'], 'flow%', c['percent_of_one_core']['flow'], 'busy', c['machine']['busy_percent_of_one_core'])"
  done
done
