#!/bin/bash
# run.sh COMMIT TAG -> appends "commit tag events/s rss" to /tmp/bis/runs.log
C=$(cd /work/main && git rev-parse --short=7 $1)
W=/tmp/bis/wt/$C
OUT=/tmp/bis/out/$C-$2
mkdir -p $OUT
cd $W && PYTHONPATH=$W python3 -m benchmarks.backfill --jobs example --memory-limit 3.5GiB --out $OUT > $OUT/log.txt 2>&1
R=$(grep -E "^\| *example" $OUT/backfill.md | head -1)
echo "$C $2 $(date +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) | $R" >> /tmp/bis/runs.log
tail -1 /tmp/bis/runs.log
