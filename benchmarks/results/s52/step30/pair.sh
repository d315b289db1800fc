# base vs a flow-flag variant, 60 s each, kept work dirs, thread timelines. Usage: OUT=DIR bash pair.sh NAME "FLAGS"
set -u
T=/work/main/benchmarks/results/s52/threads_timeline/threads_timeline.py
R=/work/main/benchmarks/results/s52/step30/run_kept.py
for v in base "$1"; do
  if [ "$v" = base ]; then flags=""; else flags="$2"; fi
  W=/tmp/s52work/$v; rm -rf $W; mkdir -p $W $OUT
  python3 $T $OUT/$v.threads.jsonl & sp=$!
  python3 $R 232342 $W $flags > $OUT/$v.log 2>&1
  wait $sp
  python3 $T --report $OUT/$v.threads.jsonl 5 > $OUT/$v.threads.txt
  for d in $W/state-freshness/*/; do grep -hE '"event": "(flush_started|compaction_started|compaction_finished)"' $d/LOG | sed -E 's/.*"time_micros": ([0-9]+).*"event": "([a-z_]+)".*/\1 \2/' | sed "s|^|$(basename $d) |"; done | sort -k2 > $OUT/$v.rocks_events.txt
  for d in $W/state-freshness/*/; do grep -h '"event": "compaction_finished"' $d/LOG | grep -oE '"compaction_time_cpu_micros": [0-9]+|"num_input_records": [0-9]+|"num_output_records": [0-9]+' | tr '\n' ' '; echo; done > $OUT/$v.compactions.txt
  cat $OUT/$v.log
done
