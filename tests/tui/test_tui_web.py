"""The web panel: textual-serve behind the token, loaded by a real headless Chromium.

Needs the Debian package `chromium` for the browser tests; the token checks run without it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nocraven.api.wire import to_plain
from nocraven.client import Client
from tests.support.engine import RunningEngine

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium)")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Nothing leaves the machine: textual-serve's page asks Google for a font.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@dataclass
class Panel:
    base: str  # http://127.0.0.1:PORT
    url: str  # with ?token=
    token: str
    proc: subprocess.Popen[str]


@pytest.fixture(scope="module")
def panel(shared_engine: RunningEngine) -> Iterator[Panel]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nocraven_tui", "web", "--port", "0", "--socket", str(shared_engine.socket)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    url = ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not url:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("open: "):
            url = line.split(" ", 1)[1].strip()
    assert url, "the web panel printed no URL"
    base, token = url.split("/?token=")
    yield Panel(base, url, token, proc)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def test_token_is_required_everywhere(panel: Panel) -> None:
    assert panel.base.startswith("http://127.0.0.1:")  # loopback by default
    # unsafe=True: aiohttp's jar otherwise ignores cookies from IP-address hosts, browsers do not.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        for path in ("/", "/?token=wrong", "/static/js/textual.js", "/ws"):
            async with session.get(panel.base + path) as response:
                assert response.status == 403, path
                assert "403 Forbidden" in await response.text()
        async with session.get(panel.url) as response:
            assert response.status == 200
            assert "textual-terminal" in await response.text()
            assert response.cookies["nocraven_panel"]["httponly"]
        # The cookie from the page now opens the assets.
        async with session.get(panel.base + "/static/js/textual.js") as response:
            assert response.status == 200
    async with aiohttp.ClientSession() as session:
        headers = {"Origin": "http://evil.example", "Cookie": f"nocraven_panel={panel.token}"}
        async with session.get(panel.base + "/ws", headers=headers) as response:
            assert response.status == 403  # a page elsewhere cannot ride the cookie


async def test_websocket_serves_the_dashboard(panel: Panel, shared_engine: RunningEngine) -> None:
    with Client(shared_engine.socket) as client:
        hostname = to_plain(client.status())["hostname"]
    ws_url = panel.base.replace("http://", "ws://") + "/ws?width=80&height=24"
    async with (
        aiohttp.ClientSession(cookies={"nocraven_panel": panel.token}) as session,
        session.ws_connect(ws_url) as ws,
    ):
        screen = await _read_terminal(ws, ("engine up", hostname), timeout=20)
    assert "1 Dashboard" in screen and "Components" in screen


async def _read_terminal(ws: aiohttp.ClientWebSocketResponse, wanted: tuple[str, ...], timeout: float) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            message = await ws.receive(timeout=1)
            if message.type == aiohttp.WSMsgType.BINARY:
                data += message.data
            elif message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break
        text = data.decode(errors="replace")
        if all(w in text for w in wanted):
            return text
    raise AssertionError(f"{wanted} not in the terminal stream: {data[-2000:]!r}")


def _dump_dom(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout


@needs_chromium
def test_chromium_is_refused_without_the_token(panel: Panel, tmp_path: Path) -> None:
    dom = _dump_dom(panel.base + "/", tmp_path / "profile")
    assert "403 Forbidden" in dom
    assert "textual-terminal" not in dom


@needs_chromium
def test_chromium_gets_the_page_with_the_token(panel: Panel, tmp_path: Path) -> None:
    dom = _dump_dom(panel.url, tmp_path / "profile")
    assert 'class="textual-terminal"' in dom
    assert re.search(r'data-session-websocket-url="ws://127\.0\.0\.1:\d+/ws"', dom)


@needs_chromium
async def test_chromium_shows_the_dashboard(panel: Panel, shared_engine: RunningEngine, tmp_path: Path) -> None:
    """The page's own JavaScript opens the websocket; the DevTools protocol shows what arrives."""
    with Client(shared_engine.socket) as client:
        hostname = to_plain(client.status())["hostname"]
    async with _devtools_page(tmp_path / "profile") as cdp:
        await cdp.call("Network.enable")
        await cdp.call("Page.enable")
        await cdp.call("Page.navigate", url=panel.url)
        screen = await cdp.websocket_text(("engine up", hostname, "Components"), timeout=30)
    assert "1 Dashboard" in screen


class DevTools:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.frames: list[bytes] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        call_id = self.next_id
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=30)
            self._note(message)
            if message.get("id") == call_id:
                result: dict[str, Any] = message.get("result", {})
                return result

    def _note(self, message: dict[str, Any]) -> None:
        if message.get("method") == "Network.webSocketFrameReceived":
            response = message["params"]["response"]
            if response.get("opcode") == 2:  # binary: the terminal's bytes, base64 on this protocol
                self.frames.append(base64.b64decode(response["payloadData"]))

    async def websocket_text(self, wanted: tuple[str, ...], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = b"".join(self.frames).decode(errors="replace")
            if all(w in text for w in wanted):
                return text
            with contextlib.suppress(TimeoutError):
                self._note(await self.ws.receive_json(timeout=1))
        raise AssertionError(f"{wanted} never arrived over the page's websocket ({len(self.frames)} frames)")

    async def page_text(self, wanted: tuple[str, ...], timeout: float) -> str:
        """The page's visible text (`document.body.innerText`) once it holds all of `wanted`."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = await self._visible_text()
            if all(w in text for w in wanted):
                return text
            await asyncio.sleep(0.5)
        raise AssertionError(f"{wanted} not in the page's text: {text[-2000:]!r}")

    async def _visible_text(self) -> str:
        """The page's text and, since xterm.js paints the terminal on a canvas (no DOM text), the
        rows of the terminal the page's own script made, found among the page's objects."""
        page = await self.call("Runtime.evaluate", expression="document.body.innerText", returnByValue=True)
        prototype = await self.call("Runtime.evaluate", expression="Object.prototype")
        found = await self.call("Runtime.queryObjects", prototypeObjectId=prototype["result"]["objectId"])
        rows = await self.call(
            "Runtime.callFunctionOn",
            objectId=found["objects"]["objectId"],
            functionDeclaration=TERMINAL_ROWS_JS,
            returnByValue=True,
        )
        await self.call("Runtime.releaseObjectGroup", objectGroup="console")
        return "\n".join(str(part.get("result", {}).get("value") or "") for part in (page, rows))


# `this` is every object on the page: the terminal is the one with an xterm buffer.
TERMINAL_ROWS_JS = """function () {
  for (const o of this) {
    const t = o && o.terminal;
    if (t && t.buffer && t.buffer.active && typeof t.rows === "number") {
      const lines = [];
      for (let i = 0; i < t.rows; i++) {
        const line = t.buffer.active.getLine(t.buffer.active.viewportY + i);
        lines.push(line ? line.translateToString(true) : "");
      }
      return lines.join("\\n");
    }
  }
  return "";
}"""


@contextlib.asynccontextmanager
async def _devtools_page(profile: Path) -> AsyncIterator[DevTools]:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        browser_ws = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not browser_ws:
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            if not line:
                break
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                browser_ws = match.group(1)
        assert browser_ws, "chromium did not open its DevTools port"
        port = re.search(r":(\d+)/", browser_ws)
        assert port is not None
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port.group(1)}/json/list") as response:
                targets = await response.json()
            page = next(t for t in targets if t.get("type") == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield DevTools(ws)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def test_panel_prints_its_token_once_per_start() -> None:
    """Two starts, two tokens: nothing is baked in."""
    tokens = []
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "nocraven_tui", "web", "--port", "0", "--socket", "/nonexistent.sock"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("token: "):
                tokens.append(line.split(" ", 1)[1].strip())
                break
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert len(tokens) == 2 and tokens[0] != tokens[1] and len(tokens[0]) >= 32


@needs_chromium
async def test_chromium_screenshot_of_the_dashboard(panel: Panel, shared_engine: RunningEngine, tmp_path: Path) -> None:
    """What a technician's browser shows: the page draws the dashboard, seen by its screenshot and its text."""
    with Client(shared_engine.socket) as client:
        hostname = to_plain(client.status())["hostname"]
    async with asyncio.timeout(60), _devtools_page(tmp_path / "profile") as cdp:
        await cdp.call("Network.enable")
        await cdp.call("Page.enable")
        await cdp.call("Emulation.setDeviceMetricsOverride", width=1024, height=640, deviceScaleFactor=1, mobile=False)
        await cdp.call("Page.navigate", url=panel.url)
        await cdp.websocket_text(("engine up", hostname, "Components"), timeout=30)
        text = await cdp.page_text(("NoC Raven", hostname, "Components"), timeout=20)
        shot = await cdp.call("Page.captureScreenshot", format="png")
    rows = " ".join(text.split())
    assert "NoC Raven" in rows and hostname in rows
    assert "1 Dashboard" in rows and "Components" in rows and "engine up" in rows
    (tmp_path / "dashboard.png").write_bytes(png := base64.b64decode(shot["data"]))
    width, height, pixels = _png_pixels(png)
    assert (width, height) == (1024, 640)
    # Painted, not blank: a page of text in the theme's colours has many distinct colours.
    assert len(set(pixels)) >= 16, f"only {len(set(pixels))} colours on the screenshot"
    background = max(set(pixels), key=pixels.count)
    assert pixels.count(background) < 0.95 * len(pixels)


def _png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and a sample of pixels of an 8-bit RGB(A) PNG (Chromium's), without Pillow."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(png):
        length = int.from_bytes(png[offset : offset + 4], "big")
        kind = png[offset + 4 : offset + 8]
        body = png[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour = header[8], header[9]
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format: depth {depth}, colour type {colour}"
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    assert len(raw) == height * (stride + 1)
    # Undo the per-row filters (PNG spec, section 9) for every 8th row: enough to tell paint from blank.
    previous = bytearray(stride)
    pixels: list[bytes] = []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        previous = line
        if y % 8 == 0:
            pixels.extend(bytes(line[x : x + 3]) for x in range(0, stride, channels))
    return width, height, pixels
