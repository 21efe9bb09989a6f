"""Packages the server, runtime and client tests serve (a data file, not a test module).

Loaded by path (``dockyard serve .../kit.py:Hello`` or `dockyard.cli.load_target`), so
it imports nothing from the tests.
"""

# USED_MIXIN_CLASSES is a plain list by design (the seed API).
# ruff: noqa: RUF012

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dockyard import Config, DockyardError, PackageMixin, PackageService, get, post
from dockyard.plugins import PluginRequest, Tag, Tagger
from dockyard.plugins.types import TagInput, TagOutput


class Hello(PackageService):
    """The seed example, plus storage, context, a public route and failure modes."""

    class Config(Config):
        """How the package greets."""

        greeting: str = "Hello"

    def instance_init(self) -> None:
        self.storage.update("inits", lambda v: v + 1, default=0)

    # --- the seed example ---------------------------------------------------------

    @get("say_hello")
    def say_hello(self, name: str = "World") -> str:
        """Greet someone by name."""
        return f"{self.config.greeting}, {name}!"

    @post("do_something")
    def do_something(self, times: int = 1) -> dict[str, int]:
        """Do something a number of times and report how many."""
        return {"done": times}

    # --- extras -------------------------------------------------------------------

    @get("ping", public=True)
    def ping(self) -> str:
        """Anyone may call this."""
        return "pong"

    @post("bump")
    def bump(self) -> int:
        """Atomically add one to the counter and return the new value."""
        value: int = self.storage.update("n", lambda v: v + 1, default=0)
        return value

    @get("counter")
    def counter(self) -> int:
        """The counter's value."""
        value: int = self.storage.get("n", 0)
        return value

    @get("inits")
    def inits(self) -> int:
        """How many times instance_init ran."""
        value: int = self.storage.get("inits", 0)
        return value

    @post("remember")
    def remember(self, key: str, value: Any) -> bool:
        """Store a value."""
        self.storage.set(key, value)
        return True

    @get("recall")
    def recall(self, key: str) -> Any:
        """A stored value (None if missing)."""
        return self.storage.get(key)

    @get("whoami")
    def whoami(self) -> dict[str, Any]:
        """The request's context."""
        context = self.context
        return {
            "instance": context.instance_handle,
            "workspace": context.workspace_handle,
            "package": context.package_handle,
            "user": context.user,
            "request_id": context.request_id,
            "invocation_url": context.invocation_url,
            "probe_header": dict(context.headers).get("X-Probe"),
        }

    @get("total")
    def total(
        self, numbers: list[int], weights: dict[str, int] | None = None, note: str = ""
    ) -> dict[str, Any]:
        """Structured GET arguments (sent as JSON text in the query)."""
        weighted = sum(n * (weights or {}).get(str(n), 1) for n in numbers)
        return {"total": weighted, "weights": weights, "note": note}

    @get("headers")
    def headers(self) -> dict[str, Any]:
        """The request headers as the package sees them."""
        headers = self.context.headers
        return {
            "all": dict(headers),
            "x_probe_lowercase": headers.get("x-probe"),
            "has_authorization": "Authorization" in headers,
        }

    @post("echo")
    def echo(self, a: str = "", b: str = "", c: str = "") -> dict[str, str]:
        """The merged arguments."""
        return {"a": a, "b": b, "c": c}

    @get("probe")
    def probe(self) -> dict[str, Any]:
        """The serving process (to tell worker processes apart), config and counter."""
        return {
            "pid": os.getpid(),
            "greeting": self.config.greeting,
            "n": self.storage.get("n", 0),
        }

    @get("menu/café")
    def cafe(self) -> str:
        """A route whose path is not ASCII."""
        return "crème"

    @post("crash")
    def crash(self) -> str:
        """An unexpected exception (a bug)."""
        raise RuntimeError("SECRET-CRASH-DETAIL")

    @post("refuse")
    def refuse(self) -> str:
        """A deliberate error with its own status."""
        raise DockyardError("not today", code="refused", status=418, suggestion="ask tomorrow")


class Flaky(PackageService):
    """instance_init fails the first time (creating the marker file) and succeeds after."""

    class Config(Config):
        """Where the marker lives."""

        marker: str

    def instance_init(self) -> None:
        marker = Path(self.config.marker)
        if not marker.exists():
            marker.write_text("failed once")
            raise RuntimeError("SECRET-INIT-DETAIL")
        self.storage.set("ready", True)

    @get("status")
    def status(self) -> dict[str, Any]:
        """What instance_init left behind."""
        return {"ready": self.storage.get("ready", False)}


class Tally(PackageMixin):
    """A mixin with its own storage namespace."""

    @post("tally")
    def tally(self) -> int:
        """Count in the mixin's namespace (key "n", like the package's)."""
        value: int = self.storage.update("n", lambda v: v + 1, default=0)
        return value


class Mixed(PackageService):
    """A package whose mixin stores under the same key as the package."""

    USED_MIXIN_CLASSES = [Tally]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_mixin(Tally())

    @post("own")
    def own(self) -> int:
        """Count in the package's own namespace (key "n")."""
        value: int = self.storage.update("n", lambda v: v + 10, default=0)
        return value


class Miscounted(Tagger):
    """A deliberately broken plugin: its tags run past their block's text."""

    def run(self, request: PluginRequest[TagInput]) -> TagOutput:
        file = request.data.file
        for block in file.blocks:
            block.tags.append(Tag(kind="broken", start_idx=0, end_idx=len(block.text or "") + 5))
        return TagOutput.model_construct(file=file)  # skips validation, as a buggy plugin might
