"""Textual messages: the engine's events under the same names, plus the answers to requests.

Workers only ever post these; the app's handlers turn them into state. `from_event` is the one
place that maps a watch-stream event to a message. Every read ends in `ReadCompleted` or
`ReadFailed` and every write in `ActionCompleted` or `ActionFailed`, whatever it reads or writes.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from nocraven.schema import events
from nocraven.schema.engine import EngineStatus
from nocraven.schema.health import Alert
from nocraven.schema.health import AlertCleared as AlertClearedEvent
from nocraven.schema.health import AlertRaised as AlertRaisedEvent
from nocraven_tui.exchange import Write
from nocraven_tui.figures import Counters, decode_counters


class EngineConnected(Message):
    """The watch stream is open; a SnapshotReceived follows at once."""

    def __init__(self, socket_path: str) -> None:
        super().__init__()
        self.socket_path = socket_path


class EngineDisconnected(Message):
    """No engine (or the stream ended); the worker retries in `retry_in` seconds."""

    def __init__(self, reason: str, retry_in: float) -> None:
        super().__init__()
        self.reason = reason
        self.retry_in = retry_in


class SnapshotReceived(Message):
    def __init__(self, seq: int, status: EngineStatus) -> None:
        super().__init__()
        self.seq = seq
        self.status = status


class ComponentStateChanged(Message):
    def __init__(
        self,
        component: str,
        state: str,
        previous: str,
        error: str | None = None,
        restarts: int = 0,
        at: float = 0.0,
        seq: int = 0,
    ) -> None:
        super().__init__()
        self.component = component
        self.state = state
        self.previous = previous
        self.error = error
        self.restarts = restarts
        self.at = at
        self.seq = seq


class CountersUpdated(Message):
    def __init__(self, component: str, counters: Counters, at: float = 0.0, seq: int = 0) -> None:
        super().__init__()
        self.component = component
        self.counters = counters
        self.at = at
        self.seq = seq


class RecordsSampled(Message):
    def __init__(self, service: str, records: list[dict[str, Any]], total: int = 0, at: float = 0.0) -> None:
        super().__init__()
        self.service = service
        self.records = records
        self.total = total
        self.at = at


class RecordsMatched(Message):
    """Records the engine's filtered follow stream sent: every record that matched, none sampled.
    `generation` names the filter they answer; the app drops those of a filter since replaced."""

    def __init__(self, generation: int, records: list[dict[str, Any]]) -> None:
        super().__init__()
        self.generation = generation
        self.records = records


class MatchStreamEnded(Message):
    """The filtered follow stream ended (engine gone, reader too slow); the Live screen says why."""

    def __init__(self, generation: int, reason: str) -> None:
        super().__init__()
        self.generation = generation
        self.reason = reason


class AlertRaised(Message):
    """The health monitor raised an alert (or changed its severity): `health.alert_raised`."""

    def __init__(self, alert: Alert, at: float = 0.0, seq: int = 0) -> None:
        super().__init__()
        self.alert = alert
        self.at = at
        self.seq = seq


class AlertCleared(Message):
    """An alert's value fell back below its level and held there: `health.alert_cleared`."""

    def __init__(self, alert: Alert, at: float = 0.0, seq: int = 0) -> None:
        super().__init__()
        self.alert = alert
        self.at = at
        self.seq = seq


class EngineStopping(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class WatchDropped(Message):
    """The engine cut this console's watch (it fell behind); the worker reconnects."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class ReadCompleted(Message):
    """The answer to a `Read`, typed as the read declares it."""

    def __init__(self, key: str, value: object) -> None:
        super().__init__()
        self.key = key
        self.value = value


class ReadFailed(Message):
    """A read the console asked for did not work; `key` names it ("buffer_stats", "system")."""

    def __init__(self, key: str, code: str, message: str, unreachable: bool = False) -> None:
        super().__init__()
        self.key = key
        self.code = code
        self.message = message
        self.unreachable = unreachable


class ActionCompleted(Message):
    """A write the engine carried out; `write.describe(result)` says what it did."""

    def __init__(self, write: Write[Any], result: object) -> None:
        super().__init__()
        self.write = write
        self.result = result


class ActionFailed(Message):
    """A write was refused or failed: shown in the error modal, never as a traceback."""

    def __init__(self, action: str, title: str, code: str, message: str) -> None:
        super().__init__()
        self.action = action
        self.title = title
        self.code = code
        self.message = message


def from_event(published: events.Published) -> Message | None:
    """The message for one watch-stream event; None for kinds this console does not know."""
    event, seq, at = published.event, published.seq, published.at
    if isinstance(event, events.Snapshot):
        return SnapshotReceived(seq, event.status)
    if isinstance(event, events.CountersUpdated):
        return CountersUpdated(event.component, decode_counters(event), at, seq)
    if isinstance(event, events.RecordsSampled):
        return RecordsSampled(event.service, event.decoded(), event.total, at)
    if isinstance(event, events.ComponentStateChanged):
        return ComponentStateChanged(event.component, event.state, event.previous, event.error, event.restarts, at, seq)
    if isinstance(event, AlertRaisedEvent):
        return AlertRaised(event.alert, at, seq)
    if isinstance(event, AlertClearedEvent):
        return AlertCleared(event.alert, at, seq)
    if isinstance(event, events.EngineStopping):
        return EngineStopping(event.reason)
    if isinstance(event, events.WatchDropped):
        return WatchDropped(event.reason)
    return None


class StreamEvent(Message):
    """One event of a `Stream` the console follows (`key` names it, as in `state.streams`)."""

    def __init__(self, key: str, run: int, event: object) -> None:
        super().__init__()
        self.key = key
        self.run = run  # which run of `key` (the state drops a replaced run's late events)
        self.event = event


class StreamEnded(Message):
    """A followed stream is over: `code` is None when it ended by itself, "cancelled" when the
    console closed it, else an error code with its one-line `message`."""

    def __init__(self, key: str, run: int, code: str | None = None, message: str = "") -> None:
        super().__init__()
        self.key = key
        self.run = run
        self.code = code
        self.message = message
