"""Runs diagnostics as jobs: a few at once, each bounded in time, each cancellable.

`DiagRunner.start(request)` checks the request (one error line, before anything runs), refuses
when `max_running` jobs are already running, and returns a `DiagJob`. The job's tool runs in its
own task that feeds a bounded queue; `job.events()` yields `JobStarted`, the tool's events, then
exactly one `JobEnded` that says how it ended: finished, time_limit, cancelled or failed. A
reader that stops reading (a client that went away) cancels the job: nobody is left to watch it.
The time limit is the tool's own expected length plus a margin (`time_limit_for`), so a probe
that hangs is stopped and says so rather than holding one of the few slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Literal

from nocraven.diag.bandwidth import measure_bandwidth
from nocraven.diag.dns_query import lookup
from nocraven.diag.iperf import GRACE_SECONDS, run_iperf
from nocraven.diag.ping import ping
from nocraven.diag.port_check import check_port
from nocraven.diag.schema import (
    BandwidthRequest,
    DiagEvent,
    DiagFailed,
    DiagRequest,
    DnsRequest,
    IperfRequest,
    JobEnded,
    JobStarted,
    PingRequest,
    PortRequest,
    TraceRequest,
)
from nocraven.diag.trace import trace
from nocraven.diag.validate import InvalidInput

log = logging.getLogger(__name__)

MARGIN_SECONDS = 10.0  # name resolution and set-up on top of what the probes themselves take
QUEUE_EVENTS = 256  # a slow reader holds the tool back (back-pressure) rather than growing memory


Outcome = Literal["finished", "time_limit", "cancelled", "failed"]


class DiagBusy(Exception):
    """Too many diagnostics are running; the message says how many and what to do."""


def tool_name(request: DiagRequest) -> str:
    names: dict[type, str] = {
        PingRequest: "ping",
        TraceRequest: "trace",
        DnsRequest: "dns",
        BandwidthRequest: "bandwidth",
        IperfRequest: "iperf",
        PortRequest: "port",
    }
    return names[type(request)]


def time_limit_for(request: DiagRequest) -> float:
    """How long a checked request may run: its own schedule plus a margin."""
    if isinstance(request, PingRequest):
        expected = (request.count - 1) * request.interval + request.timeout
    elif isinstance(request, TraceRequest):
        expected = request.cycles * max(request.interval, request.timeout) + 2.0  # + reverse names
    elif isinstance(request, DnsRequest):
        expected = request.timeout * 2  # a truncated UDP answer is asked again over TCP
    elif isinstance(request, BandwidthRequest):
        expected = request.max_seconds + 10.0  # connection set-up, and the upload's response
    elif isinstance(request, IperfRequest):
        expected = request.seconds + GRACE_SECONDS
    else:
        expected = request.timeout * 3  # connect, TLS, and a second TLS to fetch a bad certificate
    return expected + MARGIN_SECONDS


def open_tool(request: DiagRequest) -> AsyncIterator[DiagEvent]:
    if isinstance(request, PingRequest):
        return ping(request)
    if isinstance(request, TraceRequest):
        return trace(request)
    if isinstance(request, DnsRequest):
        return lookup(request)
    if isinstance(request, BandwidthRequest):
        return measure_bandwidth(request)
    if isinstance(request, IperfRequest):
        return run_iperf(request)
    return check_port(request)


class DiagJob:
    def __init__(
        self,
        job_id: str,
        tool: str,
        events: AsyncIterator[DiagEvent],
        time_limit: float,
        clock: Callable[[], float],
        on_end: Callable[[DiagJob], None],
    ) -> None:
        self.job_id, self.tool, self.time_limit = job_id, tool, time_limit
        self._clock = clock
        self._queue: asyncio.Queue[DiagEvent] = asyncio.Queue(maxsize=QUEUE_EVENTS)
        self._on_end = on_end
        self.ended: JobEnded | None = None
        self._started = clock()
        self._task = asyncio.create_task(self._run(events), name=f"diag-{tool}-{job_id}")
        self._task.add_done_callback(self._cancelled_before_start)

    def cancel(self) -> None:
        self._task.cancel()

    async def events(self) -> AsyncGenerator[DiagEvent, None]:
        """Every event of the job, ending with its `JobEnded`; stopping early cancels the job."""
        try:
            yield JobStarted(job_id=self.job_id, tool=self.tool)
            while not (self._task.done() and self._queue.empty()):
                getter = asyncio.ensure_future(self._queue.get())
                try:
                    await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not getter.done():
                        getter.cancel()
                if getter.done() and not getter.cancelled():
                    yield getter.result()
            yield self._ending()
        finally:
            if self.ended is None:
                self.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def wait(self) -> JobEnded:
        await asyncio.wait({self._task})
        return self._ending()

    def _ending(self) -> JobEnded:
        if self.ended is None:  # the task is done but its done-callback has not run yet
            self._cancelled_before_start(self._task)
        assert self.ended is not None
        return self.ended

    def _cancelled_before_start(self, task: asyncio.Task[None]) -> None:
        """A job cancelled before its task ever ran never reached `_run`'s own ending."""
        if self.ended is None:
            self._end("cancelled", f"{self.tool} was cancelled")

    async def _run(self, events: AsyncIterator[DiagEvent]) -> None:
        outcome: Outcome = "finished"
        message = ""
        try:
            async with asyncio.timeout(self.time_limit):
                async for event in events:
                    await self._queue.put(event)
        except TimeoutError:
            outcome = "time_limit"
            message = f"{self.tool} stopped after {self.time_limit:g} s, its time limit; results above are partial"
        except asyncio.CancelledError:
            outcome, message = "cancelled", f"{self.tool} was cancelled"
        except DiagFailed as exc:
            outcome, message = "failed", str(exc)
        except InvalidInput as exc:
            outcome, message = "failed", str(exc)
        except Exception as exc:
            log.exception("diagnostic %s (job %s) failed", self.tool, self.job_id)
            outcome, message = (
                "failed",
                f"{self.tool} failed unexpectedly ({type(exc).__name__}: {exc}); see the engine log",
            )
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(BaseException):
                    await aclose()
        self._end(outcome, message)

    def _end(self, outcome: Outcome, message: str) -> None:
        self.ended = JobEnded(
            job_id=self.job_id,
            tool=self.tool,
            outcome=outcome,
            seconds=round(self._clock() - self._started, 3),
            message=message,
        )
        self._on_end(self)


class DiagRunner:
    def __init__(self, max_running: int = 3, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_running = max_running
        self._clock = clock
        self._ids = itertools.count(1)
        self.running: dict[str, DiagJob] = {}

    def start(
        self,
        request: DiagRequest,
        *,
        time_limit: float | None = None,
        events: AsyncIterator[DiagEvent] | None = None,
    ) -> DiagJob:
        """Start a checked request; `InvalidInput` or `DiagBusy` (one line each) when it cannot run.

        `events` replaces the tool (tests, or a tool run with special options)."""
        checked = request.checked()
        if len(self.running) >= self.max_running:
            raise DiagBusy(
                f"{len(self.running)} diagnostics are already running (at most {self.max_running}); "
                "wait for one to end or cancel it"
            )
        job_id = f"d{next(self._ids)}"
        job = DiagJob(
            job_id,
            tool_name(checked),
            events if events is not None else open_tool(checked),
            time_limit if time_limit is not None else time_limit_for(checked),
            self._clock,
            on_end=self._forget,
        )
        self.running[job_id] = job
        return job

    def _forget(self, job: DiagJob) -> None:
        self.running.pop(job.job_id, None)

    def cancel(self, job_id: str) -> bool:
        job = self.running.get(job_id)
        if job is None:
            return False
        job.cancel()
        return True

    async def shutdown(self) -> None:
        jobs = list(self.running.values())
        for job in jobs:
            job.cancel()
        for job in jobs:
            with contextlib.suppress(asyncio.CancelledError):
                await job.wait()
