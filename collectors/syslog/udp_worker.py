"""A UDP worker process: takes its turn at the syslog UDP socket it shares with its siblings,
parses what it received, and sends the records and counter deltas to the collector's main
process, which stores the batches in the order they were received (`collectors.common.workers`).

Started by `collectors.syslog.service` as `python -m collectors.syslog.udp_worker` with the
socket and the turn pipe inherited and a `WorkerSetup[SyslogSettings]` as JSON on stdin;
frames go to stdout. SIGTERM: stop, take what the kernel still holds, send it and the
counters, exit.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from types import FrameType

from collectors.common.channel import FrameKind
from collectors.common.harness import Output, configure_logging, die_with_parent, read_settings, tune_gc, tune_malloc
from collectors.common.inflight import SlotWriter, open_slot
from collectors.common.udp import BatchReceiver
from collectors.common.workers import Turn, TurnSlots, WorkerSetup, batch_prefix
from collectors.syslog.pipeline import Allowlist, Pipeline, Stats
from collectors.syslog.settings import SyslogSettings

log = configure_logging("syslog.udp")

REPORT_INTERVAL_S = 0.5
RECEIVE_TIMEOUT_S = 0.1  # how long a worker holds the turn on a quiet socket, and how fast it stops
BATCH = 512
TOP_UP_BELOW = BATCH // 4
TOP_UP_WAIT_S = 0.004


class Worker:
    def __init__(
        self,
        sock: socket.socket,
        turn: Turn,
        listener: str,
        allow: Allowlist,
        out: Output,
        inflight: SlotWriter | None = None,
    ) -> None:
        self._receiver = BatchReceiver(sock, batch=BATCH, timeout_s=RECEIVE_TIMEOUT_S, headers=turn.headers())
        self._turn = turn
        self._listener = listener
        self._stats = Stats()
        self._pipeline = Pipeline(self._stats, allow)
        self._out = out
        self._inflight = inflight
        self._parent = os.getppid()
        self.stopping = False

    def orphaned(self) -> bool:
        """The collector died (kill -9): what this worker took now could not be delivered, so it
        takes nothing more; the socket is the engine's, and its queue waits for the next collector."""
        return os.getppid() != self._parent

    def run(self) -> None:
        next_report = time.monotonic() + REPORT_INTERVAL_S
        while not self.stopping and not self._out.broken:
            self._take_batch(wait=True)
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + REPORT_INTERVAL_S
                self._report()
        # What the kernel already accepted counts as received: take it before going.
        while not self._out.broken and not self.orphaned() and self._take_batch(wait=False):
            pass
        self._report()

    def _take_batch(self, wait: bool) -> bool:
        """Receive a batch in turn, then parse it and send it on; False if there was none."""
        number = self._turn.take()
        if number is None:  # the main process is gone
            self.stopping = True
            return False
        if self.orphaned():
            self._turn.give(number)
            self.stopping = True
            return False
        messages: list[bytes] = []
        held = [0, 0]  # datagrams and bytes this batch holds

        def received(count: int, size: int) -> None:
            # Said the moment the kernel hands them over: if this process dies from here on,
            # the batch is accounted (before, a kill while the datagrams became Python objects
            # lost them unaccounted, the likelier on a loaded machine that preempts us there).
            held[0] += count
            held[1] += size
            self._turn.parsing(number, held[0], held[1])

        try:
            messages, senders = self._receiver.receive(wait, received)
            if wait and 0 < len(messages) < TOP_UP_BELOW:
                # A sibling is parsing; rather than take the next datagram or two alone, let a
                # batch gather (the socket buffer holds it): far fewer calls, frames and turns.
                time.sleep(TOP_UP_WAIT_S)
                more_messages, more_senders = self._receiver.receive(False, received)
                messages += more_messages
                senders += more_senders
        finally:
            self._turn.give(number + 1 if messages else number)
        if not messages:
            return False
        ndjson = self._pipeline.handle(self._listener, messages, senders, time.time())
        if self._inflight is not None:  # before the write: a crash from here on loses it, counted
            self._inflight.add(self._pipeline.accepted, self._pipeline.accepted_bytes)
        prefix = batch_prefix(number, self._pipeline.accepted_bytes)
        self._out.write(FrameKind.RECORDS, prefix, ndjson)  # batch_payload, gathered
        if self._inflight is not None and not self._out.broken:
            self._inflight.handed(self._pipeline.accepted, self._pipeline.accepted_bytes)
        self._turn.parsed()
        return True

    def _report(self) -> None:
        delta = self._stats.take()
        if delta.listeners:
            self._out.counters(delta)
        self._out.drops(self._stats.take_drops())


def main() -> None:
    die_with_parent()
    tune_malloc()
    setup = read_settings(WorkerSetup[SyslogSettings])
    sock = socket.socket(fileno=setup.fd)
    slots = TurnSlots(setup.slots, setup.slot_count) if setup.slots >= 0 else None
    turn = Turn(*setup.turn, slots=slots, index=setup.slot)
    inflight = open_slot(setup.inflight, setup.inflight_slot)
    worker = Worker(sock, turn, setup.listener, Allowlist(setup.settings.allow), Output(), inflight)

    def stop(signum: int, frame: FrameType | None) -> None:
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C reaches the main process, which stops us
    tune_gc()
    worker.run()


if __name__ == "__main__":
    main()
