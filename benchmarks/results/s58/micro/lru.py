import random, time, itertools
U, K, C = 25000, 11000, 60
def run(name, fn):
    rng = random.Random(5); fresh = (f"u{i}" for i in itertools.count())
    resident = {next(fresh): object() for _ in range(U)}
    tot = 0.0
    for c in range(C):
        dirty = dict.fromkeys(rng.sample(list(resident), K))
        t = time.perf_counter(); resident = fn(resident, dirty); tot += time.perf_counter() - t
        for k in list(resident)[:3000]: del resident[k]
        for _ in range(3000): resident[next(fresh)] = object()
    print(f"{name:30s} {tot/(K*C)*1e6:.3f} us/entity")
    return list(resident)
def moves(resident, dirty):
    for key in dirty:
        resident[key] = resident.pop(key)
    return resident
def pop_then_update(resident, dirty):
    pop = resident.pop
    moved = [pop(k) for k in dirty]
    resident.update(zip(dirty, moved))
    return resident
def rebuild(resident, dirty):
    new = {k: v for k, v in resident.items() if k not in dirty}
    new.update(zip(dirty, map(resident.__getitem__, dirty)))
    return new
def pop_map(resident, dirty):
    moved = list(map(resident.pop, dirty))
    resident.update(zip(dirty, moved))
    return resident
for _ in range(2):
    a = run("moves (current)", moves); b = run("pop listcomp + update", pop_then_update)
    c = run("rebuild dictcomp", rebuild); d = run("map(pop) + update", pop_map)
    assert a == b == c == d
