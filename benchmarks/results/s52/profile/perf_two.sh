# Two perf profiles of the `streamfeat run` process: production seconds A..A+LEN and B..B+LEN (after it gets busy).
set -u
A=${A:-18}; B=${B:-36}; LEN=${LEN:-10}; OUT=${OUT:-.}
pid=""
while [ -z "$pid" ]; do pid=$(pgrep -f "streamfeat.cli run" | head -1); sleep 0.2; done
tick=$(getconf CLK_TCK)
prev=$(awk '{print $14+$15}' /proc/$pid/stat)
while true; do sleep 0.5; now=$(awk '{print $14+$15}' /proc/$pid/stat); [ $((now-prev)) -gt $((tick/4)) ] && break; prev=$now; done
sleep $A
perf record -F 499 -g -p $pid -o $OUT/perf_a.data -- sleep $LEN 2> $OUT/perf_a.err
sleep $((B-A-LEN))
perf record -F 499 -g -p $pid -o $OUT/perf_b.data -- sleep $LEN 2> $OUT/perf_b.err
