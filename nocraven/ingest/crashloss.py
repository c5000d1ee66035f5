"""What a collector's death cost, from its counter block (`collectors.common.inflight`).

Sans-IO: the block's totals and what the engine was handed in, the loss out. The block counts
every message the collector's processes accepted, the engine counts every record it was
handed; the difference died in the collector's memory (a worker's batch, a coalescing buffer,
a pipe between its processes). Stream connections open at a crash were reset with it: what
their senders had in flight is gone, and only they know how much.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from collectors.common.inflight import InflightTotals

# How long the engine waits for a dead collector's workers to stop (they get SIGTERM when it
# dies, finish the batch in hand and count it) before it reads the block.
WORKERS_GONE_S = 2.0


@dataclass(frozen=True)
class CrashLoss:
    messages: int
    bytes: int
    connections: int


def crash_loss(totals: InflightTotals, handed_messages: int, handed_bytes: int, crashed: bool) -> CrashLoss:
    """Accepted but never handed over; connections count only when the collector did not stop
    cleanly (a clean stop closes them itself, after reading what they sent)."""
    return CrashLoss(
        messages=max(0, totals.messages - handed_messages),
        bytes=max(0, totals.bytes - handed_bytes),
        connections=max(0, totals.connections) if crashed else 0,
    )


def exit_description(code: int | None) -> str:
    """How a process ended, from its return code, as the ledger and the log say it."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return "stopped" if code == 0 else f"exit code {code}"


def process_alive(pid: int, proc: Path = Path("/proc")) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2 : stat.rfind(")") + 3]
    return state not in ("Z", "X", "")
