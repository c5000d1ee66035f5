"""The CLI through its real entry point: exit codes, one-line errors, --json that parses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.engine import RunningEngine, run_cli
from tests.support.users import run_as

BAD_CONFIGS = {
    "unknown key": ("[syslog]\nudp_port = 514\n", "syslog.udp_port: unknown key"),
    "wrong type": ("[syslog]\nmax_connections = 'many'\n", "syslog.max_connections = 'many': must be an integer"),
    "port out of range": (
        "[flow]\nsflow = '0.0.0.0:99999'\n",
        "flow.sflow = '0.0.0.0:99999': port 99999 is out of range",
    ),
    "invalid toml": ("[engine\n", "invalid TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("command", [["engine", "--config"], ["config", "check"]])
def test_bad_config_is_one_clear_line_and_exit_2(tmp_path: Path, case: str, command: list[str]) -> None:
    text, expected = BAD_CONFIGS[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = run_cli(*command, str(path), socket=tmp_path / "none.sock")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0] and str(path) in lines[0]
    assert result.stdout == ""


@pytest.mark.skipif(os.getuid() != 0, reason="root reads every file; the test drops to another user")
def test_unreadable_config_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.toml"
    path.write_text("[engine]\n")
    path.chmod(0o600)
    tmp_path.chmod(0o755)

    from nocraven.engine.main import run  # imported here: the other user may not read /root

    def check() -> None:
        raise SystemExit(run(path))

    outcome = run_as(65534, 65534, check)
    assert outcome.code == 2
    assert outcome.stderr.strip() == f"nocraven: config: {path}: cannot read the file (permission denied for uid 65534)"


def test_config_check_json_and_ok(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text("[syslog]\nudp = '127.0.0.1:5514'\n")
    result = run_cli("config", "check", str(path), "--json")
    assert result.returncode == 0
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["config"]["syslog"]["udp"] == "127.0.0.1:5514"


def test_status_without_engine_exits_3_with_a_hint(tmp_path: Path) -> None:
    result = run_cli("status", socket=tmp_path / "nobody-home.sock")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1
    assert "no engine answers on" in result.stderr and "nocraven engine" in result.stderr
    assert result.stdout == ""


def test_status_json_has_the_documented_keys(engine: RunningEngine) -> None:
    result = engine.cli("status", "--json")
    assert result.returncode == 0
    doc = json.loads(result.stdout)
    assert {"version", "hostname", "pid", "started_at", "uptime_s", "config", "socket", "components", "role"} <= set(
        doc
    )
    assert doc["role"] == "admin"
    for component in doc["components"].values():
        assert component["state"] in {"running", "starting", "restarting", "failed", "stopped", "not_available"}


def test_status_human_output_is_a_table(engine: RunningEngine) -> None:
    result = engine.cli("status")
    assert result.returncode == 0
    assert result.stdout.startswith("NoC Raven engine ")
    assert "component" in result.stdout and "state" in result.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = run_cli("buffer", "tail", "--limit", "zero", socket=tmp_path / "x.sock")
    assert result.returncode == 2
