"""A latest-frame slot: the hand-over between a fast producer and a slower consumer.

The track reader puts every frame; the analysis stage takes whatever is newest. A frame that is
replaced before anyone took it is dropped and counted, so a slow stage falls behind by at most one
frame and never builds a backlog (the live numbers must describe *now*, not two seconds ago).
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class SlotClosed(Exception):
    """The producer is done (track ended or connection closing): no more items will come."""


class LatestSlot(Generic[T]):
    """Holds at most one item. put() never waits; get() waits for the next item.

    put / dropped / taken count items since creation, for metrics.
    """

    def __init__(self) -> None:
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._changed = asyncio.Event()
        self.put_count = 0
        self.dropped = 0
        self.taken = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T) -> bool:
        """Offer an item; it replaces (drops) an untaken one. Returns False once closed."""
        if self._closed:
            return False
        if self._has_item:
            self.dropped += 1
        self._item = item
        self._has_item = True
        self.put_count += 1
        self._changed.set()
        return True

    def close(self) -> None:
        """No more items; a waiting get() still receives an item already in the slot first."""
        self._closed = True
        self._changed.set()

    def take_nowait(self) -> T | None:
        """The item in the slot, or None when it is empty."""
        return self._pop() if self._has_item else None

    def _pop(self) -> T:
        item = cast(T, self._item)
        self._item = None
        self._has_item = False
        self.taken += 1
        return item

    async def get(self) -> T:
        """Wait for an item. Raises SlotClosed once closed and empty."""
        while not self._has_item:
            if self._closed:
                raise SlotClosed()
            self._changed.clear()
            await self._changed.wait()
        return self._pop()
