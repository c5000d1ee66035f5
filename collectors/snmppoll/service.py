"""The SNMP poller process: `[[snmp.poll]]` targets polled on their cadence, records to the engine.

It runs as a collector child (`python -m collectors.snmppoll.service`): the engine writes a
`PollSetup`, the poller sends each poll's record (service `poll`) in RECORDS frames, its
per-target status in DETAIL frames (`PollReport`) every few seconds and whenever a poll ends,
and a COUNTERS frame so the engine's common collector figures count polls as messages.
It binds no listening socket (pysnmp's client socket is ephemeral), so its READY lists none.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import msgspec

from collectors.common.durable import Durability, read_engine_frames
from collectors.common.frames import Counters, ListenerCounters, SourceCounters
from collectors.common.harness import Output, configure_logging, die_with_parent, read_engine_settings
from collectors.snmppoll.report import PollReport, PollSetup

if TYPE_CHECKING:
    from collectors.snmppoll.poller import Poller

log = configure_logging("collectors.snmppoll")
REPORT_INTERVAL_S = 2.0


class PollService:
    def __init__(self, setup: PollSetup, out: Output, started: float) -> None:
        self.setup = setup
        self.out = out
        self.started = started
        self.problems: list[str] = []
        self._encode = msgspec.json.Encoder()
        self._bytes = 0
        self._last_report = b""
        self._changed = asyncio.Event()
        self.poller: Poller | None = None  # made once the MIBs are loaded

    def emit(self, record: dict[str, Any]) -> None:
        line = self._encode.encode(record)
        self._bytes += len(line)
        # One poll, one record: sent as it is made. No received bytes: pysnmp does not say how
        # large the response PDUs were, so the poll service reports 0 received.
        self.out.ndjson(line + b"\n")
        self._changed.set()

    async def run(self, stop: asyncio.Event) -> None:
        from collectors.snmppoll.poller import Poller
        from collectors.snmppoll.targets import mib_modules, resolve_targets
        from collectors.snmptrap.mibs import MibResolver

        settings = self.setup.settings
        # Loading the MIBs takes seconds: off the loop thread, so the stop signal is still heard.
        resolver = await asyncio.to_thread(MibResolver, mib_modules(settings.poll))
        self.problems += resolver.problems
        states, problems = resolve_targets(settings.poll, resolver.oid)
        self.problems += problems
        for problem in self.problems:
            self.out.log("warning", problem)
        self.poller = Poller(
            states,
            {user.name: user for user in self.setup.users},
            self.emit,
            resolver.name,
            settings.concurrency,
            settings.max_rows,
        )
        self.report()
        polling = asyncio.create_task(self.poller.run())
        reporting = asyncio.create_task(self._report_loop())
        try:
            await stop.wait()
        finally:
            for task in (polling, reporting):
                task.cancel()
            for task in (polling, reporting):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.report()

    async def _report_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), REPORT_INTERVAL_S)
            self._changed.clear()
            self.report()
            await asyncio.sleep(0.2)  # a burst of polls ending together makes one report

    def report(self) -> None:
        poller = self.poller
        statuses = [state.status() for state in poller.states] if poller else []
        report = PollReport(
            started=self.started,
            concurrency=self.setup.settings.concurrency,
            targets=statuses,
            problems=self.problems,
        )
        encoded = msgspec.json.encode(report)
        if encoded == self._last_report:
            return
        self._last_report = encoded
        self.out.detail(report)
        records = sum(s.records for s in statuses)
        sources = {
            s.host: SourceCounters(messages=s.records, rejected=s.failures, last_seen=s.last_success or 0.0)
            for s in statuses
        }
        listener = ListenerCounters(messages=records, bytes=self._bytes, rejected=sum(s.failures for s in statuses))
        self.out.counters(Counters(listeners={"poll": listener}, sources=sources))


def main() -> None:
    die_with_parent()
    setup = read_engine_settings(PollSetup)
    out = Output()
    started = time.time()
    stopped = threading.Event()
    read_engine_frames(0, Durability(out.write), on_end=stopped.set)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

        def watch_engine() -> None:  # the engine closed our stdin: it is gone or stopping us
            stopped.wait()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_engine, daemon=True).start()
        out.ready([])
        if not setup.settings.poll:
            out.detail(PollReport(started=started))
            await stop.wait()
            return
        await PollService(setup, out, started).run(stop)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
