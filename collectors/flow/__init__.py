"""The flow collector: NetFlow v5/v9, IPFIX and sFlow v5.

`decoder.FlowDecoder` is the sans-IO core a UDP worker calls per datagram; `decoder_for` builds
one with the limits of the `[flow]` settings.
"""

from __future__ import annotations

from collections.abc import Collection

from collectors.flow.decoder import ACCEPT_ALL, FlowDecoder, Version, encode_records
from collectors.flow.hold import HoldQueue
from collectors.flow.settings import FlowSettings
from collectors.flow.templates import TemplateCache

# What each listener of `[flow]` takes.
LISTENER_VERSIONS: dict[str, frozenset[Version]] = {
    "netflow": frozenset({5, 9, 10}),
    "ipfix": frozenset({10}),
    "sflow": frozenset({"sflow5"}),
}


def decoder_for(settings: FlowSettings, accept: Collection[Version] = ACCEPT_ALL) -> FlowDecoder:
    templates = TemplateCache(settings.max_templates, settings.max_templates_per_exporter)
    hold = HoldQueue(settings.hold_sets, settings.hold_bytes, settings.hold_seconds)
    return FlowDecoder(templates, hold, accept)


__all__ = ["LISTENER_VERSIONS", "FlowDecoder", "FlowSettings", "decoder_for", "encode_records"]
