"""Plugin handles: `PluginCalls` (``run`` plus one convenience per plugin type) and
`PluginHandle`, a plugin running in-process for a package or mixin.

``self.use_plugin("regex-tagger", config={...})`` returns a `PluginHandle`; the client's
``Dockyard().use_plugin(...)`` returns a `PluginInstance` (dockyard.client) with the same
calls, in-process or over HTTP::

    tagger = self.use_plugin("regex-tagger", config={"patterns": {"contact/email": EMAIL}})
    file = tagger.tag(file)                  # same as tagger.run({"file": file}).file
    vectors = self.use_plugin("hashing-embedder").embed(["a text", "another"])

Each convenience belongs to one plugin type (``tag`` to `Tagger`, ``embed`` to `Embedder`...);
calling it on a plugin of another type is a `TypeError` naming both. ``run`` works for
every type, third parties' included.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, to_jsonable_python

from dockyard.core.arguments import ModelArgumentValidator
from dockyard.core.errors import ArgumentError
from dockyard.core.service import Invocable
from dockyard.core.spec import qualified_name
from dockyard.plugins.model import Block, File
from dockyard.plugins.service import PluginService, is_plugin_type
from dockyard.plugins.types import (
    Blockifier,
    Embedder,
    FileImporter,
    Generator,
    ImportOutput,
    Tagger,
)

__all__ = ["PluginCalls", "PluginHandle", "make_handle", "plain_input"]

IN = TypeVar("IN", bound=BaseModel)
OUT = TypeVar("OUT", bound=BaseModel)


def plain_input(value: BaseModel | Mapping[str, Any], where: str) -> dict[str, Any]:
    """A plugin input (the input model, or a mapping of its fields, which may hold models)
    as plain JSON data, ready to be validated against the input model.

    :raises ArgumentError: 422 if it is neither, or holds something that is not JSON data.
    """
    if not isinstance(value, BaseModel | Mapping):
        raise ArgumentError(
            f"{where}: the input must be the plugin type's input model or a mapping of its "
            f"fields, not {type(value).__name__}",
            suggestion="pass e.g. {'file': file} for a tagger, or use its convenience (tag())",
        )
    try:
        plain = to_jsonable_python(value)
    except PydanticSerializationError as exc:
        raise ArgumentError(f"{where}: the input is not JSON data: {exc}") from None
    assert isinstance(plain, dict)
    return plain


class PluginCalls:
    """``run`` and the per-type conveniences, over any way of running a plugin.

    Subclasses implement `run` and say what the plugin is (`plugin_name`, `plugin_type`).
    """

    #: The plugin's handle (or class name when it has none), for messages.
    plugin_name: str
    #: The plugin type the plugin implements, when known (None: a type not installed here,
    #: so `run` returns plain JSON data and the conveniences are unavailable).
    plugin_type: type[PluginService[Any, Any]] | None

    def run(self, input: Any) -> Any:
        """Run the plugin on ``input`` (its input model, or a mapping of the fields) and
        return its output model."""
        raise NotImplementedError

    def _as(self, kind: type[PluginService[Any, Any]], call: str) -> None:
        actual = self.plugin_type
        if actual is kind:
            return
        what = qualified_name(actual) if actual is not None else "a plugin type not installed here"
        raise TypeError(
            f"{call}() is for {kind.__name__} plugins, but plugin {self.plugin_name!r} is "
            f"{what}: call run() with its input instead"
        )

    def tag(self, file: File | Mapping[str, Any]) -> File:
        """Tag ``file`` (a `Tagger`): the file with the tags added."""
        self._as(Tagger, "tag")
        out: File = self.run({"file": file}).file
        return out

    def blockify(self, data: bytes | str, mime_type: str) -> File:
        """Cut ``data`` (bytes, or a str sent as UTF-8) of type ``mime_type`` into blocks
        (a `Blockifier`)."""
        self._as(Blockifier, "blockify")
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        out = self.run({"data": base64.b64encode(raw).decode("ascii"), "mime_type": mime_type})
        file: File = out.file
        return file

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, all of one dimension (an `Embedder`)."""
        self._as(Embedder, "embed")
        if isinstance(texts, str):
            # A str is a sequence of one-character texts: surely not what was meant.
            raise TypeError("embed() takes a list of texts, not one str: embed([text])")
        vectors: list[list[float]] = self.run({"texts": list(texts)}).vectors
        return vectors

    def generate(self, blocks: Iterable[Block | str], **options: Any) -> list[Block]:
        """Generate blocks from ``blocks`` (`Block` or plain str) and the generator's
        ``options`` (a `Generator`)."""
        self._as(Generator, "generate")
        given = [Block(text=b) if isinstance(b, str) else b for b in blocks]
        out: list[Block] = self.run({"blocks": given, "options": options}).blocks
        return out

    def import_(
        self,
        url: str | None = None,
        *,
        text: str | None = None,
        data: bytes | None = None,
        mime_type: str | None = None,
    ) -> ImportOutput:
        """Import content from ``url``, or take ``text`` / ``data`` (a `FileImporter`);
        ``.content()`` of the result is the bytes, ``.mime_type`` their type."""
        self._as(FileImporter, "import_")
        fields: dict[str, Any] = {"url": url, "text": text, "mime_type": mime_type}
        if data is not None:
            fields["data"] = base64.b64encode(data).decode("ascii")
        out: ImportOutput = self.run({k: v for k, v in fields.items() if v is not None})
        return out


class PluginHandle(PluginCalls, Generic[IN, OUT]):
    """A plugin instance running in-process: what ``use_plugin`` returns in a package.

    ``run`` validates the input as the plugin's route does (an `ArgumentError`, 422, names
    the field) and the output as well (a `PluginOutputError`, 500, names the plugin and
    the field). Lifecycle hooks do not fire: this is a function call, not a request.

    :param plugin: the plugin instance (config validated when it was made).
    :param name: its handle.

    Attributes:
        plugin: the plugin instance.
        input_model: the plugin type's input model.
        output_model: its output model.
    """

    def __init__(self, plugin: PluginService[IN, OUT], name: str) -> None:
        self.plugin = plugin
        self.plugin_name = name
        self.plugin_type = plugin.plugin_type
        self.input_model: type[BaseModel] = plugin.input_model
        self.output_model: type[BaseModel] = plugin.output_model
        self._where = f"plugin {name} ({qualified_name(type(plugin))})"
        self._validator = ModelArgumentValidator(plugin.input_model, self._where)

    def __repr__(self) -> str:
        return f"<PluginHandle {self.plugin_name} {qualified_name(type(self.plugin))}>"

    def run(self, input: IN | Mapping[str, Any]) -> OUT:
        """Run the plugin on ``input`` (its input model, or a mapping of the fields).

        :raises ArgumentError: the input is invalid (422, naming the field).
        :raises PluginOutputError: the plugin returned the wrong shape (500).
        """
        data = self._validator.validate(plain_input(input, self._where))["data"]
        out: OUT = self.plugin.run_validated(data)  # type: ignore[assignment]
        return out


_LOCK = threading.Lock()


def _cache_key(plugin: str | type[Invocable], config: Mapping[str, Any] | None) -> Any:
    try:
        text = json.dumps(to_jsonable_python(config or {}), sort_keys=True)
    except (PydanticSerializationError, TypeError, ValueError):
        return None  # not JSON: made afresh each time (its validation will say why)
    return (plugin, text)


def make_handle(
    owner: Invocable, plugin: str | type[Invocable], config: Mapping[str, Any] | None
) -> PluginHandle[Any, Any]:
    """The handle `Invocable.use_plugin` returns: made with ``owner``'s engine, once per
    (plugin, config) for ``owner``."""
    key = _cache_key(plugin, config)
    handles: dict[Any, PluginHandle[Any, Any]] = owner.__dict__.setdefault("_plugin_handles", {})
    if key is not None and key in handles:
        return handles[key]
    engine = owner._engine
    if engine is None:
        # Made directly (a test, a script): discover installed plugins once for it.
        from dockyard.core.engine import Engine

        with _LOCK:
            engine = owner._engine
            if engine is None:
                engine = owner._engine = Engine()
    if isinstance(plugin, str):
        cls = engine.plugin_class(plugin)
        name = plugin
    else:
        cls, name = plugin, getattr(plugin, "__name__", repr(plugin))
    if not (isinstance(cls, type) and issubclass(cls, PluginService)):
        raise TypeError(
            f"use_plugin() takes a plugin handle or a plugin class (a PluginService "
            f"subclass), not {cls!r}"
        )
    if is_plugin_type(cls):
        raise TypeError(
            f"{qualified_name(cls)} is a plugin type, not a plugin: pass a plugin of that "
            "type (a subclass that implements run)"
        )
    instance = engine.create(cls, config=config, context=owner._context)
    assert isinstance(instance, PluginService)
    handle: PluginHandle[Any, Any] = PluginHandle(instance, name)
    if key is not None:
        handles[key] = handle
    return handle
