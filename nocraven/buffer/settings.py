"""The buffer's settings: the `[buffer]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.common.settings import between, checked, non_negative, positive
from nocraven.buffer.limits import Overflow


@dataclass(frozen=True)
class ServiceBufferSettings:
    quota_bytes: int = checked(2 * 1024**3, positive)
    max_age_days: float = checked(30.0, positive)
    overflow: Overflow = "drop_oldest"


def _default_services() -> dict[str, ServiceBufferSettings]:
    # Flows are the bulky, least precious service: a small quota and drop_newest in a burst,
    # so they never push out syslog, traps or Windows security events.
    return {
        "syslog": ServiceBufferSettings(quota_bytes=4 * 1024**3),
        "flow": ServiceBufferSettings(quota_bytes=2 * 1024**3, max_age_days=14, overflow="drop_newest"),
        "trap": ServiceBufferSettings(quota_bytes=1024**3),
        # One record per polled device and interval: small, steady, the oldest least missed.
        "poll": ServiceBufferSettings(quota_bytes=512 * 1024**2),
        "winevent": ServiceBufferSettings(quota_bytes=2 * 1024**3),
    }


@dataclass(frozen=True)
class BufferSettings:
    total_bytes: int = checked(8 * 1024**3, positive)
    min_free_bytes: int = checked(512 * 1024**2, non_negative)
    seal_bytes: int = checked(256 * 1024, between(64 * 1024, 1024 * 1024))
    seal_interval_s: float = checked(1.0, between(0.05, 60))
    # Cold syslog segments are repacked as their datagrams, fields rebuilt on read (~2.3x less
    # disk on a venue mix, so ~2.3x the weeks kept), in the seal worker's idle time.
    compact: bool = True
    compact_after_s: float = checked(60.0, between(0, 7 * 86400))
    services: dict[str, ServiceBufferSettings] = field(default_factory=_default_services)

    def cross_checks(self, services: tuple[str, ...]) -> list[str]:
        return [
            f"buffer.services.{name}: unknown service {name!r} (one of {', '.join(services)})"
            for name in self.services
            if name not in services
        ]
