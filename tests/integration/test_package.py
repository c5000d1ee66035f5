"""The Debian package, built and installed for real: into a fresh debootstrapped Debian 12 root,
its units checked by systemd-analyze there, and the engine started from the installed tree as
user nocraven with only its three capabilities, answering `nocraven status --json` on its socket.

Why not a container: no container runtime runs here (a docker client, no daemon). A chroot with
private mount, network and pid namespaces gives the same isolation for what is tested (the
package's files, scripts, users and units, and the engine on the installed config's own ports).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support import rootfs

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2400)]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = rootfs.unavailable()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("package")
    build = subprocess.run(
        [str(REPO / "packaging" / "build-deb"), str(work / "dist")], capture_output=True, text=True, timeout=1800
    )
    assert build.returncode == 0, build.stderr[-3000:]
    deb = Path(build.stdout.strip().splitlines()[-1])
    contents = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    for path in ("./opt/nocraven/bin/nocraven", "./usr/bin/nocraven", "./lib/systemd/system/nocraven.service"):
        assert path in contents
    root = rootfs.fresh_root(work)
    out = work / "out"
    run = subprocess.run(
        [str(REPO / "packaging" / "try-in-root"), str(root), str(deb), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (out / "root").symlink_to(root)
    return out


def test_the_package_installs_with_its_users_and_a_private_config(installed: Path) -> None:
    root = installed / "root"
    assert "Setting up nocraven" in (installed / "install.log").read_text()
    passwd = (root / "etc/passwd").read_text()
    group = (root / "etc/group").read_text()
    assert any(line.startswith("nocraven:") and line.endswith(":/usr/sbin/nologin") for line in passwd.splitlines())
    assert any(line.startswith("nocraven-console:") for line in passwd.splitlines())
    admin = next(line for line in group.splitlines() if line.startswith("nocraven-admin:"))
    assert "nocraven" in admin.split(":")[3].split(",")  # the engine reads its config through it
    conf = root / "etc/nocraven/nocraven.toml"
    assert conf.stat().st_mode & 0o777 == 0o640
    status = (root / "var/lib/dpkg/status").read_text()
    assert " /etc/nocraven/nocraven.toml " in status  # a conffile: local edits survive upgrades
    assert "/usr/bin/nocraven-console" in (root / "etc/shells").read_text()


def test_systemd_analyze_verifies_both_units(installed: Path) -> None:
    output = (installed / "verify.out").read_text()
    assert (installed / "verify.rc").read_text().strip() == "0", output
    assert output.strip() == "", output  # no warning either: unknown keys, missing binaries, ...


def test_the_installed_engine_runs_as_nocraven_with_three_capabilities_and_answers(installed: Path) -> None:
    status = json.loads((installed / "status.json").read_text())
    assert status["config"] == "/etc/nocraven/nocraven.toml"
    assert status["socket"] == "/run/nocraven/control.sock"
    assert status["role"] == "admin"  # root
    assert status["components"]["buffer"]["state"] == "running"
    assert status["components"]["syslog"]["state"] == "running"  # port 514, without root
    proc = dict(line.split(":", 1) for line in (installed / "engine-status.txt").read_text().splitlines())
    uid = proc["Uid"].split()[0]
    passwd = (installed / "root" / "etc/passwd").read_text().splitlines()
    assert uid == next(line.split(":")[2] for line in passwd if line.startswith("nocraven:"))
    wanted = (1 << 10) | (1 << 12) | (1 << 13)  # CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW
    for key in ("CapEff", "CapAmb", "CapBnd"):
        assert int(proc[key], 16) == wanted, (key, proc[key])
    assert proc["NoNewPrivs"].strip() == "1"
    log = (installed / "engine.log").read_text()
    assert "syslog listening on 0.0.0.0:514/udp" in log, log[-2000:]


def test_a_technician_reads_the_status_and_a_stranger_is_refused(installed: Path) -> None:
    tech = json.loads((installed / "tech-status.json").read_text())
    assert tech["role"] == "tech"
    assert (installed / "visitor.rc").read_text().strip() == "4"  # permission denied
    assert "nocraven group" in (installed / "visitor.out").read_text()
