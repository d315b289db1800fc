"""BatchCollector: the automatic collector off, young generations per batch, all periodically."""

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


def test_turns_the_automatic_collector_off_and_restores_it() -> None:
    assert gc.isenabled()
    collector = BatchCollector()
    try:
        assert not gc.isenabled()
    finally:
        collector.close()
    assert gc.isenabled()


def test_young_cycles_go_every_batch_and_a_full_pass_comes_every_full_every() -> None:
    collector = BatchCollector(full_every=3)
    try:
        cycle = make_cycle()
        full_passes = gc.get_stats()[2]["collections"]
        collector.after_batch()
        assert cycle() is None  # collected with the young generations
        collector.after_batch()
        assert gc.get_stats()[2]["collections"] == full_passes  # batches 1 and 2: young only
        collector.after_batch()
        assert gc.get_stats()[2]["collections"] == full_passes + 1  # batch 3: everything
    finally:
        collector.close()


def test_full_every_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BatchCollector(full_every=0)
