#!/bin/bash
# build.sh COMMIT -> /tmp/bis/wt/COMMIT with native modules built
set -e
export PATH=$HOME/.cargo/bin:$PATH
C=$(cd /work/main && git rev-parse --short=7 $1)
W=/tmp/bis/wt/$C
if [ ! -d $W ]; then (cd /work/main && git worktree add -q --detach $W $C); fi
if [ -f $W/.built ]; then echo $W; exit 0; fi
(cd $W/operators/rust && CARGO_TARGET_DIR=/tmp/bis/target_ops cargo build --release -q 2>&1 | tail -3 && cp /tmp/bis/target_ops/release/lib_native.so ../_native.cpython-311-x86_64-linux-gnu.so)
if [ -d $W/streamfeat/rust ]; then (cd $W/streamfeat/rust && CARGO_TARGET_DIR=/tmp/bis/target_store cargo build --release -q 2>&1 | tail -3 && cp /tmp/bis/target_store/release/lib_store_native.so ../_store_native.cpython-311-x86_64-linux-gnu.so); fi
touch $W/.built
echo $W
