"""SNMP trap decode benchmark: the receiver's per-datagram work on one core, beside pysnmp's.

Measures `TrapReceiver.handle()` (BER decode, community or USM check, HMAC and decryption for
v3, cached MIB names, the record dict) on a typical IF-MIB linkDown trap with four varbinds,
as SNMPv2c and as SNMPv3 authPriv (SHA/AES), plus the NDJSON encoding of the record. Beside
it: pysnmp's generic BER decode of the same v2c datagram into its ASN.1 objects, varbinds
pretty-printed (what a receiver built on pysnmp's decoder does per trap, before any USM work).

For v3, pysnmp is timed on the message's outer layers and USM parameters only (no HMAC, no
decryption, no PDU): already slower than our whole v3 path. Figures are CPU time of this
process (`process_time`), so other load on a shared machine inflates them less than wall time.

Decode only: no sockets (the end-to-end benchmark with snmptrapd is bench/snmptrap.py, later).
Each figure is the best of 3 runs of about 1 s. Prints one JSON document on stdout.
Usage: python bench/snmptrap_decode.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec

from collectors.snmptrap import ber
from collectors.snmptrap.compose import Agent, v2_pdu, v2c_notification
from collectors.snmptrap.mibs import MibResolver
from collectors.snmptrap.receiver import TrapReceiver, engine_id_from_seed
from collectors.snmptrap.settings import SnmptrapSettings, SnmpUser

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
VARBINDS = [
    ("1.3.6.1.2.1.2.2.1.1.7", ber.INTEGER, 7),
    ("1.3.6.1.2.1.2.2.1.7.7", ber.INTEGER, 1),
    ("1.3.6.1.2.1.2.2.1.8.7", ber.INTEGER, 2),
    ("1.3.6.1.2.1.2.2.1.2.7", ber.OCTET_STRING, b"GigabitEthernet1/0/7"),
]
USER = SnmpUser("noc", "SHA", "bench-auth-pass", "AES", "bench-priv-pass")


def rate(work: Callable[[], object], seconds: float, batch: int = 500) -> float:
    """Best of three: calls per second of `work`."""
    best = 0.0
    for _ in range(3):
        count = 0
        start = time.process_time()
        deadline = start + seconds
        while True:
            for _ in range(batch):
                work()
            count += batch
            now = time.process_time()
            if now >= deadline:
                break
        best = max(best, count / (now - start))
    return best


def pysnmp_decoder() -> Callable[[bytes], object]:
    from pyasn1.codec.ber import decoder
    from pysnmp.proto import api

    module = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

    def decode(datagram: bytes) -> object:
        message, _rest = decoder.decode(datagram, asn1Spec=module.Message())
        pdu = module.apiMessage.get_pdu(message)
        return [(str(oid), value.prettyPrint()) for oid, value in module.apiTrapPDU.get_varbinds(pdu)]

    return decode


def pysnmp_v3_decoder() -> Callable[[bytes], object]:
    """pysnmp's generic BER decode of a v3 message's outer layers and USM parameters only (no
    HMAC, no decryption, no scoped PDU): a lower bound of its v3 cost per trap."""
    from pyasn1.codec.ber import decoder
    from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
    from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

    def decode(datagram: bytes) -> object:
        message, _rest = decoder.decode(datagram, asn1Spec=SNMPv3Message())
        security, _rest = decoder.decode(bytes(message["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters())
        return bytes(security["msgUserName"]), int(message["msgGlobalData"]["msgID"])

    return decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one run (3 runs per figure)")
    args = parser.parse_args()
    now = time.time()
    resolver = MibResolver(["SNMPv2-MIB", "IF-MIB"])
    settings = SnmptrapSettings(communities=["public"], users=[USER])
    receiver = TrapReceiver(settings, resolver, engine_id_from_seed(b"bench"), 1, now)
    peer = ("192.0.2.10", 50000)

    v2c = v2c_notification("public", LINK_DOWN, VARBINDS, uptime=123456)
    agent = Agent([USER], bytes.fromhex("800000090300aabbccddeeff"))
    v3 = agent.trap("noc", v2_pdu(LINK_DOWN, VARBINDS, uptime=123456), now)
    for datagram in (v2c, v3):
        handled = receiver.handle(datagram, peer, now)
        if not handled.records or handled.records[0]["trap_name"] != "IF-MIB::linkDown":
            raise SystemExit(f"bench: the receiver did not accept its own sample: {handled}")
    encode = msgspec.json.Encoder().encode
    pysnmp_decode = pysnmp_decoder()
    pysnmp_decode(v2c)
    pysnmp_v3_outer = pysnmp_v3_decoder()
    pysnmp_v3_outer(v3)

    handle = receiver.handle
    figures = {
        "v2c_traps_per_s": rate(lambda: handle(v2c, peer, now), args.seconds),
        "v2c_traps_per_s_with_ndjson": rate(lambda: encode(handle(v2c, peer, now).records[0]), args.seconds),
        "v3_authpriv_sha_aes_traps_per_s": rate(lambda: handle(v3, peer, now), args.seconds),
        "pysnmp_generic_decode_v2c_per_s": rate(lambda: pysnmp_decode(v2c), args.seconds, batch=50),
        "pysnmp_generic_decode_v3_headers_only_per_s": rate(lambda: pysnmp_v3_outer(v3), args.seconds, batch=50),
    }
    report = {
        "benchmark": "snmptrap_decode",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "one_core": True,
        "trap": "IF-MIB::linkDown, 4 varbinds",
        "datagram_bytes": {"v2c": len(v2c), "v3_authpriv": len(v3)},
        "figures": {key: round(value) for key, value in figures.items()},
        "speedup_vs_pysnmp_v2c": round(figures["v2c_traps_per_s"] / figures["pysnmp_generic_decode_v2c_per_s"], 1),
        "us_per_trap": {
            "v2c": round(1e6 / figures["v2c_traps_per_s"], 1),
            "v3_authpriv": round(1e6 / figures["v3_authpriv_sha_aes_traps_per_s"], 1),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
