"""The capability registry is the one list of capabilities: each built one has its config
section, engine component, routes under its prefix and CLI group; each one still to come answers
"not available" on its API prefix and CLI group. A new capability is one registry line away."""

from __future__ import annotations

import pytest
import typer
from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from nocraven import capabilities
from nocraven.api import server as api_server
from nocraven.api.roles import Peer, Role
from nocraven.capabilities import CAPABILITIES, Capability
from nocraven.cli import main as cli_main
from nocraven.config import SERVICES, Config
from nocraven.engine.bus import EventBus
from nocraven.engine.component import EngineContext
from nocraven.engine.components import build_components

BUILT = [c for c in CAPABILITIES if c.built]


def cli_names(app: typer.Typer) -> set[str]:
    names = {info.name for info in app.registered_commands if info.name}
    return names | {info.name for info in app.registered_groups if info.name}


def test_names_are_unique_and_services_come_from_the_registry() -> None:
    for attribute in ("name", "api_prefix", "cli_group", "mode", "config_section", "buffer_service"):
        values = [getattr(c, attribute) for c in CAPABILITIES if getattr(c, attribute)]
        assert len(values) == len(set(values)), attribute
    assert tuple(c.buffer_service for c in CAPABILITIES if c.buffer_service) == SERVICES


# Built capabilities whose console screen is still to come, and why: each entry is a promise
# the test keeps visible (and fails on once the screen lands, so the entry goes with it).
SCREEN_PENDING: dict[str, str] = {}


def test_every_built_capability_with_a_mode_has_its_console_screen() -> None:
    from nocraven_tui import modes

    built = {spec.name for spec in modes.registry() if spec.screen is not None}
    missing = {c.name for c in BUILT if c.mode and c.mode not in built}
    assert missing == set(SCREEN_PENDING)


def test_every_built_capability_has_its_section_component_routes_and_cli_group() -> None:
    ctx = EngineContext(config=Config(), bus=EventBus())
    components = {component.name: component for component in build_components(ctx)}
    sections = Config().sections()
    assert set(components) == {c.name for c in BUILT}
    for capability in BUILT:
        if capability.config_section:
            assert capability.config_section in sections, capability.name
        routes = components[capability.name].routes()
        assert routes, f"{capability.name} serves no API path"
        prefix = capability.api_prefix
        # the prefix itself may be a path (GET /v1/health), or paths go under it
        assert all(route.path == prefix or route.path.startswith(prefix + "/") for route in routes), capability.name
        if capability.cli_group:
            assert capability.cli_group in cli_names(cli_main.app), capability.name


def test_capabilities_still_to_come_answer_not_available_by_prefix_and_cli_group() -> None:
    missing = capabilities.planned()
    for capability in CAPABILITIES:
        assert (capability.api_prefix in missing) == (not capability.built)
    runner = CliRunner()
    for capability in CAPABILITIES:
        if capability.built or capability.cli_group is None:
            continue
        result = runner.invoke(cli_main.app, [capability.cli_group, "list", "--json"])
        if result.exit_code == 1 and "not available" in result.output:
            continue  # a placeholder command
        assert capability.cli_group in cli_names(cli_main.app)


LIDAR = Capability(
    name="lidar",
    title="Lidar",
    description="the lidar collector",
    api_prefix="/v1/lidar",
    config_section=None,
    buffer_service="lidar",
    cli_group="lidar",
    mode="lidar",
)


async def test_the_api_answers_not_available_under_the_prefix_of_a_capability_not_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = (*CAPABILITIES, LIDAR)
    monkeypatch.setattr(api_server, "planned", lambda: capabilities.planned(registry))
    app = api_server.build_app([], lambda request: Peer(Role.ADMIN, "test"))
    async with TestClient(TestServer(app)) as http:
        response = await http.get("/v1/lidar/points")
        assert response.status == 501
        assert (await response.json())["error"] == {
            "code": "not_available",
            "message": "the lidar collector is not available in this build",
        }
        assert (await http.get("/v1/lidarx")).status == 404  # a prefix, not the start of any word


def test_adding_a_capability_touches_only_the_registry() -> None:
    registry = (*CAPABILITIES, LIDAR)
    assert capabilities.planned(registry)["/v1/lidar"] == "the lidar collector"
    assert "lidar" in capabilities.buffer_services(registry)
    app = typer.Typer()
    app.command("status")(lambda: None)
    cli_main.add_capabilities(app, registry)
    result = CliRunner().invoke(app, ["lidar", "points", "--json"])
    assert result.exit_code == 1
    assert "the lidar collector is not available in this build" in result.output
    from nocraven_tui import modes  # the console reserves its mode from the same line

    assert "lidar" in modes.reserved_names(modes.registry(registry))
