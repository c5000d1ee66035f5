"""HTTP throughput: download (GET) or upload (POST) against a URL, bounded in bytes and time.

`ThroughputMeter` is the sans-IO part: bytes and `now` in; when to report progress, when to stop
and the rate out. Download time runs from the response headers to the last byte counted (the
transfer, not the connection set-up); upload time from the first byte offered to the response,
so bytes still sitting in socket buffers are never counted as delivered early. Bytes are counted
as they cross the wire (`aiter_raw`), before any content decoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from nocraven.diag.schema import BandwidthProgressed, BandwidthRequest, BandwidthSummary, DiagEvent, DiagFailed

if TYPE_CHECKING:  # imported when a test runs: httpx and its deps are ~5 MiB of the engine's memory
    import httpx

CHUNK = 64 * 1024
# Upload bytes queued in our socket are not delivered yet; capping the send buffer keeps what is
# still in flight when sending stops small (4 MiB: 1 Gbit/s at 32 ms RTT), so the wait for the
# server's confirmation stays short.
UPLOAD_SEND_BUFFER = 4 * 1024 * 1024
DRAIN_SECONDS = 10.0  # how long after the last byte the server may take to confirm an upload
StopReason = Literal["complete", "byte_limit", "time_limit"]


@dataclass
class ThroughputMeter:
    started: float
    max_bytes: int
    max_seconds: float
    progress_every: float = 0.5
    bytes: int = 0
    _next_progress: float = 0.0

    def __post_init__(self) -> None:
        self.restart(self.started)

    def restart(self, now: float) -> None:
        """Start the clock again (the upload's clock starts with its first byte, not before)."""
        self.started = now
        self._next_progress = now + self.progress_every

    def add(self, count: int) -> None:
        self.bytes += count

    def progress_due(self, now: float) -> bool:
        if now < self._next_progress:
            return False
        self._next_progress = now + self.progress_every
        return True

    def stop_reason(self, now: float) -> StopReason | None:
        if self.bytes >= self.max_bytes:
            return "byte_limit"
        if now - self.started >= self.max_seconds:
            return "time_limit"
        return None

    def deadline(self) -> float:
        return self.started + self.max_seconds

    def bits_per_second(self, now: float) -> float:
        elapsed = now - self.started
        return 8.0 * self.bytes / elapsed if elapsed > 0 else 0.0


async def measure_bandwidth(
    request: BandwidthRequest,
    *,
    clock: Callable[[], float] = time.monotonic,
    progress_every: float = 0.5,
    verify: bool | str = True,
    send_buffer: int = UPLOAD_SEND_BUFFER,
) -> AsyncIterator[DiagEvent]:
    import httpx

    req = request.checked()
    slack = req.max_seconds + DRAIN_SECONDS
    timeout = httpx.Timeout(connect=min(10.0, req.max_seconds), read=slack, write=slack, pool=5)
    transport = httpx.AsyncHTTPTransport(
        verify=verify, socket_options=[(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)]
    )
    async with httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=True) as client:
        try:
            if req.direction == "download":
                async for event in _download(client, req, clock, progress_every):
                    yield event
            else:
                async for event in _upload(client, req, clock, progress_every):
                    yield event
        except httpx.HTTPError as exc:
            raise DiagFailed(f"{req.direction} {req.url} failed: {_one_line(exc)}") from None


async def _download(
    client: httpx.AsyncClient, req: BandwidthRequest, clock: Callable[[], float], progress_every: float
) -> AsyncIterator[DiagEvent]:
    async with client.stream("GET", req.url, headers={"Accept-Encoding": "identity"}) as response:
        _refuse_error_status(response, req)
        meter = ThroughputMeter(clock(), req.max_bytes, req.max_seconds, progress_every)
        stopped_by: StopReason = "complete"
        chunks = response.aiter_raw().__aiter__()  # as the bytes arrive, not in fixed blocks
        while True:
            remaining = meter.deadline() - clock()
            try:
                async with asyncio.timeout(max(0.0, remaining)):
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError:
                stopped_by = "time_limit"
                break
            meter.add(len(chunk))
            now = clock()
            if meter.progress_due(now):
                yield BandwidthProgressed(
                    direction="download",
                    bytes=meter.bytes,
                    elapsed_s=round(now - meter.started, 3),
                    bits_per_second=round(meter.bits_per_second(now), 1),
                )
            reason = meter.stop_reason(now)
            if reason is not None:
                stopped_by = reason
                break
        ended = clock()
    yield _summary(req, response.status_code, meter, ended, stopped_by)


async def _upload(
    client: httpx.AsyncClient, req: BandwidthRequest, clock: Callable[[], float], progress_every: float
) -> AsyncIterator[DiagEvent]:
    meter = ThroughputMeter(clock(), req.max_bytes, req.max_seconds, progress_every)
    progress: asyncio.Queue[BandwidthProgressed] = asyncio.Queue(maxsize=64)
    stopped_by: list[StopReason] = ["complete"]
    block = bytes(CHUNK)

    async def body() -> AsyncIterator[bytes]:
        meter.restart(clock())
        while True:
            now = clock()
            reason = meter.stop_reason(now)
            if reason is not None:
                stopped_by[0] = reason
                return
            size = min(CHUNK, req.max_bytes - meter.bytes)
            yield block[:size]
            meter.add(size)
            now = clock()
            if meter.progress_due(now) and not progress.full():
                progress.put_nowait(
                    BandwidthProgressed(
                        direction="upload",
                        bytes=meter.bytes,
                        elapsed_s=round(now - meter.started, 3),
                        bits_per_second=round(meter.bits_per_second(now), 1),
                    )
                )

    sending = asyncio.create_task(client.post(req.url, content=body()))
    hard_deadline = clock() + req.max_seconds + DRAIN_SECONDS
    try:
        while not sending.done():
            if clock() >= hard_deadline:
                raise DiagFailed(
                    f"upload {req.url}: the server had not confirmed {meter.bytes} bytes {DRAIN_SECONDS:g} s after "
                    "sending stopped; the path is very slow or the server stalls"
                )
            getter = asyncio.ensure_future(progress.get())
            await asyncio.wait({sending, getter}, timeout=hard_deadline - clock(), return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
        while not progress.empty():
            yield progress.get_nowait()
        response = sending.result()
    finally:
        if not sending.done():
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sending
    ended = clock()
    _refuse_error_status(response, req)
    yield _summary(req, response.status_code, meter, ended, stopped_by[0])


def _summary(
    req: BandwidthRequest, status: int, meter: ThroughputMeter, ended: float, stopped_by: StopReason
) -> BandwidthSummary:
    seconds = round(max(ended - meter.started, 1e-6), 6)
    return BandwidthSummary(
        url=req.url,
        direction=req.direction,
        http_status=status,
        bytes=meter.bytes,
        seconds=seconds,
        bits_per_second=round(8.0 * meter.bytes / seconds, 1),
        stopped_by=stopped_by,
    )


def _refuse_error_status(response: httpx.Response, req: BandwidthRequest) -> None:
    if response.status_code >= 400:
        raise DiagFailed(
            f"{req.direction} {req.url} answered HTTP {response.status_code} {response.reason_phrase}; check the URL"
        )


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
