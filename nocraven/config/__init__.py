"""The config schema: the one owner of every TOML key.

A config is one TOML file, validated at start into frozen dataclasses: one section per
capability, each declared next to the code that uses it (`collectors/<name>/settings.py`,
`nocraven/<name>/settings.py`) and listed in `Config` below; `walker.py` does the validating.
Every refusal names the key, the value and the reason, so a technician can fix the file from
the message alone.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from collectors.common.settings import parse_listen
from collectors.flow.settings import FlowSettings
from collectors.snmppoll.settings import PollTarget, SnmpSettings
from collectors.snmptrap.settings import SnmptrapSettings, SnmpUser
from collectors.syslog.settings import SyslogSettings
from collectors.winevents.settings import WineventsSettings
from nocraven.buffer.settings import BufferSettings, ServiceBufferSettings
from nocraven.capabilities import buffer_services
from nocraven.config import environment
from nocraven.config.engine import ApiConfig, EngineConfig, LogLevel
from nocraven.config.walker import ConfigError, build, to_plain
from nocraven.diag.settings import DiagSettings
from nocraven.forward.settings import ForwardSettings
from nocraven.health.settings import HealthSettings
from nocraven.paths import user_state_dir
from nocraven.vpn.settings import VpnSettings

ENV_CONFIG = "NOCRAVEN_CONFIG"

# The buffer's services: every record belongs to one, with its own quota and cursors.
SERVICES = buffer_services()

__all__ = [
    "ENV_CONFIG",
    "SERVICES",
    "ApiConfig",
    "BufferSettings",
    "Config",
    "ConfigError",
    "DiagSettings",
    "EngineConfig",
    "FlowSettings",
    "ForwardSettings",
    "LogLevel",
    "PollTarget",
    "ServiceBufferSettings",
    "SnmpSettings",
    "SnmpUser",
    "SnmptrapSettings",
    "SyslogSettings",
    "VpnSettings",
    "WineventsSettings",
    "check_environment",
    "embedded_default",
    "environment_problems",
    "from_toml_text",
    "load",
    "parse_listen",
    "resolve",
    "to_dict",
    "user_state_dir",
]


@dataclass(frozen=True)
class Config:
    engine: EngineConfig = field(default_factory=EngineConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    buffer: BufferSettings = field(default_factory=BufferSettings)
    syslog: SyslogSettings = field(default_factory=SyslogSettings)
    flow: FlowSettings = field(default_factory=FlowSettings)
    snmptrap: SnmptrapSettings = field(default_factory=SnmptrapSettings)
    snmp: SnmpSettings = field(default_factory=SnmpSettings)
    winevents: WineventsSettings = field(default_factory=WineventsSettings)
    vpn: VpnSettings = field(default_factory=VpnSettings)
    diag: DiagSettings = field(default_factory=DiagSettings)
    forward: ForwardSettings = field(default_factory=ForwardSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    source: str = field(default="<defaults>", metadata={"internal": True})

    def sections(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.metadata.get("internal")}


def _cross_checks(config: Config) -> list[str]:
    """Rules that span keys, owned by each section; each line still names the key to change."""
    problems = config.buffer.cross_checks(SERVICES)
    problems.extend(config.forward.cross_checks(SERVICES))
    # SNMPv3 targets name a [[snmptrap.users]] entry: one place for a device's keys.
    problems.extend(config.snmp.cross_checks([user.name for user in config.snmptrap.users]))
    for name, section in config.sections().items():
        if name not in ("buffer", "forward", "snmp"):
            problems.extend(section.cross_checks())
    return problems


def from_toml_text(text: str, source: str) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"invalid TOML: {exc}"], source) from None
    problems: list[str] = []
    config = build(Config, data, "", problems)
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


def environment_problems(config: Config) -> list[str]:
    """What this machine lacks for the config (files, writable paths); see environment.py."""
    tls_files: dict[str, str] = {}
    if config.syslog.tls:
        tls_files = {
            "syslog.tls_cert": config.syslog.tls_cert,
            "syslog.tls_key": config.syslog.tls_key,
            "syslog.tls_client_ca": config.syslog.tls_client_ca,
        }
    for index, sink in enumerate(config.forward.sinks):
        for key in ("tls_ca", "tls_cert", "tls_key", "creds_file"):
            if getattr(sink, key):
                tls_files[f"forward.sinks[{index}].{key}"] = getattr(sink, key)
    return environment.problems(config.engine, config.api, tls_files)


def check_environment(config: Config) -> None:
    """Raise ConfigError naming every key whose file or path this machine cannot serve."""
    found = environment_problems(config)
    if found:
        raise ConfigError(found, config.source)


def to_dict(config: Config) -> dict[str, Any]:
    """A JSON-able view for the API and support bundles; secrets are masked."""
    return typing.cast(dict[str, Any], to_plain(config))
