# perf profile of the `streamfeat run` process from FROM s to FROM+LEN s after it gets busy (>50% of a core).
set -u
FROM=${FROM:-30}; LEN=${LEN:-20}; OUT=${OUT:-.}
pid=""
while [ -z "$pid" ]; do pid=$(pgrep -f "streamfeat.cli run" | head -1); sleep 0.2; done
tick=$(getconf CLK_TCK)
prev=$(awk '{print $14+$15}' /proc/$pid/stat)
while true; do sleep 1; now=$(awk '{print $14+$15}' /proc/$pid/stat); [ $((now-prev)) -gt $((tick/2)) ] && break; prev=$now; done
sleep $FROM
perf record -F 499 -g -p $pid -o $OUT/perf.data -- sleep $LEN 2> $OUT/perf_record.err
