"""A port change is refused, with a line saying why, before anything is bound: bad syntax, out
of range, the same address, a privileged port without the privilege, or a port another listener
of ours holds (same protocol, overlapping address)."""

from __future__ import annotations

import pytest

from nocraven.ports.checks import Bound, ChangeRefused, check_change, may_bind_privileged

OURS = [
    Bound("syslog.udp", "udp", "0.0.0.0:514"),
    Bound("syslog.tcp", "tcp", "0.0.0.0:514"),
    Bound("snmptrap.udp", "udp", "127.0.0.1:1162"),
    Bound("flow.netflow", "udp", "[::]:2055"),
]


def change(address: str, lowest: int = 0, name: str = "syslog.udp", proto: str = "udp") -> tuple[str, int]:
    return check_change(name, proto, "0.0.0.0:514", address, OURS, lowest)


def test_a_valid_change_gives_host_and_port() -> None:
    assert change("0.0.0.0:1514") == ("0.0.0.0", 1514)
    assert change("[::1]:1514") == ("::1", 1514)


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("1514", "HOST:PORT"),
        ("0.0.0.0:notaport", "not a number"),
        ("0.0.0.0:70000", "out of range"),
        ("0.0.0.0:0", "fixed port"),
        ("example.org:1514", "not an IP address"),
        ("0.0.0.0:514", "already listens"),
    ],
)
def test_bad_addresses_are_refused_naming_the_problem(address: str, said: str) -> None:
    with pytest.raises(ChangeRefused, match=said) as refused:
        change(address)
    assert "syslog.udp" in str(refused.value)


def test_a_privileged_port_needs_root_or_the_capability() -> None:
    with pytest.raises(ChangeRefused, match="CAP_NET_BIND_SERVICE"):
        change("0.0.0.0:515", lowest=1024)
    assert change("0.0.0.0:1515", lowest=1024) == ("0.0.0.0", 1515)
    assert may_bind_privileged(0, 0) == 0
    assert may_bind_privileged(1000, 1 << 10) == 0
    assert may_bind_privileged(1000, 0) == 1024
    assert may_bind_privileged(1000, 0, unprivileged_start=80) == 80


@pytest.mark.parametrize(
    ("address", "clash"),
    [
        ("127.0.0.1:1162", "snmptrap.udp"),  # same address
        ("0.0.0.0:1162", "snmptrap.udp"),  # the wildcard covers it
        ("127.0.0.1:2055", "flow.netflow"),  # [::] takes IPv4 too
        ("[::1]:2055", "flow.netflow"),
    ],
)
def test_a_port_another_of_our_listeners_holds_is_refused_naming_it(address: str, clash: str) -> None:
    with pytest.raises(ChangeRefused, match=clash):
        change(address)


def test_other_protocols_and_other_addresses_do_not_clash() -> None:
    # TCP 514 is syslog.tcp's, but this is UDP; 127.0.0.2:1162 is not where snmptrap listens.
    assert change("127.0.0.2:1162") == ("127.0.0.2", 1162)
    assert check_change("syslog.tcp", "tcp", "0.0.0.0:514", "0.0.0.0:1162", OURS, 0) == ("0.0.0.0", 1162)
    # A listener may not take the port of its TCP sibling on the same protocol.
    with pytest.raises(ChangeRefused, match=r"syslog\.tcp"):
        check_change("syslog.tls", "tcp", "0.0.0.0:6514", "0.0.0.0:514", OURS, 0)
