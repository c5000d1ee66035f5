"""A sink's decision: may it send now, and which state (with the reason) does it show.

No clock, no sockets: the forwarder reports what happened (`connected`, `delivered`, `failed`,
...) with `now`, and asks `may_send(now)` and `wake_at()`. The states people see:
- paused: an operator paused the sink; records stay in the buffer.
- buffering: the path is down (the VPN when `requires_vpn`, or the sink cannot be reached);
  records stay in the buffer and the sink retries with backoff.
- failing: the sink is reached but refuses or fails deliveries; the circuit breaker is open,
  retried with backoff (a Retry-After from the sink is honoured as it is).
- draining: delivering, with a backlog to catch up.
- forwarding: delivering, caught up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class SinkState(StrEnum):
    FORWARDING = "forwarding"
    DRAINING = "draining"
    BUFFERING = "buffering"
    PAUSED = "paused"
    FAILING = "failing"


# Worst first: what the dashboard and the header show for several sinks.
SEVERITY = (SinkState.FAILING, SinkState.BUFFERING, SinkState.PAUSED, SinkState.DRAINING, SinkState.FORWARDING)


def worst(states: list[SinkState]) -> SinkState | None:
    return min(states, key=SEVERITY.index) if states else None


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with "equal jitter": half the delay fixed, half random, so sinks
    retrying together spread out but none retries at once."""

    base_s: float = 0.5
    cap_s: float = 60.0
    factor: float = 2.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap_s, self.base_s * self.factor ** min(attempt, 64))
        return ceiling / 2 + rng.random() * ceiling / 2


class CircuitBreaker:
    """Closed: deliveries flow. `threshold` failures in a row open it until `open_until`; then
    one trial is let through (half-open): success closes it, failure opens it again."""

    def __init__(self, threshold: int = 3) -> None:
        self.threshold = threshold
        self.failures = 0
        self.open_until: float | None = None
        self.trial = False

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    def allows(self, now: float) -> bool:
        if self.open_until is None:
            return True
        if now < self.open_until:
            return False
        self.trial = True  # half-open: the next delivery decides
        return True

    def success(self) -> None:
        self.failures = 0
        self.open_until = None
        self.trial = False

    def failure(self, now: float, delay: float) -> None:
        self.failures += 1
        if self.trial or self.failures >= self.threshold:
            self.open_until = now + delay
            self.trial = False


@dataclass(frozen=True, slots=True)
class Decision:
    state: SinkState
    reason: str


class SinkHealth:
    """The per-sink decision (see module doc). `rng` drives the jitter."""

    def __init__(
        self,
        requires_vpn: bool = False,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        breaker_threshold: int = 3,
    ) -> None:
        self.requires_vpn = requires_vpn
        self.rng = rng or random.Random()
        self.backoff = backoff or Backoff()
        self.breaker = CircuitBreaker(breaker_threshold)
        self.paused = False
        self.vpn_up = False
        self.connected = False
        self.connect_attempts = 0
        self.retry_at: float | None = None  # no attempt (connect or send) before this
        self.error = ""  # the last failure, kept after recovery for status
        self._down_reason = "not connected yet"

    # ------------------------------------------------------------------------ what happened

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def vpn(self, up: bool) -> bool:
        """Note the VPN's state; True when this sink must drop its connection: it requires the
        VPN and the tunnel went down. Its connections ran through that tunnel (its address is
        gone with it), and a TCP session on a dead address fails only after the client's own
        keepalive, minutes later; the next tunnel, maybe to another concentrator, needs new ones."""
        lost = self.requires_vpn and self.vpn_up and not up
        self.vpn_up = up
        if lost and self.connected:
            # Not a failure: reconnect as soon as a tunnel is up again, with no backoff.
            self.connected = False
            self.connect_attempts = 0
            self.retry_at = None
            self._down_reason = "the VPN tunnel went down: reconnecting through the next one"
            return True
        return False

    def connected_ok(self) -> None:
        self.connected = True
        self.connect_attempts = 0
        self.retry_at = None

    def connect_failed(self, reason: str, now: float) -> None:
        self.connected = False
        self.error = self._down_reason = reason
        self.retry_at = now + self.backoff.delay(self.connect_attempts, self.rng)
        self.connect_attempts += 1

    def disconnected(self, reason: str, now: float) -> None:
        """The connection was lost while sending: reconnect after a short backoff."""
        self.connect_failed(reason, now)

    def delivered(self) -> None:
        self.breaker.success()
        self.retry_at = None

    def failed(self, reason: str, now: float, retry_after: float | None = None) -> None:
        """A delivery failed; the sink answered (or timed out). `retry_after`: the sink said when."""
        self.error = reason
        delay = retry_after if retry_after is not None else self.backoff.delay(self.breaker.failures, self.rng)
        self.breaker.failure(now, delay)
        self.retry_at = now + delay

    # ------------------------------------------------------------------------------ decisions

    def path_reason(self) -> str | None:
        """Why the path is down (records stay in the buffer), or None when it is up."""
        if self.requires_vpn and not self.vpn_up:
            return "VPN down: forwarding waits for the tunnel"
        if not self.connected:
            return self._down_reason
        return None

    def path_open(self) -> bool:
        """Not paused and the path up (connected, VPN if required). Retry backoffs and an open
        breaker keep it open: the forwarder re-plans its backlog only when the path reopens."""
        return not self.paused and self.path_reason() is None

    def may_connect(self, now: float) -> bool:
        if self.paused or self.connected or (self.requires_vpn and not self.vpn_up):
            return False
        return self.retry_at is None or now >= self.retry_at

    def may_send(self, now: float) -> bool:
        if self.paused or self.path_reason() is not None:
            return False
        if self.retry_at is not None and now < self.retry_at:
            return False
        return self.breaker.allows(now)

    def wake_at(self) -> float | None:
        """When a retry becomes due (the forwarder sleeps until then or an event)."""
        if self.breaker.open_until is not None:
            return self.breaker.open_until
        return self.retry_at

    def decide(self, backlog: bool) -> Decision:
        if self.paused:
            return Decision(SinkState.PAUSED, "paused by an operator")
        down = self.path_reason()
        if down is not None:
            return Decision(SinkState.BUFFERING, down)
        if self.breaker.is_open:
            return Decision(SinkState.FAILING, self.error)
        if backlog:
            return Decision(SinkState.DRAINING, "catching up with the backlog")
        return Decision(SinkState.FORWARDING, "")
