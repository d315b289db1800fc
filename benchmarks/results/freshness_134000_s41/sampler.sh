#!/bin/bash
# every second: time, Dirty kB, Writeback kB, cumulative sectors written (vda), cpu jiffies (user nice system idle iowait irq softirq)
OUT=$1
while true; do
  echo "$(date +%s.%N | cut -c1-14) $(grep -E '^(Dirty|Writeback):' /proc/meminfo | awk '{printf "%s ", $2}') $(awk '$3=="vda"{print $10}' /proc/diskstats) $(head -1 /proc/stat | cut -d' ' -f3-9)" >> $OUT
  sleep 1
done
