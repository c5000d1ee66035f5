"""OpenVPN client profiles (`.ovpn`): parsed, classified and rendered back, without IO.

`parse_profile(text)` keeps every directive in order (with its line number and any inline block)
so `render(profile)` gives back an equivalent file. `classify(profile)` sorts each directive into
supported, ignored with a warning (it has no meaning for a supervised appliance tunnel) or
refused (server-only, our own management interface, commands OpenVPN would run), so an import
can say exactly which line is wrong. `load_profile(path)` is the one IO helper: it reads the
file and inlines the files it references, resolved relative to it, naming any that is missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

# Inline blocks OpenVPN 2.6 accepts in a client profile; the body is kept verbatim.
INLINE_BLOCKS = frozenset(
    {
        "ca",
        "cert",
        "key",
        "tls-auth",
        "tls-crypt",
        "tls-crypt-v2",
        "extra-certs",
        "pkcs12",
        "secret",
        "crl-verify",
        "auth-user-pass",
        "http-proxy-user-pass",
        "dh",
        "peer-fingerprint",
    }
)

# Directives whose first argument names a file (resolved relative to the profile).
FILE_ARGUMENTS = frozenset(
    {"ca", "cert", "key", "tls-auth", "tls-crypt", "tls-crypt-v2", "extra-certs", "pkcs12", "secret", "crl-verify"}
)
OPTIONAL_FILE_ARGUMENTS = frozenset({"auth-user-pass", "askpass"})

SUPPORTED = frozenset(
    {
        "client",
        "tls-client",
        "pull",
        "dev",
        "dev-type",
        "dev-node",
        "proto",
        "remote",
        "remote-random",
        "remote-random-hostname",
        "resolv-retry",
        "nobind",
        "bind",
        "local",
        "lport",
        "rport",
        "port",
        "float",
        "persist-key",
        "persist-tun",
        "ca",
        "cert",
        "key",
        "tls-auth",
        "key-direction",
        "tls-crypt",
        "tls-crypt-v2",
        "extra-certs",
        "pkcs12",
        "connection",
        "cipher",
        "data-ciphers",
        "data-ciphers-fallback",
        "ncp-ciphers",
        "ncp-disable",
        "auth",
        "comp-lzo",
        "compress",
        "allow-compression",
        "verb",
        "mute",
        "mute-replay-warnings",
        "remote-cert-tls",
        "remote-cert-eku",
        "remote-cert-ku",
        "verify-x509-name",
        "auth-user-pass",
        "auth-nocache",
        "tls-version-min",
        "tls-version-max",
        "tls-cipher",
        "tls-ciphersuites",
        "tls-cert-profile",
        "tls-groups",
        "ecdh-curve",
        "ping",
        "ping-restart",
        "ping-exit",
        "keepalive",
        "ping-timer-rem",
        "connect-retry",
        "connect-retry-max",
        "connect-timeout",
        "server-poll-timeout",
        "hand-window",
        "tls-timeout",
        "tun-mtu",
        "tun-mtu-extra",
        "link-mtu",
        "mssfix",
        "fragment",
        "mtu-disc",
        "sndbuf",
        "rcvbuf",
        "txqueuelen",
        "reneg-sec",
        "reneg-bytes",
        "reneg-pkts",
        "pull-filter",
        "route",
        "route-ipv6",
        "route-nopull",
        "route-gateway",
        "route-metric",
        "redirect-gateway",
        "redirect-private",
        "ifconfig",
        "ifconfig-ipv6",
        "ifconfig-noexec",
        "route-noexec",
        "topology",
        "dhcp-option",
        "explicit-exit-notify",
        "http-proxy",
        "http-proxy-option",
        "http-proxy-user-pass",
        "socks-proxy",
        "crl-verify",
        "peer-fingerprint",
        "askpass",
        "tls-exit",
        "replay-window",
        "mark",
        "fast-io",
        "user",
        "group",
        "nice",
        "providers",
        "push-peer-info",
        "auth-token-user",
        "static-challenge",
        "tun-ipv6",
        "key-method",
        "secret",
        "inactive",
        "single-session",
        "tcp-nodelay",
        "disable-dco",
        "auth-gen-token-secret",
        "ns-cert-type",
        "x509-username-field",
        "tls-verify-hash",
        "engine",
        "route-delay",
    }
)

# Meaningless or harmful under a supervisor that owns the process, its log and its retries.
IGNORED = {
    "daemon": "the supervisor runs openvpn in the foreground",
    "log": "the supervisor collects openvpn's output",
    "log-append": "the supervisor collects openvpn's output",
    "syslog": "the supervisor collects openvpn's output",
    "writepid": "the supervisor tracks the process",
    "status": "the supervisor reads the state over the management interface",
    "status-version": "the supervisor reads the state over the management interface",
    "auth-retry": "the supervisor decides retries itself",
    "script-security": "the supervisor sets the script security level",
    "cd": "referenced files are inlined at import",
    "chroot": "not supported in a supervised tunnel",
    "block-outside-dns": "Windows only",
    "register-dns": "Windows only",
    "ip-win32": "Windows only",
    "route-method": "Windows only",
    "windows-driver": "Windows only",
    "dhcp-release": "Windows only",
    "dhcp-renew": "Windows only",
    "tap-sleep": "Windows only",
    "service": "Windows only",
    "show-net-up": "Windows only",
    "allow-recursive-routing": "not needed",
    "setenv": "environment settings are not passed to openvpn",
    "setenv-safe": "environment settings are not passed to openvpn",
    "ignore-unknown-option": "every directive is classified here instead",
    "machine-readable-output": "the supervisor formats openvpn's output",
    "suppress-timestamps": "the supervisor formats openvpn's output",
    "echo": "not used",
    "parameter": "not used",
}

SERVER_ONLY = frozenset(
    {
        "server",
        "server-bridge",
        "server-ipv6",
        "mode",
        "tls-server",
        "dh",
        "client-config-dir",
        "ccd-exclusive",
        "ifconfig-pool",
        "ifconfig-pool-persist",
        "ifconfig-ipv6-pool",
        "push",
        "push-reset",
        "push-remove",
        "client-to-client",
        "duplicate-cn",
        "max-clients",
        "max-routes-per-client",
        "iroute",
        "iroute-ipv6",
        "port-share",
        "verify-client-cert",
        "username-as-common-name",
        "auth-gen-token",
        "stale-routes-check",
        "connect-freq",
        "hash-size",
        "bcast-buffers",
        "tcp-queue-limit",
        "ifconfig-push",
        "ifconfig-ipv6-push",
        "vlan-tagging",
        "vlan-accept",
        "vlan-pvid",
        "opt-verify",
        "auth-user-pass-optional",
        "client-cert-not-required",
    }
)

# Directives that make openvpn run a command (or load code) on our appliance.
SCRIPT_HOOKS = frozenset(
    {
        "up",
        "down",
        "route-up",
        "route-pre-down",
        "ipchange",
        "tls-verify",
        "auth-user-pass-verify",
        "plugin",
        "client-connect",
        "client-disconnect",
        "learn-address",
        "up-restart",
        "down-pre",
        "tls-export-cert",
    }
)

# `config` would pull in another file we have not checked.
OTHER_REFUSED = {"config": "nested config files are not supported; paste the included directives instead"}


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one line naming the directive/file/line."""

    def __init__(self, message: str, *, line: int | None = None, directive: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.directive = directive


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...] = ()
    line: int = 0
    block: str | None = None  # body of an inline block (`<ca>...</ca>`), text as written
    connection: Profile | None = None  # a `<connection>` block's own directives

    @property
    def is_inline(self) -> bool:
        return self.block is not None or self.connection is not None


@dataclass(frozen=True)
class Finding:
    line: int
    directive: str
    severity: str  # "warning" or "refused"
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.directive}: {self.message}"


@dataclass(frozen=True)
class Remote:
    host: str
    port: int
    proto: str
    line: int


@dataclass(frozen=True)
class Profile:
    directives: tuple[Directive, ...] = field(default_factory=tuple)

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.directives if d.name == name]

    def first(self, name: str) -> Directive | None:
        for directive in self.directives:
            if directive.name == name:
                return directive
        return None

    def has(self, name: str) -> bool:
        return self.first(name) is not None

    def inline(self, name: str) -> str | None:
        """The body of an inline block, or None when the profile has none."""
        for directive in self.directives:
            if directive.name == name and directive.block is not None:
                return directive.block
        return None

    @property
    def remotes(self) -> list[Remote]:
        """Remotes in file order (including those inside `<connection>` blocks)."""
        return _remotes(self, None, None)

    @property
    def remote_random(self) -> bool:
        return self.has("remote-random")

    @property
    def is_client(self) -> bool:
        return self.has("client") or self.has("tls-client") or self.has("pull")


# ---- parsing ----------------------------------------------------------------------------------


def split_line(line: str, line_number: int = 0) -> list[str]:
    """Split one line the way OpenVPN does: whitespace between tokens, double quotes (with
    backslash escapes) or single quotes (literal) to group, a token starting with # or ; begins
    a comment. Raises ProfileError on an unterminated quote."""
    tokens: list[str] = []
    current: list[str] = []
    in_token = False
    quote = ""
    i = 0
    while i < len(line):
        char = line[i]
        if quote == '"':
            if char == "\\" and i + 1 < len(line):
                current.append(line[i + 1])
                i += 2
                continue
            if char == '"':
                quote = ""
            else:
                current.append(char)
        elif quote == "'":
            if char == "'":
                quote = ""
            else:
                current.append(char)
        elif char.isspace():
            if in_token:
                tokens.append("".join(current))
                current, in_token = [], False
        else:
            if not in_token and char in "#;":
                break
            in_token = True
            if char in "\"'":
                quote = char
            elif char == "\\" and i + 1 < len(line):
                current.append(line[i + 1])
                i += 1
            else:
                current.append(char)
        i += 1
    if quote:
        raise ProfileError(f"line {line_number}: unterminated {quote} quote", line=line_number)
    if in_token:
        tokens.append("".join(current))
    return tokens


_OPEN_TAG = re.compile(r"^\s*<([A-Za-z0-9-]+)>\s*$")
_CLOSE_TAG = re.compile(r"^\s*</([A-Za-z0-9-]+)>\s*$")


def parse_profile(text: str | bytes, *, first_line: int = 1) -> Profile:
    """Parse a profile's text (LF or CRLF) into directives; raises ProfileError on a syntax error
    (an unclosed block, a stray closing tag, an unterminated quote)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ProfileError(f"the profile is not UTF-8 text (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    directives: list[Directive] = []
    index = 0
    while index < len(lines):
        raw = lines[index]
        number = first_line + index
        index += 1
        opening = _OPEN_TAG.match(raw)
        if opening:
            tag = opening.group(1).lower()
            body: list[str] = []
            closed = False
            while index < len(lines):
                closing = _CLOSE_TAG.match(lines[index])
                index += 1
                if closing and closing.group(1).lower() == tag:
                    closed = True
                    break
                body.append(lines[index - 1])
            if not closed:
                raise ProfileError(
                    f"line {number}: <{tag}> block is never closed with </{tag}>", line=number, directive=tag
                )
            if tag == "connection":
                inner = parse_profile("\n".join(body), first_line=number + 1)
                directives.append(Directive("connection", (), number, connection=inner))
            else:
                directives.append(Directive(tag, (), number, block="\n".join(body) + "\n"))
            continue
        closing = _CLOSE_TAG.match(raw)
        if closing:
            raise ProfileError(f"line {number}: </{closing.group(1)}> without an opening tag", line=number)
        tokens = split_line(raw, number)
        if not tokens:
            continue
        name = tokens[0]
        if name.startswith("--") and len(name) > 2:
            name = name[2:]
        directives.append(Directive(name.lower(), tuple(tokens[1:]), number))
    return Profile(tuple(directives))


# ---- rendering --------------------------------------------------------------------------------


def quote(token: str) -> str:
    if token and not token.startswith("<") and not re.search(r"[\s\"'\\#;]", token):
        return token
    return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(profile: Profile) -> str:
    """The profile as `.ovpn` text (LF endings, comments dropped); parses back to the same
    directives."""
    out: list[str] = []
    for directive in profile.directives:
        if directive.connection is not None:
            out.append("<connection>")
            out.append(render(directive.connection).rstrip("\n"))
            out.append("</connection>")
        elif directive.block is not None:
            out.append(f"<{directive.name}>")
            out.append(directive.block.rstrip("\n"))
            out.append(f"</{directive.name}>")
        else:
            out.append(" ".join([quote(directive.name), *(quote(arg) for arg in directive.args)]))
    return "\n".join(out) + "\n"


def without(profile: Profile, names: Iterable[str]) -> Profile:
    dropped = set(names)
    return Profile(tuple(d for d in profile.directives if d.name not in dropped))


# ---- classification ---------------------------------------------------------------------------


def classify(profile: Profile, *, allow: Iterable[str] = ()) -> list[Finding]:
    """Warnings and refusals for every directive, in file order, then whole-profile checks.
    `allow` names refused directives the operator explicitly permits (they become warnings)."""
    allowed = {name.lower() for name in allow}
    findings: list[Finding] = []
    for directive in _walk(profile):
        findings.extend(_classify_one(directive, allowed))
    findings.extend(_structure(profile))
    return findings


def refusals(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "refused"]


def warnings(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "warning"]


def _walk(profile: Profile) -> Iterable[Directive]:
    for directive in profile.directives:
        yield directive
        if directive.connection is not None:
            yield from _walk(directive.connection)


def _classify_one(directive: Directive, allowed: set[str]) -> list[Finding]:
    name, line = directive.name, directive.line

    def refuse(message: str) -> list[Finding]:
        if name in allowed:
            return [Finding(line, name, "warning", f"allowed by the operator although it {message.split(';')[0]}")]
        return [Finding(line, name, "refused", message)]

    if name.startswith("management"):
        return refuse("the supervisor owns openvpn's management interface; remove this line")
    if name in SCRIPT_HOOKS:
        return refuse("would run a command on the appliance; remove it or allow it explicitly")
    if name in SERVER_ONLY:
        return refuse("is a server-only directive; this is not a client profile")
    if name in OTHER_REFUSED:
        return refuse(OTHER_REFUSED[name])
    if name in IGNORED:
        return [Finding(line, name, "warning", f"ignored: {IGNORED[name]}")]
    if name == "script-security" and directive.args and directive.args[0] not in ("0", "1"):
        return [Finding(line, name, "warning", "ignored: the supervisor sets the script security level")]
    if name in SUPPORTED or (directive.block is not None and name in INLINE_BLOCKS):
        return _argument_checks(directive)
    return refuse("is not an OpenVPN 2.6 client directive (unknown option)")


def _argument_checks(directive: Directive) -> list[Finding]:
    name, args, line = directive.name, directive.args, directive.line
    if name == "remote":
        if not args:
            return [Finding(line, name, "refused", "needs a host")]
        if len(args) > 1 and not _is_port(args[1]):
            return [Finding(line, name, "refused", f"port {args[1]!r} is not a number between 1 and 65535")]
        if len(args) > 2 and args[2].lower() not in _PROTOS:
            return [Finding(line, name, "refused", f"protocol {args[2]!r} is not one of {', '.join(sorted(_PROTOS))}")]
    if name in ("port", "rport") and (not args or not _is_port(args[0])):
        return [Finding(line, name, "refused", "needs a port number between 1 and 65535")]
    if name == "proto" and (not args or args[0].lower() not in _PROTOS):
        return [Finding(line, name, "refused", f"needs one of {', '.join(sorted(_PROTOS))}")]
    if name == "key-direction" and (not args or args[0] not in ("0", "1")):
        return [Finding(line, name, "refused", "must be 0 or 1")]
    if name == "ns-cert-type":
        return [Finding(line, name, "warning", "deprecated; use remote-cert-tls server")]
    if name == "tls-client" or name == "client" or name == "dev":
        return []
    return []


_PROTOS = frozenset({"udp", "tcp", "udp4", "udp6", "tcp4", "tcp6", "tcp-client", "tcp4-client", "tcp6-client"})


def _is_port(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= 65535


def _structure(profile: Profile) -> list[Finding]:
    """Whole-profile checks: a client with somewhere to go and the credentials it names."""
    findings: list[Finding] = []
    if not profile.is_client:
        findings.append(
            Finding(
                0, "client", "refused", "the profile has no `client` or `tls-client` line; it is not a client profile"
            )
        )
    if not profile.remotes:
        findings.append(Finding(0, "remote", "refused", "the profile names no server (`remote HOST PORT`)"))
    for directive in _walk(profile):
        if directive.name in FILE_ARGUMENTS and directive.block is None:
            if not directive.args:
                findings.append(
                    Finding(
                        directive.line,
                        directive.name,
                        "refused",
                        f"needs a file name or an inline <{directive.name}> block",
                    )
                )
            elif directive.args[0] == "[inline]" and profile.inline(directive.name) is None:
                findings.append(
                    Finding(
                        directive.line,
                        directive.name,
                        "refused",
                        f"says [inline] but the profile has no <{directive.name}> block",
                    )
                )
    has_ca = profile.inline("ca") is not None or profile.inline("pkcs12") is not None or profile.has("peer-fingerprint")
    if not has_ca:
        findings.append(
            Finding(
                0, "ca", "refused", "missing inline <ca> block (or a `ca FILE` line): the server cannot be verified"
            )
        )
    has_identity = (profile.inline("cert") is not None and profile.inline("key") is not None) or profile.inline(
        "pkcs12"
    ) is not None
    if not has_identity and not profile.has("auth-user-pass"):
        missing = "key" if profile.inline("cert") is not None else "cert"
        findings.append(
            Finding(0, missing, "refused", f"missing inline <{missing}> block: the profile has no client identity")
        )
    elif profile.inline("cert") is not None and profile.inline("key") is None and profile.inline("pkcs12") is None:
        findings.append(Finding(0, "key", "refused", "missing inline <key> block for the <cert> given"))
    if profile.inline("tls-auth") is not None and not profile.has("key-direction"):
        findings.append(
            Finding(
                0,
                "key-direction",
                "warning",
                "<tls-auth> without key-direction; servers usually expect key-direction 1",
            )
        )
    if (
        not profile.has("remote-cert-tls")
        and not profile.has("verify-x509-name")
        and not profile.has("peer-fingerprint")
    ):
        findings.append(
            Finding(
                0,
                "remote-cert-tls",
                "warning",
                "the server certificate's usage is not checked; add `remote-cert-tls server`",
            )
        )
    return findings


def _remotes(profile: Profile, default_port: int | None, default_proto: str | None) -> list[Remote]:
    port = default_port or 1194
    proto = default_proto or "udp"
    for directive in profile.directives:
        if directive.name in ("port", "rport") and directive.args and _is_port(directive.args[0]):
            port = int(directive.args[0])
        elif directive.name == "proto" and directive.args:
            proto = directive.args[0].lower()
    found: list[Remote] = []
    for directive in profile.directives:
        if directive.name == "remote" and directive.args:
            args = directive.args
            remote_port = int(args[1]) if len(args) > 1 and _is_port(args[1]) else port
            remote_proto = args[2].lower() if len(args) > 2 else proto
            found.append(Remote(args[0], remote_port, remote_proto, directive.line))
        elif directive.connection is not None:
            found.extend(_remotes(directive.connection, port, proto))
    return found


# ---- credentials ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def split_credentials(profile: Profile, read: Callable[[str], str] | None = None) -> tuple[Profile, Credentials | None]:
    """Take the username/password out of a profile (inline `<auth-user-pass>` or, through
    `read`, the file `auth-user-pass FILE` names), leaving a bare `auth-user-pass` so openvpn
    asks the supervisor over the management interface."""
    found: Credentials | None = None
    kept: list[Directive] = []
    seen_directive = False
    for directive in profile.directives:
        if directive.name != "auth-user-pass":
            kept.append(directive)
            continue
        if directive.block is not None:
            found = _credentials_from(directive.block, directive.line, "<auth-user-pass>")
        elif directive.args and directive.args[0] != "[inline]" and read is not None:
            found = _credentials_from(read(directive.args[0]), directive.line, directive.args[0])
        if not seen_directive:
            kept.append(Directive("auth-user-pass", (), directive.line))
            seen_directive = True
    return Profile(tuple(kept)), found


def _credentials_from(text: str, line: int, source: str) -> Credentials:
    lines = [item for item in text.replace("\r\n", "\n").split("\n")]
    if not lines or not lines[0].strip():
        raise ProfileError(
            f"line {line}: auth-user-pass {source} has no username on its first line",
            line=line,
            directive="auth-user-pass",
        )
    if len(lines) < 2 or not lines[1]:
        raise ProfileError(
            f"line {line}: auth-user-pass {source} has no password on its second line",
            line=line,
            directive="auth-user-pass",
        )
    return Credentials(lines[0].strip(), lines[1])


# ---- loading from disk ------------------------------------------------------------------------


def load_profile(path: Path) -> tuple[Profile, Credentials | None]:
    """Read a profile and inline every file it references (resolved relative to the profile),
    so the stored copy is self-contained. Raises ProfileError naming a missing file and line."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"cannot read the profile {path}: {exc.strerror}") from None
    profile = parse_profile(text)
    base = path.resolve().parent

    def read(name: str, directive: Directive | None = None) -> str:
        target = Path(name) if Path(name).is_absolute() else base / name
        where = f"line {directive.line}: {directive.name}: " if directive else ""
        try:
            return target.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProfileError(
                f"{where}file {name!r} not found (looked in {target})", line=directive.line if directive else None
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"{where}cannot read file {name!r} ({target}): {exc}") from None

    profile = inline_files(profile, read)
    return split_credentials(profile, lambda name: read(name, profile.first("auth-user-pass")))


def referenced_files(profile: Profile) -> list[Directive]:
    """The directives that name a file (`ca ca.crt`, `auth-user-pass creds.txt`), in file order:
    what a client must send along with an uploaded profile's text."""
    return [
        directive
        for directive in _walk(profile)
        if directive.name in FILE_ARGUMENTS | OPTIONAL_FILE_ARGUMENTS
        and directive.block is None
        and directive.args
        and directive.args[0] != "[inline]"
    ]


def inline_files(profile: Profile, read: Callable[[str, Directive], str]) -> Profile:
    """Replace `ca FILE` (and the other file directives) by inline blocks read through `read`."""
    out: list[Directive] = []
    for directive in profile.directives:
        if directive.connection is not None:
            out.append(replace(directive, connection=inline_files(directive.connection, read)))
            continue
        if (
            directive.name in FILE_ARGUMENTS
            and directive.block is None
            and directive.args
            and directive.args[0] != "[inline]"
        ):
            body = read(directive.args[0], directive)
            out.append(
                Directive(directive.name, (), directive.line, block=body if body.endswith("\n") else body + "\n")
            )
            if directive.name == "tls-auth" and len(directive.args) > 1:
                out.append(Directive("key-direction", (directive.args[1],), directive.line))
            continue
        if (
            directive.name in FILE_ARGUMENTS
            and directive.args[:1] == ("[inline]",)
            and profile.inline(directive.name) is not None
        ):
            continue  # the block itself carries the content
        out.append(directive)
    return Profile(tuple(out))
