"""The Windows event endpoint's settings: the `[winevents]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.common.settings import checked, listen_address, secret


@dataclass(frozen=True)
class WineventsSettings:
    listen: str = checked("0.0.0.0:8084", listen_address)
    tokens: list[str] = secret([])  # bearer tokens; none = every request is refused

    def cross_checks(self) -> list[str]:
        return []
