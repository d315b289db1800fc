"""Read `perf script` output (call graphs: `perf script -i late.data > late.script`) and print either
- `inclusive SUBSTRING...`: the share of samples whose stack holds each function (functions naming one of the
  substrings), the figures of `inclusive.txt`; or
- `callers LEAF[,LEAF...] [DEPTH]`: for samples whose innermost frame names one of the LEAFs, the counts of their
  nearest DEPTH callers in the native core, LMDB, RocksDB or Python (who calls memcpy or clear_page).
The perf data itself is not kept (tens of MB)."""
import collections
import sys


def read_stacks(path: str = "late.script") -> list[list[str]]:
    """Each sample: [header line, innermost frame, ..., outermost frame] (frames without their DSO)."""
    stacks, current = [], []
    for line in open(path):
        line = line.rstrip("\n")
        if not line.strip():
            if current:
                stacks.append(current)
            current = []
        elif not line.startswith((" ", "\t")):
            current = [line]
        else:
            parts = line.strip().split(None, 1)
            current.append((parts[1] if len(parts) > 1 else "?").rsplit(" (", 1)[0])
    if current:
        stacks.append(current)
    return stacks


def inclusive(stacks: list[list[str]], names: list[str]) -> None:
    counts = collections.Counter(frame for stack in stacks for frame in set(stack[1:]))
    for frame, n in counts.most_common(400):
        if any(name in frame for name in names):
            print(f"{100 * n / len(stacks):5.1f} {frame[:150]}")


def callers(stacks: list[list[str]], leafs: list[str], depth: int) -> None:
    counts = collections.Counter()
    matched = 0
    for stack in stacks:
        frames = stack[1:]
        if frames and any(leaf in frames[0] for leaf in leafs):
            matched += 1
            chain = [f for f in frames[1:] if any(t in f for t in ("_native::", "_store_native", "rocksdb", "Py", "mdb_", "rocksdict"))]
            counts[" <- ".join(f[:70] for f in chain[:depth])] += 1
    print(len(stacks), "samples;", matched, "match")
    for chain, n in counts.most_common(25):
        print(n, chain)


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    samples = read_stacks()
    if mode == "inclusive":
        inclusive(samples, rest)
    else:
        callers(samples, rest[0].split(","), int(rest[1]) if len(rest) > 1 else 6)
