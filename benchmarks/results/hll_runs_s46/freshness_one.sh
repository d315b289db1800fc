#!/bin/bash
# One benchmarks.freshness round at 134,000 events/s for alternate_builds.sh: the report goes to $OUT/$NAME-$PAIR,
# its table rows to the output. FLAGS: more benchmark options (e.g. "--nice -10").
mkdir -p "$OUT"
python3 -m benchmarks.freshness --bootstrap 127.0.0.1:19092 --rate 134000 --seconds 30 --rounds 1 \
    --variant "$NAME=" ${FLAGS:-} --out "$OUT/$NAME-$PAIR" > "$OUT/$NAME-$PAIR.log" 2>&1
echo "$NAME pair $PAIR: $(grep -E "^\| $NAME " "$OUT/$NAME-$PAIR/freshness.md" | head -2 | tr '\n' ' ')"
