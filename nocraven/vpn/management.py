"""OpenVPN's management protocol, without IO: bytes in, messages out; commands in, bytes out.

Real-time notifications start with `>` (`>STATE:`, `>BYTECOUNT:`, `>HOLD:`, ...) and may arrive
between any two lines; a command is answered by one `SUCCESS:`/`ERROR:` line, or, for the few
commands that list things (`state`, `status`, `version`, `log all`, ...), by lines up to `END`.
The parser is told which kind of reply each sent command expects (`ManagementConnection.send`)
so it can tell a listing line from noise.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

MAX_LINE = 64 * 1024  # a longer line is garbage (or a hostile peer): dropped and counted


@dataclass(frozen=True)
class State:
    time: int
    name: str  # CONNECTING, WAIT, AUTH, GET_CONFIG, ASSIGN_IP, ADD_ROUTES, CONNECTED, RECONNECTING, EXITING, ...
    description: str = ""  # e.g. SUCCESS, ping-restart, tls-error, connection-reset
    local_ip: str = ""
    remote_ip: str = ""
    remote_port: str = ""


@dataclass(frozen=True)
class ByteCount:
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True)
class Fatal:
    text: str


@dataclass(frozen=True)
class PasswordRequest:
    realm: str  # 'Auth' (username/password) or 'Private Key'
    kind: str  # "need" or "failed"
    text: str


@dataclass(frozen=True)
class Hold:
    text: str


@dataclass(frozen=True)
class RemoteQuery:
    host: str
    port: int
    proto: str


@dataclass(frozen=True)
class Log:
    time: int
    flags: str
    text: str


@dataclass(frozen=True)
class Info:
    text: str


@dataclass(frozen=True)
class OtherNotification:
    kind: str
    text: str


@dataclass(frozen=True)
class Success:
    text: str


@dataclass(frozen=True)
class Error:
    text: str


@dataclass(frozen=True)
class Listing:
    command: str
    lines: tuple[str, ...]


Message = (
    State
    | ByteCount
    | Fatal
    | PasswordRequest
    | Hold
    | RemoteQuery
    | Log
    | Info
    | OtherNotification
    | Success
    | Error
    | Listing
)

# Commands answered by lines up to END instead of one SUCCESS/ERROR line.
_LISTING_COMMANDS = re.compile(
    r"^(state(\s+all|\s+on\s+all|\s+\d+)?|status(\s+\d)?|version|help|log\s+(all|on\s+all|\d+)|echo\s+(all|on\s+all|\d+))$"
)
_PASSWORD = re.compile(r"^(?:Need|Verification Failed:) '([^']*)'")


def parse_notification(kind: str, body: str) -> Message:
    """One `>KIND:body` line; malformed bodies become OtherNotification (never an exception)."""
    try:
        if kind == "STATE":
            parts = body.split(",")
            parts += [""] * (6 - len(parts))
            return State(int(parts[0]), parts[1], parts[2], parts[3], parts[4], parts[5])
        if kind == "BYTECOUNT":
            bytes_in, bytes_out = body.split(",")[:2]
            return ByteCount(int(bytes_in), int(bytes_out))
        if kind == "FATAL":
            return Fatal(body)
        if kind == "PASSWORD":
            match = _PASSWORD.match(body)
            if match:
                return PasswordRequest(
                    match.group(1), "failed" if body.startswith("Verification Failed") else "need", body
                )
        if kind == "HOLD":
            return Hold(body)
        if kind == "REMOTE":
            host, port, proto = body.rsplit(",", 2)
            return RemoteQuery(host, int(port), proto)
        if kind == "LOG":
            stamp, flags, text = body.split(",", 2)
            return Log(int(stamp), flags, text)
        if kind == "INFO":
            return Info(body)
    except ValueError:
        pass
    return OtherNotification(kind, body)


@dataclass
class ManagementConnection:
    """Sans-IO state of one management session."""

    _buffer: bytearray = field(default_factory=bytearray)
    _pending: deque[str] = field(default_factory=deque)  # "single" or the listing command, per sent command
    _listing: list[str] | None = None
    rejected_lines: int = 0

    def send(self, command: str) -> bytes:
        """Encode a command (validated: one line) and note the reply it expects."""
        if "\n" in command or "\r" in command or "\0" in command:
            raise ValueError("a management command must be one line")
        self._pending.append(command if _LISTING_COMMANDS.match(command.strip()) else "single")
        return command.encode() + b"\n"

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    self._buffer.clear()
                    self.rejected_lines += 1
                break
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if len(raw) > MAX_LINE:
                self.rejected_lines += 1
                continue
            line = raw.decode("utf-8", "replace").rstrip("\r")
            message = self._line(line)
            if message is not None:
                messages.append(message)
        return messages

    def _line(self, line: str) -> Message | None:
        if line.startswith(">"):
            kind, sep, body = line[1:].partition(":")
            if not sep:
                self.rejected_lines += 1
                return None
            return parse_notification(kind, body)
        if self._listing is not None:
            if line == "END":
                command = self._pending.popleft() if self._pending else ""
                lines, self._listing = tuple(self._listing), None
                return Listing(command, lines)
            self._listing.append(line)
            return None
        if line.startswith("SUCCESS:") or line.startswith("ERROR:"):
            if self._pending and self._pending[0] == "single":
                self._pending.popleft()
            elif self._pending:
                self._pending.popleft()  # a listing command refused with ERROR
            text = line.split(":", 1)[1].strip()
            return Success(text) if line.startswith("SUCCESS:") else Error(text)
        if self._pending and self._pending[0] != "single":
            self._listing = [line]
            if line == "END":
                self._listing = []
                return self._line("END")
            return None
        self.rejected_lines += 1
        return None


# ---- command encoders -------------------------------------------------------------------------


def quote(value: str) -> str:
    """Double-quote an argument the way openvpn's parser reads it back."""
    if any(c in value for c in "\n\r\0"):
        raise ValueError("management arguments cannot contain line breaks")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def hold_release() -> str:
    return "hold release"


def state_on() -> str:
    return "state on"


def log_on() -> str:
    return "log on"


def bytecount(interval_s: int) -> str:
    return f"bytecount {int(interval_s)}"


def remote_accept() -> str:
    return "remote ACCEPT"


def remote_skip() -> str:
    return "remote SKIP"


def username(realm: str, value: str) -> str:
    return f"username {quote(realm)} {quote(value)}"


def password(realm: str, value: str) -> str:
    return f"password {quote(realm)} {quote(value)}"


def signal(name: str) -> str:
    if name not in ("SIGHUP", "SIGTERM", "SIGUSR1", "SIGUSR2"):
        raise ValueError(f"openvpn does not take {name} over the management interface")
    return f"signal {name}"
