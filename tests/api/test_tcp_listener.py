"""The optional NOC listener: TLS and a bearer token required; read-only unless an admin token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trustme

from nocraven import config as config_mod
from nocraven.engine.core import Engine
from tests.support.engine import write_config


@pytest.fixture
async def tls_engine(tmp_path: Path) -> AsyncIterator[tuple[Engine, trustme.CA]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    extra = (
        f'[api]\ntcp = "127.0.0.1:0"\ntls_cert = "{tmp_path / "server.pem"}"\ntls_key = "{tmp_path / "server.pem"}"\n'
        'tokens = ["read-token-1234"]\nadmin_tokens = ["admin-token-5678"]\n'
    )
    engine = Engine(config_mod.load(write_config(tmp_path, extra)))
    await engine.start()
    yield engine, ca
    engine.request_stop("test over")
    await engine.stop()


async def test_tokens_and_roles_on_tcp(tls_engine: tuple[Engine, trustme.CA], tmp_path: Path) -> None:
    engine, ca = tls_engine
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    base = f"https://127.0.0.1:{engine.api.tcp_port}"
    async with httpx.AsyncClient(base_url=base, verify=str(tmp_path / "ca.pem")) as http:
        anonymous = await http.get("/v1/status")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthorized"
        wrong = await http.get("/v1/status", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        read = {"Authorization": "Bearer read-token-1234"}
        status = await http.get("/v1/status", headers=read)
        assert status.status_code == 200 and status.json()["role"] == "read"
        refused = await http.post("/v1/system/bundle", headers=read, json={})
        assert refused.status_code == 403
        admin = {"Authorization": "Bearer admin-token-5678"}
        bundle = await http.post("/v1/system/bundle", headers=admin, json={})
        assert bundle.status_code == 200
        assert Path(bundle.json()["path"]).exists()


async def test_plain_http_is_not_served(tls_engine: tuple[Engine, trustme.CA]) -> None:
    engine, _ = tls_engine
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{engine.api.tcp_port}") as http:
        with pytest.raises(httpx.HTTPError):
            await http.get("/v1/status", headers={"Authorization": "Bearer read-token-1234"})
