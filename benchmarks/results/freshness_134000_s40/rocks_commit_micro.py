"""What one commit of 13,000 entity states (~600 bytes, random entities of 400,000) costs in RocksDB:
building the sorted WriteBatch in Python against rocksdict's `Rdict.write` (which holds the GIL), with and
without the write-ahead log, the bloom filters `RocksDBStateStore` sets, and a 16 MiB write buffer instead of
RocksDB's 64 MiB. Median of 40 commits each. Usage: python3 rocks_commit_micro.py"""
import os, random, shutil, time

import rocksdict

N, ROUNDS, PATH = 13_000, 40, "/tmp/streamfeat-rocks-commit-micro"


def options(bloom: bool = True, write_buffer: int | None = None) -> rocksdict.Options:
    opts = rocksdict.Options(raw_mode=True)
    opts.create_if_missing(True)
    if bloom:  # as RocksDBStateStore
        opts.set_memtable_prefix_bloom_ratio(0.1)
        opts.set_memtable_whole_key_filtering(True)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(10, False)
        opts.set_block_based_table_factory(table)
    if write_buffer:
        opts.set_write_buffer_size(write_buffer)
    return opts


random.seed(7)
entities = [f"u{i}" for i in range(400_000)]
for name, opts, wal in [
    ("bloom, log", options(), True),
    ("bloom, no log", options(), False),
    ("no bloom, no log", options(False), False),
    ("bloom, log, 16 MiB buffer", options(True, 16 << 20), True),
    ("bloom, no log, 16 MiB buffer", options(True, 16 << 20), False),
]:
    shutil.rmtree(PATH, ignore_errors=True)
    db = rocksdict.Rdict(PATH, opts)
    write_options = rocksdict.WriteOptions()
    write_options.disable_wal = not wal
    build, write = [], []
    for _ in range(ROUNDS):
        puts = {b"S" + b"x" * 12 + k.encode(): os.urandom(200) + bytes(400) for k in random.sample(entities, N)}
        started = time.perf_counter()
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key in sorted(puts):
            batch.put(key, puts[key])
        built = time.perf_counter()
        db.write(batch, write_options)
        build.append(built - started)
        write.append(time.perf_counter() - built)
    db.close()
    build.sort()
    write.sort()
    print(f"{name}: build+sort {build[ROUNDS // 2] * 1000:.1f} ms, Rdict.write {write[ROUNDS // 2] * 1000:.1f} ms "
          f"(p90 {write[int(ROUNDS * 0.9)] * 1000:.1f})")
shutil.rmtree(PATH, ignore_errors=True)
