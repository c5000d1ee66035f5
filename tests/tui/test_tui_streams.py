"""The console's stream plumbing with a fake client: one message per event, how it ended, cancel closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from textual.message import Message

from nocraven.errors import ApiError, ErrorCode
from nocraven.schema import diag as wire
from nocraven_tui import messages
from nocraven_tui.connection import EngineLink
from nocraven_tui.exchange import Stream
from nocraven_tui.screens.diagnostics import noc_verdict
from nocraven_tui.state import ConsoleState

REPLIES = [
    wire.JobStarted(job_id="j1", tool="ping"),
    wire.PingReplied(seq=1, address="192.0.2.1", rtt_ms=1.5, ttl=64, bytes=64),
    wire.PingTimedOut(seq=2),
    wire.JobEnded(job_id="j1", tool="ping", outcome="finished", seconds=2.0, message=""),
]


class FakeClient:
    """Stands in for AsyncClient: `diag_ping` yields what the test gives, or waits forever."""

    def __init__(self, events: list[Any], fail: Exception | None = None, hang: bool = False) -> None:
        self.events = events
        self.fail = fail
        self.hang = hang
        self.closed = False
        self.generator_closed = False
        self.waiting = asyncio.Event()

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed = True

    async def diag_ping(self, request: wire.PingRequest) -> AsyncIterator[wire.DiagEvent]:
        try:
            for event in self.events:
                yield event
            if self.fail is not None:
                raise self.fail
            if self.hang:
                self.waiting.set()
                await asyncio.Event().wait()
        finally:
            self.generator_closed = True


def ping_stream() -> Stream[wire.DiagEvent]:
    request = wire.PingRequest(host="192.0.2.1")
    return Stream("diag:ping", lambda client: client.diag_ping(request))


def link_with(fake: FakeClient) -> tuple[EngineLink, list[Message]]:
    posted: list[Message] = []
    return EngineLink(Path("/nonexistent"), posted.append, stream_client=lambda: fake), posted  # type: ignore[arg-type,return-value]


async def test_each_event_is_one_message_then_the_end() -> None:
    fake = FakeClient(REPLIES)
    link, posted = link_with(fake)
    await link.stream(ping_stream(), run=7)
    events = [m for m in posted if isinstance(m, messages.StreamEvent)]
    assert [m.event for m in events] == REPLIES
    assert {(m.key, m.run) for m in events} == {("diag:ping", 7)}
    ended = posted[-1]
    assert isinstance(ended, messages.StreamEnded)
    assert (ended.key, ended.run, ended.code) == ("diag:ping", 7, None)
    assert fake.closed and fake.generator_closed


async def test_a_refused_request_ends_with_the_engines_words() -> None:
    fake = FakeClient([], fail=ApiError(ErrorCode.BAD_REQUEST, "host: shell metacharacters are not allowed"))
    link, posted = link_with(fake)
    await link.stream(ping_stream(), run=1)
    assert len(posted) == 1
    ended = posted[0]
    assert isinstance(ended, messages.StreamEnded)
    assert ended.code == str(ErrorCode.BAD_REQUEST)
    assert "metacharacters" in ended.message


async def test_cancelling_the_worker_closes_the_stream() -> None:
    fake = FakeClient(REPLIES[:2], hang=True)
    link, posted = link_with(fake)
    task = asyncio.create_task(link.stream(ping_stream(), run=3))
    await asyncio.wait_for(fake.waiting.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert fake.generator_closed and fake.closed  # the engine sees the connection go: job cancelled
    ended = posted[-1]
    assert isinstance(ended, messages.StreamEnded)
    assert ended.code == "cancelled"
    assert sum(isinstance(m, messages.StreamEvent) for m in posted) == 2


def test_state_keeps_the_run_before_and_drops_a_replaced_runs_late_messages() -> None:
    state = ConsoleState()
    first = state.start_stream("diag:ping", 1.0)
    state.apply_stream_event("diag:ping", first, REPLIES[1])
    second = state.start_stream("diag:ping", 2.0)
    state.apply_stream_event("diag:ping", first, REPLIES[2])  # late, from the replaced run
    state.apply_stream_end("diag:ping", first, "cancelled", "", 2.5)
    log = state.streams["diag:ping"]
    assert log.running and not log.events
    assert list(state.previous_streams["diag:ping"].events) == [REPLIES[1]]
    state.apply_stream_event("diag:ping", second, REPLIES[2])
    state.apply_stream_end("diag:ping", second, None, "", 3.0)
    assert not log.running and log.code is None and list(log.events) == [REPLIES[2]]
    assert log.last(wire.PingTimedOut) == REPLIES[2]


def test_noc_verdicts() -> None:
    state = ConsoleState()
    run = state.start_stream("noc:port", 0.0)
    log = state.streams["noc:port"]
    assert noc_verdict("port", log)[0] == "..."
    summary = wire.PortSummary(
        host="127.0.0.1", address="127.0.0.1", port=9, state="refused", connect_ms=None, detail="connection refused"
    )
    state.apply_stream_event("noc:port", run, summary)
    state.apply_stream_end("noc:port", run, None, "", 1.0)
    verdict, _, detail = noc_verdict("port", log)
    assert verdict == "FAIL" and "refused" in detail
    assert noc_verdict("ping", None)[0] == "-"


def test_the_tech_role_may_run_diagnostics_and_read_only_tokens_may_not() -> None:
    assert ConsoleState(role_override="tech").can_diagnose
    assert ConsoleState(role_override="admin").can_diagnose
    assert not ConsoleState(role_override="read").can_diagnose
    assert not ConsoleState().can_diagnose  # no snapshot yet: role unknown
