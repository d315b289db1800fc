"""BatchCollector: the automatic collector off, young generations per batch and then
frozen, everything on a timer."""

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
    collector = BatchCollector(full_every_s=60, clock=clock)
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


def test_full_every_s_must_be_positive_or_none() -> None:
    with pytest.raises(ValueError):
        BatchCollector(full_every_s=0)
    BatchCollector(full_every_s=None).close()
