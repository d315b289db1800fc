# 30 s freshness runs at 232,342 events/s, the online store on tmpfs, alternating the code at HEAD ("base") and a
# worktree whose RocksDB never compacts within a run ("nocomp": level-0 compaction trigger 1000). OUT=DIR PAIRS=N.
set -u
for pair in $(seq 1 $PAIRS); do
  if [ $((pair % 2)) = 1 ]; then order="base nocomp"; else order="nocomp base"; fi
  for v in $order; do
    if [ $v = base ]; then root=/work/main; else root=/tmp/s52nocomp; fi
    PYTHONPATH=$root python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 232342 --seconds 30 --rounds 1 \
      --nice -10 --variant "$v=--online-store /dev/shm/streamfeat-{run}.lmdb" --out $OUT/$pair-$v > $OUT/$pair-$v.log 2>&1
    grep round $OUT/$pair-$v.log
  done
done
