"""Textual messages: the engine's events under the same names, plus the answers to requests.

Workers only ever post these; the app's handlers turn them into state. `from_event` is the one
place that maps a watch-stream line to a message.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from nocraven import events


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
    def __init__(self, seq: int, status: dict[str, Any]) -> None:
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
    def __init__(self, component: str, counters: dict[str, Any], at: float = 0.0, seq: int = 0) -> None:
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


class EngineStopping(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class WatchDropped(Message):
    """The engine cut this console's watch (it fell behind); the worker reconnects."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class BufferStatsReceived(Message):
    def __init__(self, stats: dict[str, Any]) -> None:
        super().__init__()
        self.stats = stats


class SystemInfoReceived(Message):
    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__()
        self.info = info


class ReadFailed(Message):
    """A read the console asked for did not work; `what` names it ("buffer_stats", "system")."""

    def __init__(self, what: str, code: str, message: str, unreachable: bool = False) -> None:
        super().__init__()
        self.what = what
        self.code = code
        self.message = message
        self.unreachable = unreachable


class ActionSucceeded(Message):
    def __init__(self, action: str, title: str, result: Any) -> None:
        super().__init__()
        self.action = action
        self.title = title
        self.result = result


class ActionFailed(Message):
    """A write was refused or failed: shown in the error modal, never as a traceback."""

    def __init__(self, action: str, title: str, code: str, message: str) -> None:
        super().__init__()
        self.action = action
        self.title = title
        self.code = code
        self.message = message


def from_event(event: dict[str, Any]) -> Message | None:
    """The message for one watch-stream line; None for kinds this console does not know."""
    kind = event.get("kind")
    data = event.get("data") or {}
    seq = int(event.get("seq") or 0)
    at = float(event.get("at") or 0.0)
    if kind == events.SNAPSHOT:
        return SnapshotReceived(seq, data)
    if kind == events.CountersUpdated.kind:
        return CountersUpdated(data.get("component", "?"), data.get("counters") or {}, at, seq)
    if kind == events.RecordsSampled.kind:
        return RecordsSampled(data.get("service", "?"), data.get("records") or [], int(data.get("total") or 0), at)
    if kind == events.ComponentStateChanged.kind:
        return ComponentStateChanged(
            data.get("component", "?"),
            data.get("state", "?"),
            data.get("previous", "?"),
            data.get("error"),
            int(data.get("restarts") or 0),
            at,
            seq,
        )
    if kind == events.EngineStopping.kind:
        return EngineStopping(str(data.get("reason") or "requested"))
    if kind == events.WATCH_DROPPED:
        return WatchDropped(str(data.get("reason") or "no reason given"))
    return None
