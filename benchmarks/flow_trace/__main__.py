"""``python -m benchmarks.flow_trace TRACE.jsonl [--json]``: where a record's time went."""

from __future__ import annotations

import argparse
import json

from benchmarks.flow_trace import load_trace, render, summarize


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.flow_trace",
        description="Split a traced `streamfeat run`'s latency into Kafka -> read, read -> handed to the online "
        "writer, handed -> written (per batch, its oldest record), with commits and writer rounds. Record the "
        "trace with `python -m benchmarks.freshness --trace` or the hook in benchmarks/flow_trace/hook.",
    )
    parser.add_argument("trace", help="a trace file (JSON lines) written by the hook")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of Markdown")
    parser.add_argument(
        "--late-start-ms",
        type=int,
        default=0,
        help="how late the producer started after the planned start its Kafka timestamps count from (the freshness "
        "run's start_late_ms): taken off Kafka -> read (default 0)",
    )
    args = parser.parse_args()
    summary = summarize(load_trace(args.trace), late_start_ms=args.late_start_ms)
    print(json.dumps(summary, indent=2) if args.json else render(summary))


if __name__ == "__main__":
    main()
