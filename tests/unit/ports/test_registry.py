"""The registry names every listener the config can open by the key that sets it."""

from __future__ import annotations

import dataclasses

from nocraven.config import Config
from nocraven.ports.registry import configured_listeners, find, persisted_to


def test_every_listener_is_named_by_its_config_key() -> None:
    config = Config()
    sections = config.sections()
    for listener in configured_listeners(config):
        section, key = listener.config_key.split(".")
        assert getattr(sections[section], key) == listener.address, listener.name
        assert listener.proto in ("udp", "tcp")
    names = [c.name for c in configured_listeners(config)]
    assert len(names) == len(set(names))
    assert find(config, "syslog.udp") is not None and find(config, "syslog.nope") is None


def test_changes_persist_only_to_a_file() -> None:
    assert persisted_to(Config()) is None
    assert persisted_to(dataclasses.replace(Config(), source="<embedded dev default>")) is None
    assert persisted_to(dataclasses.replace(Config(), source="/etc/nocraven/nocraven.toml")) == (
        "/etc/nocraven/nocraven.toml"
    )
