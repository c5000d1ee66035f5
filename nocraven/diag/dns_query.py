"""DNS lookups with dnspython: one query, timed, with the outcome told apart by name.

We query the server ourselves (not through `dns.resolver.Resolver.resolve`) because a technician
needs to see *which* failure happened: the resolver folds SERVFAIL, REFUSED and timeouts into one
"no nameservers" error. Without `server`, the system resolver's servers (from resolv.conf) are
asked in order until one answers. `classify` is the sans-IO part: a response in, a status out.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Literal

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

from nocraven.diag.schema import DiagEvent, DiagFailed, DnsQuerySent, DnsRecord, DnsRequest, DnsStatus, DnsSummary
from nocraven.diag.validate import check_dns_server

_STATUS_BY_RCODE: dict[int, DnsStatus] = {
    dns.rcode.NXDOMAIN: "nxdomain",
    dns.rcode.SERVFAIL: "servfail",
    dns.rcode.REFUSED: "refused",
}


def query_name(request: DnsRequest) -> dns.name.Name:
    """The name to ask for; PTR questions given an address ask for its reverse name."""
    if request.type == "PTR" and (":" in request.name or request.name.replace(".", "").isdigit()):
        return dns.reversename.from_address(request.name)
    return dns.name.from_text(request.name)


def records(response: dns.message.Message) -> list[DnsRecord]:
    """Every answer record, in order: a CNAME chain shows before the addresses it leads to."""
    return [
        DnsRecord(
            name=rrset.name.to_text(omit_final_dot=True),
            type=dns.rdatatype.to_text(rrset.rdtype),
            ttl=rrset.ttl,
            value=rdata.to_text(),
        )
        for rrset in response.answer
        for rdata in rrset
    ]


def classify(response: dns.message.Message, wanted: str) -> tuple[DnsStatus, str]:
    """The outcome of a response, and a line saying it to a person."""
    rcode = response.rcode()
    name = response.question[0].name.to_text(omit_final_dot=True) if response.question else "?"
    if rcode in _STATUS_BY_RCODE:
        status = _STATUS_BY_RCODE[rcode]
        lines = {
            "nxdomain": f"{name} does not exist (NXDOMAIN)",
            "servfail": f"the server failed to resolve {name} (SERVFAIL); its upstream or the zone is broken",
            "refused": f"the server refused to answer for {name} (REFUSED); it does not serve this client or zone",
        }
        return status, lines[status]
    if rcode != dns.rcode.NOERROR:
        return "error", f"the server answered {dns.rcode.to_text(rcode)} for {name}"
    wanted_type = dns.rdatatype.from_text(wanted)
    if not any(rrset.rdtype in (wanted_type, dns.rdatatype.CNAME) for rrset in response.answer):
        return "nodata", f"{name} exists but has no {wanted} record"
    count = sum(len(rrset) for rrset in response.answer)
    return "noerror", f"{count} record{'s' if count != 1 else ''} for {name}"


def system_servers(resolv_conf: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    try:
        resolver = dns.resolver.Resolver(filename=resolv_conf)
    except dns.resolver.NoResolverConfiguration as exc:
        raise DiagFailed(f"no DNS servers are configured ({resolv_conf}: {exc}); give a server") from None
    servers = [(str(server), resolver.port) for server in resolver.nameservers]
    if not servers:
        raise DiagFailed("no DNS servers are configured (resolv.conf lists none); give a server")
    return servers


async def lookup(
    request: DnsRequest,
    *,
    clock: Callable[[], float] = time.perf_counter,
    resolv_conf: str = "/etc/resolv.conf",
) -> AsyncIterator[DiagEvent]:
    req = request.checked()
    servers = [check_dns_server(req.server)] if req.server else system_servers(resolv_conf)
    question = dns.message.make_query(query_name(req), req.type)  # recursion desired by default
    per_server = req.timeout / len(servers) if len(servers) > 1 else req.timeout
    summary: DnsSummary | None = None
    for server, port in servers:
        transport: Literal["udp", "tcp"] = "tcp" if req.tcp else "udp"
        yield DnsQuerySent(server=server, port=port, transport=transport)
        started = clock()
        try:
            if req.tcp:
                response = await dns.asyncquery.tcp(question, server, timeout=per_server, port=port)
            else:
                response = await dns.asyncquery.udp(question, server, timeout=per_server, port=port)
                if response.flags & dns.flags.TC:
                    # Truncated: the full answer only comes over TCP.
                    yield DnsQuerySent(server=server, port=port, transport="tcp")
                    remaining = max(0.1, per_server - (clock() - started))
                    response = await dns.asyncquery.tcp(question, server, timeout=remaining, port=port)
        except dns.exception.Timeout:
            summary = _failed(req, server, port, "timeout", f"no answer from {server}:{port} within {per_server:g} s")
            continue
        except ConnectionRefusedError:
            summary = _failed(
                req, server, port, "unreachable", f"{server}:{port} is not a DNS server (port closed, ICMP refused)"
            )
            continue
        except OSError as exc:
            summary = _failed(req, server, port, "unreachable", f"cannot reach {server}:{port}: {exc.strerror or exc}")
            continue
        except dns.exception.DNSException as exc:
            summary = _failed(req, server, port, "error", f"bad answer from {server}:{port}: {exc}")
            continue
        elapsed_ms = (clock() - started) * 1000.0
        status, detail = classify(response, req.type)
        yield DnsSummary(
            name=req.name,
            type=req.type,
            server=server,
            port=port,
            status=status,
            rcode=dns.rcode.to_text(response.rcode()),
            response_ms=round(elapsed_ms, 3),
            answers=records(response),
            authoritative=bool(response.flags & dns.flags.AA),
            detail=detail,
        )
        return
    assert summary is not None  # at least one server was tried
    yield summary


def _failed(req: DnsRequest, server: str, port: int, status: DnsStatus, detail: str) -> DnsSummary:
    return DnsSummary(
        name=req.name,
        type=req.type,
        server=server,
        port=port,
        status=status,
        rcode=None,
        response_ms=None,
        answers=[],
        authoritative=False,
        detail=detail,
    )
