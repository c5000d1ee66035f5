"""The forwarder: one asyncio loop per sink, moving sealed records from the buffer to the sink.

The loop only moves data and reports what happened; the decisions live in the sans-IO cores:
`health.SinkHealth` (may it send, which state), `lanes.Lane` (which seqs next, where the cursor
is), `schedule.pick` (live first, backlog fair and capped), `batching` (deterministic batches)
and `gaps` (ledger rows as gap events). Store calls that may touch the disk run in a thread.

State changes and quarantined batches are reported through `on_event` (the engine turns them
into watch events); `status()` gives one `SinkStatus` per sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zstandard

from nocraven.buffer.segment import SegmentMeta
from nocraven.buffer.store import SegmentStore
from nocraven.forward.batching import (
    Batch,
    Encoder,
    NdjsonRecords,
    SeqRange,
    WireDictionary,
    make_batch,
    make_whole_batch,
    ndjson,
    plan,
    split_by_bytes,
)
from nocraven.forward.gaps import GAP_SERVICE, gap_batches
from nocraven.forward.health import Backoff, Decision, SinkHealth, SinkState
from nocraven.forward.lanes import Kind, Lane
from nocraven.forward.schedule import DrainMeter, Rotation, TokenBucket, pick, progress
from nocraven.forward.settings import ForwardSettings, SinkSettings
from nocraven.forward.sinks import Delivered, Rejected, Retry, Sink, SinkUnavailable, open_sink
from nocraven.schema.forward import SinkStatus

log = logging.getLogger(__name__)

_PLAN_SEGMENTS = 32  # segment rows read per planning step (metadata only)
_LEDGER_POLL_S = 1.0
_LEDGER_ROWS = 200
# Batches read and encoded at once, each in its own worker thread: zstd, crc32 and SQLite let go
# of the GIL, so on two cores one batch compresses while the next is read and decompressed.
_BUILDERS = 2


@dataclass(frozen=True, slots=True)
class SinkStateChanged:
    sink: str
    state: SinkState
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class BatchQuarantined:
    sink: str
    message_id: str
    service: str
    records: int
    reason: str
    at: float


ForwardEvent = SinkStateChanged | BatchQuarantined
EventCallback = Callable[[ForwardEvent], None]


class SinkRunner:
    """The loop of one sink (see module doc)."""

    def __init__(
        self,
        store: SegmentStore,
        settings: SinkSettings,
        site: str,
        services: tuple[str, ...],
        sink: Sink,
        on_event: EventCallback | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        poll_s: float = 0.05,
        quarantine_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.site = site
        self.services = settings.forwarded(services)
        self.sink = sink
        self.on_event = on_event
        self.clock = clock
        self.poll_s = poll_s
        self.quarantine_dir = quarantine_dir
        now = clock()
        self.health = SinkHealth(settings.requires_vpn, rng, backoff or Backoff(cap_s=settings.retry_max_s))
        self.bucket = TokenBucket(float(settings.max_bytes_per_s), now)
        self.meter = DrainMeter()
        self.lanes = {service: Lane(service, store.cursor(settings.name, service)) for service in self.services}
        self._live_turn = Rotation(self.services)
        self._backlog_turn = Rotation(self.services)
        self._tasks: set[asyncio.Task[None]] = set()
        self._ack_due: dict[str, int] = {}
        self._ack_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._drop_connection = False  # the tunnel under the connection went away
        self._was_open = False
        self._decision: Decision | None = None
        self._gap_task: asyncio.Task[None] | None = None
        self._gap_checked = 0.0
        self.last_delivery: float | None = None
        self.delivered_records = 0
        self.duplicate_batches = 0
        self.quarantined_batches = 0
        self.gap_events = 0
        self._wire_dictionaries: dict[int, WireDictionary] = {}  # by the buffer's dictionary id

    # ------------------------------------------------------------------------------- control

    def pause(self) -> None:
        self.health.pause()
        self._wake.set()

    def resume(self) -> None:
        self.health.resume()
        self._wake.set()

    def set_vpn(self, up: bool) -> None:
        if self.health.vpn(up):
            self._drop_connection = True
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    # ---------------------------------------------------------------------------------- loop

    async def run(self) -> None:
        try:
            while not self._stopping:
                if self._drop_connection:
                    await self._reconnect_later()
                now = self.clock()
                if self.health.may_connect(now):
                    await self._connect(now)
                    continue
                path_open = self.health.path_open()
                if path_open and not self._was_open:
                    self._rearm()
                    self._report(now)
                self._was_open = path_open
                if path_open and self.health.may_send(now):
                    await self._fill(now)
                    self._maybe_gaps(now)
                self._start_ack_flush()
                self._report(now)
                await self._sleep(now)
        finally:
            await self._shutdown()

    async def _connect(self, now: float) -> None:
        try:
            await self.sink.connect()
        except SinkUnavailable as exc:
            self.health.connect_failed(str(exc), self.clock())
            self._report(self.clock())
            return
        except Exception as exc:  # a sink bug must not end the loop: log it, retry with backoff
            log.exception("sink %s: connecting failed", self.settings.name)
            self.health.connect_failed(f"{self.settings.name}: {type(exc).__name__}: {exc}", self.clock())
            self._report(self.clock())
            return
        self.health.connected_ok()
        log.info("sink %s connected", self.settings.name)

    async def _reconnect_later(self) -> None:
        """The tunnel went down: give up batches in flight on the old connection (they are sent
        again on the new one; their message ids let the NOC drop any that did arrive) and close
        it, so the next connect goes through the next tunnel."""
        self._drop_connection = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.sink.close()
        log.info("sink %s: the VPN tunnel went down; its connection is closed and made again", self.settings.name)

    def _rearm(self) -> None:
        """The path is open again: all that piled up is backlog; new seals go out live."""
        for lane in self.lanes.values():
            lane.rearm(self.store.sealed_seq(lane.service))

    async def _sleep(self, now: float) -> None:
        """Until a delivery completes, a control call, the next retry, or the next poll for seals."""
        timeout = self.poll_s
        wake_at = self.health.wake_at()
        if wake_at is not None and wake_at > now:
            timeout = min(wake_at - now, 1.0)
        bucket_wait = self.bucket.wait_s(now)
        if bucket_wait > 0:
            timeout = min(timeout, max(bucket_wait, 0.005))
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(timeout, 0.001))

    async def _shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._gap_task is not None:
            self._gap_task.cancel()
        await asyncio.gather(*self._tasks, *([self._gap_task] if self._gap_task else []), return_exceptions=True)
        if self._ack_task is not None:
            await asyncio.gather(self._ack_task, return_exceptions=True)
        await self._flush_acks()
        await self.sink.close()

    # ------------------------------------------------------------------------------ sending

    def _planned(self, lane: Lane, kind: Kind) -> bool:
        """Make sure the stream has a range queued if there is one to send; read metadata only."""
        stream = lane.stream(kind)
        if stream is None:
            return False
        for _ in range(64):  # bounded: each step plans up to _PLAN_SEGMENTS segments
            if stream.queue:
                return True
            sealed = self.store.sealed_seq(lane.service)
            wanted = lane.wants_plan(kind, sealed)
            if wanted is None:
                return False
            position, until = wanted
            segments = self.store.segments_after(lane.service, position, _PLAN_SEGMENTS)
            planned = plan(position, segments, until, self.settings.batch_records, len(segments) < _PLAN_SEGMENTS)
            if planned.position == position and not planned.batches:
                return False
            lane.take_plan(kind, planned)
            self._note_acked(lane)
            stream = lane.stream(kind)
            if stream is None:
                return False
        return bool(stream and stream.queue)

    def _ready(self, kind: Kind) -> list[str]:
        ready = []
        for service, lane in self.lanes.items():
            if (kind is Kind.LIVE and lane.has_retry()) or self._planned(lane, kind):
                ready.append(service)
        return ready

    async def _fill(self, now: float) -> None:
        # At most a window's worth per call: the loop then persists acks and reports state.
        for _ in range(self.settings.in_flight):
            free = self.settings.in_flight - len(self._tasks)
            if free <= 0 or self._stopping:
                return
            if not self.health.may_send(self.clock()):
                return
            # With a drain cap, one at a time: the bucket is charged with each batch's bytes
            # once it is built, and the next pick must see that charge.
            builders = 1 if self.settings.max_bytes_per_s else _BUILDERS
            picked: list[tuple[Lane, Kind, SeqRange]] = []
            exhausted = False
            while len(picked) < min(free, builders):
                choice = pick(
                    self._live_turn,
                    self._backlog_turn,
                    self._ready(Kind.LIVE),
                    self._ready(Kind.BACKLOG),
                    self.bucket,
                    now,
                )
                if choice is None:
                    exhausted = True
                    break
                service, kind = choice
                lane = self.lanes[service]
                seqs = lane.next(kind)
                if seqs is None:
                    break
                picked.append((lane, kind, seqs))
            if not picked:
                if exhausted:
                    return
                continue
            built = await asyncio.gather(
                *(asyncio.to_thread(self._build, lane.service, seqs) for lane, _, seqs in picked)
            )
            for (lane, kind, seqs), batches in zip(picked, built, strict=True):
                self._launch(lane, kind, seqs, batches, now)
            if exhausted:
                return

    def _launch(self, lane: Lane, kind: Kind, seqs: SeqRange, batches: list[Batch] | None, now: float) -> None:
        if batches is None:
            # The segment was evicted since planning: the ledger reports the loss.
            lane.sent(seqs)
            self._note_acked(lane)
            return
        lane.in_flight.discard(seqs)
        for batch in batches:
            lane.started(batch.seqs)
            if kind is Kind.BACKLOG:
                self.bucket.take(batch.raw_bytes, now)
            task = asyncio.create_task(self._deliver(lane, batch))
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _build(self, service: str, seqs: SeqRange) -> list[Batch] | None:
        """Read a planned range and cut it into batches, payloads built when the sink has an
        `encoder` (runs in a worker thread); None when the range is gone from the buffer."""
        encoder: Encoder | None = getattr(self.sink, "encoder", None)
        whole = self._whole_segment(service, seqs)
        if whole is not None and encoder is not None and encoder.stored_blobs:
            return self._stored_batch(service, whole)
        if whole is not None:
            # The usual case: the range is one sealed segment that fits a batch. Its stored
            # text is the batch's NDJSON as it is (the same batch the split below would cut).
            data = self.store.segment_ndjson(whole)
            if data is None:
                return None
            batch = make_whole_batch(self.site, service, seqs.first, data, whole.record_count)
            return [encoder.prepare(batch) if encoder is not None else batch]
        read = self.store.read(self.settings.name, service, seqs.records, seqs.first - 1)
        if read.first_seq != seqs.first or read.last_seq != seqs.last or len(read.records) != seqs.records:
            return None
        batches = []
        for first, records in split_by_bytes(read.records, seqs.first, self.settings.max_batch_bytes):
            batch = make_batch(self.site, service, first, records)
            batches.append(encoder.prepare(batch) if encoder is not None else batch)
        return batches

    def _stored_batch(self, service: str, meta: SegmentMeta) -> list[Batch] | None:
        """A whole segment sent as the buffer stored it ("zstd-dict"): its blob is the payload,
        with the dictionary it needs (None: plain zstd). Nothing is decompressed unless the
        batch is quarantined and its records must be written out."""
        stored = self.store.segment_blob(meta)
        if stored is None:
            return None
        blob, dictionary_data = stored
        dictionary = None
        if dictionary_data is not None:
            dictionary = self._wire_dictionaries.get(meta.dict_id or 0)
            if dictionary is None or dictionary.data != dictionary_data:
                dictionary = WireDictionary.of(service, dictionary_data)
                self._wire_dictionaries[meta.dict_id or 0] = dictionary

        def load() -> bytes:
            decompressor = (
                zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(dictionary_data))
                if dictionary_data is not None
                else zstandard.ZstdDecompressor()
            )
            return decompressor.decompress(blob, max_output_size=meta.raw_bytes)

        records = NdjsonRecords(None, meta.record_count, load)
        batch = Batch(self.site, service, meta.first_seq, meta.last_seq, records, meta.raw_bytes, blob, dictionary)
        return [batch]

    def _whole_segment(self, service: str, seqs: SeqRange) -> SegmentMeta | None:
        """The sealed segment that is exactly `seqs` and fits one batch, if there is one."""
        found = self.store.segments_after(service, seqs.first - 1, 1)
        if not found:
            return None
        meta = found[0]
        if meta.first_seq != seqs.first or meta.last_seq != seqs.last or meta.record_count != seqs.records:
            return None
        return meta if meta.raw_bytes <= self.settings.max_batch_bytes else None

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def _deliver(self, lane: Lane, batch: Batch) -> None:
        seqs = batch.seqs
        try:
            outcome = await self.sink.deliver(batch)
        except SinkUnavailable as exc:
            lane.failed(seqs)
            if self.health.connected:
                self.health.disconnected(str(exc), self.clock())
                await self.sink.close()
            return
        except asyncio.CancelledError:
            lane.failed(seqs)
            raise
        except Exception as exc:  # a sink bug must not stop the forwarder: count it, retry later
            log.exception("sink %s failed delivering %s", self.settings.name, batch.message_id)
            lane.failed(seqs)
            self.health.failed(f"{batch.message_id}: {type(exc).__name__}: {exc}", self.clock())
            return
        now = self.clock()
        if isinstance(outcome, Retry):
            lane.failed(seqs)
            self.health.failed(outcome.reason, now, outcome.after_s)
            return
        if isinstance(outcome, Rejected):
            await self._quarantine(batch, outcome.reason, now)
        elif isinstance(outcome, Delivered):
            self.health.delivered()
            self.delivered_records += len(batch.records)
            self.duplicate_batches += outcome.duplicate
            self.meter.add(len(batch.records), now)
            self.last_delivery = now
        lane.sent(seqs)
        self._note_acked(lane)

    def _note_acked(self, lane: Lane) -> None:
        if lane.acked > self.store.cursor(self.settings.name, lane.service):
            self._ack_due[lane.service] = lane.acked

    def _start_ack_flush(self) -> None:
        """Persist cursors in the background (each ack is an fsync): the loop keeps sending
        meanwhile, and acks due in the meantime are written together by the next flush."""
        if self._ack_task is None and self._ack_due:
            self._ack_task = asyncio.create_task(self._flush_acks())
            self._ack_task.add_done_callback(self._ack_done)

    def _ack_done(self, task: asyncio.Task[None]) -> None:
        self._ack_task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("sink %s: could not persist cursors: %s", self.settings.name, task.exception())

    async def _flush_acks(self) -> None:
        due, self._ack_due = self._ack_due, {}
        for service, acked in due.items():
            await asyncio.to_thread(self.store.ack, self.settings.name, service, acked, self.clock())

    async def _quarantine(self, batch: Batch, reason: str, now: float) -> None:
        self.quarantined_batches += 1
        log.warning("sink %s quarantined batch %s: %s", self.settings.name, batch.message_id, reason)
        if self.quarantine_dir is not None:
            await asyncio.to_thread(_write_quarantine, self.quarantine_dir / self.settings.name, batch, reason)
        if self.on_event is not None:
            self.on_event(
                BatchQuarantined(self.settings.name, batch.message_id, batch.service, len(batch.records), reason, now)
            )

    # ------------------------------------------------------------------------------ gap events

    def _maybe_gaps(self, now: float) -> None:
        if self._gap_task is not None or now - self._gap_checked < _LEDGER_POLL_S:
            return
        self._gap_checked = now
        self._gap_task = asyncio.create_task(self._send_gaps())
        self._gap_task.add_done_callback(self._gaps_done)

    def _gaps_done(self, task: asyncio.Task[None]) -> None:
        self._gap_task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("sink %s: gap events failed: %s", self.settings.name, task.exception())

    async def _send_gaps(self) -> None:
        name = self.settings.name
        since = self.store.ledger_cursor(name)
        entries = await asyncio.to_thread(self.store.ledger, since, _LEDGER_ROWS)
        batches, last_id = gap_batches(self.site, entries, self.services)
        for batch in batches:
            try:
                outcome = await self.sink.deliver(batch)
            except SinkUnavailable:
                return  # the data path notices too and reconnects
            if isinstance(outcome, Retry):
                return
            if isinstance(outcome, Rejected):
                await self._quarantine(batch, outcome.reason, self.clock())
            else:
                self.gap_events += 1
            await asyncio.to_thread(self.store.ack_ledger, name, batch.last_seq, self.clock())
        if last_id:
            await asyncio.to_thread(self.store.ack_ledger, name, last_id, self.clock())
            if len(entries) == _LEDGER_ROWS:
                self._gap_checked = 0.0  # more rows wait: look again at once

    # -------------------------------------------------------------------------------- status

    def _backlog(self) -> bool:
        return any(lane.draining() for lane in self.lanes.values())

    def _report(self, now: float) -> None:
        decision = self.health.decide(self._backlog())
        if decision == self._decision:
            return
        self._decision = decision
        log.info(
            "sink %s: %s%s", self.settings.name, decision.state, f" ({decision.reason})" if decision.reason else ""
        )
        if self.on_event is not None:
            self.on_event(SinkStateChanged(self.settings.name, decision.state, decision.reason, now))

    def status(self, now: float | None = None) -> SinkStatus:
        now = self.clock() if now is None else now
        records = size = 0
        oldest: float | None = None
        for service, lane in self.lanes.items():
            if not lane.pending_records(self.store.sealed_seq(service)):
                continue
            held = self.store.held(service, lane.acked)
            # Ranges delivered out of order (live first) above the cursor are not backlog.
            delivered = sum(
                self.store.held(service, low - 1, high).records for low, high in lane.delivered.ranges_above()
            )
            pending = max(0, held.records - delivered)
            if not pending or held.oldest_received is None:
                continue
            records += pending
            size += int(held.raw_bytes * pending / held.records)
            oldest = held.oldest_received if oldest is None else min(oldest, held.oldest_received)
        rate = self.meter.rate(now)
        shown = progress(records, size, oldest, rate, now)
        decision = self.health.decide(self._backlog())
        return SinkStatus(
            name=self.settings.name,
            type=self.settings.type,
            state=decision.state.value,
            reason=decision.reason,
            backlog_records=shown.backlog_records,
            backlog_bytes=shown.backlog_bytes,
            oldest_age_s=shown.oldest_age_s,
            rate_rps=round(shown.rate_rps, 1),
            eta_s=shown.eta_s,
            last_delivery=self.last_delivery,
            last_error=self.health.error,
            delivered_records=self.delivered_records,
            duplicate_batches=self.duplicate_batches,
            quarantined_batches=self.quarantined_batches,
            gap_events=self.gap_events,
        )


def _write_quarantine(directory: Path, batch: Batch, reason: str) -> None:
    """Keep a refused batch for a person to look at: its records and why."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{batch.message_id}.ndjson").write_bytes(ndjson(batch.records))
    (directory / f"{batch.message_id}.reason").write_text(reason + "\n")


class Forwarder:
    """Every configured sink's loop, started and stopped together; the engine's Component wraps
    this (start/stop, pause/resume/status for the API, `set_vpn` from the VPN component)."""

    def __init__(
        self,
        store: SegmentStore,
        settings: ForwardSettings,
        services: tuple[str, ...],
        on_event: EventCallback | None = None,
        clock: Callable[[], float] = time.time,
        sink_factory: Callable[[SinkSettings, str], Sink] = open_sink,
        quarantine_dir: Path | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.runners = {
            sink.name: SinkRunner(
                store,
                sink,
                settings.site,
                services,
                sink_factory(sink, settings.site),
                on_event,
                clock,
                rng,
                backoff,
                quarantine_dir=quarantine_dir,
            )
            for sink in settings.sinks
        }
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(runner.run(), name=f"forward {name}") for name, runner in self.runners.items()
        ]

    async def stop(self) -> None:
        for runner in self.runners.values():
            runner.stop()
        if self._tasks:
            # A loop notices stop() between steps; one stuck connecting is cancelled.
            _, pending = await asyncio.wait(self._tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def failure(self) -> str | None:
        """Why a sink's loop ended on its own (a bug, or the store closed under it), or None
        while every loop runs: the engine's component then fails and is restarted."""
        for task in self._tasks:
            if not task.done():
                continue
            exc = None if task.cancelled() else task.exception()
            return f"{task.get_name()}: {type(exc).__name__}: {exc}" if exc else f"{task.get_name()} ended"
        return None

    def _pick(self, name: str | None) -> list[SinkRunner]:
        if name is None:
            return list(self.runners.values())
        if name not in self.runners:
            raise KeyError(f"no sink named {name!r} (configured: {', '.join(self.runners) or 'none'})")
        return [self.runners[name]]

    def pause(self, name: str | None = None) -> None:
        for runner in self._pick(name):
            runner.pause()

    def resume(self, name: str | None = None) -> None:
        for runner in self._pick(name):
            runner.resume()

    def set_vpn(self, up: bool) -> None:
        for runner in self.runners.values():
            runner.set_vpn(up)

    def status(self, now: float | None = None) -> list[SinkStatus]:
        return [runner.status(now) for runner in self.runners.values()]


__all__ = [
    "GAP_SERVICE",
    "BatchQuarantined",
    "ForwardEvent",
    "Forwarder",
    "SeqRange",
    "SinkRunner",
    "SinkStateChanged",
    "SinkStatus",
]
