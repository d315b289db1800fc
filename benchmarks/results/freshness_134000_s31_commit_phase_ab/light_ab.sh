cd /tmp/s31
run() { # name tree round
  LIGHT=1 PYTHONPATH=$2 python3 /tmp/s31/fresh_keep.py --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant $1= --trace --out /tmp/s31/light_ab/$1_$3 2>&1 | grep "round 1\|work dir" | sed "s/^/$1 r$3 /"
}
for r in 1 2; do
  if [ $((r % 2)) = 1 ]; then run old /tmp/s31/old $r; run new /work/main $r; else run new /work/main $r; run old /tmp/s31/old $r; fi
done
