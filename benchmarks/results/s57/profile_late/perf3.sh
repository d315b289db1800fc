#!/bin/bash
# perf of the `streamfeat run` process over production seconds A..A+LEN (production found by production_pid.sh). OUT=perf.data
set -u
OUT=$1; A=${A:-23}; LEN=${LEN:-6}
read -r pid since < <(bash "$(dirname "$0")/production_pid.sh")
echo "production from $since (pid $pid)"
sleep $((A-1))
perf record -F ${FREQ:-499} ${CALLGRAPH:+--call-graph $CALLGRAPH} -p $pid -o $OUT -- sleep $LEN > $OUT.log 2>&1
