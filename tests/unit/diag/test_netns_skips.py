"""Namespace tests skip with a reason a person can act on when the machine cannot make namespaces."""

from __future__ import annotations

import pytest

from tests.support import netns


def test_not_root_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert netns.netns_unavailable() == "network namespace tests need root"


def test_missing_iproute2_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    assert netns.netns_unavailable() == "`ip` (Debian iproute2) is not installed"


def test_topology_skips_instead_of_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="need root"), netns.topology():
        pass
