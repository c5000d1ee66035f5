"""The poller's bookkeeping around a poll, with the device read replaced (no sockets): a poll
that overruns its interval is cut off and counted, an unexpected error is counted every time
and its traceback logged once, and a success clears the failing state."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from collectors.snmppoll.failures import PollFailure
from collectors.snmppoll.poller import Poller, TargetState
from collectors.snmppoll.sample import PollAnswer
from collectors.snmppoll.settings import PollTarget


def make(interval_s: float = 0.2) -> tuple[Poller, TargetState, list[dict[str, Any]]]:
    state = TargetState(target=PollTarget(host="192.0.2.1", name="sw", interval_s=interval_s), scalars=[], tables=[])
    records: list[dict[str, Any]] = []
    return Poller([state], {}, records.append, None, 4, 100), state, records


def test_a_poll_longer_than_its_interval_is_cut_off_and_counted() -> None:
    poller, state, records = make(interval_s=0.2)

    async def hangs(state: TargetState, problems: list[PollFailure]) -> PollAnswer:
        await asyncio.sleep(30)
        return PollAnswer()

    poller._read = hangs  # type: ignore[method-assign]
    assert asyncio.run(poller.poll(state)) is None
    status = state.status()
    assert status.state == "failing" and status.errors == {"timeout": 1} and records == []
    assert status.last_error is not None and "did not finish within its interval (0.2 s)" in status.last_error


def test_an_unexpected_error_is_counted_each_time_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    poller, state, records = make()

    async def breaks(state: TargetState, problems: list[PollFailure]) -> PollAnswer:
        raise RuntimeError("agent sent nonsense")

    poller._read = breaks  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="collectors.snmppoll"):
        for _ in range(3):
            asyncio.run(poller.poll(state))
    assert state.status().errors == {"error": 3} and state.status().consecutive_failures == 3
    assert len([r for r in caplog.records if "poll of sw failed" in r.getMessage()]) == 1

    async def answers(state: TargetState, problems: list[PollFailure]) -> PollAnswer:
        return PollAnswer(uptime=100)

    poller._read = answers  # type: ignore[method-assign]
    record = asyncio.run(poller.poll(state))
    assert record is not None and record["device"] == "sw" and record["uptime"] == 100
    assert records == [record]
    status = state.status()
    assert status.state == "ok" and status.consecutive_failures == 0 and status.failures == 3
    assert status.last_error_kind == "error"  # the last error stays on show, with its time
