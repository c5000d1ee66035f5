"""The job runner: a few jobs at once, each ends with one JobEnded saying how; no sockets here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from nocraven.diag.runner import DiagBusy, DiagRunner, time_limit_for
from nocraven.diag.schema import (
    DiagEvent,
    DiagFailed,
    JobEnded,
    JobStarted,
    PingRequest,
    PingSummary,
    PingTimedOut,
    TraceRequest,
)
from nocraven.diag.validate import InvalidInput

REQUEST = PingRequest("gw.example", count=2)


class Tool:
    """A stand-in probe: yields `count` events, then hangs or fails as told; records its closing."""

    def __init__(self, count: int = 2, hang: bool = False, fail: str | None = None) -> None:
        self.count, self.hang, self.fail = count, hang, fail
        self.closed = False

    async def run(self) -> AsyncIterator[DiagEvent]:
        try:
            for seq in range(1, self.count + 1):
                yield PingTimedOut(seq=seq)
                await asyncio.sleep(0)
            if self.fail:
                raise DiagFailed(self.fail)
            if self.hang:
                await asyncio.Event().wait()
            yield PingSummary("gw.example", "192.0.2.1", self.count, 0, 100.0, None, None, None, None, "raw")
        finally:
            self.closed = True


async def collect(events: AsyncIterator[DiagEvent]) -> list[DiagEvent]:
    return [event async for event in events]


async def test_a_job_yields_started_events_summary_then_finished() -> None:
    runner = DiagRunner()
    tool = Tool(count=3)
    events = await collect(runner.start(REQUEST, events=tool.run()).events())
    assert isinstance(events[0], JobStarted) and events[0].tool == "ping"
    assert [type(e).__name__ for e in events[1:]] == ["PingTimedOut"] * 3 + ["PingSummary", "JobEnded"]
    ended = events[-1]
    assert isinstance(ended, JobEnded) and (ended.outcome, ended.message) == ("finished", "")
    assert runner.running == {}


async def test_a_job_past_its_time_limit_is_stopped_and_says_so() -> None:
    runner = DiagRunner()
    tool = Tool(hang=True)
    events = await asyncio.wait_for(collect(runner.start(REQUEST, events=tool.run(), time_limit=0.2).events()), 10)
    ended = events[-1]
    assert isinstance(ended, JobEnded) and ended.outcome == "time_limit"
    assert "time limit" in ended.message and "partial" in ended.message
    assert sum(isinstance(e, PingTimedOut) for e in events) == 2  # what it did before stays visible
    assert tool.closed  # its sockets are closed by its own finally


async def test_cancel_ends_a_running_job() -> None:
    runner = DiagRunner()
    tool = Tool(hang=True)
    job = runner.start(REQUEST, events=tool.run())
    seen: list[DiagEvent] = []
    async for event in job.events():
        seen.append(event)
        if isinstance(event, PingTimedOut) and event.seq == 2:
            assert runner.cancel(job.job_id)
    ended = seen[-1]
    assert isinstance(ended, JobEnded) and ended.outcome == "cancelled"
    assert tool.closed and runner.running == {}
    assert not runner.cancel(job.job_id)  # already gone


async def test_a_reader_that_goes_away_cancels_its_job() -> None:
    runner = DiagRunner()
    tool = Tool(hang=True)
    job = runner.start(REQUEST, events=tool.run())
    stream = job.events()
    async for event in stream:
        if isinstance(event, PingTimedOut):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    ended = await asyncio.wait_for(job.wait(), 10)
    assert ended.outcome == "cancelled" and tool.closed


async def test_a_failing_tool_ends_failed_with_its_line() -> None:
    runner = DiagRunner()
    events = await collect(runner.start(REQUEST, events=Tool(fail="cannot resolve nope.example").run()).events())
    ended = events[-1]
    assert isinstance(ended, JobEnded)
    assert (ended.outcome, ended.message) == ("failed", "cannot resolve nope.example")


async def test_only_a_few_run_at_once_and_bad_requests_never_start() -> None:
    runner = DiagRunner(max_running=2)
    tools = [Tool(hang=True), Tool(hang=True)]
    jobs = [runner.start(REQUEST, events=tool.run()) for tool in tools]
    with pytest.raises(DiagBusy, match="2 diagnostics are already running"):
        runner.start(REQUEST, events=Tool().run())
    with pytest.raises(InvalidInput, match="count"):
        runner.start(PingRequest("gw.example", count=-1))
    await runner.shutdown()
    assert [(await job.wait()).outcome for job in jobs] == ["cancelled", "cancelled"]
    assert runner.running == {}
    job = runner.start(REQUEST, events=Tool().run())  # a slot is free again
    assert (await job.wait()).outcome == "finished"


def test_time_limits_follow_the_request() -> None:
    short = time_limit_for(PingRequest("gw", count=1, timeout=1.0))
    long = time_limit_for(PingRequest("gw", count=100, interval=1.0, timeout=1.0))
    assert long - short == pytest.approx(99.0)
    assert time_limit_for(TraceRequest("gw", cycles=10, interval=1.0)) > 10.0
