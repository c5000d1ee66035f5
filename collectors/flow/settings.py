"""The flow collector's settings: the `[flow]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.common.settings import checked, listen_address


@dataclass(frozen=True)
class FlowSettings:
    netflow: str = checked("0.0.0.0:2055", listen_address)  # v5, v9 and IPFIX, told apart by version
    ipfix: str = checked("0.0.0.0:4739", listen_address)
    sflow: str = checked("0.0.0.0:6343", listen_address)

    def cross_checks(self) -> list[str]:
        return []
