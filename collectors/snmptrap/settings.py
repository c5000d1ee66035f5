"""The SNMP trap receiver's settings: the `[snmptrap]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from collectors.common.settings import checked, listen_address, secret

# net-snmp refuses USM passphrases shorter than this (RFC 3414 §11.2 recommends at least 8).
MIN_USM_KEY_CHARS = 8


def engine_id_hex(value: str) -> str | None:
    """`""` (derived from the machine) or 5 to 32 bytes in hex, as RFC 3411 SnmpEngineID."""
    if value == "":
        return None
    try:
        raw = bytes.fromhex(value.replace(":", ""))
    except ValueError:
        return f"{value!r} is not hex (e.g. '80001f8804' followed by up to 27 more bytes)"
    if not 5 <= len(raw) <= 32:
        return f"an engine ID is 5 to 32 bytes, {len(raw)} given"
    return None


@dataclass(frozen=True)
class SnmpUser:
    """An SNMPv3 USM user (net-snmp spellings of the protocols)."""

    name: str
    auth_protocol: Literal["", "MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"] = ""
    auth_key: str = secret()
    priv_protocol: Literal["", "DES", "AES", "AES192", "AES256"] = ""
    priv_key: str = secret()


@dataclass(frozen=True)
class SnmptrapSettings:
    udp: str = checked("0.0.0.0:162", listen_address)
    communities: list[str] = secret(["public"])
    users: list[SnmpUser] = checked([])
    # Our SNMPv3 engine ID, which INFORM senders discover (or are configured with, net-snmp -e).
    engine_id: str = checked("", engine_id_hex, doc="SNMPv3 engine ID in hex; empty: derived from the machine ID")
    # Operator MIBs (ASN.1 files) compiled at start; broken files are reported and skipped.
    mib_dir: str = checked("", doc="directory of vendor MIB files; empty: only the bundled IETF/IANA MIBs")

    def cross_checks(self) -> list[str]:
        problems = [
            f"snmptrap.users.{user.name}.priv_protocol: privacy needs an auth_protocol too"
            for user in self.users
            if user.priv_protocol and not user.auth_protocol
        ]
        for user in self.users:
            for kind, protocol, key in (
                ("auth", user.auth_protocol, user.auth_key),
                ("priv", user.priv_protocol, user.priv_key),
            ):
                if protocol and len(key) < MIN_USM_KEY_CHARS:
                    problems.append(
                        f"snmptrap.users.{user.name}.{kind}_key: at least {MIN_USM_KEY_CHARS} characters are needed"
                    )
        names = [user.name for user in self.users]
        twice = sorted({name for name in names if names.count(name) > 1})
        problems += [f"snmptrap.users.{name}: the user is defined twice" for name in twice]
        return problems
