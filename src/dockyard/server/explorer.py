"""The API explorer: an HTML page per instance that documents its routes and invokes them.

URLs (registered on the app by `register_explorer`)::

    GET /<workspace>/<instance>/__docs__        the page: a fixed shell, no instance data
    GET /<workspace>/<instance>/__docs__/spec   what the page shows: ``__dir__``, secrets masked
    GET /__static__/explorer.js|explorer.css    the page's script and style (package data)

Security:

- The page is the same fixed HTML for every URL and needs no key: it holds no data of
  the instance (nor says whether the instance exists), since a browser cannot send an
  ``Authorization`` header when it navigates. Its script asks for ``__docs__/spec``,
  which is authorised exactly as ``GET __dir__`` is (it *is* a ``GET __dir__`` call,
  hooks included): the owner's key, or nothing if the route is public.
- The API key is typed into the page and kept in a variable of the script: never in
  storage, cookies or URLs. Routes declared ``public=True`` are invoked without one.
- Config secrets are masked here, on the server (`is_secret`): their defaults and
  values never reach the browser. The instance's own config values are shown to its
  owner only.
- The script builds the page with DOM nodes and ``textContent`` only (never
  ``innerHTML``), and the page is served with a Content-Security-Policy that allows
  nothing but this server's own script, style, fetches and images (plus ``blob:``
  images, for responses shown as images). No CDN: the page works offline.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from flask import Flask, Response, request
from pydantic import BaseModel
from werkzeug.exceptions import NotFound

from dockyard.core.response import MimeTypes
from dockyard.runtime import Runtime
from dockyard.store import User

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "MASK",
    "explorer_spec",
    "is_secret",
    "page_html",
    "register_explorer",
]

#: What a secret's default or value is shown as (pydantic shows a ``SecretStr`` so).
MASK = "**********"

#: The page's policy: only this server's script, style, fetches and images (blob: for
#: responses shown as images); no inline code, no frames, no plugins, no form posts.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

#: Words that make a config field a secret (matched against the words of its name).
_SECRET_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "passphrase",
        "passwd",
        "password",
        "private",
        "pwd",
        "secret",
        "token",
    }
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+")

#: The files ``/__static__/`` serves, with their Content-Type.
_STATIC = {
    "explorer.js": "text/javascript; charset=utf-8",
    "explorer.css": "text/css; charset=utf-8",
}

#: Built-in routes the page does not list (``GET __dir__`` is listed: it is the spec).
_HIDDEN = frozenset({"/__dir__", "/__instance_init__"})

#: Headers of every explorer response.
_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>API explorer - Dockyard</title>
<link rel="stylesheet" href="{static}/explorer.css">
<script src="{static}/explorer.js" defer></script>
</head>
<body>
<header>
<h1 id="title">API explorer</h1>
<p id="version"></p>
<p id="doc"></p>
<p>Base URL: <code id="base-url"></code></p>
<form id="key-form" autocomplete="off">
<label for="api-key">API key</label>
<input id="api-key" type="password" autocomplete="off" spellcheck="false"
 placeholder="kept in this page only, never stored">
<button type="submit" id="use-key">Use key</button>
<button type="button" id="forget-key">Forget key</button>
</form>
<p id="status" role="status"></p>
</header>
<main>
<section id="config-section" hidden>
<h2>Config</h2>
<table id="config"></table>
</section>
<section id="routes-section" hidden>
<h2>Routes</h2>
<div id="routes"></div>
</section>
</main>
<noscript>This page needs JavaScript (served by this server; nothing is loaded from
elsewhere).</noscript>
</body>
</html>
"""


def is_secret(name: str, kind: str | None = None) -> bool:
    """Whether a config field holds a secret: its type is a pydantic ``SecretStr`` /
    ``SecretBytes``, or a word of its name (``api_key``, ``accessToken``, ``db.password``)
    is one of key, secret, token, password, credential(s), auth, ... .

    :param name: the field's name, as `/__dir__` lists it (``section.field``).
    :param kind: its type, as `/__dir__` describes it (``"SecretStr | None"``).
    """
    if kind is not None and "Secret" in kind:
        return True
    words = _WORD_SPLIT.split(_CAMEL.sub("_", name))
    return any(word.lower() in _SECRET_WORDS for word in words)


def page_html(static_root: str) -> str:
    """The page: a fixed shell holding nothing of any instance.

    :param static_root: the URL path the script and style are served under.
    """
    return _PAGE.format(static=html.escape(static_root, quote=True))


@functools.cache
def _static_file(name: str) -> tuple[bytes, str]:
    """A static file's bytes and ETag (read once per process)."""
    data = resources.files("dockyard.server").joinpath("static").joinpath(name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:32]


def _lookup(values: Any, name: str) -> tuple[bool, Any]:
    """The value of config parameter ``name`` (``section.field``) in the dumped config."""
    if not isinstance(values, Mapping):
        return False, None
    if name in values:
        return True, values[name]
    head, dot, rest = name.partition(".")
    if dot and head in values:
        return _lookup(values[head], rest)
    return False, None


def _masked_config(params: Sequence[Any], values: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    masked: list[dict[str, Any]] = []
    for given in params:
        if not isinstance(given, Mapping):
            continue
        param = dict(given)
        name, kind = str(param.get("name", "")), param.get("type")
        secret = is_secret(name, kind if isinstance(kind, str) else None)
        param["secret"] = secret
        if secret and param.get("default") is not None:
            param["default"] = MASK
        if values is not None:
            found, value = _lookup(values, name)
            if found:
                param["value"] = MASK if secret and value not in (None, "") else value
        masked.append(param)
    return masked


def _listed(method: Mapping[str, Any]) -> bool:
    path = method.get("path")
    return path not in _HIDDEN or (path, method.get("verb")) == ("/__dir__", "GET")


def explorer_spec(
    runtime: Runtime,
    user: User | None,
    workspace: str,
    instance: str,
    *,
    request_id: str | None = None,
) -> dict[str, Any]:
    """What the page shows of an instance: its ``GET __dir__`` (called as ``user``, so
    authorised exactly like it) with secrets masked, each route's ``public`` flag, and,
    for the instance's owner only, the instance's config values (secrets masked).

    :param runtime: the instances.
    :param user: the caller, or None (then only a public ``__dir__`` answers).
    :raises DockyardError: whatever ``GET __dir__`` answers (401, 404, ...).
    """
    handle = user.handle if user is not None else None
    response = runtime.invoke(
        handle, workspace, instance, "GET", "__dir__", {}, request_id=request_id
    )
    if response.error is not None:
        raise response.error
    described = response.data
    if not isinstance(described, Mapping):  # the app answers a 500 with an error id
        raise TypeError(f"__dir__ of {workspace}/{instance} did not answer an object")
    live = runtime.live(workspace, instance)
    values: Mapping[str, Any] | None = None
    if handle is not None and live.record.owner == handle:
        config = live.invocable.config
        if isinstance(config, BaseModel):
            values = config.model_dump(mode="json", by_alias=True)
    methods = [
        {**method, "public": bool((method.get("config") or {}).get("public", False))}
        for method in described.get("methods") or ()
        if isinstance(method, Mapping) and _listed(method)
    ]
    return {
        **{key: described.get(key) for key in ("name", "doc", "version", "used_mixins")},
        "config": _masked_config(described.get("config") or (), values),
        "methods": methods,
        "workspace": live.record.workspace,
        "instance": live.record.handle,
        "owner_view": values is not None,
    }


def register_explorer(app: Flask, runtime: Runtime, caller: Callable[[bool], User | None]) -> None:
    """Add the explorer's routes to ``app``.

    :param app: the Dockyard app (its error handler turns errors into error bodies).
    :param runtime: the instances it serves.
    :param caller: the authenticated caller of the current request, or None when the
        request has no key and none is ``required`` (raises on a bad key).
    """

    @app.get("/<workspace>/<instance>/__docs__")
    def explorer_page(workspace: str, instance: str) -> Response:
        response = Response(page_html(f"{request.script_root}/__static__"), mimetype="text/html")
        response.headers.update(_COMMON_HEADERS)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/<workspace>/<instance>/__docs__/spec")
    def explorer_spec_json(workspace: str, instance: str) -> Response:
        request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        body = explorer_spec(runtime, caller(False), workspace, instance, request_id=request_id)
        response = Response(json.dumps(body), mimetype=MimeTypes.JSON)
        response.headers.update(_COMMON_HEADERS)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/__static__/<name>")
    def explorer_static(name: str) -> Response:
        mimetype = _STATIC.get(name)
        if mimetype is None:
            raise NotFound(f"no static file {name!r}")
        data, etag = _static_file(name)
        response = Response(data, content_type=mimetype)
        response.headers.update(_COMMON_HEADERS)
        response.headers["Cache-Control"] = "no-cache"  # revalidate: a 304 while unchanged
        response.set_etag(etag)
        response.make_conditional(request)  # 304 for a matching If-None-Match
        return response
