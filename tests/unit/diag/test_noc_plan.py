"""What the NOC check probes: [diag] first, else the first forward sink's URL; the gateway from
the routing table; a step without a target is left out with a note saying what to set."""

from __future__ import annotations

import pytest

from nocraven.config import ConfigError, from_toml_text
from nocraven.diag.noc import default_gateway, noc_plan
from nocraven.schema.diag import NocPlan

ROUTES = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
    "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"
    "eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\n"
)
NO_ROUTES = ROUTES.splitlines()[0] + "\n"
NATS_SINK = '[forward]\nsite = "a"\n[[forward.sinks]]\nname = "noc"\nurls = ["nats://noc.example.net"]\n'


def plan_for(toml: str, routes: str | None = ROUTES) -> NocPlan:
    config = from_toml_text(toml, "test")
    return noc_plan(config.diag, config.forward, routes)


def test_default_gateway_from_the_route_table() -> None:
    assert default_gateway(ROUTES) == "192.168.0.1"
    assert default_gateway(NO_ROUTES) is None


def test_the_noc_is_the_first_forward_sink_when_diag_names_none() -> None:
    plan = plan_for(NATS_SINK)
    assert (plan.gateway, plan.host, plan.port, plan.dns_name) == (
        "192.168.0.1",
        "noc.example.net",
        4222,
        "noc.example.net",
    )
    assert plan.source == "forward sink 'noc'" and plan.notes == []


def test_diag_keys_win_over_the_sink_and_the_routes() -> None:
    diag = (
        '[diag]\nnoc_target = "10.8.0.1:6514"\nnoc_dns_name = "noc.venue.example"\n'
        'noc_dns_server = "10.8.0.53:5353"\ngateway = "10.0.0.254"\n'
    )
    plan = plan_for(diag + NATS_SINK)
    assert (plan.gateway, plan.host, plan.port) == ("10.0.0.254", "10.8.0.1", 6514)
    assert (plan.dns_name, plan.dns_server, plan.source) == ("noc.venue.example", "10.8.0.53:5353", "[diag] noc_target")


def test_nothing_configured_pings_loopback_and_says_what_to_set() -> None:
    plan = plan_for("", NO_ROUTES)
    assert (plan.gateway, plan.host, plan.port, plan.dns_name) == ("127.0.0.1", None, None, None)
    said = " ".join(plan.notes)
    assert "[diag] gateway" in said and "[diag] noc_target" in said and "[diag] noc_dns_name" in said


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('noc_target = "noc.example.net"', "diag.noc_target"),
        ('noc_target = "x;rm -rf /:22"', "diag.noc_target"),
        ('noc_target = "noc.example.net:70000"', "diag.noc_target"),
        ('gateway = "router"', "diag.gateway"),
        ('noc_dns_server = "dns.example:53"', "diag.noc_dns_server"),
        ('noc_dns_name = "bad name"', "diag.noc_dns_name"),
    ],
)
def test_bad_noc_keys_are_refused_by_key(line: str, key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        from_toml_text(f"[diag]\n{line}\n", "test")
    assert key in str(refused.value)
