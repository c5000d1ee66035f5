"""The config schema and its validation: the one owner of every TOML key.

A config is one TOML file, validated at start into frozen dataclasses. Every refusal names the
key, the value and the reason, so a technician can fix the file from the message alone. The
schema is the dataclasses below; the walker reads their type hints, so adding a key is adding a
field (with its checks in the field's metadata) and documenting it in etc/nocraven.toml.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union

ENV_CONFIG = "NOCRAVEN_CONFIG"


class ConfigError(Exception):
    """One or more refusals; each is one line naming key, value and reason."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__("\n".join(f"{where}{p}" for p in problems))


# ---- checks (used from field metadata) -------------------------------------------------------

Check = Callable[[Any], str | None]  # returns the reason a value is refused, or None


def listen_address(value: str) -> str | None:
    """`"HOST:PORT"`, `"[v6]:PORT"` or `""` (disabled). Port 0 asks the kernel for a free port."""
    if value == "":
        return None
    try:
        parse_listen(value)
    except ValueError as exc:
        return str(exc)
    return None


def port_range(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "port must be between 0 and 65535"


def positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def non_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


def between(low: float, high: float) -> Check:
    def check(value: float) -> str | None:
        return None if low <= value <= high else f"must be between {low:g} and {high:g}"

    return check


def networks(value: list[str]) -> str | None:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not an IP network (e.g. 10.0.0.0/8 or 2001:db8::/32)"
    return None


def parse_listen(value: str) -> tuple[str, int]:
    """Split a listener address into host and port; raises ValueError with a reason."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError('expected "HOST:PORT", e.g. "0.0.0.0:514" or "[::]:514"')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"{host!r} is not an IP address (use 0.0.0.0, :: or an interface address)") from None
    if not port_text.isdigit():
        raise ValueError(f"port {port_text!r} is not a number")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 0-65535")
    return host, port


def checked(default: Any, *checks: Check, doc: str = "") -> Any:
    """A field with a default and checks run after the type check."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"checks": checks, "doc": doc})
    return field(default=default, metadata={"checks": checks, "doc": doc})


# ---- the schema ------------------------------------------------------------------------------

Overflow = Literal["drop_oldest", "drop_newest"]
LogLevel = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True)
class EngineConfig:
    data_dir: Path = checked(Path("/var/lib/nocraven"))
    socket: Path = checked(Path("/run/nocraven/control.sock"))
    log_level: LogLevel = "info"
    # Members of admin_group may change things; members of tech_group may read and run diagnostics.
    admin_group: str = "nocraven-admin"
    tech_group: str = "nocraven"


@dataclass(frozen=True)
class ApiConfig:
    """The optional TCP listener for the NOC: TLS and a bearer token are mandatory on it."""

    tcp: str = checked("", listen_address)
    tls_cert: str = ""
    tls_key: str = ""
    tokens: list[str] = checked([])
    admin_tokens: list[str] = checked([])


@dataclass(frozen=True)
class SyslogConfig:
    udp: str = checked("0.0.0.0:514", listen_address)
    tcp: str = checked("0.0.0.0:514", listen_address)
    tls: str = checked("", listen_address)
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""  # when set, TLS clients must present a certificate signed by it
    max_message_bytes: int = checked(65536, between(480, 1048576))
    max_connections: int = checked(1000, between(1, 100000))
    # 32 MiB holds about 0.8 s of UDP at 100,000 msgs/s: room for a burst or a slow moment.
    receive_buffer_bytes: int = checked(32 * 1024 * 1024, between(65536, 1 << 30))
    udp_workers: int = checked(0, between(0, 64))  # UDP parse processes; 0 = one per core
    allow: list[str] = checked([], networks)  # sender networks; empty = everyone


@dataclass(frozen=True)
class FlowConfig:
    netflow: str = checked("0.0.0.0:2055", listen_address)
    ipfix: str = checked("0.0.0.0:4739", listen_address)
    sflow: str = checked("0.0.0.0:6343", listen_address)


@dataclass(frozen=True)
class SnmpUser:
    name: str
    auth_protocol: Literal["", "MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"] = ""
    auth_key: str = ""
    priv_protocol: Literal["", "DES", "AES", "AES192", "AES256"] = ""
    priv_key: str = ""


@dataclass(frozen=True)
class SnmptrapConfig:
    udp: str = checked("0.0.0.0:162", listen_address)
    communities: list[str] = checked(["public"])
    users: list[SnmpUser] = checked([])


@dataclass(frozen=True)
class WineventsConfig:
    listen: str = checked("0.0.0.0:8084", listen_address)
    tokens: list[str] = checked([])


@dataclass(frozen=True)
class ServiceBufferConfig:
    quota_bytes: int = checked(2 * 1024**3, positive)
    max_age_days: float = checked(30.0, positive)
    overflow: Overflow = "drop_oldest"


def _default_services() -> dict[str, ServiceBufferConfig]:
    # Flows are the bulky, least precious service: a small quota and drop_newest in a burst,
    # so they never push out syslog, traps or Windows security events.
    return {
        "syslog": ServiceBufferConfig(quota_bytes=4 * 1024**3),
        "flow": ServiceBufferConfig(quota_bytes=2 * 1024**3, max_age_days=14, overflow="drop_newest"),
        "trap": ServiceBufferConfig(quota_bytes=1024**3),
        "winevent": ServiceBufferConfig(quota_bytes=2 * 1024**3),
    }


@dataclass(frozen=True)
class BufferConfig:
    total_bytes: int = checked(8 * 1024**3, positive)
    min_free_bytes: int = checked(512 * 1024**2, non_negative)
    seal_bytes: int = checked(256 * 1024, between(64 * 1024, 1024 * 1024))
    seal_interval_s: float = checked(1.0, between(0.05, 60))
    services: dict[str, ServiceBufferConfig] = field(default_factory=_default_services)


@dataclass(frozen=True)
class Config:
    engine: EngineConfig = field(default_factory=EngineConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    syslog: SyslogConfig = field(default_factory=SyslogConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    snmptrap: SnmptrapConfig = field(default_factory=SnmptrapConfig)
    winevents: WineventsConfig = field(default_factory=WineventsConfig)
    source: str = field(default="<defaults>", metadata={"internal": True})


SERVICES = ("syslog", "flow", "trap", "winevent")


def _cross_checks(config: Config) -> list[str]:
    """Rules that span keys; each line still names the key to change."""
    problems = []
    for name in config.buffer.services:
        if name not in SERVICES:
            problems.append(f"buffer.services.{name}: unknown service {name!r} (one of {', '.join(SERVICES)})")
    if config.syslog.tls and not (config.syslog.tls_cert and config.syslog.tls_key):
        problems.append(f"syslog.tls = {config.syslog.tls!r}: a TLS listener needs syslog.tls_cert and syslog.tls_key")
    if config.api.tcp and not (config.api.tls_cert and config.api.tls_key):
        problems.append(f"api.tcp = {config.api.tcp!r}: the NOC listener needs api.tls_cert and api.tls_key")
    if config.api.tcp and not (config.api.tokens or config.api.admin_tokens):
        problems.append(f"api.tcp = {config.api.tcp!r}: the NOC listener needs at least one token in api.tokens")
    for user in config.snmptrap.users:
        if user.priv_protocol and not user.auth_protocol:
            problems.append(f"snmptrap.users.{user.name}.priv_protocol: privacy needs an auth_protocol too")
    return problems


# ---- the walker ------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Path: "a path",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(value: Any, tp: Any, key: str, problems: list[str]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return _convert(value, next(a for a in typing.get_args(tp) if a is not type(None)), key, problems)
    if origin is Literal:
        if value not in typing.get_args(tp):
            problems.append(f"{key} = {value!r}: must be {_type_name(tp)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{key} = {value!r}: must be a table")
            return None
        return _build(tp, value, key, problems)
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{key} = {value!r}: must be {_type_name(tp)}")
            return []
        (item_tp,) = typing.get_args(tp)
        return [_convert(v, item_tp, f"{key}[{i}]", problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{key} = {value!r}: must be a table")
            return {}
        _, item_tp = typing.get_args(tp)
        return {k: _convert(v, item_tp, f"{key}.{k}", problems) for k, v in value.items()}
    if tp is Path:
        if not isinstance(value, str) or not value:
            problems.append(f"{key} = {value!r}: must be a non-empty path string")
            return Path()
        return Path(os.path.expanduser(os.path.expandvars(value)))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is an int in Python; TOML keeps them apart and so do we.
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        problems.append(f"{key} = {value!r}: must be {_type_name(tp)}")
        return None
    return value


def _build(cls: Any, table: dict[str, Any], prefix: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in fields:
            known = ", ".join(sorted(fields))
            problems.append(f"{key}: unknown key (known keys here: {known})")
            continue
        before = len(problems)
        converted = _convert(value, hints[name], key, problems)
        if len(problems) > before:
            continue
        for check in fields[name].metadata.get("checks", ()):
            reason = check(converted)
            if reason:
                problems.append(f"{key} = {value!r}: {reason}")
                break
        else:
            default_factory = fields[name].default_factory
            if isinstance(converted, dict) and default_factory is not dataclasses.MISSING:
                # Tables of named entries (buffer.services) add to the defaults, not replace them.
                converted = {**default_factory(), **converted}
            kwargs[name] = converted
    missing = [
        n
        for n, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and n not in table
    ]
    for name in missing:
        problems.append(f"{prefix + '.' if prefix else ''}{name}: required key is missing")
    if missing:
        return None
    return cls(**kwargs)


def from_toml_text(text: str, source: str) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"invalid TOML: {exc}"], source) from None
    problems: list[str] = []
    config = _build(Config, data, "", problems)
    if not problems:
        config = dataclasses.replace(config, source=source)
        problems = _cross_checks(config)
    if problems:
        raise ConfigError(problems, source)
    return typing.cast(Config, config)


def load(path: Path) -> Config:
    """Read and validate a config file; raises ConfigError with one line per problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(["file not found"], str(path)) from None
    except PermissionError:
        raise ConfigError([f"cannot read the file (permission denied for uid {os.getuid()})"], str(path)) from None
    except IsADirectoryError:
        raise ConfigError(["is a directory, expected a TOML file"], str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text ({exc.reason} at byte {exc.start})"], str(path)) from None
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror}"], str(path)) from None
    return from_toml_text(text, str(path))


def user_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "nocraven"


def embedded_default() -> Config:
    """The dev default: unprivileged ports, data and socket under the user's state dir."""
    text = resources.files("nocraven").joinpath("defaults/dev.toml").read_text(encoding="utf-8")
    config = from_toml_text(text, "<embedded dev default>")
    state = user_state_dir()
    engine = dataclasses.replace(config.engine, data_dir=state, socket=state / "control.sock")
    return dataclasses.replace(config, engine=engine)


def resolve(path: Path | None) -> Config:
    """The config the engine runs on: --config, else $NOCRAVEN_CONFIG, else the embedded default."""
    if path is None and os.environ.get(ENV_CONFIG):
        path = Path(os.environ[ENV_CONFIG])
    return load(path) if path is not None else embedded_default()


def to_dict(config: Config) -> dict[str, Any]:
    """A JSON-able view for the API; secrets are masked."""

    def mask(value: Any, key: str) -> Any:
        if key in {"tokens", "admin_tokens"} and isinstance(value, list):
            return ["***"] * len(value)
        if key in {"auth_key", "priv_key"} and value:
            return "***"
        return value

    def walk(obj: Any, key: str = "") -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return {
                f.name: walk(getattr(obj, f.name), f.name)
                for f in dataclasses.fields(obj)
                if not f.metadata.get("internal")
            }
        if isinstance(obj, dict):
            return {k: walk(v, k) for k, v in obj.items()}
        if isinstance(obj, list):
            return mask([walk(v) for v in obj], key)
        if isinstance(obj, Path):
            return str(obj)
        return mask(obj, key)

    return typing.cast(dict[str, Any], walk(config))
