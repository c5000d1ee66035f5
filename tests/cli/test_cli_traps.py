"""`nocraven traps agents|mibs [--json]` and `nocraven traps mibs add FILE` through the real entry
point: against an engine whose receiver is off (fast), and one whose receiver compiles the added
MIB and names traps with it (integration: net-snmp's snmptrap, the collector's MIB loading)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.engine import RunningEngine, start_engine
from tests.support.snmptrap import net_snmp, trap_address, trap_config, wait_for_traps

MIBS = Path(__file__).parents[1] / "unit" / "snmptrap" / "mibs"
POE_FAULT = "1.3.6.1.4.1.99999.0.1"


def test_agents_and_mibs_with_the_receiver_off(engine: RunningEngine) -> None:
    agents = engine.cli("traps", "agents", "--json")
    assert agents.returncode == 0, agents.stderr
    data = json.loads(agents.stdout)
    assert data["running"] is False and data["agents"] == {} and data["totals"]["traps"] == 0
    human = engine.cli("traps", "agents")
    assert human.returncode == 0 and "not listening" in human.stderr
    mibs = json.loads(engine.cli("traps", "mibs", "--json").stdout)
    assert mibs["running"] is False and mibs["files"] == []
    assert mibs["upload_dir"] == str(engine.directory / "data" / "snmptrap" / "mibs")


def test_mibs_add_refuses_what_is_not_a_mib_and_stores_a_mib(engine: RunningEngine, tmp_path: Path) -> None:
    not_a_mib = tmp_path / "notes.txt"
    not_a_mib.write_text("switch 3 sends traps on port 162\n")
    refused = engine.cli("traps", "mibs", "add", str(not_a_mib))
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1].startswith("nocraven: notes.txt is not an SMI MIB (no 'NAME DEFINITIONS")
    missing = engine.cli("traps", "mibs", "add", str(tmp_path / "nowhere.mib"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr

    added = engine.cli("traps", "mibs", "add", str(MIBS / "RAVEN-TEST-MIB.txt"))
    assert added.returncode == 0, added.stderr
    result = json.loads(added.stdout)
    # The receiver is off: stored, compiled when it starts.
    assert result["module"] == "RAVEN-TEST-MIB" and result["result"] == "pending"
    assert "compiled when the trap receiver starts" in added.stderr
    mibs = json.loads(engine.cli("traps", "mibs", "--json").stdout)
    assert mibs["files"] == ["RAVEN-TEST-MIB.mib"]
    stored = Path(mibs["upload_dir"]) / "RAVEN-TEST-MIB.mib"
    assert stored.read_bytes() == (MIBS / "RAVEN-TEST-MIB.txt").read_bytes()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)  # three MIB loads (start, two restarts) of ~5 s each, far more on a busy machine
@pytest.mark.skipif(not shutil.which("snmptrap"), reason="needs net-snmp's snmptrap (Debian package snmp)")
def test_an_added_mib_is_compiled_and_names_traps(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", trap_config(), wait=60)
    try:
        address = trap_address(engine)
        added = engine.cli("traps", "mibs", "add", str(MIBS / "RAVEN-TEST-MIB.txt"), timeout=200)
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout)["result"] == "compiled"
        address = trap_address(engine)  # the collector restarted: a new port (port 0 was asked)
        sent = net_snmp(tmp_path / "net-snmp", "snmptrap", "-v2c", "-c", "public", address, "", POE_FAULT,
                        "1.3.6.1.4.1.99999.1.1", "i", "7")  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        records = wait_for_traps(engine, lambda rs: any(r["trap_oid"] == POE_FAULT for r in rs))
        record = next(r for r in records if r["trap_oid"] == POE_FAULT)
        assert record["trap_name"] == "RAVEN-TEST-MIB::ravenPoeFault"
        assert record["varbinds"][0]["name"] == "RAVEN-TEST-MIB::ravenPoeFaultPort"

        broken = engine.cli("traps", "mibs", "add", str(MIBS / "BROKEN-MIB.mib"), timeout=200)
        assert broken.returncode == 1
        assert "MIB BROKEN-MIB does not compile" in broken.stderr
        mibs = json.loads(engine.cli("traps", "mibs", "--json").stdout)
        assert mibs["status"]["operator"] == ["RAVEN-TEST-MIB"]
        assert [p.split(" ")[1] for p in mibs["status"]["problems"]] == ["BROKEN-MIB"]
        human = engine.cli("traps", "mibs")
        assert "compiled  RAVEN-TEST-MIB" in human.stdout and "problem   MIB BROKEN-MIB" in human.stdout
    finally:
        engine.stop()
