"""`[snmp]` and `[[snmp.poll]]` in the config: defaults, checks, and v3 users from [[snmptrap.users]]."""

from __future__ import annotations

import pytest

from collectors.snmppoll.failures import describe
from collectors.snmppoll.settings import PollTarget
from collectors.snmppoll.targets import mib_modules, resolve_targets
from nocraven.config import ConfigError, from_toml_text

USER = """
[[snmptrap.users]]
name = "noc"
auth_protocol = "SHA"
auth_key = "noc-auth-pass"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        from_toml_text(text, "test.toml")
    return caught.value.problems


def test_a_target_takes_the_design_defaults() -> None:
    config = from_toml_text('[[snmp.poll]]\nhost = "10.1.0.2"\n', "test.toml")
    (target,) = config.snmp.poll
    assert target.version == "2c" and target.community == "public" and target.interval_s == 60
    assert target.tables == ["IF-MIB::ifTable", "IF-MIB::ifXTable"] and target.oids == []
    assert target.port == 161 and target.label == "10.1.0.2"


def test_a_v3_target_names_a_trap_user() -> None:
    config = from_toml_text(USER + '[[snmp.poll]]\nhost = "10.1.0.2"\nversion = "3"\nuser = "noc"\n', "t.toml")
    assert config.snmp.poll[0].user == "noc"
    found = problems('[[snmp.poll]]\nhost = "10.1.0.2"\nversion = "3"\nuser = "nobody"\n')
    assert any("snmp.poll[0].user" in line and "'nobody'" in line and "[[snmptrap.users]]" in line for line in found)
    found = problems('[[snmp.poll]]\nhost = "10.1.0.2"\nversion = "3"\n')
    assert any("snmp.poll[0].user: version 3 needs a user" in line for line in found)


def test_bad_values_name_the_key() -> None:
    text = "\n".join(problems('[[snmp.poll]]\nhost = "10.1.0.2:161"\noids = ["sysUpTime"]\n'))
    assert "snmp.poll[0].host" in text and "port" in text
    assert "snmp.poll[0].oids" in text and "'sysUpTime'" in text
    text = "\n".join(problems('[[snmp.poll]]\nhost = "10.1.0.3"\ninterval_s = 5\ntimeout_s = 3\nretries = 1\n'))
    assert "snmp.poll[0].timeout_s" in text and "interval_s 5" in text


def test_the_same_device_twice_is_refused() -> None:
    found = problems('[[snmp.poll]]\nhost = "10.1.0.2"\n[[snmp.poll]]\nhost = "10.1.0.2"\n')
    assert any("'10.1.0.2' is polled twice" in line for line in found)


def test_names_resolve_and_unknown_ones_are_reported_not_fatal() -> None:
    known = {"SNMPv2-MIB::sysUpTime.0": "1.3.6.1.2.1.1.3.0", "IF-MIB::ifTable": "1.3.6.1.2.1.2.2"}
    target = PollTarget(host="10.1.0.2", tables=["IF-MIB::ifTable", "UPS-MIB::upsBogus"], oids=[".1.3.6.1.2.1.1.5.0"])
    assert mib_modules([target]) == ["SNMPv2-MIB", "IF-MIB", "UPS-MIB"]
    (state,), found = resolve_targets([target], known.get)
    assert state.scalars == ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0"]  # sysUpTime.0 always first
    assert state.tables == [("IF-MIB::ifTable", "1.3.6.1.2.1.2.2")]
    assert found == [
        "snmp.poll[0].tables: UPS-MIB::upsBogus is in no loaded MIB; use its numeric OID or add the MIB "
        "(`nocraven traps mibs add FILE`)"
    ]


def test_failures_are_one_line_naming_the_target_and_what_to_check() -> None:
    class RequestTimedOut(Exception):
        pass

    class WrongDigest(Exception):
        pass

    v2c = PollTarget(host="10.1.0.2", name="core", timeout_s=2, retries=1)
    timeout = describe(RequestTimedOut("No SNMP response"), v2c)
    assert timeout.kind == "timeout"
    assert timeout.message.startswith("core (10.1.0.2:161, SNMPv2c): no answer in 2 s x 2 tries")
    assert "community" in timeout.message
    v3 = PollTarget(host="10.1.0.3", version="3", user="noc")
    digest = describe(WrongDigest("Wrong SNMP PDU digest"), v3)
    assert digest.kind == "auth" and "auth_key" in digest.message and "noc" in digest.message
    assert "\n" not in digest.message


def test_the_documented_poll_targets_are_valid_once_uncommented() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[3] / "etc" / "nocraven.toml").read_text()
    section = text.split("\n[snmp]\n")[1].split("\n[winevents]\n")[0]
    uncommented = "\n".join(line.removeprefix("# ") for line in section.splitlines())
    cfg = from_toml_text(USER + f"\n[snmp]\n{uncommented}\n", "test.toml")
    switch, ups = cfg.snmp.poll
    assert (switch.label, switch.version, switch.tables) == ("core-sw1", "2c", ["IF-MIB::ifTable", "IF-MIB::ifXTable"])
    assert (ups.label, ups.version, ups.user, ups.tables) == ("ups-hall-b", "3", "noc", [])
    assert "UPS-MIB::upsEstimatedChargeRemaining.0" in ups.oids
