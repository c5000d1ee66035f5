"""Sans-IO readers: DNS outcome classification, iperf3 reports, certificate summaries, wire form."""

from __future__ import annotations

import datetime as dt
import json

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import msgspec
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from nocraven.diag.dns_query import classify, query_name, records
from nocraven.diag.iperf import command, parse_report
from nocraven.diag.port_check import summarize_certificate
from nocraven.diag.schema import (
    DiagEvent,
    DiagFailed,
    DnsRecord,
    DnsRequest,
    HopStats,
    HopUpdated,
    IperfRequest,
    JobEnded,
    PingSummary,
    PortSummary,
    TlsSummary,
)


def response(rcode: int, *answers: dns.rrset.RRset, qtype: str = "A") -> dns.message.Message:
    query = dns.message.make_query("www.example.test", qtype)
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    reply.answer.extend(answers)
    return reply


@pytest.mark.parametrize(
    ("rcode", "status", "fragment"),
    [
        (dns.rcode.NXDOMAIN, "nxdomain", "does not exist (NXDOMAIN)"),
        (dns.rcode.SERVFAIL, "servfail", "(SERVFAIL)"),
        (dns.rcode.REFUSED, "refused", "(REFUSED)"),
        (dns.rcode.NOTIMP, "error", "NOTIMP"),
    ],
)
def test_failures_are_told_apart(rcode: int, status: str, fragment: str) -> None:
    got_status, detail = classify(response(rcode), "A")
    assert got_status == status
    assert fragment in detail and "www.example.test" in detail


def test_answers_nodata_and_cname_chains() -> None:
    cname = dns.rrset.from_text("alias.example.test.", 60, "IN", "CNAME", "www.example.test.")
    address = dns.rrset.from_text("www.example.test.", 300, "IN", "A", "192.0.2.10", "192.0.2.11")
    status, detail = classify(response(dns.rcode.NOERROR, cname, address), "A")
    assert (status, detail) == ("noerror", "3 records for www.example.test")
    assert records(response(dns.rcode.NOERROR, cname, address)) == [
        DnsRecord("alias.example.test", "CNAME", 60, "www.example.test."),
        DnsRecord("www.example.test", "A", 300, "192.0.2.10"),
        DnsRecord("www.example.test", "A", 300, "192.0.2.11"),
    ]
    assert classify(response(dns.rcode.NOERROR, qtype="MX"), "MX")[0] == "nodata"


def test_ptr_questions_ask_for_the_reverse_name() -> None:
    assert query_name(DnsRequest("192.0.2.7", type="PTR")).to_text() == "7.2.0.192.in-addr.arpa."
    assert query_name(DnsRequest("2001:db8::1", type="PTR")).to_text().endswith(".8.b.d.0.1.0.0.2.ip6.arpa.")
    assert query_name(DnsRequest("7.2.0.192.in-addr.arpa", type="PTR")).to_text() == "7.2.0.192.in-addr.arpa."


IPERF_REPORT = {
    "start": {"version": "iperf 3.12"},
    "intervals": [],
    "end": {
        "sum_sent": {"seconds": 5.0, "bytes": 625000000, "bits_per_second": 1.0e9, "retransmits": 12},
        "sum_received": {"seconds": 5.02, "bytes": 624000000, "bits_per_second": 0.994e9},
    },
}


def test_iperf_report_counts_what_the_receiver_got() -> None:
    summary = parse_report(json.dumps(IPERF_REPORT), IperfRequest("iperf.example", seconds=5))
    assert (summary.bytes, summary.bits_per_second, summary.retransmits, summary.direction) == (
        624000000,
        0.994e9,
        12,
        "upload",
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"start": {}, "end": {}, "error": "unable to connect to server: Connection refused"}', "Connection refused"),
        ("", "no JSON report"),
        ("[1, 2]", "unexpected report"),
        ('{"end": {"sum_sent": {}}}', "no totals"),
    ],
)
def test_iperf_failures_are_one_line(text: str, fragment: str) -> None:
    with pytest.raises(DiagFailed, match=fragment) as caught:
        parse_report(text, IperfRequest("iperf.example"))
    assert "\n" not in str(caught.value)


def test_iperf_command_is_an_argument_list() -> None:
    args = command("/usr/bin/iperf3", IperfRequest("iperf.example", port=5999, seconds=3, reverse=True).checked())
    assert args[:5] == ["/usr/bin/iperf3", "-c", "iperf.example", "-p", "5999"]
    assert "-J" in args and args[-1] == "-R"


def test_certificate_summary_counts_days_left_from_now() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("noc.example.test", "192.0.2.5")
    pem = leaf.cert_chain_pems[0].bytes()
    cert = x509.load_pem_x509_certificate(pem)
    not_after = cert.not_valid_after_utc
    now = not_after - dt.timedelta(days=10, hours=1)
    summary = summarize_certificate(cert.public_bytes(Encoding.DER), now, False, "self-signed", "TLSv1.3", "AES")
    assert summary.days_left == 10
    assert summary.sans == ["noc.example.test", "192.0.2.5"]
    assert summary.not_after == not_after.isoformat().replace("+00:00", "Z")
    assert "trustme" in summary.issuer
    assert (summary.verified, summary.verify_error) == (False, "self-signed")
    expired = summarize_certificate(cert.public_bytes(Encoding.DER), not_after + dt.timedelta(days=3), True, None)
    assert expired.days_left == -3


def test_events_round_trip_as_ndjson_with_their_kind() -> None:
    hop = HopStats(1, "10.0.0.1", None, 3, 2, 33.33, 1.0, 1.5, 1.0, 2.0, 0.5, False)
    tls = TlsSummary(
        "TLSv1.3", "AES", "CN=x", "CN=ca", ["x"], "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 9, True, None
    )
    events: list[DiagEvent] = [
        HopUpdated(cycle=1, stats=hop),
        PingSummary("gw", "10.0.0.1", 3, 3, 0.0, 1.0, 1.0, 1.0, 0.0, "raw"),
        PortSummary("noc", "192.0.2.1", 443, "open", 1.2, "ok", tls=tls),
        JobEnded(job_id="d1", tool="ping", outcome="time_limit", seconds=12.0, message="stopped"),
    ]
    for event in events:
        line = msgspec.json.encode(event)
        assert json.loads(line)["kind"] in ("trace.hop_updated", "ping.summary", "port.summary", "job.ended")
        assert msgspec.json.decode(line, type=DiagEvent) == event
