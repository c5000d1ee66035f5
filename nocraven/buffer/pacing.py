"""The seal worker's pacing. Sans-IO: the worker passes the monotonic time.

- GroupCommit: full segments sealed together rather than one commit each.
- RepackPacer: when it may repack cold segments (store.compact_cold), background work that
  must never cost ingest."""

from __future__ import annotations

from collections import deque

# Ingest comes first: repack only while fewer record bytes than this are sealed per second
# (~10,000 venue syslog messages/s). A busy evening waits for the quiet hours after it.
QUIET_BYTES_PER_S = 16 * 1024 * 1024
RATE_WINDOW_S = 5.0
# Within that, at most this share of the worker's time (repacking holds the GIL).
SHARE = 0.25
IDLE_LOOK_S = 1.0  # nothing cold: look again this much later


# A burst fills a segment every few milliseconds (300 a second at 150,000 syslog messages/s).
# Sealed one at a time, each paid a commit, its fsyncs and a checkpoint: a fifth of the engine's
# CPU. Full segments now wait this long after the previous seal and go in one transaction.
# Records wait in memory a little longer; the age rule (seal_interval_s) bounds that anyway.
GROUP_COMMIT_S = 0.05


class GroupCommit:
    def __init__(self, window_s: float = GROUP_COMMIT_S) -> None:
        self._window_s = window_s
        self._last = float("-inf")

    def hold_s(self, now: float) -> float:
        """How long to let more segments fill before sealing (0: seal now)."""
        return max(0.0, self._last + self._window_s - now)

    def sealed(self, now: float) -> None:
        self._last = now


class RepackPacer:
    def __init__(self) -> None:
        self._sealed: deque[tuple[float, int]] = deque()
        self._in_window = 0
        self._next_at = 0.0

    def sealed(self, raw_bytes: int, now: float) -> None:
        """Segments holding `raw_bytes` of records were just sealed."""
        if raw_bytes:
            self._sealed.append((now, raw_bytes))
            self._in_window += raw_bytes
        while self._sealed and self._sealed[0][0] < now - RATE_WINDOW_S:
            self._in_window -= self._sealed.popleft()[1]

    def may_repack(self, now: float) -> bool:
        self.sealed(0, now)
        return now >= self._next_at and self._in_window < QUIET_BYTES_PER_S * RATE_WINDOW_S

    def wait_s(self, now: float, longest: float) -> float:
        """How long the worker may wait for a full segment before the next repack is due."""
        return max(0.0, min(longest, self._next_at - now))

    def repacked(self, began: float, spent: float, found: bool) -> None:
        """A repack step began at `began` and took `spent`; `found`: it had a segment to repack."""
        self._next_at = began + (spent / SHARE if found else IDLE_LOOK_S)
