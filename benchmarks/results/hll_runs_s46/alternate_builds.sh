#!/bin/bash
# Alternate builds of operators/_native, PAIRS times (default 3): for each NAME=PATH given after COMMAND, in order, copy
# PATH over the module and run COMMAND (a shell command; $NAME and $PAIR name the build and the pair) from the
# repository root. The last build given stays installed.
# Usage: [PAIRS=3] bash alternate_builds.sh 'COMMAND' NAME=PATH NAME=PATH...
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || exit 1
command=$1
shift
so=operators/_native.cpython-311-x86_64-linux-gnu.so
for PAIR in $(seq 1 "${PAIRS:-3}"); do
  for spec in "$@"; do
    NAME=${spec%%=*}
    cp "${spec#*=}" "$so.tmp" && mv "$so.tmp" "$so"
    NAME=$NAME PAIR=$PAIR bash -c "$command"
  done
done
