#!/bin/bash
# renice every thread of the local broker (kafka.Kafka) to $1
pid=$(pgrep -f "kafka.Kafka" | head -1)
for t in /proc/$pid/task/*; do renice -n "$1" -p "$(basename $t)" > /dev/null; done
echo "broker $pid threads at nice $1: $(ls /proc/$pid/task | wc -l)"
