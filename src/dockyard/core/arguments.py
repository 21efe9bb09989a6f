"""Arguments of a route: their description (`ArgSpec`) and their validator.

Both are built ONCE per route, when the class is defined. Per-request work is a
dict walk plus one pydantic validation per argument given; pydantic validators are
shared between routes by annotation, so defining a thousand routes over a handful
of types builds a handful of validators.
"""

from __future__ import annotations

import enum
import inspect
import json
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any, Literal, Union

from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from dockyard.core.errors import ArgumentError

__all__ = [
    "MAX_JSON_DEPTH",
    "ArgSpec",
    "ArgumentValidator",
    "ModelArgumentValidator",
    "build_arguments",
    "class_namespace",
    "describe_type",
    "json_text_problem",
    "jsonable_default",
]

_EMPTY = inspect.Parameter.empty
_NoneType = type(None)


@dataclass(frozen=True)
class ArgSpec:
    """One argument of a route, as `/__dir__` describes it.

    :param name: the keyword the caller sends.
    :param kind: the expected type, e.g. ``"int"``, ``"list[str]"``, ``"enum"``, ``"any"``.
    :param required: whether the call fails (422) without it.
    :param default: the default value when not required (JSON form).
    :param values: the accepted values, for enums and literals; otherwise None.
    """

    name: str
    kind: str
    required: bool
    default: Any = None
    values: tuple[Any, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The argument as JSON for `/__dir__`."""
        return {
            "name": self.name,
            "kind": self.kind,
            "required": self.required,
            "default": self.default,
            "values": list(self.values) if self.values is not None else None,
        }

    def describe(self) -> str:
        """A short human form: ``n (int, default 1)``."""
        if self.required:
            return f"{self.name} ({self.kind}, required)"
        return f"{self.name} ({self.kind}, default {self.default!r})"


# One pydantic validator per distinct annotation, shared by every route using it.
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    try:
        return _ADAPTERS[annotation]
    except KeyError:
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        _ADAPTERS[annotation] = adapter
        return adapter
    except TypeError:  # unhashable annotation (e.g. Annotated with a dict): build uncached
        return TypeAdapter(annotation)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin is Union or (origin is not None and getattr(origin, "__name__", "") == "UnionType"):
        args = [a for a in typing.get_args(annotation) if a is not _NoneType]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


_DESCRIPTIONS: dict[Any, tuple[str, tuple[Any, ...] | None]] = {}


def describe_type(annotation: Any) -> tuple[str, tuple[Any, ...] | None]:
    """Return ``(kind, values)`` describing ``annotation`` for `ArgSpec`.

    :param annotation: a resolved type annotation (``_EMPTY``/``Any`` mean anything).
    """
    try:
        return _DESCRIPTIONS[annotation]
    except KeyError:
        described = _describe(annotation)
        _DESCRIPTIONS[annotation] = described
        return described
    except TypeError:  # unhashable annotation
        return _describe(annotation)


def _describe(annotation: Any) -> tuple[str, tuple[Any, ...] | None]:
    if annotation is _EMPTY or annotation is Any:
        return "any", None
    inner, optional = _unwrap_optional(annotation)
    if typing.get_origin(inner) is typing.Annotated:
        inner = typing.get_args(inner)[0]
    values: tuple[Any, ...] | None = None
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        kind = "enum"
        values = tuple(to_jsonable_python(m.value) for m in inner)
    elif typing.get_origin(inner) is Literal:
        kind = "enum"
        values = typing.get_args(inner)
    elif isinstance(inner, type) and not typing.get_args(inner):
        kind = inner.__name__
    else:
        kind = str(inner).replace("typing.", "")
    return (f"{kind} | None" if optional else kind), values


def jsonable_default(value: Any) -> Any:
    """``value`` as JSON for a spec, or its repr when it has no JSON form."""
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError:
        return repr(value)


# (name, validator or None for "anything", required)
_Param = tuple[str, "TypeAdapter[Any] | None", bool]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_NOT_JSON: Any = object()

#: How deep JSON arguments may nest (lists and objects in one another). Deeper values
#: are refused where they come in: past 254 levels pydantic cannot serialize them back
#: (a stored value would break every later read), and past about 1,000 they overflow
#: the interpreter's stack.
MAX_JSON_DEPTH = 100

# What in JSON text may decode to something that is no JSON value in Python: a \uD800
# escape (a lone surrogate: no Unicode text, so no UTF-8 to store or send), a number
# past a float's range (1e999 decodes to inf).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_HUGE_NUMBER = re.compile(rb"[eE]\+?0*[0-9]{3}|[0-9]{300}")


def json_text_problem(value: Any, text: str | bytes) -> str | None:
    """Why ``value``, decoded from the JSON ``text``, cannot be taken as arguments (nested
    more than `MAX_JSON_DEPTH` deep, a string that is no Unicode text, an infinite number),
    or None. Scans of the text rule out nearly everything at C speed; only a suspect value
    is walked (iteratively: no depth overflows the stack here).
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    deep = raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH
    strings = _SURROGATE_ESCAPE.search(raw) is not None
    numbers = _HUGE_NUMBER.search(raw) is not None
    if not (deep or strings or numbers):
        return None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                return f"nests lists and objects more than {MAX_JSON_DEPTH} levels deep"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
        elif strings and isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "holds a string with a lone surrogate (\\uD800-\\uDFFF): not Unicode text"
        elif numbers and isinstance(item, float) and not math.isfinite(item):
            return "holds a number too large for a float"
    return None


def _json_text(value: Any) -> Any:
    """The value a string holds as JSON text, if it is a non-string JSON value; else
    `_NOT_JSON` (only tried after a value failed validation as sent)."""
    if not isinstance(value, str) or not value.strip():
        return _NOT_JSON
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        return _NOT_JSON
    if json_text_problem(decoded, value) is not None:
        return _NOT_JSON
    return _NOT_JSON if isinstance(decoded, str) else decoded


class ArgumentValidator:
    """Validates and coerces the keyword arguments of one route.

    :param params: the route's parameters, in signature order.
    :param arg_specs: their descriptions (used in error messages).
    :param accepts_extra: whether the method takes ``**kwargs``.
    :param where: ``"POST /greet (pkg.MyPackage.greet)"``, for error messages.
    """

    __slots__ = ("_arg_specs", "_extra", "_names", "_params", "_where")

    def __init__(
        self,
        params: tuple[_Param, ...],
        arg_specs: tuple[ArgSpec, ...],
        accepts_extra: bool,
        where: str,
    ) -> None:
        self._params = params
        self._names = frozenset(p[0] for p in params)
        self._arg_specs = arg_specs
        self._extra = accepts_extra
        self._where = where

    def json_schema(self, ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
        """The arguments as one JSON Schema object (``$defs`` collected at its top).

        :param ref_template: where references to models point (OpenAPI documents use
            ``"#/components/schemas/{model}"`` and move ``$defs`` there).
        """
        properties: dict[str, Any] = {}
        defs: dict[str, Any] = {}
        for (name, adapter, _), spec in zip(self._params, self._arg_specs, strict=True):
            schema: dict[str, Any] = {}
            if adapter is not None:
                schema = adapter.json_schema(ref_template=ref_template)
                defs.update(schema.pop("$defs", {}))
            if not spec.required:
                schema["default"] = spec.default
            properties[name] = schema
        out: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": [name for name, _, required in self._params if required],
            "additionalProperties": self._extra,
        }
        if defs:
            out["$defs"] = defs
        return out

    def accepted(self) -> str:
        """The accepted arguments, described: ``name (str, required), n (int, default 1)``."""
        return ", ".join(a.describe() for a in self._arg_specs) or "none"

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Return the validated keyword arguments for the call.

        :param arguments: what the caller sent.
        :raises ArgumentError: listing every missing, unknown or invalid argument (422).
        """
        out: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        seen = 0
        for name, adapter, required in self._params:
            if name in arguments:
                seen += 1
                value = arguments[name]
                if adapter is None:
                    out[name] = value
                    continue
                try:
                    out[name] = adapter.validate_python(value)
                except PydanticValidationError as exc:
                    decoded = _json_text(value)
                    if decoded is not _NOT_JSON:
                        # Query strings and forms carry only text: a structured value
                        # (list, dict, null...) arrives as its JSON text.
                        try:
                            out[name] = adapter.validate_python(decoded)
                            continue
                        except PydanticValidationError:
                            pass  # report the error for the value as sent
                    for err in exc.errors(include_url=False, include_context=False):
                        loc = ".".join(str(p) for p in (name, *err["loc"]))
                        problems.append(
                            {"field": loc, "problem": err["msg"], "input": _short(err["input"])}
                        )
            elif required:
                problems.append({"field": name, "problem": "missing required argument"})
        if len(arguments) > seen:
            for name in arguments:
                if name not in self._names:
                    if self._extra:
                        out[name] = arguments[name]
                    else:
                        problems.append({"field": name, "problem": "unknown argument"})
        if problems:
            self._fail(problems)
        return out

    def _fail(self, problems: list[dict[str, Any]]) -> typing.NoReturn:
        listed = "; ".join(
            f"{p['field']}: {p['problem']}" + (f" (got {p['input']})" if "input" in p else "")
            for p in problems
        )
        raise ArgumentError(
            f"invalid arguments for {self._where}: {listed}",
            suggestion=f"accepted arguments: {self.accepted()}",
            details={"problems": problems, "accepted": [a.to_dict() for a in self._arg_specs]},
        )


# Compiled annotation strings, shared: compiling dominates resolving string annotations.
_COMPILED: dict[str, CodeType] = {}


def class_namespace(owner: type) -> dict[str, Any]:
    """The names string annotations of ``owner``'s methods may use besides module globals:
    its body, and itself (it is not bound in its module while it is being defined)."""
    namespace = dict(vars(owner))
    namespace.setdefault(owner.__name__, owner)
    return namespace


def _resolve_hints(
    func: Callable[..., Any], owner: type, namespace: Mapping[str, Any] | None
) -> dict[str, Any]:
    raw: dict[str, Any] = getattr(func, "__annotations__", None) or {}
    for value in raw.values():
        if isinstance(value, str):
            break
    else:
        return dict(raw)
    # String annotations (``from __future__ import annotations``): evaluate them in the
    # function's module, with the class body visible.
    globalns: dict[str, Any] = getattr(func, "__globals__", {})
    localns = namespace if namespace is not None else class_namespace(owner)
    hints: dict[str, Any] = {}
    for name, value in raw.items():
        if not isinstance(value, str):
            hints[name] = value
            continue
        try:
            code = _COMPILED.get(value)
            if code is None:
                code = _COMPILED[value] = compile(value, "<annotation>", "eval")
            hints[name] = eval(code, globalns, localns)
        except Exception as exc:
            raise TypeError(
                f"cannot resolve the annotation {value!r} of {owner.__qualname__}."
                f"{func.__name__}({name}): {exc}; types named in a route's annotations must "
                "be importable from its module (define them at module level, not inside a "
                "function)"
            ) from exc
    return hints


_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
_POSITIONAL_OR_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD
_KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD


def _parameters(func: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """``(name, kind, default)`` of each parameter, read off the code object when possible."""
    if (
        not inspect.isfunction(func)
        or hasattr(func, "__wrapped__")
        or hasattr(func, "__signature__")
    ):
        return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]
    # A plain function: its code object says it all, ~10x faster than inspect.signature.
    code = func.__code__
    positional = code.co_argcount
    names = code.co_varnames
    defaults = func.__defaults__ or ()
    kwdefaults = func.__kwdefaults__ or {}
    first_default = positional - len(defaults)
    out: list[tuple[str, Any, Any]] = []
    for i in range(positional):
        kind = _POSITIONAL_ONLY if i < code.co_posonlyargcount else _POSITIONAL_OR_KEYWORD
        out.append((names[i], kind, defaults[i - first_default] if i >= first_default else _EMPTY))
    index = positional + code.co_kwonlyargcount
    if code.co_flags & inspect.CO_VARARGS:
        out.append((names[index], _VAR_POSITIONAL, _EMPTY))
        index += 1
    for name in names[positional : positional + code.co_kwonlyargcount]:
        out.append((name, _KEYWORD_ONLY, kwdefaults.get(name, _EMPTY)))
    if code.co_flags & inspect.CO_VARKEYWORDS:
        out.append((names[index], _VAR_KEYWORD, _EMPTY))
    return out


def build_arguments(
    func: Callable[..., Any], owner: type, where: str, namespace: Mapping[str, Any] | None = None
) -> tuple[tuple[ArgSpec, ...], ArgumentValidator, str | None]:
    """Describe ``func``'s parameters and build their validator.

    :param func: the route's function (first parameter is ``self``).
    :param owner: the class defining it (its body is visible to string annotations).
    :param where: how error messages name the route.
    :param namespace: `class_namespace` of ``owner``, when the caller already built it.
    :returns: ``(arg_specs, validator, returns)``, ``returns`` describing the return annotation.
    :raises TypeError: for signatures a caller could not satisfy over HTTP, or annotations
        pydantic cannot validate.
    """
    hints = _resolve_hints(func, owner, namespace)
    params = _parameters(func)
    qualname = f"{owner.__qualname__}.{func.__name__}"
    if not params or params[0][1] not in (_POSITIONAL_ONLY, _POSITIONAL_OR_KEYWORD):
        raise TypeError(f"route method {qualname} must take self as its first parameter")
    arg_specs: list[ArgSpec] = []
    checked: list[_Param] = []
    accepts_extra = False
    for name, kind_, default in params[1:]:
        if kind_ is _VAR_KEYWORD:
            accepts_extra = True
            continue
        if kind_ is _VAR_POSITIONAL:
            continue  # never filled: callers send keywords
        if kind_ is _POSITIONAL_ONLY:
            raise TypeError(
                f"route method {qualname} has positional-only parameter {name!r}; "
                "callers send keyword arguments, so remove the '/'"
            )
        annotation = hints.get(name, _EMPTY)
        required = default is _EMPTY
        kind, values = describe_type(annotation)
        adapter = None
        if annotation is not _EMPTY and annotation is not Any:
            try:
                adapter = _adapter(annotation)
            except (PydanticSchemaGenerationError, PydanticUserError) as exc:
                raise TypeError(
                    f"route method {qualname}: parameter {name!r} is annotated "
                    f"{annotation!r}, which Dockyard cannot validate ({exc.message}); use "
                    "JSON types, enums, dataclasses or pydantic models"
                ) from exc
        arg_specs.append(
            ArgSpec(
                name=name,
                kind=kind,
                required=required,
                default=None if required else jsonable_default(default),
                values=values,
            )
        )
        checked.append((name, adapter, required))
    returns = hints.get("return", _EMPTY)
    if returns is _EMPTY:
        returns_kind = None
    elif returns is None or returns is _NoneType:
        returns_kind = "None"
    elif isinstance(returns, type) and issubclass(returns, BaseModel):
        returns_kind = returns.__name__
    else:
        returns_kind = describe_type(returns)[0]
    specs = tuple(arg_specs)
    return specs, ArgumentValidator(tuple(checked), specs, accepts_extra, where), returns_kind


class ModelArgumentValidator:
    """Validates a call's arguments as ONE pydantic model (its fields are the arguments):
    what a plugin route takes. Same interface as `ArgumentValidator`; the validated
    model is passed to the method as ``data``.

    :param model: the input model.
    :param where: ``"POST /tag (pkg.MyTagger)"``, for error messages.
    """

    __slots__ = ("_model", "_where", "arg_specs")

    def __init__(self, model: type[BaseModel], where: str) -> None:
        self._model = model
        self._where = where
        #: The model's fields as route arguments (for `/__dir__` and OpenAPI).
        self.arg_specs: tuple[ArgSpec, ...] = tuple(
            _field_spec(name, field) for name, field in model.model_fields.items()
        )

    def json_schema(self, ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
        """The model's JSON Schema (``$defs`` at its top)."""
        return self._model.model_json_schema(ref_template=ref_template)

    def accepted(self) -> str:
        """The accepted arguments, described."""
        return ", ".join(a.describe() for a in self.arg_specs) or "none"

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """``{"data": <the validated model>}``.

        :raises ArgumentError: listing every problem with its field path
            (``file.blocks.0.tags.1.end_idx``).
        """
        try:
            return {"data": self._model.model_validate(arguments)}
        except PydanticValidationError as exc:
            problems = [
                {
                    "field": ".".join(str(p) for p in err["loc"]) or "(body)",
                    "problem": err["msg"],
                    "input": _short(err["input"]),
                }
                for err in exc.errors(include_url=False, include_context=False)
            ]
        listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise ArgumentError(
            f"invalid arguments for {self._where}: {listed}",
            suggestion=f"accepted arguments: {self.accepted()}",
            details={"problems": problems, "accepted": [a.to_dict() for a in self.arg_specs]},
        )


def _field_spec(name: str, field: Any) -> ArgSpec:
    kind, values = describe_type(field.annotation)
    required = bool(field.is_required())
    default = None if required else jsonable_default(field.get_default(call_default_factory=True))
    return ArgSpec(field.alias or name, kind, required=required, default=default, values=values)
