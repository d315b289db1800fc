cd /work/main
for i in 1 2 3; do
  if [ $((i % 2)) = 1 ]; then order="5000 1000"; else order="1000 5000"; fi
  for us in $order; do
    SF_SWITCH_US=$us python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant sw$us= --out /tmp/s34/sw_ab/$i-$us > /tmp/s34/sw_ab/$i-$us.log 2>&1
  done
done
