"""Which wire Struct each component's counters come in, from the capability registry.

A collector (a capability with a buffer service) reports `CollectorSummary`, the buffer
`BufferCounters`; a capability this console has no schema for yet keeps its figures as a plain
mapping, shown as they come.
"""

from __future__ import annotations

import msgspec

from nocraven.capabilities import BY_NAME
from nocraven.schema.buffer import BufferCounters
from nocraven.schema.collector import CollectorSummary
from nocraven.schema.events import CountersUpdated

BUFFER = "buffer"
Counters = CollectorSummary | BufferCounters | dict[str, object]


def is_collector(component: str) -> bool:
    capability = BY_NAME.get(component)
    return capability is not None and capability.buffer_service is not None


def decode_counters(event: CountersUpdated) -> Counters:
    """The event's counters as their Struct; a body that does not fit is kept as it came."""
    try:
        if event.component == BUFFER:
            return event.counters_as(BufferCounters)
        if is_collector(event.component):
            return event.counters_as(CollectorSummary)
    except msgspec.ValidationError:
        pass  # an engine of another version: show what it sent rather than nothing
    return event.counters_as(dict[str, object])


def summary_fields(counters: Counters) -> list[tuple[str, object]]:
    """The counters in their Struct's field order (a mapping in its own order), for one-line summaries."""
    if isinstance(counters, dict):
        return list(counters.items())
    return [(name, getattr(counters, name)) for name in counters.__struct_fields__]
