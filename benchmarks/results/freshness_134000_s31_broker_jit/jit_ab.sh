cd /work/main
for opts in "c1|-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ActiveProcessorCount=2" "tiered|-XX:+UseSerialGC -XX:ActiveProcessorCount=2"; do
  name=${opts%%|*}; jvm=${opts#*|}
  bash deploy/local/kafka.sh stop >/dev/null 2>&1
  KAFKA_JVM_OPTS="$jvm" bash deploy/local/kafka.sh start >/dev/null 2>&1
  python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 --variant warmup= --out /tmp/s31/jit_$name_warm 2>&1 | grep round | sed "s/^/$name /"
  (python3 -u /tmp/threadcpu.py 20 15 > /tmp/s31/jit_cpu_$name.txt 2>&1 &)
  python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 2 --variant $name= --out /tmp/s31/jit_$name 2>&1 | grep round | sed "s/^/$name /"
done
