"""Which profile to run, without IO: events and `now` in, decisions out.

Profiles are tried by priority (lower first). A tunnel that drops, or whose probe fails
`failure_threshold` times in a row, makes the policy move to the next profile at once. A
profile that fails `max_attempts` times in a row rests for a cooldown that grows by `backoff`
each time (up to `cooldown_max_s`). While a lower-priority profile is active, the preferred ones
are checked in the background (`CheckStandby`); the policy fails back only when one has passed
every check for `holddown_s`, so a flapping concentrator is not chased. A manual override
(`connect(name)`) pins one profile until `auto()`; `disconnect()` stops until either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class PolicyTimers:
    failure_threshold: int = 3
    holddown_s: float = 60.0
    standby_interval_s: float = 15.0
    connect_timeout_s: float = 15.0
    max_attempts: int = 3
    cooldown_s: float = 30.0
    cooldown_max_s: float = 600.0
    backoff: float = 2.0


@dataclass(frozen=True)
class Candidate:
    name: str
    priority: int
    enabled: bool = True


class Mode(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"
    OFF = "off"


class Phase(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"


# ---- decisions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connect:
    """Run `name` (replacing whatever runs now)."""

    name: str
    reason: str


@dataclass(frozen=True)
class Disconnect:
    reason: str


@dataclass(frozen=True)
class CheckStandby:
    """Check, without touching the active tunnel, that `name` can connect."""

    name: str


Decision = Connect | Disconnect | CheckStandby


@dataclass
class _Health:
    failures: int = 0  # failed attempts/drops in a row
    cooldowns: int = 0  # cooldowns in a row (for the backoff)
    cooldown_until: float = 0.0
    healthy_since: float | None = None  # first of an unbroken run of passed standby checks
    last_ok: float = 0.0  # the latest passed check: a run with no recent check is stale
    next_check: float = 0.0
    checking: bool = False


@dataclass(frozen=True)
class Snapshot:
    """What survives a restart."""

    mode: Mode
    override: str | None
    active: str | None


@dataclass
class FailoverPolicy:
    timers: PolicyTimers = field(default_factory=PolicyTimers)
    mode: Mode = Mode.AUTO
    override: str | None = None
    active: str | None = None
    phase: Phase = Phase.IDLE
    _candidates: dict[str, Candidate] = field(default_factory=dict)
    _health: dict[str, _Health] = field(default_factory=dict)
    _deadline: float = 0.0
    _probe_failures: int = 0
    _last_failed: str | None = None

    # ---- inputs -------------------------------------------------------------------------------

    def set_profiles(self, candidates: Iterable[Candidate], now: float, *, evaluate: bool = True) -> list[Decision]:
        """The profiles as they are now. `evaluate=False` only loads them (before `restore`)."""
        self._candidates = {c.name: c for c in candidates}
        for name in list(self._health):
            if name not in self._candidates:
                del self._health[name]
        if self.override is not None and self.override not in self._candidates:
            self.override, self.mode = None, Mode.AUTO
        out: list[Decision] = []
        if self.active is not None and not self._allowed(self.active):
            gone = self.active
            self._stop()
            out.append(Disconnect(f"profile {gone} was removed or disabled"))
        return out + self._evaluate(now) if evaluate else out

    def restore(self, snapshot: Snapshot, now: float) -> list[Decision]:
        """After a restart: the same mode, and the same profile as before when it still exists."""
        self.mode, self.override = snapshot.mode, snapshot.override
        if self.mode is Mode.MANUAL and self.override not in self._candidates:
            self.mode, self.override = Mode.AUTO, None
        if self.mode is Mode.OFF or snapshot.active is None or not self._allowed(snapshot.active):
            return self._evaluate(now)
        return self._start(snapshot.active, f"restoring {snapshot.active} after a restart", now)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.mode, self.override, self.active)

    def connected(self, name: str, now: float) -> list[Decision]:
        if name != self.active or self.phase is Phase.IDLE:
            return []  # a late event from a process we already replaced
        self.phase = Phase.CONNECTED
        self._probe_failures = 0
        health = self._h(name)
        health.failures = health.cooldowns = 0
        health.cooldown_until = 0.0
        return self._evaluate(now)

    def dropped(self, name: str, reason: str, now: float) -> list[Decision]:
        """The tunnel went down or the attempt failed (process exit, FATAL, RECONNECTING)."""
        if name != self.active or self.phase is Phase.IDLE:
            return []
        self._failed(name, now)
        self._stop()
        return self._evaluate(now, after=f"{name} failed ({reason})")

    def probe(self, name: str, ok: bool, now: float) -> list[Decision]:
        if name != self.active or self.phase is not Phase.CONNECTED:
            return []
        if ok:
            self._probe_failures = 0
            return []
        self._probe_failures += 1
        if self._probe_failures < self.timers.failure_threshold:
            return []
        return self.dropped(name, f"probe failed {self._probe_failures} times in a row", now)

    def standby(self, name: str, ok: bool, now: float) -> list[Decision]:
        """The result of a CheckStandby."""
        health = self._h(name)
        health.checking = False
        health.next_check = now + self.timers.standby_interval_s
        if not ok or self.mode is not Mode.AUTO:
            health.healthy_since = None  # a failure, or a check nobody asked for any more
            return []
        if health.healthy_since is None:
            health.healthy_since = now
        health.last_ok = now
        health.failures = 0
        health.cooldown_until = 0.0
        return self._evaluate(now)

    def tick(self, now: float) -> list[Decision]:
        if self.phase is Phase.CONNECTING and now >= self._deadline and self.active is not None:
            return self.dropped(self.active, f"not connected within {self.timers.connect_timeout_s:g} s", now)
        return self._evaluate(now)

    def connect(self, name: str, now: float) -> list[Decision]:
        """Manual override: run `name` and only it until `auto()`."""
        if name not in self._candidates:
            raise KeyError(name)
        self.mode, self.override = Mode.MANUAL, name
        health = self._h(name)
        health.failures, health.cooldown_until = 0, 0.0  # a person asked: try now
        if self.active == name:
            return []
        return self._start(name, f"manual connect to {name}", now)

    def auto(self, now: float) -> list[Decision]:
        """Back to automatic: the current tunnel stays; fail-back rules apply from here."""
        self.mode, self.override = Mode.AUTO, None
        for health in self._health.values():
            health.healthy_since = None  # fail-back needs fresh evidence from here on
        return self._evaluate(now)

    def disconnect(self, now: float) -> list[Decision]:
        self.mode, self.override = Mode.OFF, None
        if self.active is None:
            return []
        self._stop()
        return [Disconnect("manual disconnect")]

    # ---- queries ------------------------------------------------------------------------------

    def active_or(self, default: str) -> str:
        return self.active if self.active is not None else default

    def cooldown_left(self, name: str, now: float) -> float:
        return max(0.0, self._h(name).cooldown_until - now)

    def next_wakeup(self, now: float) -> float | None:
        """When `tick` next has something to do (None: only events can change anything)."""
        times = [h.cooldown_until for h in self._health.values() if h.cooldown_until > now]
        times += [h.next_check for h in self._health.values() if h.next_check > now and not h.checking]
        times += [
            h.healthy_since + self.timers.holddown_s
            for h in self._health.values()
            if h.healthy_since is not None and h.healthy_since + self.timers.holddown_s > now
        ]
        if self.phase is Phase.CONNECTING:
            times.append(self._deadline)
        return min(times) if times else None

    # ---- internals ----------------------------------------------------------------------------

    def _h(self, name: str) -> _Health:
        return self._health.setdefault(name, _Health())

    def _allowed(self, name: str) -> bool:
        candidate = self._candidates.get(name)
        if candidate is None:
            return False
        if self.mode is Mode.MANUAL:
            return name == self.override
        return candidate.enabled

    def _ranked(self) -> list[Candidate]:
        return sorted(
            (c for c in self._candidates.values() if self._allowed(c.name)), key=lambda c: (c.priority, c.name)
        )

    def _failed(self, name: str, now: float) -> None:
        health = self._h(name)
        health.failures += 1
        health.healthy_since = None
        health.next_check = now + self.timers.standby_interval_s
        self._last_failed = name
        if health.failures >= self.timers.max_attempts:
            pause = min(self.timers.cooldown_s * self.timers.backoff**health.cooldowns, self.timers.cooldown_max_s)
            health.cooldown_until = now + pause
            health.cooldowns += 1
            health.failures = 0

    def _stop(self) -> None:
        self.active, self.phase = None, Phase.IDLE
        self._probe_failures = 0

    def _start(self, name: str, reason: str, now: float) -> list[Decision]:
        self.active, self.phase = name, Phase.CONNECTING
        self._deadline = now + self.timers.connect_timeout_s
        self._probe_failures = 0
        health = self._h(name)
        health.healthy_since = None
        health.checking = False
        return [Connect(name, reason)]

    def _evaluate(self, now: float, after: str = "") -> list[Decision]:
        if self.mode is Mode.OFF:
            return []
        ranked = self._ranked()
        ready = [c for c in ranked if self._h(c.name).cooldown_until <= now]
        if self.active is None:
            if not ready:
                return []
            # After a failure move on to the next profile first; the one that just failed is
            # retried only when it is the last one left.
            others = [c for c in ready if c.name != self._last_failed]
            choice = (others or ready)[0]
            why = f"{after}; trying {choice.name}" if after else f"{choice.name} is the preferred profile available"
            self._last_failed = None if choice.name != self._last_failed else self._last_failed
            return self._start(choice.name, why, now)
        if self.mode is not Mode.AUTO or self.phase is not Phase.CONNECTED:
            return []
        current = self._candidates.get(self.active)
        if current is None:
            return []
        better = [c for c in ranked if (c.priority, c.name) < (current.priority, current.name)]
        for candidate in better:
            health = self._h(candidate.name)
            fresh = now - health.last_ok <= self.timers.standby_interval_s + self.timers.connect_timeout_s
            if health.healthy_since is not None and not fresh:
                health.healthy_since = None
            if health.healthy_since is not None and now - health.healthy_since >= self.timers.holddown_s:
                return self._start(
                    candidate.name,
                    f"failing back to {candidate.name}: healthy for {now - health.healthy_since:.0f} s",
                    now,
                )
        decisions: list[Decision] = []
        for candidate in better:
            health = self._h(candidate.name)
            if not health.checking and now >= health.next_check:
                health.checking = True
                decisions.append(CheckStandby(candidate.name))
        return decisions
