"""The component's tick with a scripted sampler: an alert held long enough goes out on the bus as
a typed `health.alert_raised` a client decodes, lands in the SQLite history and the report;
its clearing goes out as `health.alert_cleared`; the history table gets one row per sample."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgspec

from nocraven.client import decode_published
from nocraven.config import Config
from nocraven.engine.bus import EventBus
from nocraven.engine.component import EngineContext
from nocraven.health.component import HealthComponent
from nocraven.health.history import HealthStore
from nocraven.health.sampler import SystemSampler
from nocraven.health.settings import HealthSettings
from nocraven.schema.events import Published
from nocraven.schema.health import AlertCleared, AlertRaised, SystemSample


class ScriptedSampler(SystemSampler):
    def __init__(self, real: SystemSample, memory: list[float]) -> None:
        self.real = real
        self.memory = memory

    def sample(self) -> SystemSample:
        # Everything else calm, whatever the machine running the test is doing.
        return msgspec.structs.replace(
            self.real,
            memory_percent=self.memory.pop(0),
            cpu_percent=5.0,
            load1=0.1,
            load5=0.1,
            load15=0.1,
            disk_percent=10.0,
            inodes_percent=10.0,
        )


def as_client_sees_it(published: Published) -> Published:
    """Through the watch stream's line format and back, as `nocraven` clients decode it."""
    line = msgspec.json.encode(
        {"seq": published.seq, "kind": published.event.kind, "at": published.at, "data": published.event}
    )
    return decode_published(line)


async def test_alerts_go_out_on_the_bus_and_into_history(tmp_path: Path) -> None:
    settings = HealthSettings(hold_s=10, memory_warning_percent=80, memory_critical_percent=90)
    config = Config()
    config = dataclasses.replace(config, engine=dataclasses.replace(config.engine, data_dir=tmp_path), health=settings)
    bus = EventBus()
    watcher = bus.subscribe()
    component = HealthComponent(EngineContext(config=config, bus=bus))
    component.store = HealthStore(tmp_path / "health.sqlite", resolution_s=1)
    sampler = ScriptedSampler(SystemSampler(tmp_path).sample(), [95.0, 95.0, 95.0, 50.0, 50.0])

    for now in (100.0, 105.0, 110.0):
        await component.tick(sampler, now)
    raised = [as_client_sees_it(p).event for p in await watcher.next_batch()]
    assert len(raised) == 1 and isinstance(raised[0], AlertRaised)
    assert raised[0].alert.severity == "critical" and raised[0].alert.raised_at == 110.0
    report = component.report()
    assert report.status == "critical" and [a.metric for a in report.active] == ["memory"]

    for now in (115.0, 125.0):
        await component.tick(sampler, now)
    cleared = [as_client_sees_it(p).event for p in await watcher.next_batch()]
    assert len(cleared) == 1 and isinstance(cleared[0], AlertCleared)
    assert cleared[0].alert.cleared_at == 125.0
    report = component.report()
    assert report.status == "ok" and report.active == []
    assert [(a.metric, a.raised_at, a.cleared_at) for a in report.history] == [("memory", 110.0, 125.0)]
    assert [(a.metric, a.cleared_at) for a in component.store.alerts()] == [("memory", 125.0)]
    assert [p.values["memory"] for p in component.store.points(0)] == [95.0, 95.0, 95.0, 50.0, 50.0]
    component.store.close()
