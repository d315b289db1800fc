import rocksdict, os, time, random, shutil, statistics, sys, tempfile
WORK = tempfile.mkdtemp(prefix="walbench-")
random.seed(3)
def open_db(path, variant):
    shutil.rmtree(path, ignore_errors=True)
    o = rocksdict.Options(raw_mode=True); o.create_if_missing(True)
    o.set_memtable_prefix_bloom_ratio(0.1); o.set_memtable_whole_key_filtering(True)
    t = rocksdict.BlockBasedOptions(); t.set_bloom_filter(10, False); o.set_block_based_table_factory(t)
    if variant == "recycle": o.set_recycle_log_file_num(4)
    if variant == "pipelined": o.set_enable_pipelined_write(True)
    if variant == "nocc": o.set_allow_concurrent_memtable_write(False)
    return rocksdict.Rdict(path, o)
variants = sys.argv[1:]
dbs = {v: open_db(fos.path.join(WORK, f"wdb-{v}"), v) for v in variants}
keys = [b"\x00view1234" + f"u{random.randrange(10**7):07d}".encode() for _ in range(400000)]
vals = [os.urandom(random.choice([300, 600, 900, 1700])) for _ in range(64)]
wo = {v: rocksdict.WriteOptions() for v in variants}
if "nowal" in wo: wo["nowal"].disable_wal = True
res = {v: [] for v in variants}
for r in range(80):
    ks = sorted(set(random.sample(keys, 10000)))
    for v in (variants if r % 2 else variants[::-1]):
        wb = rocksdict.WriteBatch(raw_mode=True)
        for i, k in enumerate(ks): wb.put(k, vals[i % 64])
        t = time.perf_counter(); dbs[v].write(wb, wo[v]); res[v].append(time.perf_counter() - t)
for k, v in res.items(): print(k, "median ms", round(statistics.median(v[20:]) * 1000, 2), "p90", round(sorted(v[20:])[int(0.9*len(v[20:]))] * 1000, 2))
