"""The Windows event endpoint over TLS on 127.0.0.1: each dialect through Debian's `curl` and
through an HTTP client (httpx), Winlogbeat's Elasticsearch surface, and every refusal, while
another agent keeps being served."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard

from collectors.winevents.agents import UNAUTHENTICATED
from tests.support.winevents import (
    BAD_INPUTS,
    CANONICAL,
    EXPECTED_SECURITY,
    LOGON_FAILURE,
    RENDERERS,
    generic,
    winlogbeat,
)
from tests.support.winevents_server import DC01_SECRET, FS01_SECRET, Endpoint, start_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("curl"), reason="needs Debian curl")]

NDJSON = "application/x-ndjson"


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[Endpoint]:
    running = await start_endpoint(tmp_path)
    yield running
    await running.server.close()


def auth(secret: str = DC01_SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def ndjson(documents: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(document).encode() + b"\n" for document in documents)


def bulk_body(documents: list[dict[str, Any]]) -> bytes:
    lines: list[dict[str, Any]] = []
    for document in documents:
        lines += [{"create": {"_index": "winlogbeat-8.13.4"}}, document]
    return ndjson(lines)


async def curl(
    endpoint: Endpoint, path: str, body: bytes | None, *headers: str, method: str = "POST"
) -> tuple[int, Any]:
    """Run Debian's curl without blocking the loop the server runs in."""
    args = ["curl", "-sS", "--max-time", "20", "--cacert", str(endpoint.ca_file), "-X", method]
    for header in headers:
        args += ["-H", header]
    if body is not None:
        args += ["--data-binary", "@-"]
    args += ["-w", "\n%{size_upload} %{http_code}", endpoint.url + path]
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(body or b""), 30)
    assert process.returncode == 0, err.decode()
    text, _, last = out.decode().rpartition("\n")
    uploaded, status = last.split()
    endpoint.last_upload = int(uploaded)
    return int(status), json.loads(text) if text.strip() else None


def client(endpoint: Endpoint) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=endpoint.url, verify=endpoint.client_ssl(), timeout=20)


# ---- every dialect, both clients -------------------------------------------------------------


@pytest.mark.parametrize("dialect", sorted(RENDERERS))
async def test_curl_posts_each_dialect(endpoint: Endpoint, dialect: str) -> None:
    body = ndjson([RENDERERS[dialect](event) for event in CANONICAL])
    status, reply = await curl(
        endpoint, "/v1/events", body, f"Authorization: Bearer {DC01_SECRET}", f"Content-Type: {NDJSON}"
    )
    assert status == 200, reply
    assert reply == {"accepted": len(CANONICAL), "duplicates": 0, "refused": 0, "errors": []}
    stored = endpoint.store.records
    assert [record["event_id"] for record in stored] == [event.event_id for event in CANONICAL]
    assert {record["dialect"] for record in stored} == {dialect}
    assert [record["security"] for record in stored] == [EXPECTED_SECURITY[e.event_id] for e in CANONICAL]
    assert {record["agent"] for record in stored} == {"dc01"}
    assert all(record["source"].startswith("127.0.0.1:") for record in stored)


@pytest.mark.parametrize("encoding", ["identity", "gzip", "zstd"])
@pytest.mark.parametrize("dialect", sorted(RENDERERS))
async def test_http_client_posts_each_dialect_as_an_array(endpoint: Endpoint, dialect: str, encoding: str) -> None:
    body = json.dumps([RENDERERS[dialect](event) for event in CANONICAL]).encode()
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "zstd":
        body = zstandard.ZstdCompressor().compress(body)
    headers = auth() | {"Content-Type": "application/json", "Content-Encoding": encoding}
    async with client(endpoint) as http:
        response = await http.post("/v1/events", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(CANONICAL)
    assert {record["dialect"] for record in endpoint.store.records} == {dialect}
    assert endpoint.store.records[1]["event_data"] == LOGON_FAILURE.data
    assert endpoint.store.wire_bytes == len(body)  # received bytes: the body as sent, compressed or not


async def test_one_object_and_nxlog_text_plain(endpoint: Endpoint) -> None:
    async with client(endpoint) as http:
        response = await http.post(
            "/v1/events",
            content=json.dumps(RENDERERS["nxlog"](LOGON_FAILURE)).encode(),
            headers=auth() | {"Content-Type": "text/plain"},  # om_http's default content type
        )
    assert response.status_code == 200, response.text
    assert endpoint.store.records[0]["security"] == "logon.failure"


async def test_a_resent_batch_is_acknowledged_but_stored_once(endpoint: Endpoint) -> None:
    body = ndjson([generic(event) for event in CANONICAL])
    async with client(endpoint) as http:
        first = await http.post("/v1/events", content=body, headers=auth() | {"Content-Type": NDJSON})
        again = await http.post("/v1/events", content=body, headers=auth() | {"Content-Type": NDJSON})
    assert first.json()["accepted"] == len(CANONICAL)
    assert again.status_code == 200
    assert again.json() == {"accepted": 0, "duplicates": len(CANONICAL), "refused": 0, "errors": []}
    assert len(endpoint.store.records) == len(CANONICAL)


async def test_bad_events_in_a_batch_are_reported_and_the_rest_stored(endpoint: Endpoint) -> None:
    body = ndjson([generic(CANONICAL[0]), {"msg": "no id"}]) + b'{"event_id": 4625,\n' + ndjson([generic(CANONICAL[1])])
    async with client(endpoint) as http:
        response = await http.post("/v1/events", content=body, headers=auth() | {"Content-Type": NDJSON})
    assert response.status_code == 200
    reply = response.json()
    assert (reply["accepted"], reply["refused"]) == (2, 2)
    assert [error["index"] for error in reply["errors"]] == [1, 2]
    assert "unknown dialect" in reply["errors"][0]["reason"]
    assert reply["errors"][1]["reason"].startswith("bad JSON at line 3, byte ")


# ---- Winlogbeat's Elasticsearch surface -------------------------------------------------------


async def test_winlogbeat_startup_probes(endpoint: Endpoint) -> None:
    async with client(endpoint) as http:
        info = await http.get("/", headers=auth())
        head = await http.head("/", headers=auth())
        license_ = await http.get("/_license", headers=auth())
        template_exists = await http.head("/_index_template/winlogbeat-8.13.4", headers=auth())
        template_put = await http.put(
            "/_index_template/winlogbeat-8.13.4", json={"index_patterns": ["winlogbeat-*"]}, headers=auth()
        )
        policy = await http.get("/_ilm/policy/winlogbeat", headers=auth())
        unknown = await http.get("/_cat/indices", headers=auth())
        anonymous = await http.get("/")
    assert info.status_code == 200
    assert info.json()["version"]["number"] == "8.19.0"
    assert info.headers["X-Elastic-Product"] == "Elasticsearch"
    assert head.status_code == 200
    assert license_.json()["license"]["status"] == "active"
    assert template_exists.status_code == 200
    assert template_put.json() == {"acknowledged": True}
    assert "winlogbeat" in policy.json()
    assert unknown.status_code == 404
    assert "no such endpoint: GET /_cat/indices" in unknown.json()["error"]["reason"]
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "missing_token"


async def test_curl_bulk_with_per_item_results(endpoint: Endpoint) -> None:
    body = bulk_body([winlogbeat(event) for event in CANONICAL]) + ndjson([{"delete": {"_id": "1"}}])
    headers = (f"Authorization: Bearer {DC01_SECRET}", "Content-Type: application/json")
    status, reply = await curl(endpoint, "/winlogbeat-8.13.4/_bulk", body, *headers)
    assert status == 200
    assert reply["errors"] is True  # the delete
    statuses = [item[next(iter(item))]["status"] for item in reply["items"]]
    assert statuses == [201] * len(CANONICAL) + [400]
    assert {record["dialect"] for record in endpoint.store.records} == {"winlogbeat"}

    status, again = await curl(endpoint, "/_bulk", bulk_body([winlogbeat(event) for event in CANONICAL]), *headers)
    assert status == 200
    assert [item["create"]["status"] for item in again["items"]] == [409] * len(CANONICAL)  # libbeat: duplicates
    assert len(endpoint.store.records) == len(CANONICAL)


async def test_client_bulk_gzip_with_api_key(endpoint: Endpoint) -> None:
    import base64

    api_key = base64.b64encode(f"fs01:{FS01_SECRET}".encode()).decode()
    body = gzip.compress(bulk_body([winlogbeat(event) for event in CANONICAL[:3]] + [{"winlog": "not an event"}]))
    headers = {"Authorization": f"ApiKey {api_key}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with client(endpoint) as http:
        response = await http.post("/_bulk", content=body, headers=headers)
    reply = response.json()
    assert [item["create"]["status"] for item in reply["items"]] == [201, 201, 201, 400]
    assert "unknown dialect" in reply["items"][3]["create"]["error"]["reason"]
    assert {record["agent"] for record in endpoint.store.records} == {"fs01"}


# ---- refusals, while another agent keeps being served ---------------------------------------


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
async def test_bad_input_gets_status_and_reason_while_others_are_served(tmp_path: Path, case: str) -> None:
    endpoint = await start_endpoint(tmp_path, max_body_bytes=65536, max_decoded_bytes=1 << 20)
    try:
        headers, body, status, reason = BAD_INPUTS[case]
        async with client(endpoint) as bad, client(endpoint) as good:
            bad_reply, good_reply = await asyncio.gather(
                bad.post("/v1/events", content=body, headers=auth() | headers),
                good.post(
                    "/v1/events",
                    content=ndjson([generic(LOGON_FAILURE)]),
                    headers=auth(FS01_SECRET) | {"Content-Type": NDJSON},
                ),
            )
        assert bad_reply.status_code == status, bad_reply.text
        assert reason in bad_reply.json()["reason"]
        assert good_reply.status_code == 200
        assert [record["agent"] for record in endpoint.store.records] == ["fs01"]
        agents = {row["name"]: row for row in endpoint.server.agents.snapshot()}
        bad_agent = UNAUTHENTICATED if status == 401 else "dc01"
        assert agents[bad_agent]["errors"] == 1
        assert reason in agents[bad_agent]["last_error"]
        assert agents["fs01"]["events"] == 1 and agents["fs01"]["errors"] == 0
    finally:
        await endpoint.server.close()


async def test_curl_sees_the_same_refusals(endpoint: Endpoint) -> None:
    status, reply = await curl(endpoint, "/v1/events", b'{"event_id": 1', "Content-Type: application/json")
    assert (status, reply["error"]) == (401, "missing_token")
    status, reply = await curl(
        endpoint,
        "/v1/events",
        b'{"event_id": 1',
        f"Authorization: Bearer {DC01_SECRET}",
        "Content-Type: application/json",
    )
    assert status == 400
    assert reply == {"error": "bad_json", "reason": "bad JSON at byte 14: the document is truncated"}


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        (("Authorization: Bearer wrong-0123456789abcdef", "Content-Type: application/json"), 401, "bad token"),
        ((f"Authorization: Bearer {DC01_SECRET}", "Content-Type: application/xml"), 415, "is not accepted"),
        ((f"Authorization: Bearer {DC01_SECRET}", "Content-Type: application/json"), 413, "over the 65536-byte"),
    ],
)
async def test_expect_100_continue_refuses_before_the_body_is_sent(
    tmp_path: Path, headers: tuple[str, ...], status: int, reason: str
) -> None:
    endpoint = await start_endpoint(tmp_path, max_body_bytes=65536, max_decoded_bytes=65536)
    try:
        body = ndjson([generic(LOGON_FAILURE)] * 500)  # > 64 KiB: curl asks with Expect first
        got, reply = await curl(endpoint, "/v1/events", body, "Expect: 100-continue", *headers)
        assert got == status
        assert reason in reply["reason"]
        assert endpoint.last_upload == 0, "the body was sent although the refusal came first"
        got, reply = await curl(endpoint, "/_bulk", bulk_body([winlogbeat(LOGON_FAILURE)] * 300), *headers)
        assert got == status
        assert reason in reply["error"]["reason"]
        assert endpoint.store.records == []
    finally:
        await endpoint.server.close()


async def test_expect_100_continue_then_the_body(endpoint: Endpoint) -> None:
    body = ndjson([generic(event) for event in CANONICAL] * 40)
    headers = ("Expect: 100-continue", f"Authorization: Bearer {DC01_SECRET}", f"Content-Type: {NDJSON}")
    status, reply = await curl(endpoint, "/v1/events", body, *headers)
    assert status == 200
    assert (reply["accepted"], reply["duplicates"]) == (len(CANONICAL), len(CANONICAL) * 39)


async def open_tls(endpoint: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context = endpoint.client_ssl()
    return await asyncio.open_connection("127.0.0.1", endpoint.port, ssl=context, server_hostname="127.0.0.1")


async def test_slow_body_gets_408_and_others_are_served(tmp_path: Path) -> None:
    endpoint = await start_endpoint(tmp_path, max_inflight_requests=1)  # the slow one must not hold it
    try:
        reader, writer = await open_tls(endpoint)
        writer.write(
            f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DC01_SECRET}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{".encode()
        )
        await writer.drain()
        async with client(endpoint) as http:  # while the slow one holds its connection
            good = await http.post(
                "/v1/events",
                content=ndjson([generic(LOGON_FAILURE)]),
                headers=auth(FS01_SECRET) | {"Content-Type": NDJSON},
            )
        assert good.status_code == 200
        answer = await asyncio.wait_for(reader.read(), 10)  # read() returns once the server closes
        assert answer.startswith(b"HTTP/1.1 408")
        assert b"the body did not arrive within 2 s" in answer
        writer.close()
    finally:
        await endpoint.server.close()


async def test_trickled_headers_are_cut_off(endpoint: Endpoint) -> None:
    reader, writer = await open_tls(endpoint)
    writer.write(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
    await writer.drain()
    closed_by_server = await asyncio.wait_for(reader.read(), 10)
    assert closed_by_server == b""  # no request was ever complete: closed, nothing to answer
    writer.close()


# ---- tokens, back-pressure and the at-least-once order ----------------------------------------


async def test_no_token_configured_refuses_everything(tmp_path: Path) -> None:
    endpoint = await start_endpoint(tmp_path, tokens=[])
    try:
        async with client(endpoint) as http:
            response = await http.post("/v1/events", content=b"{}", headers=auth() | {"Content-Type": NDJSON})
            info = await http.get("/", headers=auth())
        assert response.status_code == 401 and response.json()["error"] == "no_tokens"
        assert info.status_code == 401
    finally:
        await endpoint.server.close()


def test_unreadable_tls_files_say_which(tmp_path: Path) -> None:
    from collectors.winevents.server import WineventsServer
    from collectors.winevents.settings import WineventsSettings

    settings = WineventsSettings(tls_cert=str(tmp_path / "missing.pem"), tls_key=str(tmp_path / "missing.key"))
    with pytest.raises(ValueError, match=r"winevents TLS: cannot load certificate .*missing.pem"):
        WineventsServer(settings, lambda ndjson, count, wire_bytes: asyncio.sleep(0))


async def test_tokens_rotate_without_restart(endpoint: Endpoint) -> None:
    body = ndjson([generic(LOGON_FAILURE)])
    new_secret = "dc01-rotated-0123456789abcdef"
    async with client(endpoint) as http:
        endpoint.server.replace_tokens([f"dc01:{new_secret}"])
        old = await http.post("/v1/events", content=body, headers=auth() | {"Content-Type": NDJSON})
        new = await http.post("/v1/events", content=body, headers=auth(new_secret) | {"Content-Type": NDJSON})
    assert old.status_code == 401
    assert new.status_code == 200
    with pytest.raises(ValueError, match="at least 16 characters"):
        endpoint.server.replace_tokens(["dc01:short"])


async def test_reply_waits_for_the_store(endpoint: Endpoint) -> None:
    endpoint.store.gate = asyncio.Event()
    async with client(endpoint) as http:
        request = asyncio.ensure_future(
            http.post("/v1/events", content=ndjson([generic(LOGON_FAILURE)]), headers=auth() | {"Content-Type": NDJSON})
        )
        for _ in range(200):
            if endpoint.store.calls:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert endpoint.store.calls == 1
        assert not request.done(), "answered before the store returned"
        endpoint.store.gate.set()
        response = await request
    assert response.status_code == 200
    assert len(endpoint.store.records) == 1


async def test_backpressure_is_429_with_retry_after(endpoint: Endpoint) -> None:
    endpoint.store.busy = True
    async with client(endpoint) as http:
        response = await http.post(
            "/v1/events", content=ndjson([generic(LOGON_FAILURE)]), headers=auth() | {"Content-Type": NDJSON}
        )
        bulk = await http.post(
            "/_bulk", content=bulk_body([winlogbeat(LOGON_FAILURE)]), headers=auth() | {"Content-Type": NDJSON}
        )
        endpoint.store.busy = False
        retry = await http.post(
            "/v1/events", content=ndjson([generic(LOGON_FAILURE)]), headers=auth() | {"Content-Type": NDJSON}
        )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["reason"] == "the buffer is full; retry later"
    assert bulk.status_code == 429  # libbeat retries the whole batch
    assert retry.json()["accepted"] == 1, "a refused batch must not be taken for a duplicate"


async def test_inflight_limit_is_429(tmp_path: Path) -> None:
    endpoint = await start_endpoint(tmp_path, max_inflight_requests=1)
    endpoint.store.gate = asyncio.Event()
    body = ndjson([generic(LOGON_FAILURE)])
    try:
        async with client(endpoint) as first, client(endpoint) as second:
            held = asyncio.ensure_future(
                first.post("/v1/events", content=body, headers=auth() | {"Content-Type": NDJSON})
            )
            for _ in range(200):
                if endpoint.store.calls:
                    break
                await asyncio.sleep(0.01)
            refused = await second.post(
                "/v1/events", content=body, headers=auth(FS01_SECRET) | {"Content-Type": NDJSON}
            )
            endpoint.store.gate.set()
            assert (await held).status_code == 200
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "5"
    finally:
        await endpoint.server.close()


async def test_failed_store_is_503_and_the_retry_is_stored(endpoint: Endpoint) -> None:
    endpoint.store.fail = True
    body = ndjson([generic(event) for event in CANONICAL])
    async with client(endpoint) as http:
        failed = await http.post("/v1/events", content=body, headers=auth() | {"Content-Type": NDJSON})
        endpoint.store.fail = False
        retried = await http.post("/v1/events", content=body, headers=auth() | {"Content-Type": NDJSON})
    assert failed.status_code == 503
    assert "nothing was kept" in failed.json()["reason"]
    assert retried.json()["accepted"] == len(CANONICAL)


async def test_agent_counters(endpoint: Endpoint) -> None:
    async with client(endpoint) as http:
        await http.post(
            "/v1/events", content=ndjson([generic(e) for e in CANONICAL]), headers=auth() | {"Content-Type": NDJSON}
        )
        await http.post("/v1/events", content=b"[", headers=auth() | {"Content-Type": NDJSON})
    (dc01,) = [row for row in endpoint.server.agents.snapshot() if row["name"] == "dc01"]
    assert dc01["requests"] == 2
    assert dc01["events"] == len(CANONICAL)
    assert dc01["security_events"] == sum(1 for value in EXPECTED_SECURITY.values() if value)
    assert dc01["errors"] == 1
    assert dc01["last_seen"] is not None and dc01["last_source"].startswith("127.0.0.1:")
    assert dc01["last_dialect"] == "generic"
