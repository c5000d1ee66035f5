"""The buffer's engine part: opens the store, seals on a timer, serves /v1/buffer/*, flushes on stop.

Collectors reach it through `ctx.buffer` (`nocraven.buffer.access`). Appends are cheap and
happen on the event loop; sealing (compression and the SQLite commit) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping

import msgspec
from aiohttp import web

from nocraven.api.params import bool_param, choice_param, int_param, json_body, rfc3339, time_param
from nocraven.api.roles import Peer, Role
from nocraven.api.routes import Result, Route
from nocraven.api.wire import NDJSON, dumps_line
from nocraven.buffer import results
from nocraven.buffer.access import Follower
from nocraven.buffer.filter import RecordFilter
from nocraven.buffer.limits import BufferLimits, ServiceLimits
from nocraven.buffer.pacing import GroupCommit, RepackPacer
from nocraven.buffer.settings import BufferSettings
from nocraven.buffer.store import SegmentStore
from nocraven.config import SERVICES
from nocraven.engine.component import Component, EngineContext
from nocraven.errors import ApiError, ErrorCode
from nocraven.schema import buffer as wire
from nocraven.schema.events import CountersUpdated

log = logging.getLogger("nocraven.buffer")

SEAL_EVERY_S = 0.2
COUNTERS_EVERY_S = 1.0
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
        compact_after_s=config.compact_after_s if config.compact else None,
    )


def _drops(dropped: Mapping[str, results.DropCount]) -> dict[str, wire.DropCount]:
    return {reason: wire.DropCount(records=c.records, bytes=c.bytes) for reason, c in dropped.items()}


def stats_to_wire(stats: results.BufferStats) -> wire.BufferStats:
    services = {
        name: wire.ServiceStats(
            records=s.records,
            raw_bytes=s.raw_bytes,
            stored_bytes=s.stored_bytes,
            segments=s.segments,
            oldest=rfc3339(s.oldest),
            newest=rfc3339(s.newest),
            unsealed_records=s.unsealed_records,
            dropped_records=s.dropped_records,
            dropped_bytes=sum(c.bytes for c in s.dropped.values()),
            dropped_by_reason=_drops(s.dropped),
            quota_bytes=s.quota_bytes,
            fair_share_bytes=s.fair_share_bytes,
            ingest_records_per_s=round(s.ingest_records_per_s, 1),
            forecast_days=s.forecast_days,
            received_bytes=s.received_bytes,
            ingest_stored_bytes_per_s=round(s.ingest_stored_bytes_per_s, 1),
        )
        for name, s in stats.services.items()
    }
    budget = stats.effective_budget_bytes or stats.budget_bytes
    total = wire.TotalStats(
        records=stats.records,
        raw_bytes=stats.raw_bytes,
        stored_bytes=stats.stored_bytes,
        segments=stats.segments,
        unsealed_records=stats.unsealed_records,
        budget_bytes=stats.budget_bytes,
        effective_budget_bytes=stats.effective_budget_bytes,
        fill_percent=round(100.0 * stats.stored_bytes / budget, 2) if budget else 0.0,
        disk_free_bytes=stats.disk_free_bytes,
        disk_limited=stats.disk_limited,
        storage_failing=stats.storage_failing,
        quarantined_segments=stats.quarantined_segments,
        compression_ratio=stats.compression_ratio,
        ingest_records_per_s=round(stats.ingest_records_per_s, 1),
        dropped_by_reason=_drops(stats.dropped),
        received_bytes=stats.received_bytes,
        ingest_stored_bytes_per_s=round(stats.ingest_stored_bytes_per_s, 1),
    )
    return wire.BufferStats(services=services, total=total, forecast_days=stats.forecast_days)


class BufferComponent(Component):
    name = "buffer"

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.access = ctx.buffer
        self._last_stats: wire.BufferStats | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self, ready: Callable[[], None]) -> None:
        data_dir = self.ctx.config.engine.data_dir
        limits = limits_from_config(self.ctx.config.buffer)
        store = await asyncio.to_thread(SegmentStore.open, data_dir, limits, time.time())
        sinks = self.ctx.config.forward.sinks
        store.await_deliveries(
            {service: [s.name for s in sinks if not s.services or service in s.services] for service in SERVICES}
        )
        self.access.attach(store)
        ready()
        stop_sealing = threading.Event()
        sealer = threading.Thread(target=self._seal_worker, args=(store, stop_sealing), name="buffer-sealer")
        sealer.start()
        try:
            while True:
                self._last_stats = stats_to_wire(await asyncio.to_thread(store.stats, time.time()))
                self.ctx.bus.publish(CountersUpdated.of(self.name, self._counters()))
                await asyncio.sleep(COUNTERS_EVERY_S)
        finally:
            # Stop taking records, then seal what is in memory: a clean stop loses nothing.
            self.access.detach()
            stop_sealing.set()
            await asyncio.to_thread(sealer.join)
            sealed = await asyncio.to_thread(store.seal_all, time.time())
            await asyncio.to_thread(store.close)
            log.info("buffer flushed %d segment(s) and closed", len(sealed))

    @staticmethod
    def _seal_worker(store: SegmentStore, stop: threading.Event) -> None:
        """Seal when segments fill (grouped, pacing.GroupCommit), and at least every SEAL_EVERY_S
        for the age rule; while records arrive slowly, repack cold segments between seals."""
        pacer, group = RepackPacer(), GroupCommit()
        while not stop.is_set():
            store.wait_for_full_segment(pacer.wait_s(time.monotonic(), SEAL_EVERY_S))
            if stop.wait(group.hold_s(time.monotonic())):
                break  # the component seals everything as it stops
            group.sealed(time.monotonic())
            try:
                sealed = store.seal_due(time.time())
            except Exception:  # a bug must not silently stop sealing: log it and keep going
                log.exception("sealing failed")
                stop.wait(1.0)
                continue
            began = time.monotonic()
            pacer.sealed(sum(segment.raw_bytes for segment in sealed), began)
            if not pacer.may_repack(began):
                continue
            try:
                repacked = store.compact_cold(time.time())
            except Exception:  # the segment stays as it was; sealing goes on
                log.exception("repacking a cold segment failed")
                repacked = None
            pacer.repacked(began, time.monotonic() - began, repacked is not None)

    def _counters(self) -> wire.BufferCounters:
        stats = self._last_stats
        if stats is None:
            return wire.BufferCounters()
        total = stats.total
        return wire.BufferCounters(
            records=total.records,
            raw_bytes=total.raw_bytes,
            stored_bytes=total.stored_bytes,
            received_bytes=total.received_bytes,
            fill_percent=total.fill_percent,
            forecast_days=stats.forecast_days,
            dropped_records=sum(d.records for d in total.dropped_by_reason.values()),
            storage_failing=total.storage_failing,
        )

    def status(self) -> wire.BufferCounters:
        store = self.access.store
        if store is None:
            return wire.BufferCounters()
        return msgspec.structs.replace(self._counters(), path=str(store.path))

    # ---- API -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/buffer/stats", self._get_stats),
            Route("GET", "/v1/buffer/tail", self._get_tail),
            Route("GET", "/v1/buffer/export", self._get_export),
            Route("GET", "/v1/buffer/ledger", self._get_ledger),
            Route("POST", "/v1/buffer/purge", self._post_purge, Role.ADMIN),
        ]

    async def _get_stats(self, request: web.Request, peer: Peer) -> Result:
        store = self.access.require_store()
        return stats_to_wire(await asyncio.to_thread(store.stats, time.time()))

    async def _get_tail(self, request: web.Request, peer: Peer) -> Result:
        store = self.access.require_store()
        service = choice_param(request, "service", SERVICES)
        limit = int_param(request, "limit", 20, 1, 10_000)
        follow = bool_param(request, "follow")
        match = RecordFilter(source=request.query.get("source") or None, text=request.query.get("grep") or None)
        follower = Follower(service, match) if follow else None
        if follower is not None:
            self.access.followers.add(follower)  # before the tail is read: nothing falls between
        response = web.StreamResponse(headers={"Content-Type": NDJSON})
        try:
            lines = await asyncio.to_thread(store.tail, service, limit, match if match.active else None)
            await response.prepare(request)
            await response.write(b"".join(line + b"\n" for line in lines))
            while follower is not None:
                await follower.wake.wait()
                follower.wake.clear()
                if follower.overflowed:
                    notice = ApiError(ErrorCode.TOO_SLOW, "reader fell behind; tail again").envelope()
                    await response.write(dumps_line(notice))
                    break
                batch, follower.lines = follower.lines, []
                await response.write(b"".join(line + b"\n" for line in batch))
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            if follower is not None:
                self.access.followers.discard(follower)
        return response

    async def _get_export(self, request: web.Request, peer: Peer) -> Result:
        store = self.access.require_store()
        service = choice_param(request, "service", SERVICES, required=True)
        assert service is not None
        since = time_param(request, "since")
        until = time_param(request, "until")
        records = await asyncio.to_thread(store.export, service, since, until)
        response = web.StreamResponse(headers={"Content-Type": NDJSON})
        await response.prepare(request)
        while chunk := await asyncio.to_thread(_take, records, EXPORT_CHUNK):
            await response.write(b"".join(line + b"\n" for line in chunk))
        return response

    async def _get_ledger(self, request: web.Request, peer: Peer) -> Result:
        store = self.access.require_store()
        since_id = int_param(request, "since_id", 0, 0, 1 << 62) or None
        limit = int_param(request, "limit", 100, 1, 10_000)
        service = choice_param(request, "service", SERVICES)
        entries = await asyncio.to_thread(store.ledger, since_id, limit, service)
        return wire.Ledger(
            entries=[
                wire.LedgerEntry(
                    id=e.id,
                    recorded_at=rfc3339(e.recorded_at),
                    service=e.drop.service,
                    source=e.drop.source,
                    reason=e.drop.reason.value,
                    records=e.drop.records,
                    bytes=e.drop.bytes,
                    first=rfc3339(e.drop.first_time),
                    last=rfc3339(e.drop.last_time),
                )
                for e in entries
            ]
        )

    async def _post_purge(self, request: web.Request, peer: Peer) -> Result:
        store = self.access.require_store()
        body = await json_body(request, wire.PurgeRequest)
        if body.service not in SERVICES:
            raise ApiError(ErrorCode.BAD_REQUEST, f"service must be one of {', '.join(SERVICES)}, not {body.service!r}")
        result = await asyncio.to_thread(store.purge, body.service, time.time())
        log.warning("buffer purged for %s by %s: %d records", body.service, peer.who, result.records)
        return wire.Purged(service=result.service, records=result.records, bytes=result.bytes)


def _take(records: Iterator[bytes], count: int) -> list[bytes]:
    out = []
    for record in records:
        out.append(record)
        if len(out) >= count:
            break
    return out
