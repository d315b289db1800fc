cd /work/main
for i in 1 2 3; do
  for c in lz4 none; do
    if [ $((i % 2)) = 0 ]; then c2=$([ $c = lz4 ] && echo none || echo lz4); else c2=$c; fi
    FRESH_COMP=$c2 python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant $c2= --out /tmp/s34/comp_ab/$i-$c2 > /tmp/s34/comp_ab/$i-$c2.log 2>&1
  done
done
