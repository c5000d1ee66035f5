"""The flow collector's settings: the `[flow]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.common.settings import between, checked, listen_address


@dataclass(frozen=True)
class FlowSettings:
    netflow: str = checked("0.0.0.0:2055", listen_address)  # v5, v9 and IPFIX, told apart by version
    ipfix: str = checked("0.0.0.0:4739", listen_address)
    sflow: str = checked("0.0.0.0:6343", listen_address)
    # 64 MiB holds about half a second of flow datagrams at 100,000 records/s: room for a burst.
    receive_buffer_bytes: int = checked(64 * 1024 * 1024, between(65536, 1 << 30))
    udp_workers: int = checked(0, between(0, 64))  # decode processes per listener; 0 = one per core
    # Templates kept for all exporters, and per exporter address (all its ports and domains): a
    # bound on what a misbehaving exporter can make us hold. Real exporters use a few dozen.
    max_templates: int = checked(20_000, between(16, 1_000_000))
    max_templates_per_exporter: int = checked(2_048, between(1, 65_536))
    # Data that arrives before its template waits this long, in at most this many sets / bytes.
    hold_seconds: float = checked(60.0, between(0, 3600))
    hold_sets: int = checked(10_000, between(0, 1_000_000))
    hold_bytes: int = checked(16 * 1024 * 1024, between(0, 1 << 30))

    def cross_checks(self) -> list[str]:
        if self.max_templates_per_exporter > self.max_templates:
            return [
                f"flow.max_templates_per_exporter = {self.max_templates_per_exporter} exceeds flow.max_templates ="
                f" {self.max_templates}; lower it or raise flow.max_templates"
            ]
        return []
