"""MIB resolution: bundled IETF/IANA names, operator MIBs compiled with pysmi, broken ones skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from collectors.snmptrap import ber
from collectors.snmptrap.compose import v2c_notification
from collectors.snmptrap.mibs import MibResolver, compile_operator_mibs
from collectors.snmptrap.receiver import TrapReceiver
from collectors.snmptrap.settings import SnmptrapSettings

HERE = Path(__file__).parent / "mibs"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str]]:
    source = tmp_path_factory.mktemp("mib-source")
    for path in HERE.iterdir():
        shutil.copy(path, source / path.name)
    (source / "notes.txt").write_text("not a MIB, just notes\n")
    output = tmp_path_factory.mktemp("mib-compiled")
    result = compile_operator_mibs(source, output)
    return output, result.compiled, result.problems


def test_a_vendor_mib_compiles_and_names_its_trap(compiled: tuple[Path, list[str], list[str]]) -> None:
    output, names, _ = compiled
    assert names == ["RAVEN-TEST-MIB"]
    resolver = MibResolver(["SNMPv2-MIB", "IF-MIB", "RAVEN-TEST-MIB"], [output])
    assert resolver.problems == []
    receiver = TrapReceiver(SnmptrapSettings(communities=["public"]), resolver, b"\x80\x00\x00\x00\x01")
    datagram = v2c_notification(
        "public",
        "1.3.6.1.4.1.99999.0.1",
        [
            ("1.3.6.1.4.1.99999.1.1.0", ber.INTEGER, 12),
            ("1.3.6.1.4.1.99999.1.2.0", ber.OCTET_STRING, b"overcurrent"),
            ("1.3.6.1.2.1.2.2.1.1.12", ber.INTEGER, 12),
        ],
    )
    (record,) = receiver.handle(datagram, ("192.0.2.1", 162), 0.0).records
    assert record["trap_name"] == "RAVEN-TEST-MIB::ravenPoeFault"
    assert [v["name"] for v in record["varbinds"]] == [
        "RAVEN-TEST-MIB::ravenPoeFaultPort.0",
        "RAVEN-TEST-MIB::ravenPoeFaultReason.0",
        "IF-MIB::ifIndex.12",
    ]


def test_broken_and_foreign_files_are_reported_not_fatal(compiled: tuple[Path, list[str], list[str]]) -> None:
    _, _, problems = compiled
    assert len(problems) == 3, problems
    broken, orphan, notes = sorted(problems)
    assert broken.startswith("MIB BROKEN-MIB (") and "line 5" in broken and "fix it or remove" in broken
    assert orphan.startswith("MIB ORPHAN-MIB (") and "imports NO-SUCH-VENDOR-MIB" in orphan
    assert notes.startswith("MIB file ") and "notes.txt" in notes and "DEFINITIONS" in notes


def test_recompiling_an_unchanged_directory_reuses_the_output(compiled: tuple[Path, list[str], list[str]]) -> None:
    output, _, _ = compiled
    before = (output / "RAVEN-TEST-MIB.py").stat().st_mtime_ns
    result = compile_operator_mibs(HERE, output)
    assert "RAVEN-TEST-MIB" in result.compiled
    assert (output / "RAVEN-TEST-MIB.py").stat().st_mtime_ns == before
    # Only the operator's MIBs are written: imports are never recompiled from their stubs.
    assert sorted(p.name for p in output.glob("*.py")) == ["RAVEN-TEST-MIB.py"]


def test_a_module_that_does_not_load_is_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "BAD-PY-MIB.py").write_text("raise RuntimeError('corrupt compiled MIB')\n")
    resolver = MibResolver(["IF-MIB", "BAD-PY-MIB"], [tmp_path])
    assert resolver.loaded == ["IF-MIB"]
    (problem,) = resolver.problems
    assert problem.startswith("MIB BAD-PY-MIB: does not load") and "corrupt compiled MIB" in problem
    assert resolver.notification_name("1.3.6.1.6.3.1.1.5.4") == "IF-MIB::linkUp"


def test_names_are_cached_and_unknown_oids_are_none() -> None:
    resolver = MibResolver(["IF-MIB"])
    assert resolver.name("1.3.6.1.2.1.2.2.1.8.5") == "IF-MIB::ifOperStatus.5"
    assert resolver.name("1.3.6.1.2.1.2.2.1.8.5") == "IF-MIB::ifOperStatus.5"
    assert resolver.notification_name("1.3.6.1.2.1.2.2.1.8.5") is None  # an instance, not a notification
    # An OID no MIB defines is named after its nearest known ancestor, as net-snmp does ...
    assert resolver.name("1.3.6.1.4.1.424242.1") == "SNMPv2-SMI::enterprises.424242.1"
    # ... but a trap gets a trap_name only from a MIB that defines that notification.
    assert resolver.notification_name("1.3.6.1.4.1.424242.0.1") is None
