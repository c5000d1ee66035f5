"""The change written back: only the one value changes, comments and layout stay; the file is
replaced by rename with its mode kept; a key the file lacks is added."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from nocraven.ports import configfile
from nocraven.ports.configfile import WriteBackFailed, replace_atomically, with_value

CONFIG = """# NoC Raven at arena-01: the switch stack sends here
[engine]
log_level = "info"  # debug when asked

[syslog]
# the core switches cannot be changed: they send to 514
udp = "0.0.0.0:514"   # the port everyone sends to
tcp = "0.0.0.0:514"
allow = ["10.0.0.0/8"]  # the venue network only
"""


def test_the_value_changes_and_every_comment_stays() -> None:
    text = with_value(CONFIG, "syslog.udp", "0.0.0.0:1514")
    assert tomllib.loads(text)["syslog"]["udp"] == "0.0.0.0:1514"
    assert text == CONFIG.replace('udp = "0.0.0.0:514"', 'udp = "0.0.0.0:1514"')
    assert "# the port everyone sends to" in text


def test_a_key_or_section_the_file_lacks_is_added() -> None:
    text = with_value(CONFIG, "syslog.tls", "0.0.0.0:6514")
    assert tomllib.loads(text)["syslog"]["tls"] == "0.0.0.0:6514"
    text = with_value(CONFIG, "snmptrap.udp", "0.0.0.0:1162")
    data = tomllib.loads(text)
    assert data["snmptrap"]["udp"] == "0.0.0.0:1162" and data["syslog"]["udp"] == "0.0.0.0:514"
    assert text.startswith(CONFIG.rstrip("\n"))


def test_the_file_is_replaced_with_its_mode_and_no_temporary_left(tmp_path: Path) -> None:
    path = tmp_path / "nocraven.toml"
    path.write_text(CONFIG)
    os.chmod(path, 0o640)
    before = path.stat().st_ino
    replace_atomically(path, with_value(CONFIG, "syslog.udp", "0.0.0.0:1514"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != before  # a new file renamed over the old one
    assert "0.0.0.0:1514" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["nocraven.toml"]


def test_a_failed_write_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "nocraven.toml"
    path.write_text(CONFIG)

    def refuse(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(configfile.os, "replace", refuse)
    with pytest.raises(WriteBackFailed, match=r"No space left on device.*not saved"):
        replace_atomically(path, "broken")
    assert path.read_text() == CONFIG
    assert [p.name for p in tmp_path.iterdir()] == ["nocraven.toml"]
