"""`nocraven vpn ...` against a real engine: imports checked before they are kept, refusals as one
stderr line naming the file, the line and the directive; profiles listed, shown and exported
without their credentials. (Connecting to real openvpn servers: tests/integration/test_vpn_engine.py.)"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engine import RunningEngine, start_engine
from tests.support.vpn_pki import Issued, TestPki, client_profile, issue, make_ca, make_pki

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_pki()


@pytest.fixture(scope="module")
def vpn_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    # Nothing listens on the profiles' remotes, and the manager is off: these tests are about
    # the profiles themselves, not about connecting.
    running = start_engine(tmp_path_factory.mktemp("vpn") / "engine", "[vpn]\nenabled = false\n")
    yield running
    running.stop()


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def stored(engine: RunningEngine) -> list[str]:
    listed = engine.cli("vpn", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return [p["name"] for p in json.loads(listed.stdout)["profiles"]]


def refusal(engine: RunningEngine, path: Path) -> str:
    """Import a bad profile: exit 1, nothing on stdout, exactly one stderr line (returned)."""
    result = engine.cli("vpn", "import", str(path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"nocraven: {path}: "), lines[0]
    return lines[0]


def line_of(text: str, prefix: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(prefix))


def test_refused_imports_name_their_reason(vpn_engine: RunningEngine, pki: TestPki, tmp_path: Path) -> None:
    remote = [("127.0.0.1", 1194)]

    expired = issue(
        pki.ca, "old-client", "client", not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=3)
    )
    text = client_profile(pki, remote, client=expired)
    message = refusal(vpn_engine, write(tmp_path, "expired.ovpn", text))
    assert f"line {line_of(text, '<cert>')}: cert: the client certificate CN=old-client expired on" in message

    other = issue(pki.ca, "other", "client")
    text = client_profile(pki, remote, client=Issued(pki.client.cert, other.key))
    message = refusal(vpn_engine, write(tmp_path, "mismatch.ovpn", text))
    assert f"line {line_of(text, '<key>')}: key: the private key does not match the client certificate" in message

    text = client_profile(pki, remote, ca=make_ca("Some Other CA"))
    message = refusal(vpn_engine, write(tmp_path, "wrong-ca.ovpn", text))
    assert "not by the profile's CA (CN=Some Other CA)" in message

    text = client_profile(pki, remote, extra="server 10.8.0.0 255.255.255.0\n")
    message = refusal(vpn_engine, write(tmp_path, "server.ovpn", text))
    assert f"line {line_of(text, 'server ')}: server: is a server-only directive" in message

    text = client_profile(pki, remote, extra="script-security 2\nup /etc/openvpn/update-resolv-conf\n")
    message = refusal(vpn_engine, write(tmp_path, "script.ovpn", text))
    assert f"line {line_of(text, 'up ')}: up: would run a command on the appliance" in message

    text = client_profile(pki, remote).replace(f"<ca>\n{pki.ca.cert_pem}</ca>\n", "ca keys/missing-ca.crt\n")
    message = refusal(vpn_engine, write(tmp_path, "missing.ovpn", text))
    assert f"line {line_of(text, 'ca ')}: ca: file 'keys/missing-ca.crt' not found" in message

    assert stored(vpn_engine) == []  # nothing refused was kept


def test_import_list_show_export_remove(vpn_engine: RunningEngine, pki: TestPki, tmp_path: Path) -> None:
    # A profile that references its CA and credentials by file, next to it (as vendors ship them).
    write(tmp_path / "site", "ca.crt", pki.ca.cert_pem)
    write(tmp_path / "site", "login.txt", "venue-7\ns3cret-pw\n")
    text = client_profile(pki, [("127.0.0.1", 1194), ("127.0.0.2", 1195)]).replace(
        f"<ca>\n{pki.ca.cert_pem}</ca>\n", "ca ca.crt\nauth-user-pass login.txt\n"
    )
    profile = write(tmp_path / "site", "noc-east.ovpn", text)
    imported = vpn_engine.cli("vpn", "import", str(profile), "--priority", "20", "--json")
    assert imported.returncode == 0, imported.stderr
    body = json.loads(imported.stdout)["profile"]
    assert body["name"] == "noc-east" and body["priority"] == 20 and body["has_credentials"] is True
    assert body["remotes"] == ["127.0.0.1:1194/udp", "127.0.0.2:1195/udp"]
    assert 800 <= body["cert_days_left"] <= 3650

    second = vpn_engine.cli(
        "vpn", "import", str(write(tmp_path, "b.ovpn", client_profile(pki, [("127.0.0.1", 1196)]))), "--name", "noc-b"
    )
    assert second.returncode == 0 and "imported noc-b (priority 100)" in second.stdout
    assert stored(vpn_engine) == ["noc-east", "noc-b"]  # lower priority first

    again = vpn_engine.cli("vpn", "import", str(profile))
    assert again.returncode == 1 and "already exists" in again.stderr

    shown = vpn_engine.cli("vpn", "show", "noc-east")
    assert shown.returncode == 0 and "127.0.0.2:1195/udp" in shown.stdout and "CN=client" in shown.stdout
    assert "s3cret-pw" not in shown.stdout

    exported = vpn_engine.cli("vpn", "export", "noc-east")
    assert exported.returncode == 0, exported.stderr
    assert "BEGIN CERTIFICATE" in exported.stdout and "<ca>" in exported.stdout  # the CA file inlined
    assert "s3cret-pw" not in exported.stdout and "venue-7" not in exported.stdout
    assert "remote 127.0.0.2 1195 udp" in exported.stdout

    status = json.loads(vpn_engine.cli("vpn", "status", "--json").stdout)
    assert status["enabled"] is False and status["state"] == "disabled" and status["connected"] is False
    refused = vpn_engine.cli("vpn", "connect", "noc-b")
    assert refused.returncode == 1 and "vpn.enabled = false" in refused.stderr

    assert vpn_engine.cli("vpn", "remove", "noc-b").returncode == 0
    missing = vpn_engine.cli("vpn", "show", "noc-b")
    assert missing.returncode == 1 and "no VPN profile named 'noc-b'" in missing.stderr
    assert stored(vpn_engine) == ["noc-east"]
