"""The API explorer in a real browser: Debian's chromium, headless, driven by playwright
(``pip install playwright``; the system browser at /usr/bin/chromium, never a download),
against a real ``dockyard serve`` subprocess of the ``Gallery`` package below.

Locally the tests skip when chromium or playwright is missing; under ``CI=true`` they
fail instead. ``DOCKYARD_CHROMIUM`` names another chromium binary. A screenshot of the
page is saved under the test's tmp dir (and copied to /tmp/explorer-screenshot.png).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = os.environ.get("DOCKYARD_CHROMIUM", "/usr/bin/chromium")
DOCKYARD = shutil.which("dockyard", path=str(Path(sys.executable).parent))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
START_TIMEOUT = 30.0
SCREENSHOT_COPY = Path("/tmp/explorer-screenshot.png")
SECRET = "s3cr3t-token-4711"

#: The package served: a public route, private ones, an enum argument, an image, and
#: markup in its docs (which must show as text).
GALLERY = textwrap.dedent(
    '''
    """Routes for the explorer's browser test."""

    import enum
    import struct
    import zlib

    from dockyard import Config, InvocableResponse, PackageService, get, post


    def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            crc = zlib.crc32(kind + data) & 0xFFFFFFFF
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

        rows = b"".join(b"\\x00" + bytes(rgb) * width for _ in range(height))
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return (
            b"\\x89PNG\\r\\n\\x1a\\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b"")
        )


    class Color(enum.Enum):
        RED = "red"
        GREEN = "green"
        BLUE = "blue"


    class Gallery(PackageService):
        """A gallery of routes. <img src=x onerror="window.pwned=1"><b>not bold</b>"""

        class Config(Config):
            greeting: str = "Hello"
            api_token: str | None = None

        @get("ping", public=True)
        def ping(self) -> str:
            """Anyone may call this."""
            return "pong"

        @get("say_hello")
        def say_hello(self, name: str = "World") -> str:
            """Greet someone by name."""
            return f"{self.config.greeting}, {name}!"

        @get("paint")
        def paint(self, color: Color, times: int = 1) -> dict:
            """Paint in a colour, a number of times."""
            return {"color": color.value, "times": times}

        @get("swatch")
        def swatch(self, color: Color = Color.BLUE) -> InvocableResponse:
            """A 32x24 PNG of the colour."""
            rgb = {"red": (220, 40, 40), "green": (40, 160, 60), "blue": (40, 80, 220)}
            return InvocableResponse(_bytes=png(32, 24, rgb[color.value]), mime_type="image/png")

        @post("echo")
        def echo(self, text: str, tags: list[str] | None = None) -> dict:
            """Send <script>window.pwned=2</script> back."""
            return {"text": text, "tags": tags}
    '''
)


def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A running ``dockyard serve``, its local key and the Gallery instance's base URL."""

    url: str
    key: str
    base: str


def call(url: str, body: Any = None, key: str | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if data:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``dockyard serve gallery.py:Gallery`` on a free port, with an instance whose config
    holds a secret."""
    if DOCKYARD is None:
        (pytest.fail if IN_CI else pytest.skip)("the dockyard console script is missing")
    root = tmp_path_factory.mktemp("explorer-server")
    target = root / "gallery.py"
    target.write_text(GALLERY)
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_HOME"] = str(home)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(
        [DOCKYARD, "serve", f"{target}:Gallery", "--port", str(port), "--task-workers", "0"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"dockyard serve exited: {(root / 'server.log').read_text()}")
            with contextlib.suppress(OSError):
                if call(f"{url}/__health__")[0] == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"dockyard serve did not start: {(root / 'server.log').read_text()}")
            time.sleep(0.1)
        key = json.loads((home / "credentials").read_text())["api_key"]
        config = {"greeting": "Ahoy", "api_token": SECRET}
        status, body = call(
            f"{url}/__api__/instances", {"package": "gallery", "config": config}, key
        )
        assert status == 200, body
        yield Served(url, key, json.loads(body)["invocation_url"])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the group of the server started here
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless system chromium (skipped locally when missing; a failure under CI=true)."""
    missing = browser_missing()
    if missing is not None:
        if IN_CI:
            pytest.fail(f"the browser test needs chromium and playwright: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium refuses root otherwise
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A page, with what it logged and asked for."""

    page: Page
    problems: list[str]
    requests: list[str]


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    opened = context.new_page()
    watched = Watched(opened, [], [])

    def console(message: Any) -> None:
        # A 4xx the page asked for on purpose is logged by chromium; anything else
        # (a CSP violation, a script error) is a problem.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            watched.problems.append(message.text)

    opened.on("console", console)
    opened.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
    opened.on("request", lambda request: watched.requests.append(request.url))
    opened.set_default_timeout(15_000)
    try:
        yield watched
    finally:
        context.close()


def route(page: Page, path: str) -> Locator:
    """The section of the route at ``path``."""
    return page.locator("section.route").filter(
        has=page.locator("h3 code", has_text=re.compile(f"^{re.escape(path)}$"))
    )


def invoke(section: Locator) -> Locator:
    """Click the route's Invoke button; its result, once it has a status line."""
    from playwright.sync_api import expect

    section.get_by_role("button", name="Invoke").click()
    result = section.locator(".result")
    expect(result.locator(".status")).to_have_text(re.compile(r"^Status: \d{3}"))
    return result


def test_explore_and_invoke_in_a_real_browser(
    page: Watched, served: Served, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    started = time.monotonic()
    tab = page.page
    tab.goto(f"{served.base}__docs__")
    expect(tab.locator("#status")).to_have_text("Enter your API key to load the routes.")
    expect(tab.locator("#base-url")).to_have_text(served.base)

    # The key: typed once, then only in the script's memory.
    tab.locator("#api-key").fill(served.key)
    tab.locator("#use-key").click()
    expect(tab.locator("#title")).to_have_text("Gallery")
    expect(tab.locator("#status")).to_have_text("Key set (kept in this page only).")
    assert tab.locator("#api-key").input_value() == ""
    kept = tab.evaluate(
        "() => [localStorage.length, sessionStorage.length, document.cookie, location.href]"
    )
    assert kept == [0, 0, "", f"{served.base}__docs__"]
    assert served.key not in tab.content()

    # Markup in docs is text; nothing ran.
    expect(tab.locator("#doc")).to_contain_text('<img src=x onerror="window.pwned=1">')
    assert tab.locator("#doc img, #doc b, .route script").count() == 0
    expect(route(tab, "/echo").locator(".doc")).to_have_text(
        "Send <script>window.pwned=2</script> back."
    )

    # The config, its secret masked.
    token_row = tab.locator("tr.config-row").filter(has_text="api_token")
    expect(token_row).to_contain_text("secret")
    expect(token_row.locator("td").last).to_have_text('"**********"')
    greeting_row = tab.locator("tr.config-row").filter(has_text="greeting")
    expect(greeting_row.locator("td").last).to_have_text('"Ahoy"')
    assert SECRET not in tab.content()

    # Every route, with its verb, arguments, doc and return type.
    paths = tab.locator("section.route h3 code").all_inner_texts()
    assert paths == ["/__dir__", "/echo", "/paint", "/ping", "/say_hello", "/swatch"]
    paint = route(tab, "/paint")
    expect(paint.locator(".verb")).to_have_text("GET")
    expect(paint.locator(".badge")).to_have_text("key required")
    expect(route(tab, "/ping").locator(".badge")).to_have_text("public")
    expect(paint).to_contain_text("Returns: dict")
    expect(paint.locator("ul.args")).to_contain_text('one of "red", "green", "blue"')
    expect(paint.locator("ul.args")).to_contain_text("times: int — default 1")

    # Text.
    hello = route(tab, "/say_hello")
    hello.locator("input[name=name]").fill("Ted")
    result = invoke(hello)
    expect(result.locator(".status")).to_have_text(re.compile(r"^Status: 200"))
    expect(result.locator(".type")).to_have_text("Content-Type: text/plain; charset=utf-8")
    expect(result.locator("pre.body")).to_have_text("Ahoy, Ted!")

    # An enum (a select), an int; JSON pretty-printed.
    paint.locator("select[name=color]").select_option(label="green")
    paint.locator("input[name=times]").fill("3")
    result = invoke(paint)
    expect(result.locator(".type")).to_have_text("Content-Type: application/json")
    expect(result.locator("pre.body")).to_have_text(
        json.dumps({"color": "green", "times": 3}, indent=2)
    )

    # POST with JSON (a list argument); markup in the answer stays text.
    echo = route(tab, "/echo")
    echo.locator("input[name=text]").fill("<b>hi</b>")
    echo.locator("input[name=tags]").fill('["a", "b"]')
    result = invoke(echo)
    expect(result.locator("pre.body")).to_have_text(
        json.dumps({"text": "<b>hi</b>", "tags": ["a", "b"]}, indent=2)
    )
    assert result.locator("b").count() == 0

    # An image.
    swatch = route(tab, "/swatch")
    swatch.locator("select[name=color]").select_option(label="red")
    result = invoke(swatch)
    expect(result.locator(".type")).to_have_text("Content-Type: image/png")
    image = result.locator("img.body")
    expect(image).to_be_visible()
    tab.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [32, 24]
    assert image.get_attribute("src", timeout=1000).startswith("blob:")

    # A 422: the error body, pretty-printed.
    paint.locator("input[name=times]").fill("many")
    result = invoke(paint)
    expect(result.locator(".status")).to_have_text(re.compile(r"^Status: 422"))
    expect(result.locator("pre.body")).to_contain_text('"code": "invalid_arguments"')

    screenshot = tmp_path / "explorer.png"
    tab.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    with contextlib.suppress(OSError):
        shutil.copyfile(screenshot, SCREENSHOT_COPY)

    # Without the key: public routes still answer, the others are refused.
    tab.locator("#forget-key").click()
    expect(tab.locator("#status")).to_have_text("Key forgotten: public routes only.")
    result = invoke(route(tab, "/ping"))
    expect(result.locator(".status")).to_have_text(re.compile(r"^Status: 200"))
    expect(result.locator("pre.body")).to_have_text("pong")
    result = invoke(hello)
    expect(result.locator(".status")).to_have_text(re.compile(r"^Status: 401"))
    expect(result.locator("pre.body")).to_contain_text('"code": "unauthorized"')

    assert tab.evaluate("() => [window.pwned]") == [None]
    assert page.problems == []
    outside = [u for u in page.requests if not u.startswith((served.url + "/", "blob:"))]
    assert outside == []
    print(f"browser flow: {time.monotonic() - started:.1f}s; screenshot {screenshot}")


def test_a_wrong_key_is_reported_and_nothing_is_shown(page: Watched, served: Served) -> None:
    from playwright.sync_api import expect

    tab = page.page
    tab.goto(f"{served.base}__docs__")
    tab.locator("#api-key").fill("dk_not-a-key")
    tab.locator("#use-key").click()
    expect(tab.locator("#status")).to_have_text(re.compile(r"^401: unauthorized: "))
    expect(tab.locator("#routes-section")).to_be_hidden()
    assert tab.locator("section.route").count() == 0
    assert page.problems == []


def test_the_page_of_an_unknown_instance_says_so(page: Watched, served: Served) -> None:
    from playwright.sync_api import expect

    tab = page.page
    tab.goto(f"{served.url}/nobody/nothing/__docs__")
    tab.locator("#api-key").fill(served.key)
    tab.locator("#use-key").click()
    expect(tab.locator("#status")).to_have_text(re.compile(r"^404: instance_not_found: "))
    assert page.problems == []
