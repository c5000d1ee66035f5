"""The diagnostics' engine part: runs probes as jobs for the API and streams their events.

POST /v1/diag/{ping,trace,dns,bandwidth,iperf,port} takes the tool's request as its body,
checks it (`bad_request`, one line naming the field), starts a job (`busy`, HTTP 429, when
`diag.max_running` already run) and answers an NDJSON stream: `job.started`, the tool's
progress, its summary, `job.ended`. Every refusal happens before the stream starts, so it is a
proper HTTP error. A client that goes away cancels its job (nobody is left to watch it);
GET /v1/diag/jobs lists what runs and POST /v1/diag/jobs/{id}/cancel stops one. When the
engine stops, every job is cancelled first so each stream still ends with its `job.ended`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from nocraven.api.params import json_body
from nocraven.api.roles import Peer, Role
from nocraven.api.routes import Handler, Result, Route
from nocraven.api.wire import NDJSON, dumps_line
from nocraven.diag.noc import noc_plan
from nocraven.diag.runner import DiagBusy, DiagJob, DiagRunner, time_limit_for
from nocraven.diag.validate import InvalidInput
from nocraven.engine.component import Component, EngineContext
from nocraven.errors import ApiError, ErrorCode
from nocraven.schema import diag as wire
from nocraven.schema.events import CountersUpdated, EngineStopping

log = logging.getLogger("nocraven.diag")

# aiohttp does not cancel a handler whose client left; a quiet probe (a DNS timeout, a slow
# trace cycle) would not notice by writing, so the stream looks at the connection this often.
DISCONNECT_CHECK_S = 0.25
# A client that stops reading without leaving: its job runs into back-pressure, then its limit.
WRITE_TIMEOUT_S = 10.0
ROUTE_TABLE = Path("/proc/net/route")  # the NOC check's gateway: this box's default route

TOOLS: dict[str, type[wire.DiagRequest]] = {
    "ping": wire.PingRequest,
    "trace": wire.TraceRequest,
    "dns": wire.DnsRequest,
    "bandwidth": wire.BandwidthRequest,
    "iperf": wire.IperfRequest,
    "port": wire.PortRequest,
}


def target_of(request: wire.DiagRequest) -> str:
    """What a request probes, in the words a technician would use."""
    if isinstance(request, wire.DnsRequest):
        return f"{request.name} {request.type}" + (f" @{request.server}" if request.server else "")
    if isinstance(request, wire.BandwidthRequest):
        return f"{request.direction} {request.url}"
    if isinstance(request, wire.IperfRequest):
        return f"{request.server}:{request.port}"
    if isinstance(request, wire.PortRequest):
        return f"{request.host}:{request.port}" + (" tls" if request.tls else "")
    return request.host


@dataclass
class _Running:
    job: DiagJob
    target: str
    started_at: float
    started_monotonic: float
    started_by: str


class DiagComponent(Component):
    name = "diag"

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.settings = ctx.config.diag
        self.runner: DiagRunner | None = None
        self._jobs: dict[str, _Running] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._counters = wire.DiagCounters(
            max_running=self.settings.max_running, max_job_seconds=self.settings.max_job_seconds
        )

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self, ready: Callable[[], None]) -> None:
        stopping = self.ctx.bus.subscribe(kinds={EngineStopping.kind})
        self.runner = DiagRunner(max_running=self.settings.max_running)
        ready()
        try:
            await stopping.next_batch()  # nothing to do between jobs; wait for the engine to stop
        finally:
            stopping.close()
            runner, self.runner = self.runner, None
            await runner.shutdown()  # each stream still writes its job.ended (cancelled)
            for watcher in list(self._watchers):
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    def status(self) -> wire.DiagCounters:
        return self._counters

    def _publish_counters(self) -> None:
        self.ctx.bus.publish(CountersUpdated.of(self.name, self._counters))

    # ---- jobs ------------------------------------------------------------------------------

    def start(self, request: wire.DiagRequest, started_by: str) -> DiagJob:
        """Check and start a request; `ApiError` (bad_request, busy, unavailable) when it cannot run."""
        runner = self.runner
        if runner is None:
            raise ApiError(
                ErrorCode.UNAVAILABLE,
                "diagnostics are not running right now (the engine is starting or stopping); try again",
            )
        try:
            checked = request.checked()
            limit = min(time_limit_for(checked), self.settings.max_job_seconds)
            job = runner.start(checked, time_limit=limit)
        except InvalidInput as exc:
            raise ApiError(ErrorCode.BAD_REQUEST, str(exc)) from None
        except DiagBusy as exc:
            self._counters.refused_busy += 1
            raise ApiError(ErrorCode.BUSY, f"{exc}; see `nocraven diag jobs`") from None
        target = target_of(checked)
        self._jobs[job.job_id] = _Running(job, target, time.time(), time.monotonic(), started_by)
        self._counters.started += 1
        self._counters.running = len(runner.running)
        log.info("diag %s %s started by %s (job %s, limit %g s)", job.tool, target, started_by, job.job_id, limit)
        watcher = asyncio.create_task(self._watch(job), name=f"diag-watch-{job.job_id}")
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        self._publish_counters()
        return job

    async def _watch(self, job: DiagJob) -> None:
        """Count how the job ended, whoever was (or was not) reading its stream."""
        ended = await job.wait()
        running = self._jobs.pop(job.job_id, None)
        outcome = ended.outcome
        setattr(self._counters, outcome, getattr(self._counters, outcome) + 1)
        self._counters.running = len(self.runner.running) if self.runner is not None else 0
        level = logging.INFO if outcome in ("finished", "cancelled") else logging.WARNING
        target = running.target if running is not None else "?"
        log.log(
            level,
            "diag %s %s (job %s) %s after %.1f s %s",
            job.tool,
            target,
            job.job_id,
            outcome,
            ended.seconds,
            ended.message,
        )
        self._publish_counters()

    # ---- API -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        routes = [Route("POST", f"/v1/diag/{tool}", self._starter(tp), Role.TECH) for tool, tp in TOOLS.items()]
        return [
            *routes,
            Route("GET", "/v1/diag/jobs", self._get_jobs),
            Route("GET", "/v1/diag/noc", self._get_noc_plan),
            Route("POST", "/v1/diag/jobs/{job_id}/cancel", self._post_cancel, Role.TECH),
        ]

    def _starter(self, tp: type[wire.DiagRequest]) -> Handler:
        async def handle(request: web.Request, peer: Peer) -> Result:
            body = await json_body(request, tp)
            job = self.start(body, peer.who)
            return await stream_job(request, job)

        return handle

    async def _get_jobs(self, request: web.Request, peer: Peer) -> Result:
        now = time.monotonic()
        jobs = [
            wire.DiagJob(
                job_id=job_id,
                tool=r.job.tool,
                target=r.target,
                started_at=r.started_at,
                elapsed_s=round(now - r.started_monotonic, 3),
                time_limit_s=r.job.time_limit,
                started_by=r.started_by,
            )
            for job_id, r in self._jobs.items()
            if r.job.ended is None
        ]
        return wire.DiagJobs(jobs=jobs, max_running=self.settings.max_running)

    async def _get_noc_plan(self, request: web.Request, peer: Peer) -> Result:
        try:
            route_table: str | None = ROUTE_TABLE.read_text()
        except OSError:
            route_table = None
        return noc_plan(self.settings, self.ctx.config.forward, route_table)

    async def _post_cancel(self, request: web.Request, peer: Peer) -> Result:
        job_id = request.match_info["job_id"]
        running = self._jobs.get(job_id)
        if self.runner is None or running is None or not self.runner.cancel(job_id):
            raise ApiError(
                ErrorCode.NOT_FOUND, f"no diagnostic {job_id!r} is running; `nocraven diag jobs` lists those that are"
            )
        log.info("diag job %s cancelled by %s", job_id, peer.who)
        return wire.JobCancelled(job_id=job_id, tool=running.job.tool)


async def stream_job(request: web.Request, job: DiagJob) -> web.StreamResponse:
    """Write the job's events as NDJSON until its `job.ended`; a client that leaves cancels it."""
    response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-store"})
    try:
        await response.prepare(request)
    except BaseException:
        job.cancel()
        raise

    async def pump() -> None:
        # aclosing: leaving the loop for any reason closes the stream, which cancels the job.
        async with contextlib.aclosing(job.events()) as events:
            async for event in events:
                await asyncio.wait_for(response.write(dumps_line(event)), WRITE_TIMEOUT_S)

    pumping = asyncio.create_task(pump(), name=f"diag-stream-{job.job_id}")
    try:
        while not pumping.done():
            await asyncio.wait({pumping}, timeout=DISCONNECT_CHECK_S)
            if not pumping.done() and (request.transport is None or request.transport.is_closing()):
                log.info("diag job %s: its client went away; cancelling it", job.job_id)
                pumping.cancel()
    finally:
        if not pumping.done():
            pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError):
            await pumping
    return response
