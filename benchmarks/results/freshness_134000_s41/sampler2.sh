#!/bin/bash
# every 0.5 s: time, Dirty, Writeback, sectors written, flow write_bytes, broker write_bytes, cpu
OUT=$1
BROKER=$(pgrep -f kafka.Kafka | head -1)
while true; do
  FLOW=$(pgrep -f "streamfeat.cli run" | head -1)
  fw=$( [ -n "$FLOW" ] && awk '/^write_bytes/{print $2}' /proc/$FLOW/io 2>/dev/null || echo 0)
  bw=$(awk '/^write_bytes/{print $2}' /proc/$BROKER/io 2>/dev/null || echo 0)
  echo "$(date +%s.%N | cut -c1-14) $(grep -E '^(Dirty|Writeback):' /proc/meminfo | awk '{printf "%s ", $2}') $(awk '$3=="vda"{print $10}' /proc/diskstats) ${fw:-0} ${bw:-0} $(head -1 /proc/stat | cut -d' ' -f3-9)" >> $OUT
  sleep 0.5
done
