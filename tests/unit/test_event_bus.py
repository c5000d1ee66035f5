"""The event bus: fan-out, coalescing, and dropping a watcher that falls behind."""

from __future__ import annotations

import asyncio

import msgspec

from nocraven.engine.bus import EventBus
from nocraven.schema.base import ComponentState
from nocraven.schema.events import ComponentStateChanged, CountersUpdated


def state(i: int) -> ComponentStateChanged:
    return ComponentStateChanged(component=f"c{i}", state=ComponentState.RUNNING, previous=ComponentState.STARTING)


async def test_events_reach_every_watcher_in_order_with_rising_seq() -> None:
    bus = EventBus()
    a, b = bus.subscribe(), bus.subscribe()
    for i in range(3):
        bus.publish(state(i))
    for sub in (a, b):
        batch = await sub.next_batch()
        assert [e.event.component for e in batch] == ["c0", "c1", "c2"]
        assert [e.seq for e in batch] == [1, 2, 3]


async def test_counters_coalesce_to_the_latest_value_in_place() -> None:
    bus = EventBus(watcher_limit=3)
    sub = bus.subscribe()
    bus.publish(state(0))
    for n in range(100):  # far more than the limit, but one key
        bus.publish(CountersUpdated(component="syslog", counters=msgspec.Raw(msgspec.json.encode({"messages": n}))))
    bus.publish(state(1))
    batch = await sub.next_batch()
    assert sub.dropped_reason is None
    assert [e.event.kind for e in batch] == ["component.state_changed", "counters.updated", "component.state_changed"]
    assert msgspec.json.decode(batch[1].event.counters) == {"messages": 99}


async def test_a_watcher_that_falls_behind_is_dropped_and_told_why() -> None:
    bus = EventBus(watcher_limit=5)
    slow, fast = bus.subscribe(), bus.subscribe()
    for i in range(4):
        bus.publish(state(i))
    assert len(await fast.next_batch()) == 4
    for i in range(4, 6):
        bus.publish(state(i))
    assert await slow.next_batch() == []
    assert slow.dropped_reason is not None and "behind" in slow.dropped_reason
    assert bus.watcher_count == 1
    assert len(await fast.next_batch()) == 2


async def test_next_batch_waits_for_an_event() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    waiter = asyncio.create_task(sub.next_batch())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    bus.publish(state(7))
    batch = await asyncio.wait_for(waiter, 1)
    assert batch[0].event.component == "c7"
