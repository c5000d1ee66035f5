"""The diagnostics' settings: the `[diag]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.common.settings import between, checked


@dataclass(frozen=True)
class DiagSettings:
    # Probes share the uplink they measure: a few at once, or they skew each other's figures.
    max_running: int = checked(3, between(1, 10))
    # A backstop on top of each tool's own bound (its schedule plus a margin): a forgotten
    # 1000-probe ping at 60 s intervals must not hold one of the few slots for hours.
    max_job_seconds: float = checked(900.0, between(1, 86400))

    def cross_checks(self) -> list[str]:
        return []
