"""Latest-frame slot: a slow consumer sees the newest item, drops are counted, no backlog."""

from __future__ import annotations

import asyncio

import pytest

from server.stream.slot import LatestSlot, SlotClosed


async def test_slow_consumer_gets_latest_and_drops_are_counted() -> None:
    slot: LatestSlot[int] = LatestSlot()
    seen: list[int] = []

    async def consume() -> None:
        while True:
            try:
                item = await slot.get()
            except SlotClosed:
                return
            seen.append(item)
            await asyncio.sleep(0.02)  # a stage 4x slower than the producer

    task = asyncio.create_task(consume())
    for i in range(100):
        slot.put(i)
        await asyncio.sleep(0.005)
    slot.close()
    await task
    assert seen[-1] == 99  # the last item put is not lost
    assert seen == sorted(seen)
    assert slot.dropped + slot.taken == slot.put_count == 100
    assert slot.dropped > 50 and len(seen) == slot.taken


async def test_get_waits_and_close_wakes_a_waiter() -> None:
    slot: LatestSlot[str] = LatestSlot()
    waiter = asyncio.create_task(slot.get())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    slot.put("a")
    assert await waiter == "a"
    waiter = asyncio.create_task(slot.get())
    await asyncio.sleep(0.01)
    slot.close()
    with pytest.raises(SlotClosed):
        await waiter
    assert slot.put("b") is False


def test_take_nowait_and_none_items() -> None:
    slot: LatestSlot[int | None] = LatestSlot()
    assert slot.take_nowait() is None
    slot.put(None)
    slot.put(5)
    assert slot.take_nowait() == 5 and slot.dropped == 1
