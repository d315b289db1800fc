#!/bin/bash
# per-thread CPU % of process $1 over $2 seconds, from /proc/PID/task/*/stat
# per-thread CPU % over $2 seconds for pid $1
pid=$1; dt=${2:-5}
declare -A a
for t in /proc/$pid/task/*; do id=${t##*/}; s=($(sed 's/.*) //' $t/stat)); a[$id]=$((${s[11]}+${s[12]})); done
sleep $dt
for t in /proc/$pid/task/*; do id=${t##*/}; s=($(sed 's/.*) //' $t/stat)); n=$(cat $t/comm); d=$(( ${s[11]}+${s[12]} - ${a[$id]:-0} )); [ $d -gt 0 ] && echo "$d $id $n"; done | sort -rn | awk -v dt=$dt '{printf "%6.1f%% %s %s\n", $1/dt, $2, $3}'
