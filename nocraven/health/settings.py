"""The health monitor's settings: the `[health]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass, fields

from collectors.common.settings import between, checked, listen_address

PERCENT = between(1, 100)


@dataclass(frozen=True)
class HealthSettings:
    # Seconds between samples: a few seconds shows a spike without costing the box anything.
    interval_s: float = checked(5.0, between(1, 300))
    # A level must hold this long before its alert is raised or cleared, so a value hovering
    # around a threshold does not flap.
    hold_s: float = checked(30.0, between(0, 3600))
    # An alert clears only once its value is this many points below the level that raised it.
    clear_margin_percent: float = checked(5.0, between(0, 50))
    cpu_warning_percent: float = checked(90.0, PERCENT)
    cpu_critical_percent: float = checked(98.0, PERCENT)
    memory_warning_percent: float = checked(85.0, PERCENT)
    memory_critical_percent: float = checked(95.0, PERCENT)
    disk_warning_percent: float = checked(85.0, PERCENT)
    disk_critical_percent: float = checked(95.0, PERCENT)
    inodes_warning_percent: float = checked(85.0, PERCENT)
    inodes_critical_percent: float = checked(95.0, PERCENT)
    buffer_warning_percent: float = checked(80.0, PERCENT)
    buffer_critical_percent: float = checked(95.0, PERCENT)
    # "" (off) or "HOST:PORT": a plain-HTTP Prometheus /metrics endpoint for the NOC.
    metrics_listen: str = checked("", listen_address)

    def levels(self) -> dict[str, tuple[float, float]]:
        """(warning, critical) per metric, from the `<metric>_warning_percent` keys."""
        out: dict[str, tuple[float, float]] = {}
        for f in fields(self):
            if f.name.endswith("_warning_percent"):
                metric = f.name.removesuffix("_warning_percent")
                out[metric] = (getattr(self, f.name), getattr(self, f"{metric}_critical_percent"))
        return out

    def cross_checks(self) -> list[str]:
        return [
            f"health.{metric}_warning_percent = {warning:g} must be below "
            f"health.{metric}_critical_percent = {critical:g}"
            for metric, (warning, critical) in self.levels().items()
            if warning >= critical
        ]
