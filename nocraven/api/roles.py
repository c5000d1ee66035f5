"""Who is asking: peer credentials on the Unix socket, bearer tokens on TCP, mapped to a role."""

from __future__ import annotations

import grp
import hmac
import os
import socket
import struct
from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    NONE = 0
    READ = 1  # NOC read-only token: reads only
    TECH = 2  # the tech group: reads and diagnostics
    ADMIN = 3  # root, the engine's own user and the admin group: everything


@dataclass(frozen=True)
class Peer:
    role: Role
    who: str  # for logs and error messages: "uid 1000 (pid 4242)" or "token …abcd"


@dataclass(frozen=True)
class PeerCredentials:
    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return PeerCredentials(pid, uid, gid)


def process_groups(pid: int, primary_gid: int) -> set[int]:
    """The peer process's real group set (not its user's groups in /etc/group, which can differ)."""
    groups = {primary_gid}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Groups:"):
                    groups.update(int(g) for g in line.split()[1:])
                    break
    except (OSError, ValueError):
        pass
    return groups


def group_id(name: str) -> int | None:
    """A group by name, or a numeric gid; None when the group does not exist on this box."""
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


class UnixRoles:
    def __init__(self, admin_group: str, tech_group: str) -> None:
        self.admin_gid = group_id(admin_group)
        self.tech_gid = group_id(tech_group)
        self.engine_uid = os.getuid()

    def role_of(self, creds: PeerCredentials) -> Peer:
        who = f"uid {creds.uid} (pid {creds.pid})"
        if creds.uid in (0, self.engine_uid):
            return Peer(Role.ADMIN, who)
        groups = process_groups(creds.pid, creds.gid)
        if self.admin_gid is not None and self.admin_gid in groups:
            return Peer(Role.ADMIN, who)
        if self.tech_gid is not None and self.tech_gid in groups:
            return Peer(Role.TECH, who)
        return Peer(Role.NONE, who)


class TokenRoles:
    def __init__(self, tokens: list[str], admin_tokens: list[str]) -> None:
        self._tokens = list(tokens)
        self._admin = list(admin_tokens)

    def role_of(self, authorization: str | None) -> Peer:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return Peer(Role.NONE, "no token")
        # Compare every token in constant time so the answer leaks nothing about near misses, and
        # name a token by its place in the config: no part of a secret reaches a log or an answer.
        admin = [hmac.compare_digest(token, t) for t in self._admin]
        read = [hmac.compare_digest(token, t) for t in self._tokens]
        if any(admin):
            return Peer(Role.ADMIN, f"admin token #{admin.index(True) + 1}")
        if any(read):
            return Peer(Role.READ, f"read token #{read.index(True) + 1}")
        return Peer(Role.NONE, "an unknown token")
