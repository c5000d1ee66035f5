"""The flow collector process: NetFlow (v5, v9, IPFIX), IPFIX and sFlow listeners feeding the engine.

Each listener's socket is shared by UDP worker processes (`udp_worker`, one per core by
default) that take turns at recvmmsg and decode on every core; this process passes their
records on to the engine in the order they were received and adds up what they report.
It also keeps the union of the templates every worker learned: it hands each new one to the
listener's other workers (a template and its data may reach different workers) and saves them
under the state dir the engine gives, so a restart decodes data at once. It follows every
exporter's sequence numbers across the workers (`sequence`), so only real holes count as loss.
Once a second it sends the engine the counters (`Counters`: messages are records, sources are
exporters), the kernel drops per listener, and a DETAIL frame (`report.FlowReport`) with the
exporters' counters, the templates when they changed, and (every TOP_EVERY reports) the
busiest hosts and protocols of the minutes that changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

from collectors.common import handover
from collectors.common.channel import FrameKind
from collectors.common.frames import BoundListener, Counters, Drop, ListenerCounters, SourceCounters
from collectors.common.harness import (
    Output,
    configure_logging,
    die_with_parent,
    read_engine_settings,
    tune_gc,
    tune_malloc,
)
from collectors.common.listen import format_address
from collectors.common.udp import kernel_drops
from collectors.common.workers import WorkerPool, default_worker_count
from collectors.flow.fastpath import FAST_PATH_NOTICE
from collectors.flow.report import ExporterCounters, FlowReport, FlowSetup, TemplateInfo, WorkerReport, encode
from collectors.flow.sequence import SequenceTracker
from collectors.flow.settings import FlowSettings
from collectors.flow.stats import FlowStats
from collectors.flow.templates import TemplateCache
from collectors.flow.top import MinuteCounter
from collectors.flow.udp_worker import TEMPLATE_FILE

log = configure_logging("flow")

LISTENERS = ("netflow", "ipfix", "sflow")
REPORT_INTERVAL_S = 1.0
TOP_EVERY = 2  # reports: the minute summaries (sorting every host) go to the engine less often
SAVE_INTERVAL_S = 5.0  # templates are saved at most this often (and at exit)
FLUSH_BYTES = 256 * 1024  # one buffer segment's worth of NDJSON
FLUSH_S = 0.05
WORKER_STOP_S = 3.0  # the engine waits 5 s for the whole collector


class BindError(Exception):
    """A listener could not be set up; the message names it and says why."""


class WorkerFailed(Exception):
    """A UDP worker process died; the collector exits so the engine restarts all of it."""


@contextlib.contextmanager
def bind_errors(name: str, address: str) -> Iterator[None]:
    try:
        yield
    except (OSError, ValueError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        hint = (
            "; stop whatever holds it or choose another port" if getattr(exc, "errno", None) == errno.EADDRINUSE else ""
        )
        raise BindError(f"flow.{name} = {address!r}: cannot listen: {reason}{hint}") from None


class FlowState:
    """What the main process adds up from its workers' reports (sans-IO but for `save`)."""

    def __init__(self, settings: FlowSettings, state_dir: str) -> None:
        self.templates = TemplateCache(settings.max_templates, settings.max_templates_per_exporter)
        self.template_file = Path(state_dir) / TEMPLATE_FILE if state_dir else None
        self.stats = FlowStats()
        self.listeners: dict[str, dict[str, int]] = {}
        self.top = MinuteCounter()
        self.sequences = SequenceTracker()
        self.templates_changed = True  # the engine has not seen them yet
        self._decode_report = msgspec.json.Decoder(WorkerReport).decode

    def load(self) -> str | None:
        if self.template_file is None:
            return None
        count, problem = self.templates.load(self.template_file)
        if count:
            log.info("flow: %d templates reloaded from %s", count, self.template_file)
        return problem

    def worker_report(self, listener: str, payload: bytes, now: float) -> WorkerReport | None:
        try:
            report = self._decode_report(payload)
        except msgspec.DecodeError as exc:
            log.error("flow.%s: a worker's report is damaged (%s); its counters are lost", listener, exc)
            return None
        totals = self.listeners.setdefault(listener, {"records": 0, "bytes": 0, "errors": 0, "kernel_drops": 0})
        for counters in report.exporters.values():
            totals["records"] += counters.records
            totals["bytes"] += counters.bytes
            totals["errors"] += counters.decode_errors + counters.refused_versions
        self.stats.add({address: msgspec.structs.asdict(c) for address, c in report.exporters.items()})
        fresh = report.fresh_templates()
        if fresh is not None:
            try:
                if self.templates.adopt_bytes(fresh):
                    self.templates_changed = True
            except (msgspec.DecodeError, ValueError) as exc:
                log.error("flow: a worker's template update is damaged (%s)", exc)
        self.top.merge(report.top)
        for key, runs in report.sequences:
            self.sequences.observe(tuple(key), runs, now, self.stats.exporter(str(key[0])))
        return report

    def counters(self, active: dict[str, int]) -> Counters:
        """The engine's common counters: messages are flow records, sources are exporters."""
        return Counters(
            listeners={
                name: ListenerCounters(
                    messages=totals["records"],
                    bytes=totals["bytes"],
                    rejected=totals["errors"] + totals["kernel_drops"],
                    kernel_drops=totals["kernel_drops"],
                )
                for name, totals in self.listeners.items()
                if name in active
            },
            sources={
                address: SourceCounters(
                    messages=int(entry["records"]), bytes=int(entry["bytes"]), last_seen=float(entry["last_seen"])
                )
                for address, entry in self.stats.exporters.items()
            },
        )

    def report(self, now: float, top: bool = True) -> FlowReport:
        self.sequences.settle(now, self.stats.exporter)
        templates = None
        if self.templates_changed:
            self.templates_changed = False
            templates = msgspec.convert(self.templates.describe(), list[TemplateInfo])
        return FlowReport(
            exporters=msgspec.convert(self.stats.exporters, dict[str, ExporterCounters]),
            templates=templates,
            top=self.top.summaries() if top else [],
        )

    def save(self) -> None:
        if self.template_file is None:
            return
        try:
            self.templates.save_if_changed(self.template_file)
        except OSError as exc:
            log.error(
                "flow: cannot save templates to %s (%s); a restart will wait for exporters to resend them",
                self.template_file,
                exc.strerror,
            )


class UdpListener:
    """One bound flow socket, its worker processes, and their records on the way to the engine."""

    def __init__(
        self,
        name: str,
        sock: socket.socket,
        setup: FlowSetup,
        state: FlowState,
        out: Output,
        on_failure: Callable[[], None],
        on_templates: Callable[[UdpListener, bytes, int], None],
        drops_seen: int | None = None,
    ) -> None:
        self.sock = sock
        self.name = name
        self.address = format_address(*sock.getsockname()[:2])
        self.draining = False  # replaced by a port change: served a little longer, then closed
        self._state = state
        self._out = out
        self._on_templates = on_templates
        # An inherited socket says what was reported on it before (a restart): drops since count.
        self._drops_seen = drops_seen if drops_seen is not None else kernel_drops(self.sock) or 0
        self._pending = bytearray()
        self._received = 0  # the bytes the records in `_pending` took on the wire
        self._flush_timer: asyncio.TimerHandle | None = None
        state.listeners.setdefault(name, {"records": 0, "bytes": 0, "errors": 0, "kernel_drops": 0})
        self.workers = WorkerPool(
            "collectors.flow.udp_worker",
            self.sock,
            name,
            setup,
            setup.flow.udp_workers or default_worker_count(),
            self._on_records,
            self._on_frame,
            on_failure,
        )

    def _on_records(self, ndjson: memoryview, received: int) -> None:
        self._pending += ndjson
        self._received += received
        if len(self._pending) >= FLUSH_BYTES:
            self.flush()
        elif self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._out.ndjson(self._pending, self._received)
        self._pending.clear()
        self._received = 0

    def _on_frame(self, kind: FrameKind, payload: bytes) -> None:
        if kind == FrameKind.DETAIL:
            report = self._state.worker_report(self.name, payload, time.time())
            fresh = report.fresh_templates() if report is not None else None
            if report is not None and fresh is not None:
                self._on_templates(self, fresh, report.pid)
        else:  # drops and log lines go to the engine as the worker wrote them
            self._out.write(kind, payload)

    def kernel_drops(self, now: float) -> list[Drop]:
        drops = kernel_drops(self.sock)
        if drops is None or drops <= self._drops_seen:
            return []
        delta, self._drops_seen = drops - self._drops_seen, drops
        self._state.listeners[self.name]["kernel_drops"] += delta
        return [
            Drop(source=None, reason="kernel_drop", detail="kernel_drop", records=delta, bytes=0, first=now, last=now)
        ]


class FlowCollector:
    """The listeners of one flow collector process, and the port changes the engine asks for."""

    def __init__(self, setup: FlowSetup, state: FlowState, out: Output) -> None:
        self.setup = setup
        self.state = state
        self.out = out
        self.stop = asyncio.Event()
        self.udp: list[UdpListener] = []
        self.changes = handover.PortChanges("flow", self.replace)
        self._reports = 0

    def listener(self, name: str, sock: socket.socket, drops_seen: int | None) -> UdpListener:
        return UdpListener(name, sock, self.setup, self.state, self.out, self.stop.set, self._templates, drops_seen)

    def _templates(self, source: UdpListener, fresh: bytes, pid: int) -> None:
        """What one worker learned goes to its siblings, and to the workers of the socket that
        replaces (or is replaced by) its own during a port change: an exporter sends to either."""
        for listener in self.udp:
            if listener.name == source.name:
                listener.workers.broadcast(FrameKind.DETAIL, fresh, exclude_pid=pid)

    def bound(self) -> list[BoundListener]:
        return [BoundListener(listener=u.name, proto="udp", address=u.address) for u in self.udp if not u.draining]

    def start(self) -> None:
        flow = self.setup.flow
        for name in LISTENERS:
            address = getattr(flow, name)
            if address:
                with bind_errors(name, address):
                    sock, drops_seen = handover.own_socket(name, "udp", address, flow.receive_buffer_bytes)
                self.udp.append(self.listener(name, sock, drops_seen))
        for listener in self.udp:
            listener.workers.start()
        self.out.ready(self.bound())

    async def replace(self, name: str, sock: socket.socket) -> handover.Served:
        """Serve `sock` for the listener (a port change); the old socket is retired later."""
        old = next((u for u in self.udp if u.name == name and not u.draining), None)
        if old is None:
            raise LookupError(f"flow.{name} is not running")
        self.state.save()  # the new workers load what is known so far
        new = self.listener(name, sock, None)
        new.workers.start()
        self.udp.append(new)
        old.draining = True
        self.out.ready(self.bound())

        async def retire() -> None:
            # The workers read what the kernel still holds before they exit; then it closes.
            await old.workers.stop(WORKER_STOP_S)
            old.flush()
            self.out.drops(old.kernel_drops(time.time()))
            self.udp.remove(old)
            old.sock.close()
            if old.workers.failure and not new.workers.failure:
                log.warning("flow.%s: the old socket's workers: %s", name, old.workers.failure)

        return new.address, retire

    def report(self, now: float, final: bool = False) -> None:
        self._reports += 1
        drops: list[Drop] = []
        for listener in self.udp:
            drops += listener.kernel_drops(now)
        active = {u.name: 1 for u in self.udp}
        out = self.out
        out.counters(self.state.counters(active))
        out.write(FrameKind.DETAIL, encode(self.state.report(now, top=final or self._reports % TOP_EVERY == 0)))
        out.drops(drops)

    async def finish(self) -> None:
        self.changes.cancel()
        # The workers send what they received, and what the kernel still held, before exiting.
        await asyncio.gather(*(listener.workers.stop(WORKER_STOP_S) for listener in self.udp))
        for listener in self.udp:
            listener.flush()
        self.report(time.time(), final=True)
        self.state.save()


async def serve(setup: FlowSetup, out: Output) -> None:
    state = FlowState(setup.flow, setup.state_dir)
    if setup.state_dir:
        with contextlib.suppress(OSError):
            os.makedirs(setup.state_dir, mode=0o700, exist_ok=True)
    problem = state.load()
    if problem:
        out.log("warning", problem)
    collector = FlowCollector(setup, state, out)
    collector.start()
    control = handover.control_channel()
    if control is not None:
        collector.changes.listen(control)
    stop = collector.stop
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tune_gc()
    next_save = time.monotonic() + SAVE_INTERVAL_S
    try:
        while not stop.is_set() and not out.broken:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REPORT_INTERVAL_S)
            collector.report(time.time())
            if time.monotonic() >= next_save:
                next_save = time.monotonic() + SAVE_INTERVAL_S
                state.save()
    finally:
        await collector.finish()
    for listener in collector.udp:
        if listener.workers.failure:
            raise WorkerFailed(f"flow.{listener.name}: {listener.workers.failure}; restarting the collector")


def main() -> None:
    die_with_parent()
    tune_malloc()
    setup = read_engine_settings(FlowSetup)
    out = Output()
    if FAST_PATH_NOTICE is not None:
        out.log("warning", FAST_PATH_NOTICE)
    try:
        asyncio.run(serve(setup, out))
    except (BindError, WorkerFailed) as exc:
        # One clear line for the engine's log and status; the engine retries with backoff.
        out.log("error", str(exc))
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
