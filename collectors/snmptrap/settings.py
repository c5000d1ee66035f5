"""The SNMP trap receiver's settings: the `[snmptrap]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from collectors.common.settings import checked, listen_address, secret


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

    def cross_checks(self) -> list[str]:
        return [
            f"snmptrap.users.{user.name}.priv_protocol: privacy needs an auth_protocol too"
            for user in self.users
            if user.priv_protocol and not user.auth_protocol
        ]
