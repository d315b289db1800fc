import mmap, os, time, ctypes
libc = ctypes.CDLL("libc.so.6", use_errno=True)
SZ = 512 << 20
def filetest(rand, write):
    p = "/tmp/faulttest.bin"
    try: os.unlink(p)
    except FileNotFoundError: pass
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    os.posix_fallocate(fd, 0, SZ)
    m = mmap.mmap(fd, SZ, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    if rand: m.madvise(mmap.MADV_RANDOM)
    t = time.perf_counter(); c = time.process_time()
    for o in range(0, SZ, 4096):
        if write: m[o] = 1
        else: m[o]
    dt = time.perf_counter() - t; dc = time.process_time() - c
    m.close(); os.close(fd); os.unlink(p)
    return dt, dc
def anontest():
    m = mmap.mmap(-1, SZ)
    t = time.perf_counter(); c = time.process_time()
    for o in range(0, SZ, 4096): m[o] = 1
    dt = time.perf_counter() - t; dc = time.process_time() - c
    m.close(); return dt, dc
for _ in range(2):
    print("file write ra   ", filetest(False, True))
    print("file write rand ", filetest(True, True))
    print("anon write      ", anontest())
# python loop overhead baseline
m = mmap.mmap(-1, SZ); 
for o in range(0, SZ, 4096): m[o]=1
t=time.perf_counter()
for o in range(0, SZ, 4096): m[o] = 1
print("touched again", time.perf_counter()-t)
