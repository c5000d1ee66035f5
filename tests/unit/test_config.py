"""The config schema: defaults, and refusals that name the key, the value and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from nocraven import config
from nocraven.config import ConfigError


def refuse(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.from_toml_text(text, "test.toml")
    return info.value.problems


def test_embedded_default_is_valid_and_unprivileged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    cfg = config.embedded_default()
    assert cfg.engine.data_dir == tmp_path / "nocraven"
    assert cfg.engine.socket == tmp_path / "nocraven" / "control.sock"
    for address in (cfg.syslog.udp, cfg.syslog.tcp, cfg.flow.netflow, cfg.snmptrap.udp, cfg.winevents.listen):
        assert config.parse_listen(address)[1] >= 1024


def test_appliance_default_file_is_valid() -> None:
    cfg = config.load(Path(__file__).parents[2] / "etc" / "nocraven.toml")
    assert cfg.syslog.udp == "0.0.0.0:514"
    assert cfg.snmptrap.communities == ["public"]
    assert cfg.buffer.services["flow"].overflow == "drop_newest"


def test_unknown_key_names_the_key_and_the_known_ones() -> None:
    (problem,) = refuse("[syslog]\nudpp = '0.0.0.0:514'\n")
    assert problem.startswith("syslog.udpp: unknown key")
    assert "udp" in problem


def test_unknown_section() -> None:
    (problem,) = refuse("[sislog]\nudp = '0.0.0.0:514'\n")
    assert problem.startswith("sislog: unknown key")


def test_wrong_type_names_key_value_and_expected_type() -> None:
    (problem,) = refuse("[syslog]\nmax_message_bytes = 'big'\n")
    assert problem == "syslog.max_message_bytes = 'big': must be an integer"


def test_bool_is_not_an_integer() -> None:
    (problem,) = refuse("[syslog]\nmax_connections = true\n")
    assert problem == "syslog.max_connections = True: must be an integer"


def test_port_out_of_range() -> None:
    (problem,) = refuse("[syslog]\nudp = '0.0.0.0:70000'\n")
    assert problem == "syslog.udp = '0.0.0.0:70000': port 70000 is out of range 0-65535"


def test_listener_needs_host_and_port() -> None:
    (problem,) = refuse("[flow]\nnetflow = '2055'\n")
    assert problem.startswith("flow.netflow = '2055': expected \"HOST:PORT\"")


def test_empty_listener_disables_it_and_ipv6_is_accepted() -> None:
    cfg = config.from_toml_text("[syslog]\ntcp = ''\nudp = '[::]:514'\n", "t")
    assert cfg.syslog.tcp == ""
    assert config.parse_listen(cfg.syslog.udp) == ("::", 514)


def test_every_problem_is_reported_once() -> None:
    problems = refuse("[syslog]\nudp = 'x'\nallow = ['10.0.0.0/8', 'nonsense']\n[engine]\nlog_level = 'loud'\n")
    assert len(problems) == 3
    assert any(p.startswith("syslog.allow = ") and "'nonsense' is not an IP network" in p for p in problems)
    assert any(p.startswith("engine.log_level = 'loud': must be one of") for p in problems)


def test_invalid_toml_says_where() -> None:
    (problem,) = refuse("[syslog\nudp = 1\n")
    assert problem.startswith("invalid TOML:")
    assert "line 1" in problem


def test_service_buffer_tables_add_to_defaults() -> None:
    cfg = config.from_toml_text("[buffer.services.syslog]\nquota_bytes = 1000\n", "t")
    assert cfg.buffer.services["syslog"].quota_bytes == 1000
    assert set(cfg.buffer.services) == {"syslog", "flow", "trap", "poll", "winevent"}


def test_unknown_buffer_service_and_bad_overflow() -> None:
    problems = refuse("[buffer.services.netflow]\noverflow = 'drop_all'\n")
    assert problems == ["buffer.services.netflow.overflow = 'drop_all': must be one of 'drop_oldest', 'drop_newest'"]
    (problem,) = refuse("[buffer.services.netflow]\nquota_bytes = 5\n")
    assert problem.startswith("buffer.services.netflow: unknown service")


def test_tls_listener_needs_cert_and_key() -> None:
    (problem,) = refuse("[syslog]\ntls = '0.0.0.0:6514'\n")
    assert problem.startswith("syslog.tls = '0.0.0.0:6514': a TLS listener needs syslog.tls_cert")


def test_snmp_users_are_typed() -> None:
    cfg = config.from_toml_text("[[snmptrap.users]]\nname = 'noc'\nauth_protocol = 'SHA'\nauth_key = 'k1234567'\n", "t")
    assert cfg.snmptrap.users[0].name == "noc"
    (problem,) = refuse("[[snmptrap.users]]\nauth_protocol = 'SHA'\n")
    assert problem == "snmptrap.users[0].name: required key is missing"


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        config.load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        config.load(tmp_path)


def test_secrets_are_masked_in_the_api_view() -> None:
    cfg = config.from_toml_text("[winevents]\ntokens = ['dc01:s3cret-0123456789ab']\n", "t")
    view = config.to_dict(cfg)
    assert view["winevents"]["tokens"] == ["***"]
    assert "s3cret" not in repr(view)


def test_the_documented_forward_sink_is_valid_once_uncommented() -> None:
    text = (Path(__file__).parents[2] / "etc" / "nocraven.toml").read_text()
    head, forward = text.split("\n[forward]\n")
    forward, _, after = forward.partition("\n[")  # the sections documented after it
    head = f"{head}\n[{after}" if after else head
    sink = forward.split("# One table per sink:\n")[1]
    uncommented = "\n".join(line.removeprefix("# ") for line in sink.splitlines())
    cfg = config.from_toml_text(f'{head}\n[forward]\nsite = "arena-01"\n{uncommented}\n', "test.toml")
    (noc,) = cfg.forward.sinks
    assert (noc.name, noc.type, noc.urls, noc.requires_vpn) == ("noc", "nats", ["nats://10.8.0.1:4222"], False)
    assert noc.forwarded(config.SERVICES) == ("syslog", "flow", "trap", "poll", "winevent")


def test_a_sink_without_a_site_or_with_a_wrong_url_is_refused_by_key() -> None:
    problems = refuse('[[forward.sinks]]\nname = "noc"\ntype = "syslog"\nurls = ["tls://10.8.0.5"]\n')
    assert problems == [
        "forward.site: set this appliance's name (e.g. 'arena-01') to forward to the NOC",
        "forward.sinks[0].urls: 'tls://10.8.0.5': give the port, e.g. tls://10.8.0.1:6514",
    ]


def test_forward_files_that_are_missing_are_named_by_key(tmp_path: Path) -> None:
    cfg = config.from_toml_text(
        f'[engine]\ndata_dir = "{tmp_path}"\nsocket = "{tmp_path}/s.sock"\n[forward]\nsite = "a"\n'
        f'[[forward.sinks]]\nname = "noc"\nurls = ["tls://10.8.0.1:4222"]\ntls_ca = "{tmp_path}/nope.pem"\n',
        "test.toml",
    )
    problems = config.environment_problems(cfg)
    assert len(problems) == 1 and problems[0].startswith("forward.sinks[0].tls_ca")


def test_vpn_section_is_documented_with_its_defaults() -> None:
    cfg = config.load(Path(__file__).parents[2] / "etc" / "nocraven.toml")
    assert cfg.vpn == config.VpnSettings()


def test_vpn_timers_that_would_fight_are_refused_by_key() -> None:
    (problem,) = refuse("[vpn]\nping_s = 10\nping_restart_s = 10\n")
    assert problem.startswith("vpn.ping_restart_s = 10 must be greater than vpn.ping_s = 10")
    (problem,) = refuse("[vpn]\nholddown_s = -1\n")
    assert problem.startswith("vpn.holddown_s = -1")
