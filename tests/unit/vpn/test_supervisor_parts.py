"""The supervisor's pure parts (the config openvpn runs, log translation, ping parsing), its
memory across restarts, and the `[vpn]` settings."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

from nocraven.vpn.history import VpnMemory
from nocraven.vpn.policy import Mode, Snapshot
from nocraven.vpn.profile import parse_profile, split_line
from nocraven.vpn.settings import VpnSettings
from nocraven.vpn.supervisor import ProbeResult, health_alert, launch_config, translate_log
from nocraven.vpn.tunnel import device_from_log, read_interface

PROFILE = parse_profile(
    "client\ndev tun\nremote a.example 1194\nkeepalive 10 60\nping 30\ndaemon\nlog /tmp/x.log\n"
    "auth-retry interact\nremote-random\nremote-cert-tls server\n<ca>\nCA\n</ca>\n"
)


def directives(config: str) -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for line in config.splitlines():
        tokens = split_line(line)
        if tokens and not line.startswith(("<", "CA")):
            found.setdefault(tokens[0], []).append(tokens[1:])
    return found


def test_launch_config_sets_our_timers_and_drops_what_we_own() -> None:
    settings = VpnSettings(ping_s=2, ping_restart_s=9)
    found = directives(launch_config(PROFILE, settings, Path("/run/x.sock"), standby=False, has_credentials=False))
    assert found["ping"] == [["2"]] and found["ping-restart"] == [["9"]]
    assert "keepalive" not in found and "daemon" not in found and "log" not in found
    assert found["auth-retry"] == [["none"]] and found["script-security"] == [["1"]]
    assert found["pull-filter"] == [["ignore", "ping"]]
    assert found["management"] == [["/run/x.sock", "unix"]] and "management-hold" in found
    assert "management-query-remote" not in found  # one remote: nothing to skip to
    assert "management-query-passwords" not in found
    assert found["dev"] == [["tun"]] and found["remote"] == [["a.example", "1194"]]
    assert "remote-random" not in found  # the supervisor picks remotes through >REMOTE


def test_standby_config_touches_no_device_or_route() -> None:
    found = directives(launch_config(PROFILE, VpnSettings(), Path("/s"), standby=True, has_credentials=True))
    assert found["dev"] == [["null"]] and "route-nopull" in found
    assert "management-query-passwords" in found
    # A pushed ifconfig or tun-mtu on `dev null` is fatal to openvpn 2.6: the check would never pass.
    assert ["ignore", "ifconfig"] in found["pull-filter"] and ["ignore", "tun-mtu"] in found["pull-filter"]


def test_p2p_profile_gets_no_pull_filter() -> None:
    profile = parse_profile("tls-client\ndev null\nremote 127.0.0.1 1194\n")
    assert "pull-filter" not in directives(
        launch_config(profile, VpnSettings(), Path("/s"), standby=False, has_credentials=False)
    )


def test_translate_log_names_certificate_problems() -> None:
    assert "TLS server usage" in (translate_log("VERIFY EKU ERROR") or "")
    assert "expired" in (translate_log("VERIFY ERROR: depth=0, error=certificate has expired: CN=server") or "")
    assert translate_log("VERIFY OK: depth=0, CN=server") is None
    assert translate_log("VERIFY KU OK") is None


def test_memory_restores_state_and_closes_entries_left_open_by_a_crash(tmp_path: Path) -> None:
    memory = VpnMemory(tmp_path)
    memory.save_state(Snapshot(Mode.MANUAL, "noc-b", "noc-b"))
    memory.started("noc-b", "manual connect to noc-b", 100.0)
    memory.connected(102.0)
    memory.db.close()  # a crash: no ended()
    again = VpnMemory(tmp_path)
    assert again.load_state() == Snapshot(Mode.MANUAL, "noc-b", "noc-b")
    entry = again.history()[0]
    assert entry.reason_ended == "the manager stopped" and entry.duration_s == 0.0
    again.started("noc-a", "restoring", 200.0)
    again.connected(201.0)
    again.ended("ping-restart", 231.0)
    assert again.history()[0].duration_s == 30.0 and again.history()[0].reason_ended == "ping-restart"
    assert stat.S_IMODE((tmp_path / "vpn" / "state.json").stat().st_mode) == 0o600
    again.close()


def test_probe_history_keeps_only_the_window(tmp_path: Path) -> None:
    memory = VpnMemory(tmp_path, history_hours=1)
    memory.probed("a", 0.0, True, 10.0, 0.0, 1.0)
    memory.probed("a", 3000.0, False, None, 100.0, None)
    memory.probed("a", 3700.0, True, 12.0, 0.0, 2.0)
    assert [p[0] for p in memory.probes("a", 0)] == [3000.0, 3700.0]
    memory.close()


def test_settings_defaults_and_cross_checks() -> None:
    settings = VpnSettings()
    assert settings.cross_checks() == []
    assert settings.holddown_s > settings.standby_interval_s
    bad = dataclasses.replace(settings, ping_s=10, ping_restart_s=5)
    assert "vpn.ping_restart_s" in bad.cross_checks()[0]
    checks = {f.name: f.metadata.get("checks", ()) for f in dataclasses.fields(VpnSettings)}
    assert any(check(0) for check in checks["failure_threshold"])  # 0 failures is refused


def test_health_alerts_name_the_threshold() -> None:
    settings = VpnSettings(alert_latency_ms=100, alert_loss_percent=10)
    assert health_alert(ProbeResult(True, 20.0, 0.0), settings) is None
    assert "vpn.alert_latency_ms = 100" in (health_alert(ProbeResult(True, 250.0, 0.0), settings) or "")
    assert "loss 33 %" in (health_alert(ProbeResult(True, 20.0, 33.3), settings) or "")
    assert "no answer" in (health_alert(ProbeResult(False), settings) or "")


def test_tunnel_device_from_openvpn_log_and_kernel() -> None:
    assert device_from_log("TUN/TAP device tun3 opened") == "tun3"
    assert device_from_log("Initialization Sequence Completed") is None
    loopback = read_interface("lo")
    assert loopback is not None and loopback.up and "127.0.0.1/8" in loopback.addresses
    assert read_interface("ncvpn-none0") is None


def test_query_remote_only_when_there_is_a_choice() -> None:
    profile = parse_profile("tls-client\ndev null\nremote 127.0.0.1 1194\nremote 127.0.0.2 1194\n")
    found = directives(launch_config(profile, VpnSettings(), Path("/s"), standby=False, has_credentials=False))
    assert "management-query-remote" in found
    assert found["server-poll-timeout"] == [[str(int(VpnSettings().connect_timeout_s) // 2)]]
