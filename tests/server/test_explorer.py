"""The API explorer (server/explorer.py) through Flask's test client: the page, its
static files, the spec it shows (authorised like ``__dir__``, secrets masked) and its
security headers. The real-browser test is test_explorer_browser.py."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

from dockyard import Config, InvocableResponse, PackageService, get, post
from dockyard.runtime import Runtime
from dockyard.server import create_app
from dockyard.server.explorer import CONTENT_SECURITY_POLICY, MASK, is_secret, page_html
from dockyard.store import Store

STATIC_DIR = Path(__file__).resolve().parents[2] / "src" / "dockyard" / "server" / "static"
SECRETS = ("sk-default-4242", "hunter2", "given-token-777", "given-secret-str-99")
PNG = bytes.fromhex(  # a 1x1 PNG
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1d5960000000049454e44ae426082"
)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Database(Config):
    host: str = "localhost"
    password: str = "hunter2"


class Gallery(PackageService):
    """A <b>gallery</b> of routes: public, private, enum and image."""

    class Config(Config):
        greeting: str = "Hello"
        api_key: str = "sk-default-4242"
        access_token: str | None = None
        signing: SecretStr = SecretStr("unused")
        db: Database = Database()

    @get("ping", public=True)
    def ping(self) -> str:
        """Anyone may call this."""
        return "pong"

    @get("paint")
    def paint(self, color: Color, times: int = 1) -> dict[str, Any]:
        """Paint in a colour."""
        return {"color": color.value, "times": times}

    @get("pixel")
    def pixel(self) -> InvocableResponse:
        """A one-pixel PNG."""
        return InvocableResponse(_bytes=PNG, mime_type="image/png")

    @post("echo")
    def echo(self, text: str) -> str:
        return text


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(home=tmp_path / "home") as opened:
        opened.ensure_user("local")
        opened.ensure_user("bob")
        yield opened


@pytest.fixture(params=["fast-path", "flask"])
def app(request: pytest.FixtureRequest, store: Store) -> Flask:
    """The app on its WSGI fast path, and with a hook that makes Flask serve everything."""
    app = create_app(Runtime(store, packages={"gallery": Gallery}))
    if request.param == "flask":
        app.before_request(lambda: None)
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth(store: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.create_key('local')[1]}"}


@pytest.fixture
def gallery(client: FlaskClient, auth: dict[str, str]) -> str:
    """The instance ``art/gallery`` (with secrets in its config); its base path."""
    config = {"access_token": "given-token-777", "signing": "given-secret-str-99"}
    made = client.post(
        "/__api__/instances",
        json={"package": "gallery", "workspace": "art", "instance": "gallery", "config": config},
        headers=auth,
    )
    assert made.status_code == 200, made.data
    return "/art/gallery"


def error_code(response: Any) -> str:
    assert response.mimetype == "application/json"
    code: str = response.get_json()["error"]["code"]
    return code


# --- the page --------------------------------------------------------------------------------


def test_the_page_is_public_and_locked_down(client: FlaskClient, gallery: str) -> None:
    page = client.get(f"{gallery}/__docs__")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    policy = {part.split()[0]: part.split()[1:] for part in CONTENT_SECURITY_POLICY.split("; ")}
    assert policy["default-src"] == ["'none'"]
    for directive in ("script-src", "style-src", "connect-src"):
        assert policy[directive] == ["'self'"]
    assert policy["img-src"] == ["'self'", "blob:"]
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY


def test_the_page_holds_nothing_of_the_instance(
    client: FlaskClient, gallery: str, auth: dict[str, str]
) -> None:
    """The same fixed shell for anyone and any instance, existing or not: it reveals
    nothing (the script fetches the spec with the key)."""
    anonymous = client.get(f"{gallery}/__docs__").data
    assert client.get(f"{gallery}/__docs__", headers=auth).data == anonymous
    assert client.get("/no-such/instance/__docs__").data == anonymous
    text = anonymous.decode()
    for leak in ("Gallery", "gallery", "art/", "ping", *SECRETS):
        assert leak not in text
    assert text == page_html("/__static__")


def test_the_page_loads_nothing_from_elsewhere_and_has_no_inline_code(
    client: FlaskClient, gallery: str
) -> None:
    text = client.get(f"{gallery}/__docs__").data.decode()
    assert re.findall(r'<script[^>]*src="([^"]+)"', text) == ["/__static__/explorer.js"]
    assert re.findall(r'<link[^>]*href="([^"]+)"', text) == ["/__static__/explorer.css"]
    assert len(re.findall(r"<script", text)) == 1  # no inline script
    assert "<style" not in text
    assert " style=" not in text
    assert not re.search(r"\son[a-z]+=", text)  # no inline event handlers
    assert "http://" not in text
    assert "https://" not in text


def test_the_page_under_a_script_root(store: Store) -> None:
    """Mounted under a prefix, the page points at the prefix's static files (escaped)."""
    app = create_app(Runtime(store, packages={"gallery": Gallery}))
    page = app.test_client().get("/art/gallery/__docs__", base_url='http://localhost/a&b"x')
    assert page.status_code == 200
    assert '<script src="/a&amp;b&quot;x/__static__/explorer.js" defer>' in page.data.decode()


# --- static files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mimetype"), [("explorer.js", "text/javascript"), ("explorer.css", "text/css")]
)
def test_static_files_are_served_public_and_cacheable(
    client: FlaskClient, name: str, mimetype: str
) -> None:
    served = client.get(f"/__static__/{name}")
    assert served.status_code == 200
    assert served.mimetype == mimetype
    assert served.mimetype_params == {"charset": "utf-8"}
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.data == (STATIC_DIR / name).read_bytes()
    etag = served.headers["ETag"]
    again = client.get(f"/__static__/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert client.head(f"/__static__/{name}").status_code == 200


@pytest.mark.parametrize("name", ["nope.js", "explorer.JS", "__init__.py", "static"])
def test_only_the_explorer_files_are_served(client: FlaskClient, name: str) -> None:
    served = client.get(f"/__static__/{name}")
    assert served.status_code == 404
    assert error_code(served) == "not_found"


@pytest.mark.parametrize("path", ["../explorer.py", "..%2Fexplorer.py", "%2E%2E/app.py"])
def test_no_way_out_of_the_static_files(client: FlaskClient, path: str) -> None:
    served = client.get(f"/__static__/{path}")
    assert served.status_code in (401, 404)  # a path of three segments is an invocation
    assert served.mimetype == "application/json"


def test_the_static_files_are_small_self_contained_and_never_use_inner_html() -> None:
    script = (STATIC_DIR / "explorer.js").read_text()
    style = (STATIC_DIR / "explorer.css").read_text()
    assert len(script.encode()) < 10_000
    assert len(style.encode()) < 4_000
    for forbidden in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
        "sessionStorage",
        "document.cookie",
        "indexedDB",
    ):
        assert forbidden not in script, forbidden
    for text in (script, style):
        assert "http://" not in text
        assert "https://" not in text
        assert "@import" not in text


# --- the spec the page shows -----------------------------------------------------------------


def test_the_spec_needs_the_owners_key_like_dir(
    client: FlaskClient, gallery: str, store: Store
) -> None:
    url = f"{gallery}/__docs__/spec"
    assert client.get(url).status_code == 401
    assert error_code(client.get(url)) == "unauthorized"
    bad = client.get(url, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    bob = {"Authorization": f"Bearer {store.create_key('bob')[1]}"}
    assert client.get(url, headers=bob).status_code == 404
    assert client.get(f"{gallery}/__dir__", headers=bob).status_code == 404
    # No instance: the same answers as __dir__ (401 without a key, 404 with one).
    assert client.get("/no-such/instance/__docs__/spec").status_code == 401
    assert client.get("/no-such/instance/__docs__/spec", headers=bob).status_code == 404


def test_the_spec_is_dir_with_public_flags_and_masked_secrets(
    client: FlaskClient, gallery: str, auth: dict[str, str]
) -> None:
    shown = client.get(f"{gallery}/__docs__/spec", headers=auth)
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    spec = shown.get_json()
    described = client.get(f"{gallery}/__dir__", headers=auth).get_json()
    assert spec["name"] == described["name"] == "Gallery"
    assert spec["doc"] == described["doc"]
    assert (spec["workspace"], spec["instance"], spec["owner_view"]) == ("art", "gallery", True)
    expected = [
        {**m, "public": m["path"] == "/ping"}
        for m in described["methods"]
        if m["path"] != "/__instance_init__" and (m["path"], m["verb"]) != ("/__dir__", "POST")
    ]
    assert spec["methods"] == expected
    paint = next(m for m in spec["methods"] if m["path"] == "/paint")
    assert paint["args"][0] == {
        "name": "color",
        "kind": "enum",
        "required": True,
        "default": None,
        "values": ["red", "green"],
    }
    config = {p["name"]: p for p in spec["config"]}
    assert list(config) == [p["name"] for p in described["config"]]
    shown_values = {name: (p["secret"], p["default"], p["value"]) for name, p in config.items()}
    assert shown_values == {
        "greeting": (False, "Hello", "Hello"),
        "api_key": (True, MASK, MASK),
        "access_token": (True, None, MASK),
        "signing": (True, MASK, MASK),
        "db.host": (False, "localhost", "localhost"),
        "db.password": (True, MASK, MASK),
    }
    for secret in SECRETS:
        assert secret not in shown.data.decode()


def test_a_public_dir_shows_the_spec_without_values_to_anyone(
    store: Store, auth: dict[str, str]
) -> None:
    """The spec follows ``__dir__``'s authorisation, whatever it is: a hook that lets
    anyone read ``__dir__`` lets anyone load the page's spec, never the config values."""
    from dockyard import Engine, hookimpl
    from dockyard.core.spec import MethodSpec

    class PublicDir:
        @hookimpl
        def dockyard_instance_created(self, instance: Any) -> None:
            spec = instance._writable_spec()
            for method in list(spec.methods):
                if method.path == "/__dir__":
                    public = MethodSpec(
                        **{**method.__dict__, "config": {**method.config, "public": True}}
                    )
                    spec.add_methods(
                        [public], where="test", permit_overwrite_of_existing_methods=True
                    )
            instance.spec = spec

    runtime = Runtime(store, packages={"gallery": Gallery}, engine=Engine(hooks=[PublicDir()]))
    client = create_app(runtime).test_client()
    made = client.post("/__api__/instances", json={"package": "gallery"}, headers=auth)
    assert made.status_code == 200, made.data
    anonymous = client.get("/gallery/gallery/__docs__/spec")
    assert anonymous.status_code == 200, anonymous.data
    spec = anonymous.get_json()
    assert spec["owner_view"] is False
    assert all("value" not in p for p in spec["config"])
    assert "sk-default-4242" not in anonymous.data.decode()
    owner = client.get("/gallery/gallery/__docs__/spec", headers=auth).get_json()
    assert owner["owner_view"] is True


def test_a_before_invoke_hook_refusing_dir_refuses_the_spec(
    store: Store, auth: dict[str, str]
) -> None:
    from dockyard import DockyardError, Engine, hookimpl

    class NoDir:
        @hookimpl
        def dockyard_before_invoke(self, instance: Any, request: Any) -> None:
            if request.invocation.invocation_path == "/__dir__":
                raise DockyardError("no", code="forbidden", status=403)

    runtime = Runtime(store, packages={"gallery": Gallery}, engine=Engine(hooks=[NoDir()]))
    client = create_app(runtime).test_client()
    made = client.post("/__api__/instances", json={"package": "gallery"}, headers=auth)
    assert made.status_code == 200
    refused = client.get("/gallery/gallery/__docs__/spec", headers=auth)
    assert refused.status_code == 403
    assert error_code(refused) == "forbidden"


def test_the_spec_of_a_plugin_instance(client: FlaskClient, auth: dict[str, str]) -> None:
    made = client.post(
        "/__api__/instances",
        json={"plugin": "hashing-embedder", "config": {"dimensions": 8}},
        headers=auth,
    )
    assert made.status_code == 200, made.data
    spec = client.get("/hashing-embedder/hashing-embedder/__docs__/spec", headers=auth).get_json()
    assert spec["name"] == "HashingEmbedder"
    assert next(p for p in spec["config"] if p["name"] == "dimensions")["value"] == 8
    assert [(m["verb"], m["path"]) for m in spec["methods"]] == [
        ("GET", "/__dir__"),
        ("POST", "/embed"),
    ]


def test_routes_the_page_invokes_answer_as_the_page_expects(
    client: FlaskClient, gallery: str, auth: dict[str, str]
) -> None:
    """What the script sends (GET query text, POST JSON) and reads (Content-Type)."""
    assert client.get(f"{gallery}/ping").data == b"pong"
    painted = client.get(f"{gallery}/paint?color=green&times=2", headers=auth)
    assert painted.get_json() == {"color": "green", "times": 2}
    pixel = client.get(f"{gallery}/pixel", headers=auth)
    assert (pixel.mimetype, pixel.data) == ("image/png", PNG)
    echoed = client.post(f"{gallery}/echo", json={"text": "<b>hi</b>"}, headers=auth)
    assert echoed.data == b"<b>hi</b>"
    assert echoed.mimetype == "text/plain"


def test_docs_paths_never_reach_the_package(
    client: FlaskClient, gallery: str, auth: dict[str, str]
) -> None:
    """``__docs__`` paths are the explorer's, on the fast path and in Flask alike; no
    package can declare a ``/__`` route, so nothing else under them answers."""
    other = client.get(f"{gallery}/__docs__/other", headers=auth)
    assert other.status_code == 404
    assert error_code(other) == "not_found"
    for path in ("__docs__", "__docs__/spec"):
        wrong_verb = client.post(f"{gallery}/{path}", headers=auth)
        assert wrong_verb.status_code in (404, 405)  # 405 once the server owns the path
        assert error_code(wrong_verb) in ("not_found", "method_not_allowed")
        assert client.head(f"{gallery}/{path}", headers=auth).status_code == 200
    assert json.loads(client.get(f"{gallery}/__docs__/spec", headers=auth).data)["name"]


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "key",
        "openai_api_key",
        "apiKey",
        "APIKey",
        "accessToken",
        "token",
        "client_secret",
        "password",
        "db.password",
        "db_passwd",
        "auth",
        "credentials",
        "private_key",
        "service.ApiToken",
        "SECRET",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret(name)


@pytest.mark.parametrize(
    "name", ["greeting", "keyword", "keywords", "monkey", "tokens_per_minute_x", "db.host"]
)
def test_names_that_are_not_secret(name: str) -> None:
    assert not is_secret(name, "str")


@pytest.mark.parametrize("kind", ["SecretStr", "SecretBytes", "SecretStr | None"])
def test_secret_types(kind: str) -> None:
    assert is_secret("anything", kind)
