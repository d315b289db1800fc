# old (e09acfe) vs new (staggered commits), alternated, one run each, order flipping per round
cd /tmp/s31
run() { # name tree round
  PYTHONPATH=$2 python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant $1= --trace --out /tmp/s31/phase_ab/$1_$3 2>&1 | grep "round 1" | sed "s/^/$1 r$3 /"
}
for r in 1 2 3; do
  if [ $((r % 2)) = 1 ]; then run old /tmp/s31/old $r; run new /work/main $r; else run new /work/main $r; run old /tmp/s31/old $r; fi
done
