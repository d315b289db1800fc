cd /tmp/s34/sw
out=$1; mkdir -p $out
i=0
for order in "5000 1000" "1000 5000" "5000 1000" "1000 5000"; do
  i=$((i+1))
  for us in $order; do
    SF_SWITCH_US=$us PYTHONPATH=/tmp/s34/sw timeout 900 python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant sw$us= --out $out/sw${us}_$i > $out/sw${us}_$i.log 2>&1
    echo "$us pair $i: $(grep -E '^round' $out/sw${us}_$i.log)"
  done
done
