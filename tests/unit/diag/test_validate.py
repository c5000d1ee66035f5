"""Input checks: what a technician types is accepted, normalised, or refused with one line."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nocraven.diag import validate as v
from nocraven.diag.schema import (
    BandwidthRequest,
    DnsRequest,
    IperfRequest,
    PingRequest,
    PortRequest,
    TraceRequest,
    problem,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Gateway.Example.NET", "gateway.example.net"),
        ("noc-1.example.net.", "noc-1.example.net"),
        ("localhost", "localhost"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
        ("10.0.0.1", "10.0.0.1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
    ],
)
def test_hosts_accepted_and_normalised(value: str, expected: str) -> None:
    assert v.check_host(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("example.com; rm -rf /", "never valid"),
        ("$(reboot)", "never valid"),
        ("`id`", "never valid"),
        ("host|nc", "never valid"),
        ("a b", "never valid"),
        ("-leading.example", "not a valid host name"),
        ("trailing-.example", "not a valid host name"),
        ("under_score.example", "not a valid host name"),
        ("a" * 64 + ".example", "not a valid host name"),
        (".".join(["a" * 60] * 5), "at most 253"),
        ("256.1.1.1", "is not an IPv4 or IPv6 address"),
        ("10.0.0", "is not an IPv4 or IPv6 address"),
        ("1.2.3.4.5", "is not an IPv4 or IPv6 address"),
        ("2001:db8::zz", "is not an IPv4 or IPv6 address"),
        ("", "required"),
    ],
)
def test_bad_hosts_refused_with_one_line(value: str, fragment: str) -> None:
    with pytest.raises(v.InvalidInput) as caught:
        v.check_host(value)
    message = str(caught.value)
    assert fragment in message
    assert message.startswith("host: ")
    assert "\n" not in message


@given(st.text(max_size=300))
def test_any_text_is_either_a_clean_host_or_one_line_refusal(value: str) -> None:
    try:
        host = v.check_host(value)
    except v.InvalidInput as exc:
        assert "\n" not in str(exc)
    else:
        assert not set(host) & set(";&|`$<>(){}\\\"'!*?~ \n\r\t")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("192.0.2.53:5353", ("192.0.2.53", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5300", ("2001:db8::53", 5300)),
        ("[2001:db8::53]", ("2001:db8::53", 53)),
    ],
)
def test_dns_servers(value: str, expected: tuple[str, int]) -> None:
    assert v.check_dns_server(value) == expected


@pytest.mark.parametrize(
    "value", ["dns.example:53", "192.0.2.53:0", "192.0.2.53:70000", "192.0.2.53:x", "[2001:db8::53", "1.1.1.1;id"]
)
def test_bad_dns_servers(value: str) -> None:
    with pytest.raises(v.InvalidInput, match=r"^server: "):
        v.check_dns_server(value)


@pytest.mark.parametrize(
    "value",
    ["http://noc.example.net/speed", "https://10.0.0.1:8443/100MB.bin", "https://[2001:db8::1]/x?size=10"],
)
def test_urls_accepted(value: str) -> None:
    assert v.check_url(value) == value


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("ftp://noc.example.net/file", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("https://user:pw@noc.example.net/", "user name or password"),
        ("https://noc.example.net/`id`", "never valid in a URL"),
        ("https://noc.example.net/a b", "never valid in a URL"),
        ("http://bad_host.example/", "not a valid host name"),
        ("http://noc.example.net:99999/", "not a valid URL"),
        ("https:///nohost", "has no host"),
    ],
)
def test_bad_urls(value: str, fragment: str) -> None:
    with pytest.raises(v.InvalidInput, match=r"^url: ") as caught:
        v.check_url(value)
    assert fragment in str(caught.value)


def test_record_types_and_dns_names() -> None:
    assert v.check_record_type("aaaa") == "AAAA"
    with pytest.raises(v.InvalidInput, match="use one of A, AAAA, MX, CNAME, TXT, PTR"):
        v.check_record_type("ANY")
    assert v.check_dns_name("_dmarc.Example.NET") == "_dmarc.example.net"
    with pytest.raises(v.InvalidInput):
        v.check_dns_name("example.net;ls")


def test_sources_are_addresses_or_interface_names() -> None:
    assert v.check_source("eth0") == "eth0"
    assert v.check_source("10.1.2.3") == "10.1.2.3"
    with pytest.raises(v.InvalidInput, match="not an interface name"):
        v.check_source("a-very-long-interface-name")
    with pytest.raises(v.InvalidInput, match="never valid"):
        v.check_source("eth0;reboot")


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (PingRequest("gw", count=0), "count: 0 probes is out of range; use 1 to 1000 probes"),
        (PingRequest("gw", count=10**9), "count: 1000000000 probes is out of range; use 1 to 1000 probes"),
        (PingRequest("gw", interval=0.0001), "interval: 0.0001 s is out of range; use 0.01 to 60 s"),
        (PingRequest("gw", interval=float("nan")), "interval: nan s is out of range; use 0.01 to 60 s"),
        (PingRequest("gw", size=70000), "size: 70000 bytes is out of range; use 0 to 9000 bytes"),
        (TraceRequest("gw", max_hops=255), "max_hops: 255 hops is out of range; use 1 to 64 hops"),
        (DnsRequest("example.net", type="AXFR"), None),
        (BandwidthRequest("https://x.example/", max_seconds=3600), "max_seconds: 3600 s is out of range"),
        (IperfRequest("iperf.example", seconds=0), "seconds: 0 s is out of range; use 1 to 60 s"),
        (PortRequest("noc.example", 0), "port: 0 is out of range; use 1 to 65535"),
    ],
)
def test_absurd_values_get_one_line(request_: object, expected: str | None) -> None:
    line = problem(request_)  # type: ignore[arg-type]
    assert line is not None
    assert "\n" not in line
    if expected is not None:
        assert line.startswith(expected)


def test_good_requests_have_no_problem_and_wire_form_round_trips() -> None:
    request = msgspec.json.decode(b'{"host": "gw.example", "count": 3, "interval": 0.2}', type=PingRequest)
    assert problem(request) is None
    assert request.checked().host == "gw.example"
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"host": "gw", "flood": true}', type=PingRequest)
    assert problem(DnsRequest("192.0.2.7", type="ptr")) is None
    assert DnsRequest("192.0.2.7", type="ptr").checked().type == "PTR"


@pytest.mark.parametrize(
    "check", [v.check_url, v.check_dns_server, v.check_source, v.check_dns_name, v.check_record_type, v.check_host]
)
@given(value=st.text(max_size=120))
def test_checks_only_ever_refuse_with_invalid_input(check: object, value: str) -> None:
    try:
        check(value)  # type: ignore[operator]
    except v.InvalidInput as exc:
        assert "\n" not in str(exc) and str(exc).split(":")[0] in ("url", "server", "source", "name", "type", "host")


def test_choices_are_checked_even_when_built_in_python() -> None:
    assert problem(TraceRequest("gw", protocol="tcp")) == "protocol: 'tcp' is not one of 'icmp', 'udp'"  # type: ignore[arg-type]
    assert problem(PingRequest("gw", ip_version=5)) == "ip_version: 5 is not one of 0, 4, 6"  # type: ignore[arg-type]
    line = problem(BandwidthRequest("http://x.example/", direction="sideways"))  # type: ignore[arg-type]
    assert line == "direction: 'sideways' is not one of 'download', 'upload'"
