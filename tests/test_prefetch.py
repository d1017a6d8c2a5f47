"""Decode-ahead iteration: same items in order, errors at their item, early close stops it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from server.video.prefetch import prefetched


def test_items_arrive_in_order() -> None:
    assert list(prefetched(range(100), depth=3)) == list(range(100))


def test_an_error_while_reading_is_raised_at_its_item() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    got: list[int] = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetched(source()):
            got.append(item)
    assert got == [1, 2]


def test_closing_early_stops_the_reader() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(10_000):
            produced.append(i)
            yield i

    it = prefetched(source(), depth=2)
    assert next(it) == 0
    it.close()  # type: ignore[attr-defined]
    assert len(produced) <= 5
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        list(prefetched([1], depth=0))
