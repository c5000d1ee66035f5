"""A flow UDP worker process: takes its turn at the listener's socket it shares with its
siblings, decodes what it received, and sends the records to the collector's main process,
which stores the batches in the order they were received (`collectors.common.workers`).

Templates: a template and its data may reach different workers. What a worker learns
(`TemplateCache.take_fresh`) goes to the main process at once in a `WorkerReport`; the main
process keeps it (and saves it) and passes it to the siblings' inboxes, where `FlowDecoder.adopt`
takes it in and decodes the data held for it. Those records go out with the worker's next batch.

Started by `collectors.flow.service` as `python -m collectors.flow.udp_worker` with a
`WorkerSetup[FlowSetup]` as JSON on stdin; frames go to stdout. SIGTERM: stop, take what the
kernel still holds, send it and the counters, exit.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from types import FrameType
from typing import Any

import msgspec

from collectors.common.channel import FrameKind
from collectors.common.harness import Output, configure_logging, die_with_parent, read_settings, tune_gc, tune_malloc
from collectors.common.udp import BatchReceiver
from collectors.common.workers import Inbox, Turn, WorkerSetup, batch_prefix
from collectors.flow.decoder import LISTENER_VERSIONS, FlowDecoder, decoder_for, encode_records
from collectors.flow.report import NOTHING, ExporterCounters, FlowSetup, WorkerReport, encode
from collectors.flow.sequence import SequenceLog
from collectors.flow.top import WORKER_HOSTS, MinuteCounter

log = configure_logging("flow.udp")

REPORT_INTERVAL_S = 0.5
TOP_INTERVAL_S = 2.0  # top talkers go to the main process this often: trimmed, they cost little
RECEIVE_TIMEOUT_S = 0.1  # how long a worker holds the turn on a quiet socket, and how fast it stops
BATCH = 512
TOP_UP_BELOW = BATCH // 4
TOP_UP_WAIT_S = 0.004
TEMPLATE_FILE = "templates.json"

_exporters = msgspec.convert


class Worker:
    def __init__(
        self, sock: socket.socket, turn: Turn, inbox: Inbox, listener: str, decoder: FlowDecoder, out: Output
    ) -> None:
        self._receiver = BatchReceiver(sock, batch=BATCH, timeout_s=RECEIVE_TIMEOUT_S)
        self._turn = turn
        self._inbox = inbox
        self._listener = listener
        self.decoder = decoder
        self.sequences = decoder.sequence_log = SequenceLog()
        self.top = MinuteCounter()
        self._out = out
        self._pid = os.getpid()
        self._next_top = time.monotonic() + TOP_INTERVAL_S
        self._released: list[dict[str, Any]] = []  # records of held data a sibling's template freed
        self.stopping = False

    def run(self) -> None:
        next_report = time.monotonic() + REPORT_INTERVAL_S
        while not self.stopping and not self._out.broken:
            self._read_inbox()
            if not self._take_batch(wait=True):
                self.decoder.expire(time.time())  # a quiet turn: held data may be overdue
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + REPORT_INTERVAL_S
                self._report()
        # What the kernel already accepted counts as received: take it before going.
        while not self._out.broken and self._take_batch(wait=False):
            pass
        self._next_top = 0.0
        self._report()

    def _read_inbox(self) -> None:
        for kind, payload in self._inbox.read():
            if kind == FrameKind.DETAIL:
                released = self.decoder.adopt(payload, time.time())
                if released:
                    self.top.add(released, time.time())
                    self._released += released

    def _take_batch(self, wait: bool) -> bool:
        """Receive a batch in turn, then decode it and send it on; False if there was none."""
        number = self._turn.take()
        if number is None:  # the main process is gone
            self.stopping = True
            return False
        datagrams: list[bytes] = []
        released, self._released = self._released, []
        try:
            datagrams, senders = self._receiver.receive(wait)
            if wait and 0 < len(datagrams) < TOP_UP_BELOW:
                # A sibling is decoding; rather than take the next datagram or two alone, let a
                # batch gather (the socket buffer holds it): far fewer calls, frames and turns.
                time.sleep(TOP_UP_WAIT_S)
                more_datagrams, more_senders = self._receiver.receive(wait=False)
                datagrams += more_datagrams
                senders += more_senders
        finally:
            # Released records take a batch number of their own when nothing else came.
            self._turn.give(number + 1 if datagrams or released else number)
        if not datagrams and not released:
            return False
        # Released records were counted in `top` when they were released (`_read_inbox`).
        # `received`: the bytes of the datagrams that gave records (not templates-only, not held).
        ndjson, received = self.decoder.decode_encode(datagrams, senders, time.time(), self.top)
        if released:
            ndjson = encode_records(released) + ndjson
        self._out.write(FrameKind.RECORDS, batch_prefix(number, received), ndjson)
        if self.decoder.templates.fresh:
            self._report()  # siblings may hold data for what was just learned: tell them now
        return bool(datagrams)

    def _report(self) -> None:
        fresh = self.decoder.templates.take_fresh()
        exporters = self.decoder.stats.take()
        top = []
        if time.monotonic() >= self._next_top:
            self._next_top = time.monotonic() + TOP_INTERVAL_S
            top = self.top.take(WORKER_HOSTS)
        sequences = self.sequences.take()
        if not (fresh or exporters or top or sequences):
            return
        report = WorkerReport(
            pid=self._pid,
            exporters=_exporters(exporters, dict[str, ExporterCounters]),
            templates=msgspec.Raw(fresh) if fresh else NOTHING,
            top=top,
            sequences=sequences,
        )
        self._out.write(FrameKind.DETAIL, encode(report))


def main() -> None:
    die_with_parent()
    tune_malloc()
    setup = read_settings(WorkerSetup[FlowSetup])
    sock = socket.socket(fileno=setup.fd)
    decoder = decoder_for(setup.settings.flow, LISTENER_VERSIONS[setup.listener])
    if setup.settings.state_dir:
        # What the collector knew before a restart: data decodes before the exporters resend.
        _, problem = decoder.templates.load(Path(setup.settings.state_dir) / TEMPLATE_FILE)
        if problem:
            log.warning("%s", problem)
    worker = Worker(sock, Turn(*setup.turn), Inbox(setup.inbox), setup.listener, decoder, Output())

    def stop(signum: int, frame: FrameType | None) -> None:
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C reaches the main process, which stops us
    tune_gc()
    worker.run()


if __name__ == "__main__":
    main()
