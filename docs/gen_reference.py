"""Generate docs/reference.md, the public API reference, from the docstrings.

::

    python docs/gen_reference.py           # rewrite docs/reference.md
    python docs/gen_reference.py --check   # exit 1 if it is out of date

For each of `MODULES` it walks ``__all__`` in order and renders each name: its
signature (annotations as written in the source), its docstring as Markdown, and for a
class its bases, fields (pydantic models), members (enums), error code and status
(errors), and public methods and properties defined in the class itself.
``tests/test_docs.py`` fails when the committed file differs from what this prints.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MODULES", "main", "markdown", "render", "signature"]

#: The modules whose ``__all__`` is the public API.
MODULES = ("dockyard", "dockyard.plugins", "dockyard.testing")
REFERENCE = Path(__file__).resolve().parent / "reference.md"

_HEADER = """\
# API reference

Generated from the docstrings by `docs/gen_reference.py`; do not edit by hand. After
changing a docstring, run `python docs/gen_reference.py` (`tests/test_docs.py` fails until
this file matches). Signatures show annotations as written in the source.
"""


class _Text:
    """Renders as its text, unquoted (annotations and defaults in signatures)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _default(value: Any, names: dict[str, Any]) -> Any:
    """``value`` as a signature shows it: enum members and classes by name, and objects
    whose repr is a memory address (sentinels) by the module-level name bound to them."""
    if isinstance(value, enum.Enum):
        return _Text(f"{type(value).__name__}.{value.name}")
    if isinstance(value, type) or callable(value):
        return _Text(getattr(value, "__qualname__", type(value).__qualname__))
    if " at 0x" in repr(value):
        bound = [name for name, obj in names.items() if obj is value]
        return _Text(bound[0] if bound else "<sentinel>")
    return value


def signature(obj: Callable[..., Any], *, drop_first: bool = False, returns: bool = True) -> str:
    """``(a: int, b: str = 'x') -> bool`` for ``obj``: annotations as written (they are
    strings under ``from __future__ import annotations``), defaults by name where a
    repr would show a memory address.

    :param drop_first: leave out the first parameter (``self`` or ``cls``).
    :param returns: show the return annotation.
    """
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parameters = list(sig.parameters.values())[1 if drop_first else 0 :]
    names = getattr(inspect.unwrap(obj), "__globals__", {})
    shown = [
        p.replace(
            annotation=p.empty if p.annotation is p.empty else _Text(_annotation(p.annotation)),
            default=p.empty if p.default is p.empty else _default(p.default, names),
        )
        for p in parameters
    ]
    result = sig.return_annotation
    cleaned = sig.replace(
        parameters=shown,
        return_annotation=(
            sig.empty if result is sig.empty or not returns else _Text(_annotation(result))
        ),
    )
    return str(cleaned)


def _annotation(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return inspect.formatannotation(annotation)


# --- docstrings to Markdown ----------------------------------------------------------

_FIELD = re.compile(r"^:(?P<kind>param|returns?|raises?)(?:\s+(?P<name>[^:]+))?:\s*(?P<text>.*)$")
#: A field written after another on the same line (``... :raises E: ...``).
_NEXT_FIELD = re.compile(r"\s+(?=:(?:param|returns?|raises?)(?:\s+[^:\s]+)?:\s)")
_SECTION = re.compile(r"^(?P<title>Attributes|Args|Returns|Raises):\s*$")
_ENTRY = re.compile(r"^(?P<name>[\w.*(), ]+?):\s+(?P<text>.*)$")
_TITLES = {"param": "Parameters", "returns": "Returns", "raises": "Raises"}


def _inline(text: str) -> str:
    """reST inline markup as Markdown: ````x```` -> ```x```."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _joined(lines: Sequence[str]) -> str:
    return " ".join(line.strip() for line in lines if line.strip())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _kind(field: str) -> str:
    """``param``, ``returns`` or ``raises`` (``return`` and ``raise`` are allowed too)."""
    return "param" if field == "param" else "returns" if field.startswith("return") else "raises"


def _fields(lines: list[str], index: int) -> tuple[list[tuple[str, str, str]], int]:
    """The ``:param:``/``:returns:``/``:raises:`` fields from ``lines[index]`` on, as
    ``(kind, name, text)``, and the index after them."""
    found: list[tuple[str, str, str]] = []
    while index < len(lines):
        match = _FIELD.match(lines[index])
        if match is None:
            break
        body = [match["text"]]
        index += 1
        while index < len(lines) and lines[index][:1] in (" ", "\t") and lines[index].strip():
            body.append(lines[index])
            index += 1
        pieces = _NEXT_FIELD.split(_joined(body))
        found.append((_kind(match["kind"]), (match["name"] or "").strip(), pieces[0]))
        for piece in pieces[1:]:
            extra = _FIELD.match(piece)
            assert extra is not None
            found.append((_kind(extra["kind"]), (extra["name"] or "").strip(), extra["text"]))
    return found, index


def _render_fields(found: list[tuple[str, str, str]]) -> list[str]:
    out: list[str] = []
    for kind, title in _TITLES.items():
        entries = [(name, text) for k, name, text in found if k == kind]
        if not entries:
            continue
        if kind == "returns" and len(entries) == 1:
            out.extend([f"**Returns:** {_inline(entries[0][1])}", ""])
            continue
        out.extend([f"**{title}:**", ""])
        for name, text in entries:
            label = f"`{name}`: " if name else ""
            out.append(f"- {label}{_inline(text)}")
        out.append("")
    return out


def _section(lines: list[str], index: int) -> tuple[list[str], int]:
    """The entries of a Google-style section (``Attributes:``) from ``lines[index]``
    (its first indented line) on, as a Markdown list; and the index after it."""
    entries: list[list[str]] = []
    base: int | None = None
    while index < len(lines) and (not lines[index].strip() or lines[index][:1] == " "):
        line = lines[index]
        index += 1
        if not line.strip():
            continue
        if base is None:
            base = _indent(line)
        if _indent(line) <= base or not entries:
            entries.append([line.strip()])
        else:
            entries[-1].append(line)
    out: list[str] = []
    for entry in entries:
        match = _ENTRY.match(entry[0])
        if match:
            out.append(f"- `{match['name']}`: {_inline(_joined([match['text'], *entry[1:]]))}")
        else:
            out.append(f"- {_inline(_joined(entry))}")
    return [*out, ""], index


def markdown(doc: str) -> str:
    """A reST-flavoured docstring as Markdown.

    Paragraphs and bullet lists stay as they are (with ````code```` made single);
    ``:param x:``, ``:returns:`` and ``:raises E:`` fields become labelled lists; an
    ``Attributes:`` section becomes a list; a paragraph ending in ``::`` ends in ``:``
    and the indented block after it stays indented (a Markdown code block).
    """
    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FIELD.match(line):
            found, index = _fields(lines, index)
            out.extend(["", *_render_fields(found)])
            continue
        section = _SECTION.match(line)
        if section:
            listed, index = _section(lines, index + 1)
            out.extend(["", f"**{section['title']}:**", "", *listed])
            continue
        index += 1
        if not line.rstrip().endswith("::"):
            out.append(_inline(line.rstrip()))
            continue
        head = line.rstrip()[:-2].rstrip()
        out.extend([_inline(f"{head}:") if head else "", ""])
        while index < len(lines) and (not lines[index].strip() or lines[index][:1] == " "):
            out.append(lines[index].rstrip())
            index += 1
        out.append("")
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# --- rendering the API ---------------------------------------------------------------


def _doc(obj: Any) -> str:
    """``obj``'s own docstring as Markdown ("" if it has none of its own)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return markdown(doc) if isinstance(doc, str) and doc.strip() else ""


def _anchor(module: str, name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", f"{module}-{name}".lower().replace(".", "-"))


def _is_pydantic(cls: type) -> bool:
    return any(base.__module__.startswith("pydantic") for base in cls.__mro__[1:])


def _is_plugin_type(cls: type) -> bool:
    return cls.__dict__.get("plugin_type") is cls and hasattr(cls, "input_model")


def _bases(cls: type) -> str:
    if _is_plugin_type(cls):
        own = cls.__dict__
        models = f"{own['input_model'].__name__}, {own['output_model'].__name__}"
        return f"PluginService[{models}], route={own['plugin_route'].lstrip('/')!r}"
    names = [b.__qualname__ for b in cls.__bases__ if b not in (object,)]
    return ", ".join(name for name in names if name != "Generic")


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods and properties defined in ``cls`` itself, in source order
    (``__call__`` counts as public; pydantic's ``model_*`` hooks do not)."""
    for name, value in cls.__dict__.items():
        if (name.startswith("_") and name != "__call__") or name.startswith("model_"):
            continue
        if isinstance(value, classmethod | staticmethod | property) or inspect.isfunction(value):
            yield name, value


def _indented(doc: str) -> list[str]:
    return ["", *(f"  {line}" if line else "" for line in doc.rstrip().splitlines())]


def _member(name: str, value: Any) -> list[str]:
    if isinstance(value, property):
        getter = value.fget
        shown = ""
        if getter is not None:
            annotation = inspect.signature(getter).return_annotation
            if annotation is not inspect.Signature.empty:
                shown = f": {_annotation(annotation)}"
        head = f"- `{name}{shown}` (property)"
        doc = _doc(getter) if getter is not None else ""
    else:
        function = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        kind = {classmethod: "classmethod ", staticmethod: "staticmethod "}.get(type(value), "")
        sig = signature(function, drop_first=not isinstance(value, staticmethod))
        head = f"- {kind}`{name}{sig}`"
        doc = _doc(function)
    return [head, *(_indented(doc) if doc else []), ""]


def _fields_of(model: type) -> list[str]:
    """``- `name: annotation = default``` for the fields ``model`` itself declares."""
    annotations = inspect.get_annotations(model)
    fields = getattr(model, "model_fields", {})
    out = []
    for name, annotation in annotations.items():
        info = fields.get(name)
        if info is None:
            continue
        default = ""
        if info.default_factory is not None:
            default = f" = {getattr(info.default_factory, '__name__', 'factory')}()"
        elif not info.is_required():
            default = f" = {info.default!r}"
        out.append(f"- `{name}: {_annotation(annotation)}{default}`")
    return out


def _class(cls: type) -> list[str]:
    own_init = cls.__dict__.get("__init__")
    plain = not (issubclass(cls, enum.Enum) or _is_pydantic(cls))
    if plain and own_init is not None and inspect.isfunction(own_init):
        lines = [f"`class {cls.__name__}{signature(own_init, drop_first=True, returns=False)}`"]
        if _bases(cls):
            lines.extend(["", f"Bases: `{_bases(cls)}`"])
    else:
        lines = [f"`class {cls.__name__}({_bases(cls)})`"]
    doc = _doc(cls)
    if doc:
        lines.extend(["", doc.rstrip()])
    if issubclass(cls, enum.Enum):
        lines.extend(["", "**Members:**", ""])
        lines.extend(f"- `{member.name}` = `{member.value!r}`" for member in cls)
    code, status = getattr(cls, "default_code", None), getattr(cls, "default_status", None)
    if issubclass(cls, Exception) and code is not None:
        lines.extend(["", f"Code `{code}`, HTTP status {status}."])
    if _is_pydantic(cls) and _fields_of(cls):
        lines.extend(["", "**Fields:**", "", *_fields_of(cls)])
    if _is_plugin_type(cls):
        for what in ("Input", "Output"):
            model = cls.__dict__[f"{what.lower()}_model"]
            lines.extend(["", f"**{what}** (`{model.__name__}`):", "", *_fields_of(model)])
    members = [] if issubclass(cls, enum.Enum) else list(_members(cls))
    if members:
        lines.extend(["", "**Methods and properties:**", ""])
        for name, value in members:
            lines.extend(_member(name, value))
    return lines


def _entry(module: str, name: str, obj: Any) -> list[str]:
    lines = [f'<a id="{_anchor(module, name)}"></a>', "", f"### `{module}.{name}`", ""]
    if isinstance(obj, type):
        lines.extend(_class(obj))
    elif inspect.isfunction(obj):
        lines.append(f"`{name}{signature(obj)}`")
        if _doc(obj):
            lines.extend(["", _doc(obj).rstrip()])
    elif type(obj).__module__.startswith("_pytest") or "Fixture" in type(obj).__name__:
        lines.extend([f"`{name}`: a pytest fixture", "", _doc(obj).rstrip()])
    else:
        kind = type(obj)
        lines.append(f"`{name}`: an instance of `{kind.__qualname__}`")
        own = _OWN_DOCS.get(f"{module}.{name}")
        if own:
            lines.extend(["", own])
    lines.append("")
    return lines


#: Names whose docstring is a dependency's (so it would change with its version).
_OWN_DOCS = {
    "dockyard.hookimpl": (
        "Marks Dockyard hook implementations (`@dockyard.hookimpl`), in a module named by a "
        "`dockyard.hooks` entry point or registered with `Engine(hooks=[...])`: "
        "`dockyard_package_composed`, `dockyard_instance_created`, `dockyard_before_invoke`, "
        "`dockyard_after_invoke`, `dockyard_app_created`."
    ),
}


def render() -> str:
    """The whole reference, as Markdown."""
    import importlib

    modules = [importlib.import_module(name) for name in MODULES]
    out = [_HEADER]
    for module in modules:
        names = ", ".join(
            f"[`{name}`](#{_anchor(module.__name__, name)})" for name in module.__all__
        )
        out.append(f"- `{module.__name__}`: {names}")
    out.append("")
    for module in modules:
        out.extend([f"## `{module.__name__}`", ""])
        doc = _doc(module)
        if doc:
            out.extend([doc.rstrip(), ""])
        for name in module.__all__:
            out.extend(_entry(module.__name__, name, getattr(module, name)))
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) docs/reference.md; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if it is out of date")
    args = parser.parse_args(argv)
    fresh = render()
    current = REFERENCE.read_text() if REFERENCE.exists() else ""
    if args.check:
        if current != fresh:
            print("docs/reference.md is out of date: run python docs/gen_reference.py")
            return 1
        return 0
    if current != fresh:
        REFERENCE.write_text(fresh)
        print(f"wrote {REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
