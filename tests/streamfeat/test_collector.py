"""BatchCollector: the automatic collector off, young generations after batches (fewer
while they find nothing) and then frozen, everything on a timer."""

from __future__ import annotations

import gc
import weakref

import pytest

from streamfeat.collector import BatchCollector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def make_cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_turns_the_automatic_collector_off_and_restores_it() -> None:
    assert gc.isenabled()
    collector = BatchCollector()
    try:
        assert not gc.isenabled()
        collector.after_batch()
        assert gc.get_freeze_count() > 0
    finally:
        collector.close()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_young_cycles_go_every_batch_survivors_freeze_and_a_full_pass_comes_on_the_timer() -> None:
    clock = FakeClock()
    collector = BatchCollector(full_every_s=60, max_skip=0, clock=clock)
    try:
        young = make_cycle()
        collector.after_batch()
        assert young() is None  # collected with the young generations

        a, b = Node(), Node()
        a.other, b.other = b, a
        collector.after_batch()  # alive at this batch's end: frozen with the survivors
        old = weakref.ref(a)
        del a, b
        clock.now = 59.0
        collector.after_batch()
        assert old() is not None and collector.full_passes == 0  # frozen: young passes skip it

        clock.now = 60.0
        collector.after_batch()
        assert old() is None and collector.full_passes == 1  # the timed full pass frees it
    finally:
        collector.close()


def test_young_passes_back_off_while_they_find_nothing_and_resume_every_batch_on_garbage() -> None:
    clock = FakeClock()
    gc.collect()  # no garbage left over for the first pass to find
    collector = BatchCollector(full_every_s=60, max_skip=4, clock=clock)
    try:
        passes = []
        for _ in range(12):  # no cycles made: passes after batches 1, 3, 6, 11 (skipping 1, 2, 4)
            collector.after_batch()
            passes.append(collector.young_passes)
        assert passes == [1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4]
        for _ in range(4):  # skipping at most max_skip in a row, then a pass
            collector.after_batch()
        assert collector.young_passes == 5

        skipped = make_cycle()  # made during a skipped batch: frozen, not collected
        collector.after_batch()
        assert collector.young_passes == 5 and skipped() is not None
        while collector.young_passes == 5:
            young = make_cycle()
            collector.after_batch()
        assert young() is None  # the next pass finds it...
        again = make_cycle()
        collector.after_batch()
        assert collector.young_passes == 7 and again() is None  # ...and passes come every batch again

        clock.now = 60.0
        collector.after_batch()
        assert skipped() is None and collector.full_passes == 1  # the timed full pass frees the frozen one
    finally:
        collector.close()


def test_full_every_s_must_be_positive_or_none_and_max_skip_non_negative() -> None:
    with pytest.raises(ValueError):
        BatchCollector(full_every_s=0)
    with pytest.raises(ValueError):
        BatchCollector(max_skip=-1)
    BatchCollector(full_every_s=None).close()
