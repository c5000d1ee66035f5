"""What every wire module shares: the Struct base, and component states."""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Body(msgspec.Struct, kw_only=True, omit_defaults=False):
    """Base of every API body: keyword-only, so adding a field never shifts another."""


class ComponentState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"
    NOT_AVAILABLE = "not_available"  # the capability is not part of this build
