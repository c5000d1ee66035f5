"""Buffer limits and the sans-IO policy that decides what to refuse and what to evict.

Nothing here reads the clock, the disk or the database: the store passes usage (stored bytes per
service), the budget it measured and `now`, and executes the decisions it gets back.

How the total budget is shared (weighted max-min fairness, weights = service quotas):
a service using less than its proportional part of the budget (budget * quota / sum of quotas)
is entitled to all it uses; what it leaves unused is split among the others by weight. When the
total is over budget, evictions take from the service furthest above its fair share first. So a
flow burst can only evict syslog or trap data when those are themselves above their fair share;
a service's own quota is enforced separately (and first) with its own overflow policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from nocraven.buffer.ledger import DropReason

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

SEAL_BYTES_MIN = 64 * KIB
SEAL_BYTES_MAX = 1024 * KIB

Overflow = Literal["drop_oldest", "drop_newest"]
OVERFLOW_POLICIES: tuple[Overflow, ...] = ("drop_oldest", "drop_newest")


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """Per-service limits. `quota_bytes=None` means "no cap below the total budget"."""

    quota_bytes: int | None = None
    max_age_s: float | None = None
    overflow: Overflow = "drop_oldest"


@dataclass(frozen=True, slots=True)
class BufferLimits:
    """Every knob of the buffer; the config layer maps the TOML `[buffer]` section onto it."""

    total_bytes: int = 1 * GIB
    services: Mapping[str, ServiceLimits] = field(default_factory=dict)
    default_service: ServiceLimits = ServiceLimits()
    # Stop growing the file while the filesystem has less than this free (the WAL, the OS and
    # the ledger need room); the buffer then recycles its own pages.
    min_free_disk_bytes: int = 64 * MIB
    seal_bytes: int = 256 * KIB
    # The durability window: unsealed records live only in memory for at most this long.
    seal_interval_s: float = 1.0
    # When a limit is hit, evict this fraction below it so evictions (and their ledger rows)
    # come in batches instead of one segment per seal.
    evict_batch_fraction: float = 0.02
    # Records waiting to be sealed (the seal worker stalled): beyond this, appends are dropped
    # and accounted instead of growing memory without bound.
    max_unsealed_bytes: int = 64 * MIB
    ledger_max_rows: int = 100_000
    # Corrupt segments keep their blob for inspection up to this total, metadata only beyond.
    quarantine_max_bytes: int = 16 * MIB
    rate_window_s: float = 300.0
    # Sealed segments of a service with a compact form (forms.py) are repacked into it once
    # their records are this old and every sink that has a cursor has delivered them. None:
    # never (the store still reads packed segments).
    compact_after_s: float | None = 60.0

    def __post_init__(self) -> None:
        problems = self.problems(strict=False)
        if problems:
            raise ValueError("; ".join(problems))

    def for_service(self, service: str) -> ServiceLimits:
        return self.services.get(service, self.default_service)

    def quota_of(self, service: str) -> int:
        quota = self.for_service(service).quota_bytes
        return self.total_bytes if quota is None else min(quota, self.total_bytes)

    def problems(self, strict: bool = True) -> list[str]:
        """What is wrong with these values; `strict` adds the product's documented ranges
        (tests use tiny segments, the config file may not)."""
        found: list[str] = []
        if self.total_bytes <= 0:
            found.append(f"total_bytes must be > 0, got {self.total_bytes}")
        if self.seal_bytes <= 0:
            found.append(f"seal_bytes must be > 0, got {self.seal_bytes}")
        if self.seal_interval_s <= 0:
            found.append(f"seal_interval_s must be > 0, got {self.seal_interval_s}")
        if not 0 <= self.evict_batch_fraction < 0.5:
            found.append(f"evict_batch_fraction must be in [0, 0.5), got {self.evict_batch_fraction}")
        if self.min_free_disk_bytes < 0:
            found.append(f"min_free_disk_bytes must be >= 0, got {self.min_free_disk_bytes}")
        if self.max_unsealed_bytes <= 0:
            found.append(f"max_unsealed_bytes must be > 0, got {self.max_unsealed_bytes}")
        if self.rate_window_s <= 0:
            found.append(f"rate_window_s must be > 0, got {self.rate_window_s}")
        if self.compact_after_s is not None and self.compact_after_s < 0:
            found.append(f"compact_after_s must be >= 0, got {self.compact_after_s}")
        for name, limits in [("default", self.default_service), *self.services.items()]:
            if limits.quota_bytes is not None and limits.quota_bytes <= 0:
                found.append(f"{name}.quota_bytes must be > 0, got {limits.quota_bytes}")
            if limits.max_age_s is not None and limits.max_age_s <= 0:
                found.append(f"{name}.max_age_s must be > 0, got {limits.max_age_s}")
            if limits.overflow not in OVERFLOW_POLICIES:
                found.append(f"{name}.overflow must be one of {OVERFLOW_POLICIES}")
        if strict:
            if not SEAL_BYTES_MIN <= self.seal_bytes <= SEAL_BYTES_MAX:
                found.append(f"seal_bytes must be within {SEAL_BYTES_MIN}..{SEAL_BYTES_MAX}, got {self.seal_bytes}")
            if self.seal_interval_s > 60:
                found.append(f"seal_interval_s must be <= 60, got {self.seal_interval_s}")
        return found


@dataclass(frozen=True, slots=True)
class Budget:
    """How many stored bytes the buffer may hold now, and why it is that number."""

    bytes: int
    reason: DropReason  # TOTAL_BUDGET, or DISK_FULL when the filesystem is the tighter limit


# Room a write transaction needs on the filesystem beyond the database's own pages, in seals:
# SQLite writes every changed page to the WAL first and copies it into the database at the
# checkpoint, so growing by N bytes briefly costs 2N; without this room a disk filled to the
# last byte refuses the WAL, no checkpoint can finish, and every write fails from then on.
WRITE_RESERVE_SEALS = 4


def write_reserve(limits: BufferLimits) -> int:
    """The free space the buffer never grows into, even with `min_free_disk_bytes = 0`."""
    return WRITE_RESERVE_SEALS * limits.seal_bytes


def effective_budget(
    total_bytes: int,
    used_bytes: int,
    fs_free_bytes: int | None,
    reusable_bytes: int,
    min_free_disk_bytes: int,
) -> Budget:
    """The configured budget, shrunk to what the disk allows: the buffer may grow into free
    space above the headroom, and always into pages it already owns (`reusable_bytes`)."""
    if fs_free_bytes is None:
        return Budget(total_bytes, DropReason.TOTAL_BUDGET)
    room = max(0, fs_free_bytes - min_free_disk_bytes) + reusable_bytes
    disk_cap = used_bytes + room
    if disk_cap < total_bytes:
        return Budget(disk_cap, DropReason.DISK_FULL)
    return Budget(total_bytes, DropReason.TOTAL_BUDGET)


def fair_shares(weights: Mapping[str, int], demands: Mapping[str, int], budget: int) -> dict[str, int]:
    """Weighted max-min fair split of `budget`: services demanding less than their weighted
    part get their demand, the rest is shared by weight among the others."""
    shares: dict[str, int] = {}
    active = set(demands)
    remaining = budget
    while active:
        weight_sum = sum(max(1, weights.get(name, 1)) for name in active)
        part = {name: remaining * max(1, weights.get(name, 1)) / weight_sum for name in active}
        satisfied = [name for name in active if demands[name] <= part[name]]
        if not satisfied:
            for name in active:
                shares[name] = int(part[name])
            break
        for name in satisfied:
            shares[name] = demands[name]
            remaining -= demands[name]
            active.discard(name)
    return shares


@dataclass(frozen=True, slots=True)
class Eviction:
    """Free at least `bytes_to_free` stored bytes from the oldest segments of `service`."""

    service: str
    bytes_to_free: int
    reason: DropReason


@dataclass(frozen=True, slots=True)
class AdmissionPlan:
    """What to do with one incoming segment: evictions to run first, then admit or refuse."""

    admit: bool
    refuse_reason: DropReason | None = None
    evictions: tuple[Eviction, ...] = ()


def _low_water(limit: int, limits: BufferLimits) -> int:
    return int(limit * (1.0 - limits.evict_batch_fraction))


def _weights(limits: BufferLimits, services: set[str]) -> dict[str, int]:
    return {name: limits.quota_of(name) for name in services}


def _take_over_share(
    usage: Mapping[str, int],
    demands: Mapping[str, int],
    shares: Mapping[str, int],
    wanted: int,
    reason: DropReason,
) -> list[Eviction]:
    """Evictions from the services furthest above their share, up to `wanted` bytes; only
    `usage` (data already stored) can be evicted."""
    evictions: list[Eviction] = []
    over = sorted(demands, key=lambda name: demands[name] - shares[name], reverse=True)
    for name in over:
        if wanted <= 0:
            break
        take = min(wanted, demands[name] - shares[name], usage.get(name, 0))
        if take <= 0:
            continue
        evictions.append(Eviction(name, take, reason))
        wanted -= take
    return evictions


def plan_admission(
    limits: BufferLimits,
    usage: Mapping[str, int],
    service: str,
    incoming_bytes: int,
    budget: Budget,
) -> AdmissionPlan:
    """Decide for one sealed segment of `incoming_bytes` stored bytes (usage in stored bytes)."""
    service_limits = limits.for_service(service)
    newest_first = service_limits.overflow == "drop_newest"
    quota = limits.quota_of(service)
    if incoming_bytes > quota:
        return AdmissionPlan(False, DropReason.OVERFLOW_NEWEST if newest_first else DropReason.QUOTA)
    if incoming_bytes > budget.bytes:
        return AdmissionPlan(False, budget.reason)

    after = dict(usage)
    own = after.get(service, 0)
    evictions: list[Eviction] = []
    if own + incoming_bytes > quota:
        if newest_first:
            return AdmissionPlan(False, DropReason.OVERFLOW_NEWEST)
        free = min(own, own + incoming_bytes - _low_water(quota, limits))
        evictions.append(Eviction(service, free, DropReason.QUOTA))
        after[service] = own - free

    total = sum(after.values()) + incoming_bytes
    if total > budget.bytes:
        demands = dict(after)
        demands[service] = after.get(service, 0) + incoming_bytes
        shares = fair_shares(_weights(limits, set(demands)), demands, budget.bytes)
        if newest_first and demands[service] > shares[service]:
            return AdmissionPlan(False, budget.reason)
        required = total - budget.bytes
        wanted = total - _low_water(budget.bytes, limits)
        taken = _take_over_share(after, demands, shares, wanted, budget.reason)
        if sum(e.bytes_to_free for e in taken) < required:
            # What is over its share is this very segment: nothing stored may pay for it.
            return AdmissionPlan(False, budget.reason)
        evictions.extend(taken)
    return AdmissionPlan(True, None, tuple(evictions))


def plan_enforcement(limits: BufferLimits, usage: Mapping[str, int], budget: Budget) -> list[Eviction]:
    """Evictions that bring stored data back within quotas and the budget with nothing
    incoming (limits lowered at restart, the disk filling up from elsewhere)."""
    after = dict(usage)
    evictions: list[Eviction] = []
    for name, used in usage.items():
        quota = limits.quota_of(name)
        if used > quota:
            free = used - _low_water(quota, limits)
            evictions.append(Eviction(name, free, DropReason.QUOTA))
            after[name] = used - free
    total = sum(after.values())
    if total > budget.bytes:
        shares = fair_shares(_weights(limits, set(after)), after, budget.bytes)
        wanted = total - _low_water(budget.bytes, limits)
        evictions.extend(_take_over_share(after, after, shares, wanted, budget.reason))
    return evictions


def over_limits(limits: BufferLimits, usage: Mapping[str, int], budget: Budget) -> bool:
    """Cheap check whether plan_enforcement has anything to do."""
    if sum(usage.values()) > budget.bytes:
        return True
    return any(used > limits.quota_of(name) for name, used in usage.items())


def age_cutoff(limits: BufferLimits, service: str, now: float) -> float | None:
    """Segments whose newest record was received before this time are expired."""
    max_age = limits.for_service(service).max_age_s
    return None if max_age is None else now - max_age
