"""The buffer's engine part: opens the store, seals on a timer, serves /v1/buffer/*, flushes on stop.

Collectors reach it as `ctx.services["buffer"]` (append, record_drop). Appends are cheap and
happen on the event loop; sealing (compression and the SQLite commit) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from nocraven.api import wire
from nocraven.api.roles import Peer, Role
from nocraven.api.routes import Route
from nocraven.buffer.limits import BufferLimits, ServiceLimits
from nocraven.buffer.results import BufferStats
from nocraven.buffer.settings import BufferSettings
from nocraven.buffer.store import SegmentStore
from nocraven.config import SERVICES
from nocraven.engine.component import Component, EngineContext
from nocraven.errors import ApiError, ErrorCode
from nocraven.events import CountersUpdated

log = logging.getLogger("nocraven.buffer")

SEAL_EVERY_S = 0.2
COUNTERS_EVERY_S = 1.0
FOLLOW_QUEUE_LINES = 20_000  # a `tail --follow` reader further behind than this is cut off
EXPORT_CHUNK = 2_000


def limits_from_config(config: BufferSettings) -> BufferLimits:
    return BufferLimits(
        total_bytes=config.total_bytes,
        services={
            name: ServiceLimits(quota_bytes=svc.quota_bytes, max_age_s=svc.max_age_days * 86400, overflow=svc.overflow)
            for name, svc in config.services.items()
        },
        min_free_disk_bytes=config.min_free_bytes,
        seal_bytes=config.seal_bytes,
        seal_interval_s=config.seal_interval_s,
    )


def rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stats_to_wire(stats: BufferStats) -> dict[str, Any]:
    def by_reason(dropped: Any) -> dict[str, dict[str, int]]:
        return {reason: {"records": c.records, "bytes": c.bytes} for reason, c in dropped.items()}

    services = {
        name: {
            "records": s.records,
            "raw_bytes": s.raw_bytes,
            "stored_bytes": s.stored_bytes,
            "segments": s.segments,
            "oldest": rfc3339(s.oldest),
            "newest": rfc3339(s.newest),
            "unsealed_records": s.unsealed_records,
            "dropped_records": s.dropped_records,
            "dropped_bytes": sum(c.bytes for c in s.dropped.values()),
            "dropped_by_reason": by_reason(s.dropped),
            "quota_bytes": s.quota_bytes,
            "fair_share_bytes": s.fair_share_bytes,
            "ingest_records_per_s": round(s.ingest_records_per_s, 1),
            "forecast_days": s.forecast_days,
        }
        for name, s in stats.services.items()
    }
    budget = stats.effective_budget_bytes or stats.budget_bytes
    return {
        "services": services,
        "total": {
            "records": stats.records,
            "raw_bytes": stats.raw_bytes,
            "stored_bytes": stats.stored_bytes,
            "segments": stats.segments,
            "unsealed_records": stats.unsealed_records,
            "budget_bytes": stats.budget_bytes,
            "effective_budget_bytes": stats.effective_budget_bytes,
            "fill_percent": round(100.0 * stats.stored_bytes / budget, 2) if budget else 0.0,
            "disk_free_bytes": stats.disk_free_bytes,
            "disk_limited": stats.disk_limited,
            "storage_failing": stats.storage_failing,
            "quarantined_segments": stats.quarantined_segments,
            "compression_ratio": stats.compression_ratio,
            "ingest_records_per_s": round(stats.ingest_records_per_s, 1),
            "dropped_by_reason": by_reason(stats.dropped),
        },
        "forecast_days": stats.forecast_days,
    }


class _Follower:
    """A `tail --follow` reader: a bounded queue of lines filled by appends."""

    def __init__(self, service: str | None) -> None:
        self.service = service
        self.lines: list[bytes] = []
        self.wake = asyncio.Event()
        self.overflowed = False

    def offer(self, service: str, lines: Sequence[bytes]) -> None:
        if self.overflowed or (self.service is not None and service != self.service):
            return
        if len(self.lines) + len(lines) > FOLLOW_QUEUE_LINES:
            self.overflowed = True
        else:
            self.lines.extend(lines)
        self.wake.set()


class BufferComponent(Component):
    name = "buffer"

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.store: SegmentStore | None = None
        self._followers: set[_Follower] = set()
        self._last_stats: dict[str, Any] | None = None

    # ---- what collectors call (on the event loop) ------------------------------------------

    def append(self, service: str, lines: Sequence[bytes], now: float, source: str | None = None) -> None:
        store = self.store
        if store is None:
            return
        store.append(service, lines, now, source)
        for follower in self._followers:
            follower.offer(service, lines)

    def append_ndjson(self, service: str, chunk: bytes, now: float) -> int:
        """Records as a collector process sends them, newline-joined: stored without splitting."""
        store = self.store
        if store is None:
            return 0
        count = store.append_ndjson(service, chunk, now)
        if self._followers:
            lines = chunk.split(b"\n")
            for follower in self._followers:
                follower.offer(service, lines)
        return count

    def record_drop(self, service: str, reason: str, records: int, size: int, now: float, source: str | None) -> None:
        if self.store is not None:
            self.store.record_drop(service, reason, records, size, now, source)

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self, ready: Callable[[], None]) -> None:
        data_dir = self.ctx.config.engine.data_dir
        limits = limits_from_config(self.ctx.config.buffer)
        store = await asyncio.to_thread(SegmentStore.open, data_dir, limits, time.time())
        self.store = store
        self.ctx.services["buffer"] = self
        ready()
        stop_sealing = threading.Event()
        sealer = threading.Thread(target=self._seal_worker, args=(store, stop_sealing), name="buffer-sealer")
        sealer.start()
        try:
            while True:
                self._last_stats = stats_to_wire(await asyncio.to_thread(store.stats, time.time()))
                self.ctx.bus.publish(CountersUpdated(component=self.name, counters=self._counters()))
                await asyncio.sleep(COUNTERS_EVERY_S)
        finally:
            # Stop taking records, then seal what is in memory: a clean stop loses nothing.
            self.ctx.services.pop("buffer", None)
            self.store = None
            stop_sealing.set()
            await asyncio.to_thread(sealer.join)
            sealed = await asyncio.to_thread(store.seal_all, time.time())
            await asyncio.to_thread(store.close)
            log.info("buffer flushed %d segment(s) and closed", len(sealed))

    @staticmethod
    def _seal_worker(store: SegmentStore, stop: threading.Event) -> None:
        """Seal as soon as a segment fills, and at least every SEAL_EVERY_S for the age rule."""
        while not stop.is_set():
            store.wait_for_full_segment(SEAL_EVERY_S)
            try:
                store.seal_due(time.time())
            except Exception:  # a bug must not silently stop sealing: log it and keep going
                log.exception("sealing failed")
                stop.wait(1.0)

    def _counters(self) -> dict[str, Any]:
        if self._last_stats is None:
            return {}
        total = self._last_stats["total"]
        return {
            "records": total["records"],
            "raw_bytes": total["raw_bytes"],
            "stored_bytes": total["stored_bytes"],
            "fill_percent": total["fill_percent"],
            "forecast_days": self._last_stats["forecast_days"],
            "dropped_records": sum(d["records"] for d in total["dropped_by_reason"].values()),
            "storage_failing": total["storage_failing"],
        }

    def status(self) -> dict[str, Any]:
        if self.store is None:
            return {}
        return {"path": str(self.store.path), **self._counters()}

    # ---- API -------------------------------------------------------------------------------

    def _require_store(self) -> SegmentStore:
        if self.store is None:
            raise ApiError(ErrorCode.UNAVAILABLE, "the buffer is not open right now; see `nocraven status`")
        return self.store

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/buffer/stats", self._get_stats),
            Route("GET", "/v1/buffer/tail", self._get_tail),
            Route("GET", "/v1/buffer/export", self._get_export),
            Route("GET", "/v1/buffer/ledger", self._get_ledger),
            Route("POST", "/v1/buffer/purge", self._post_purge, Role.ADMIN),
        ]

    async def _get_stats(self, request: web.Request, peer: Peer) -> Any:
        store = self._require_store()
        return stats_to_wire(await asyncio.to_thread(store.stats, time.time()))

    async def _get_tail(self, request: web.Request, peer: Peer) -> web.StreamResponse:
        store = self._require_store()
        service = _service_param(request, required=False)
        limit = _int_param(request, "limit", 20, 1, 10_000)
        follow = request.query.get("follow", "false") == "true"
        follower = _Follower(service) if follow else None
        if follower is not None:
            self._followers.add(follower)  # before the tail is read: nothing falls between
        try:
            lines = await asyncio.to_thread(store.tail, service, limit)
            response = web.StreamResponse(headers={"Content-Type": wire.NDJSON})
            await response.prepare(request)
            await response.write(b"".join(line + b"\n" for line in lines))
            while follower is not None:
                await follower.wake.wait()
                follower.wake.clear()
                if follower.overflowed:
                    notice = {"error": {"code": "too_slow", "message": "reader fell behind; tail again"}}
                    await response.write(wire.dumps_line(notice))
                    break
                batch, follower.lines = follower.lines, []
                await response.write(b"".join(line + b"\n" for line in batch))
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            if follower is not None:
                self._followers.discard(follower)
        return response

    async def _get_export(self, request: web.Request, peer: Peer) -> web.StreamResponse:
        store = self._require_store()
        service = _service_param(request, required=True)
        assert service is not None
        since = _time_param(request, "since")
        until = _time_param(request, "until")
        records = await asyncio.to_thread(store.export, service, since, until)
        response = web.StreamResponse(headers={"Content-Type": wire.NDJSON})
        await response.prepare(request)
        while chunk := await asyncio.to_thread(_take, records, EXPORT_CHUNK):
            await response.write(b"".join(line + b"\n" for line in chunk))
        return response

    async def _get_ledger(self, request: web.Request, peer: Peer) -> Any:
        store = self._require_store()
        since_id = _int_param(request, "since_id", 0, 0, 1 << 62) or None
        limit = _int_param(request, "limit", 100, 1, 10_000)
        entries = await asyncio.to_thread(store.ledger, since_id, limit, _service_param(request, required=False))
        return {
            "entries": [
                {
                    "id": e.id,
                    "recorded_at": rfc3339(e.recorded_at),
                    "service": e.drop.service,
                    "source": e.drop.source,
                    "reason": e.drop.reason.value,
                    "records": e.drop.records,
                    "bytes": e.drop.bytes,
                    "first": rfc3339(e.drop.first_time),
                    "last": rfc3339(e.drop.last_time),
                }
                for e in entries
            ]
        }

    async def _post_purge(self, request: web.Request, peer: Peer) -> Any:
        store = self._require_store()
        body = await _json_body(request)
        service = body.get("service")
        if service not in SERVICES:
            raise ApiError(ErrorCode.BAD_REQUEST, f"service must be one of {', '.join(SERVICES)}, not {service!r}")
        result = await asyncio.to_thread(store.purge, service, time.time())
        log.warning("buffer purged for %s by %s: %d records", service, peer.who, result.records)
        return {"service": result.service, "records": result.records, "bytes": result.bytes}


def _take(records: Iterator[bytes], count: int) -> list[bytes]:
    out = []
    for record in records:
        out.append(record)
        if len(out) >= count:
            break
    return out


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = wire.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(ErrorCode.BAD_REQUEST, "the request body must be a JSON object")
    return body


def _service_param(request: web.Request, required: bool) -> str | None:
    service = request.query.get("service")
    if service is None:
        if required:
            raise ApiError(ErrorCode.BAD_REQUEST, f"service is required (one of {', '.join(SERVICES)})")
        return None
    if service not in SERVICES:
        raise ApiError(ErrorCode.BAD_REQUEST, f"unknown service {service!r} (one of {', '.join(SERVICES)})")
    return service


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be between {low} and {high}, not {value}")
    return value


def _time_param(request: web.Request, name: str) -> float | None:
    text = request.query.get(name)
    if not text:
        return None
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be an RFC 3339 time such as 2026-11-27T08:00:00Z, not {text!r}")
