"""Config of packages and mixins: a frozen pydantic model, validated once, at construction.

An instance's config is fixed when the instance is made: `validate_config` lists
every bad or missing field in one `ConfigError` (422 over HTTP), so a broken
config never surfaces mid-request. Empty strings count as "not given", so a form
left blank falls back to the default (or is reported as missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticUndefined

from dockyard.core.arguments import describe_type, jsonable_default
from dockyard.core.errors import ConfigError

__all__ = ["Config", "describe_config", "nested_config_model", "validate_config"]


class Config(BaseModel):
    """Base class of package, mixin and plugin config: frozen, unknown keys rejected.

    Declare fields with types and defaults; a field's ``description`` shows in `/__dir__`::

        class Config(dockyard.Config):
            greeting: str = Field("Hello", description="How to greet")
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


def nested_config_model(cls: type) -> type[BaseModel]:
    """The config model a package or mixin class declares as its nested ``Config`` class.

    :raises TypeError: if ``Config`` is not a pydantic model class.
    """
    nested = getattr(cls, "Config", Config)
    if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
        raise TypeError(
            f"{cls.__module__}.{cls.__qualname__}.Config must be a dockyard.Config "
            f"(pydantic model) subclass, got {nested!r}"
        )
    return nested


def describe_config(
    model: type[BaseModel], *, prefix: str = "", defaults: BaseModel | None = None
) -> list[dict[str, Any]]:
    """The parameters of a config model, as `/__dir__` lists them.

    A field holding a config model (a mixin's section) is listed field by field, as
    ``section.field``.

    :param model: the config model.
    :param prefix: prepended to every name (for nested sections).
    :param defaults: a model instance whose values are the defaults (for nested sections).
    :returns: one dict per field: ``name``, ``type``, ``default``, ``description``, ``required``.
    """
    params: list[dict[str, Any]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            section_default = info.default if isinstance(info.default, BaseModel) else None
            params.extend(
                describe_config(annotation, prefix=f"{prefix}{key}.", defaults=section_default)
            )
            continue
        required = info.is_required() and defaults is None
        default = None
        if defaults is not None:
            default = jsonable_default(getattr(defaults, name))
        elif not required and info.default is not PydanticUndefined:
            default = jsonable_default(info.default)
        params.append(
            {
                "name": f"{prefix}{key}",
                "type": describe_type(annotation)[0],
                "default": default,
                "description": info.description,
                "required": required,
            }
        )
    return params


def validate_config(
    model: type[BaseModel], config: Mapping[str, Any] | BaseModel | None, *, owner: str
) -> BaseModel:
    """Validate ``config`` into ``model``, or raise one `ConfigError` listing every problem.

    :param model: the config model.
    :param config: the config as given (a mapping, a model instance, or None for empty).
    :param owner: who the config is for, named in the error (``"package MyPackage"``).
    :raises ConfigError: unknown keys, missing fields, invalid values — all of them at once.
    """
    if isinstance(config, model):
        return config
    if isinstance(config, BaseModel):
        config = config.model_dump()
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"config for {owner} must be a mapping of names to values, got {type(config).__name__}",
            suggestion="pass config as a dict, e.g. config={'name': 'value'}",
        )
    given = {k: v for k, v in config.items() if not (isinstance(v, str) and v == "")}
    known = set(model.model_fields)
    known.update(f.alias for f in model.model_fields.values() if f.alias)
    problems: list[dict[str, Any]] = [
        {"field": str(key), "problem": "unknown config key"} for key in given if key not in known
    ]
    try:
        validated = model.model_validate({k: v for k, v in given.items() if k in known})
    except PydanticValidationError as exc:
        for err in exc.errors(include_url=False, include_context=False):
            field = ".".join(str(p) for p in err["loc"]) or "(config)"
            problems.append({"field": field, "problem": err["msg"]})
        validated = None
    if problems or validated is None:
        accepted = ", ".join(
            f"{p['name']}{' (required)' if p['required'] else ''}" for p in describe_config(model)
        )
        listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise ConfigError(
            f"invalid config for {owner}: {listed}",
            suggestion=f"fix the listed fields; accepted config keys: {accepted or 'none'}",
            details={"problems": problems},
        )
    return validated
