#!/bin/bash
# py-spy of the `streamfeat run` process over production seconds A..A+LEN (production found by production_pid.sh), only
# samples of the thread holding the GIL (--gil; GIL= to take every thread), raw collapsed stacks (NATIVE=1: with native
# frames): what the workers wait for each other on. py-spy stops the process for each sample. OUT=stacks.txt
set -u
OUT=$1; A=${A:-23}; LEN=${LEN:-6}
read -r pid since < <(bash "$(dirname "$0")/production_pid.sh")
sleep $((A-1))
py-spy record -p $pid ${GIL---gil} ${NATIVE:+--native} -r ${RATE:-97} -d $LEN -f raw -o $OUT > $OUT.log 2>&1
