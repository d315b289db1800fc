# usage: so_ab.sh A.so B.so PAIRS  — alternate the native library under the pipeline simulation
cd /work/main
for i in $(seq 1 $3); do
  for so in $1 $2; do
    if [ $((i % 2)) = 0 ]; then [ $so = $1 ] && so=$2 || so=$1; fi
    cp $so operators/_native.cpython-311-x86_64-linux-gnu.so
    echo "$(basename $so) $(PYTHONPATH=. python3 benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py 4000000 2000 | tr '\n' ' ')"
  done
done
