"""`PluginService[IN, OUT]` and `PluginRequest[IN]`: typed units of work.

A *plugin type* fixes the input model, the output model and the route::

    class Tagger(PluginService[TagInput, TagOutput], route="tag"):
        '''Adds tags to a file.'''

A *plugin* subclasses a plugin type and implements ``run``::

    class Shouter(Tagger):
        def run(self, request: PluginRequest[TagInput]) -> TagOutput:
            ...

The route (``POST /tag``) takes the input model's fields as its arguments and
validates them on the way in (422 naming the field path, like any route). What
``run`` returns is validated on the way out against the output model: a plugin that
returns the wrong shape answers 500 with a `PluginOutputError` naming the plugin and
the field, since that is a bug in the plugin, not the caller's fault.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from dockyard.core.arguments import ModelArgumentValidator
from dockyard.core.errors import PluginOutputError
from dockyard.core.request import InvocationContext
from dockyard.core.response import InvocableResponse
from dockyard.core.routes import Verb, normalize_path
from dockyard.core.service import Invocable
from dockyard.core.spec import MethodSpec, qualified_name

__all__ = ["PluginRequest", "PluginService", "is_plugin_type"]

IN = TypeVar("IN", bound=BaseModel)
OUT = TypeVar("OUT", bound=BaseModel)

# The method every plugin route binds to (private: plugins implement `run`).
_ENTRY = "_plugin_entry"


@dataclass(slots=True)
class PluginRequest(Generic[IN]):
    """What ``run`` receives.

    :param data: the validated input.
    :param context: who is calling, where (empty in-process).
    """

    data: IN
    context: InvocationContext


class PluginService(Invocable, Generic[IN, OUT]):
    """Base class of plugin types (and, through them, of plugins).

    Subclass it as ``PluginService[InModel, OutModel]`` with ``route="path"`` to define a
    plugin type; subclass a plugin type and implement `run` to write a plugin. Plugins
    have their own ``Config``, validated as for packages.

    Attributes:
        input_model: the plugin type's input model (IN).
        output_model: its output model (OUT).
        plugin_route: its route path (``"/tag"``).
        plugin_type: the plugin type class itself (for a plugin: the type it implements).
    """

    input_model: ClassVar[type[BaseModel]]
    output_model: ClassVar[type[BaseModel]]
    plugin_route: ClassVar[str]
    plugin_type: ClassVar[type[PluginService[Any, Any]]]

    def __init_subclass__(cls, route: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        models = _models_of(cls)
        if route is None:
            if models is not None:
                raise TypeError(
                    f"{qualified_name(cls)} fixes its input and output models but no route: "
                    f"a plugin type is declared as class {cls.__name__}("
                    f"PluginService[In, Out], route='path')"
                )
            if not hasattr(cls, "plugin_route"):
                raise TypeError(
                    f"{qualified_name(cls)} derives from PluginService without a plugin type: "
                    "subclass a plugin type (Tagger, Embedder, ...) or declare one with "
                    "PluginService[In, Out] and route='path'"
                )
            return
        if "plugin_route" in {k for b in cls.__mro__[1:] for k in vars(b)}:
            raise TypeError(
                f"{qualified_name(cls)} is already a plugin of type "
                f"{qualified_name(cls.plugin_type)}; a plugin cannot declare another route"
            )
        if models is None:
            raise TypeError(
                f"{qualified_name(cls)} declares route={route!r} but not its models: write "
                f"class {cls.__name__}(PluginService[InModel, OutModel], route={route!r})"
            )
        cls.input_model, cls.output_model = models
        cls.plugin_route = normalize_path(route)
        cls.plugin_type = cls
        where = f"POST {cls.plugin_route} ({qualified_name(cls)})"
        validator = ModelArgumentValidator(cls.input_model, where)
        method = MethodSpec(
            verb=Verb.POST,
            path=cls.plugin_route,
            name=_ENTRY,
            owner=cls,
            doc=inspect.cleandoc(cls.__doc__) if cls.__doc__ else None,
            returns=cls.output_model.__name__,
            config={},
            args=validator.arg_specs,
            validator=validator,  # type: ignore[arg-type]
        )
        spec = cls.spec.copy()
        spec.add_methods([method], where=qualified_name(cls))
        cls.spec = spec.freeze()

    def run(self, request: PluginRequest[IN]) -> OUT | InvocableResponse:
        """Do the plugin's work: return the output model (or a dict of its fields, or an
        `InvocableResponse` whose data is one). Plugins override this."""
        raise NotImplementedError(
            f"{qualified_name(type(self))} must implement run(request) -> "
            f"{self.output_model.__name__}"
        )

    def run_validated(self, data: BaseModel) -> BaseModel:
        """Run on already-validated input; return the validated output model.

        :raises PluginOutputError: ``run`` returned the wrong shape.
        """
        result = self.run(PluginRequest(data=data, context=self.context))  # type: ignore[arg-type]
        if isinstance(result, InvocableResponse):
            if result.error is not None:
                raise result.error
            result = result.data
        return self._check_output(result)

    def _plugin_entry(self, data: BaseModel) -> Any:
        result = self.run(PluginRequest(data=data, context=self.context))  # type: ignore[arg-type]
        if isinstance(result, InvocableResponse):
            if result.error is None:
                result.data = self._check_output(result.data).model_dump(mode="json")
            return result
        return self._check_output(result)

    def _check_output(self, value: Any) -> BaseModel:
        model = self.output_model
        try:
            # Turned into plain JSON data first, so every nested model is re-checked field
            # by field: pydantic takes an instance of the right class on trust, even one
            # changed after it was validated.
            return model.model_validate(to_jsonable_python(value))
        except PydanticSerializationError as exc:
            problems = [{"field": "(output)", "problem": f"not JSON data: {exc}"}]
        except PydanticValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in err["loc"]) or "(output)", "problem": err["msg"]}
                for err in exc.errors(include_url=False, include_context=False)
            ]
        listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise PluginOutputError(
            f"plugin {qualified_name(type(self))} returned an invalid "
            f"{qualified_name(self.plugin_type)} output ({model.__name__}): {listed}",
            suggestion=f"a bug in the plugin: its run() must return a {model.__name__}; "
            "report it to the plugin's authors",
            details={"plugin": qualified_name(type(self)), "problems": problems},
        )


def _models_of(cls: type) -> tuple[type[BaseModel], type[BaseModel]] | None:
    """The (IN, OUT) models ``cls`` parametrises PluginService with in its own bases."""
    for base in cls.__dict__.get("__orig_bases__", ()):
        if typing.get_origin(base) is PluginService:
            args = typing.get_args(base)
            if len(args) == 2 and all(
                isinstance(a, type) and issubclass(a, BaseModel) for a in args
            ):
                return args[0], args[1]
            raise TypeError(
                f"{qualified_name(cls)}: PluginService[IN, OUT] takes two pydantic models, "
                f"got {', '.join(map(repr, args))}"
            )
    return None


def is_plugin_type(obj: object) -> bool:
    """Whether ``obj`` is a plugin type (a class that declared its models and route)."""
    return (
        isinstance(obj, type)
        and issubclass(obj, PluginService)
        and obj.__dict__.get("plugin_type") is obj
    )
