"""Scans of a store with a hash-table memtable: with total-order reads, a scan of the offsets keyspace and of every
key gives what a skip-list store gives, and gets agree; prints each scan's time."""
import os, random, shutil, time, rocksdict
PATH0 = "/tmp/streamfeat-scan-check"
def options(kind):
    opts = rocksdict.Options(raw_mode=True); opts.create_if_missing(True)
    opts.set_memtable_prefix_bloom_ratio(0.1); opts.set_memtable_whole_key_filtering(True)
    table = rocksdict.BlockBasedOptions(); table.set_bloom_filter(10, False); opts.set_block_based_table_factory(table)
    if kind != "skiplist":
        opts.set_prefix_extractor(rocksdict.SliceTransform.create_max_len_prefix(128))
        opts.set_allow_concurrent_memtable_write(False)
        opts.set_memtable_factory(rocksdict.MemtableFactory.hash_link_list(1_000_000))
    return opts
random.seed(3)
for kind in ("skiplist", "hash_link_list"):
    PATH = PATH0 + kind
    shutil.rmtree(PATH, ignore_errors=True)
    db = rocksdict.Rdict(PATH, options(kind))
    ro = rocksdict.ReadOptions(); ro.set_total_order_seek(True)
    expect = {}
    for r in range(30):
        wb = rocksdict.WriteBatch(raw_mode=True)
        puts = {b"S" + b"x" * 8 + b"u%d" % random.randrange(400000): os.urandom(600) for _ in range(13000)}
        for p in range(4):
            puts[b"O" + b"topic\x00" + p.to_bytes(4, "big")] = r.to_bytes(8, "big")
        puts[b"Mview:%d" % r] = b"v"
        for k in sorted(puts): wb.put(k, puts[k])
        db.write(wb); expect.update(puts)
        if r % 10 == 9:
            t = time.perf_counter()
            it = db.items(from_key=b"O", read_opt=ro); got = []
            for k, v in it:
                if not k.startswith(b"O"): break
                got.append((k, v))
            d = time.perf_counter() - t
            want = sorted((k, v) for k, v in expect.items() if k.startswith(b"O"))
            t = time.perf_counter(); full = [k for k in db.keys(read_opt=ro)]; d2 = time.perf_counter() - t
            print(kind, r, "scan O ok" if got == want else f"SCAN MISMATCH {got[:2]} vs {want[:2]}", f"{d*1000:.1f} ms;",
                  "full keys ok" if full == sorted(expect) else "FULL MISMATCH", f"{d2*1000:.0f} ms",
                  "get ok" if db.get(list(expect)[-100:]) == list(expect.values())[-100:] else "GET MISMATCH")
    it = None; db.close()
shutil.rmtree(PATH, ignore_errors=True)
