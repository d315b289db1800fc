"""Commit (13,000 sorted puts of ~600 B) and read (5,000 present keys, multi-get) in one RocksDB store whose
memtable fills over 40 rounds, for memtable kinds: skiplist (default) / hash_skip_list / hash_link_list."""
import os, random, shutil, sys, time
import rocksdict

N, READS, ROUNDS, PATH = 13_000, 5_000, 40, "/tmp/streamfeat-memtable-micro"

def options(kind):
    opts = rocksdict.Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.set_memtable_prefix_bloom_ratio(0.1)
    opts.set_memtable_whole_key_filtering(True)
    table = rocksdict.BlockBasedOptions(); table.set_bloom_filter(10, False)
    opts.set_block_based_table_factory(table)
    if kind != "skiplist":
        opts.set_prefix_extractor(rocksdict.SliceTransform.create_max_len_prefix(128))
        opts.set_allow_concurrent_memtable_write(False)
        f = rocksdict.MemtableFactory
        opts.set_memtable_factory(f.hash_skip_list(1_000_000, 4, 4) if kind == "hash_skip_list" else f.hash_link_list(1_000_000))
    return opts

random.seed(7)
entities = [f"u{i}" for i in range(400_000)]
for spec in sys.argv[1:]:
    kind, _, wal = spec.partition(":")
    for rep in range(2):
        shutil.rmtree(PATH, ignore_errors=True)
        db = rocksdict.Rdict(PATH, options(kind))
        wo = rocksdict.WriteOptions(); wo.disable_wal = wal == "nowal"
        written, write, read = [], [], []
        for r in range(ROUNDS):
            puts = {b"S" + b"x" * 8 + k.encode(): os.urandom(200) + bytes(400) for k in random.sample(entities, N)}
            batch = rocksdict.WriteBatch(raw_mode=True)
            for key in sorted(puts):
                batch.put(key, puts[key])
            t = time.perf_counter(); db.write(batch, wo); write.append(time.perf_counter() - t)
            written.extend(puts)
            keys = random.sample(written, READS) + [b"S" + b"x" * 8 + b"new%d" % i for i in range(READS)]
            t = time.perf_counter(); got = db.get(keys); read.append(time.perf_counter() - t)
            assert all(v is not None for v in got[:READS]) and all(v is None for v in got[READS:])
        db.close()
        h = ROUNDS // 2
        print(f"{spec}: write ms median of 2nd half {sorted(write[h:])[h//2]*1000:.1f}, multi-get {READS} present + {READS} absent ms {sorted(read[h:])[h//2]*1000:.1f}", flush=True)
shutil.rmtree(PATH, ignore_errors=True)
