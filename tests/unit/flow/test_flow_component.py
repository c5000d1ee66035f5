"""The flow collector's engine part: what it keeps from the collector's reports and answers on
/v1/flow/* (exporters with their rate, templates, top over the last minutes), without a process."""

from __future__ import annotations

import pytest

from collectors.common.channel import FrameKind
from collectors.common.frames import FrameError
from collectors.flow.report import ExporterCounters, FlowReport, MinuteTop, TemplateInfo, Usage, encode
from nocraven.config import Config
from nocraven.engine.bus import EventBus
from nocraven.engine.component import EngineContext
from nocraven.ingest.collector import CollectorExited
from nocraven.ingest.flow import MINUTES_KEPT, FlowComponent

NOW = 1_700_000_040.0  # 40 s into a minute
MINUTE = int(NOW // 60)


def component() -> FlowComponent:
    return FlowComponent(EngineContext(config=Config(), bus=EventBus()))


def minute(offset: int, hosts: dict[str, int], protocols: dict[int, int]) -> MinuteTop:
    return MinuteTop(
        minute=MINUTE + offset,
        hosts={h: Usage(bytes=b, packets=b // 100, flows=1) for h, b in hosts.items()},
        protocols={p: Usage(bytes=b, packets=b // 100, flows=1) for p, b in protocols.items()},
        other=Usage(bytes=7),
    )


def test_top_adds_up_the_minutes_asked_for_and_only_those() -> None:
    flow = component()
    report = FlowReport(
        exporters={},
        top=[
            minute(-10, {"10.0.0.9": 10**9}, {17: 10**9}),  # outside a 5-minute window
            minute(-2, {"10.0.0.1": 3000, "10.0.0.2": 1000}, {6: 4000}),
            minute(0, {"10.0.0.2": 5000}, {6: 2000, 17: 3000}),
        ],
    )
    flow.on_detail(encode(report), NOW)
    top = flow.top("bytes", 5, NOW)
    assert [(h.address, h.usage.bytes) for h in top.hosts] == [("10.0.0.2", 6000), ("10.0.0.1", 3000)]
    assert [(p.name, p.usage.bytes) for p in top.protocols] == [("tcp", 6000), ("udp", 3000)]
    assert top.covered_minutes == 2 and top.other.bytes == 14
    wide = flow.top("bytes", 15, NOW)
    assert wide.hosts[0].address == "10.0.0.9"
    # A minute's summary is replaced by its later, fuller one.
    flow.on_detail(encode(FlowReport(exporters={}, top=[minute(0, {"10.0.0.3": 10**6}, {})])), NOW + 1)
    assert flow.top("bytes", 1, NOW + 1).hosts[0].address == "10.0.0.3"


def test_only_the_last_hour_of_minutes_is_kept() -> None:
    flow = component()
    for offset in range(-100, 1):
        flow.on_detail(encode(FlowReport(exporters={}, top=[minute(offset, {"h": 1}, {})])), NOW)
    assert len(flow.minutes) == MINUTES_KEPT + 1


def test_exporters_get_a_rate_and_their_template_count() -> None:
    flow = component()
    template = TemplateInfo(
        exporter="192.0.2.1", port=9, version=10, domain=1, template_id=256, kind="data", fields=[],
        scope_fields=0, learned_at=NOW,
    )  # fmt: skip
    flow.on_detail(
        encode(FlowReport(exporters={"192.0.2.1": ExporterCounters(records=100)}, templates=[template])), NOW
    )
    flow.on_detail(encode(FlowReport(exporters={"192.0.2.1": ExporterCounters(records=600)})), NOW + 2)
    (exporter,) = flow.exporter_list().exporters
    assert exporter.rate_rps == 250.0 and exporter.templates == 1 and exporter.counters.records == 600
    assert len(flow.templates) == 1  # a report without templates keeps the last ones


def test_a_detail_frame_that_does_not_decode_stops_the_collector_with_a_reason() -> None:
    flow = component()
    with pytest.raises(FrameError):
        flow.on_detail(b'{"exporters": 3}', NOW)
    with pytest.raises(CollectorExited, match="cannot read"):
        flow._on_frame(FrameKind.DETAIL, b"[]", lambda: None, NOW)


def test_the_collector_gets_its_settings_and_a_state_dir_under_the_data_dir() -> None:
    setup = component().child_settings()
    assert setup.state_dir == str(Config().engine.data_dir / "flow")
    assert setup.flow == Config().flow
