"""Receiver start-up: engine ID, engine boots across restarts, operator MIBs, settings checks."""

from __future__ import annotations

from pathlib import Path

from collectors.snmptrap.settings import SnmptrapSettings, SnmpUser, engine_id_hex
from collectors.snmptrap.startup import next_engine_boots, open_receiver, our_engine_id

HERE = Path(__file__).parent / "mibs"


def test_engine_id_is_configured_or_stable_per_machine(tmp_path: Path) -> None:
    machine = tmp_path / "machine-id"
    machine.write_text("0123456789abcdef0123456789abcdef\n")
    derived = our_engine_id(SnmptrapSettings(), machine)
    assert derived == our_engine_id(SnmptrapSettings(), machine)
    assert derived[:1] == b"\x80" and 5 <= len(derived) <= 32
    machine.write_text("fedcba9876543210fedcba9876543210\n")
    assert our_engine_id(SnmptrapSettings(), machine) != derived
    configured = SnmptrapSettings(engine_id="80:00:1f:88:04:72:61:76:65:6e")
    assert our_engine_id(configured, machine) == b"\x80\x00\x1f\x88\x04raven"


def test_engine_boots_grow_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "state" / "boots"
    assert [next_engine_boots(path) for _ in range(3)] == [1, 2, 3]
    path.write_text("garbage")
    assert next_engine_boots(path) == 1
    path.write_text(str(2**31 - 1))
    assert next_engine_boots(path) == 2**31 - 1


def test_open_receiver_compiles_operator_mibs_and_reports_broken_ones(tmp_path: Path) -> None:
    settings = SnmptrapSettings(mib_dir=str(HERE))
    started = open_receiver(settings, tmp_path, 100.0, modules=["SNMPv2-MIB", "IF-MIB"], machine_id=tmp_path / "none")
    assert started.operator_mibs == ["RAVEN-TEST-MIB"]
    assert sorted(p.split(" ")[1] for p in started.problems) == ["BROKEN-MIB", "ORPHAN-MIB"]
    resolver = started.receiver.resolver
    assert resolver is not None
    assert resolver.notification_name("1.3.6.1.4.1.99999.0.1") == "RAVEN-TEST-MIB::ravenPoeFault"
    assert started.receiver.usm.engine_boots == 1
    again = open_receiver(settings, tmp_path, 200.0, modules=["IF-MIB"], machine_id=tmp_path / "none")
    assert again.receiver.usm.engine_boots == 2
    assert again.receiver.usm.engine_id == started.receiver.usm.engine_id


def test_settings_refuse_short_keys_duplicates_and_bad_engine_ids() -> None:
    settings = SnmptrapSettings(
        users=[SnmpUser("a", "SHA", "short", "AES", "long-enough"), SnmpUser("a", "MD5", "long-enough")]
    )
    assert settings.cross_checks() == [
        "snmptrap.users.a.auth_key: at least 8 characters are needed",
        "snmptrap.users.a: the user is defined twice",
    ]
    assert engine_id_hex("") is None
    assert engine_id_hex("80001f8804") is None
    assert engine_id_hex("8000") == "an engine ID is 5 to 32 bytes, 2 given"
    assert "is not hex" in (engine_id_hex("zz") or "")
