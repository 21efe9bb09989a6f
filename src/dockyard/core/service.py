"""`Invocable` (anything that answers requests) and `PackageService` (a package).

``instance(request)`` is the single dispatch entry used by the server, the
client and tests alike. It costs one dict lookup for the route, one validation
per argument, and the call: nothing depends on how many routes there are, and
nothing is built per request.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from dockyard.core.collect import collect_routes, merge_used_mixins
from dockyard.core.config import Config, describe_config, nested_config_model, validate_config
from dockyard.core.errors import (
    ArgumentError,
    DockyardError,
    InternalError,
    MethodNotAllowedError,
    MixinError,
    RouteNotFoundError,
)
from dockyard.core.mixin import PackageMixin
from dockyard.core.request import REQUEST_CONTEXT, InvocableRequest, InvocationContext
from dockyard.core.response import InvocableResponse
from dockyard.core.routes import Verb, get, normalize_path, post
from dockyard.core.spec import MethodSpec, PackageSpec, qualified_name
from dockyard.core.storage import KeyValueStorage
from dockyard.core.task import MAX_DELAY_MS

if TYPE_CHECKING:
    import pluggy

    from dockyard.core.engine import Engine
    from dockyard.core.task import Task, TaskScheduler
    from dockyard.plugins.handle import PluginHandle

__all__ = ["Invocable", "PackageService"]

logger = logging.getLogger("dockyard")

_LISTED_ROUTES = 25


class _InvocableMeta(type):
    """Checks, once ``__init__`` has fully run, that an invocable is complete."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__call__(*args, **kwargs)
        instance._check_constructed()
        return instance


class Invocable(metaclass=_InvocableMeta):
    """Base class of everything that answers requests (packages, plugins).

    :param config: the config, validated into `config_cls()`'s model;
        a `ConfigError` lists every bad field.
    :param context: who is calling, where (filled by the server or client).

    Attributes:
        spec: the route table (the class's, until this instance adds a route).
        config: the validated config model instance.
        context: the `InvocationContext`.
    """

    spec: PackageSpec
    config: BaseModel
    USED_MIXIN_CLASSES: ClassVar[list[type[PackageMixin]]] = []
    # Lifecycle hooks of the engine that made this instance (None: no hooks, fast path).
    _hooks: pluggy.HookRelay | None = None
    # The engine that made this instance: where `use_plugin` finds installed plugins.
    _engine: Engine | None = None

    def __init__(
        self,
        config: Mapping[str, Any] | BaseModel | None = None,
        context: InvocationContext | None = None,
    ) -> None:
        cls = type(self)
        model = cls.spec.config_model or Config
        self.config = validate_config(model, config, owner=f"{cls.__qualname__}")
        self._context = context if context is not None else InvocationContext()
        self._storage: KeyValueStorage | None = None
        self._tasks: TaskScheduler | None = None
        self._mixin_targets: dict[type, Any] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.spec = _build_spec(cls, reserved_ok=False)

    @property
    def context(self) -> InvocationContext:
        """Who is calling, where: the current request's context while one is served,
        else the one the instance was made with."""
        current = REQUEST_CONTEXT.get()
        return current if current is not None else self._context

    @context.setter
    def context(self, context: InvocationContext) -> None:
        self._context = context

    @property
    def storage(self) -> KeyValueStorage:
        """Persistent key-value storage private to this instance.

        :raises DockyardError: for an instance that is not persistent (made directly,
            not through ``Dockyard().use(...)`` or the server).
        """
        if self._storage is None:
            raise DockyardError(
                f"{type(self).__qualname__} has no storage: it is not a persistent instance",
                code="no_storage",
                suggestion="create instances with Dockyard().use(...) (or serve the package) "
                "to give them storage; in tests, attach one with attach_storage()",
            )
        return self._storage

    def attach_storage(self, storage: KeyValueStorage) -> None:
        """Give this instance its persistent storage (the runtime does this once)."""
        self._storage = storage

    def attach_tasks(self, scheduler: TaskScheduler) -> None:
        """Give this instance what schedules its background tasks (the runtime does this)."""
        self._tasks = scheduler

    def invoke_later(
        self,
        method: str,
        verb: Verb | str = Verb.POST,
        wait_on_tasks: list[Task | str] | None = None,
        arguments: Mapping[str, Any] | None = None,
        delay_ms: int | None = None,
    ) -> Task:
        """Schedule ``method`` to run later on THIS instance (same config and storage; the
        call's context carries the task id).

        Everything is checked now, not when the task runs: the route must exist, the
        arguments must validate against it, the delay must not be negative and every task
        waited on must be one of this instance's.

        :param method: the route path (``"greet"``).
        :param verb: its verb.
        :param wait_on_tasks: tasks (or their ids) that must all succeed first; if one
            fails or is cancelled, this one fails naming it.
        :param arguments: the method's arguments.
        :param delay_ms: run no earlier than this many milliseconds from now (persisted).
        :returns: the task (``refresh()``, ``wait()``, ``cancel()``).
        :raises RouteNotFoundError: no such route (405 for a wrong verb).
        :raises ArgumentError: invalid arguments or delay (422).
        :raises TaskNotFoundError: a task waited on is not this instance's (404).
        """
        scheduler = self._tasks
        if scheduler is None:
            raise DockyardError(
                f"{type(self).__qualname__} cannot schedule tasks: it is not a persistent instance",
                code="no_task_runner",
                suggestion="create instances with Dockyard().use(...) or serve the package; "
                "tasks run in their worker threads",
            )
        try:
            parsed_verb = verb if isinstance(verb, Verb) else Verb.parse(verb)
            path = normalize_path(method)
        except ValueError as exc:
            raise ArgumentError(f"invoke_later: {exc}") from None
        spec_method = self.spec.route(parsed_verb, path)
        if spec_method is None:
            raise self._miss(self.spec, parsed_verb, path)
        if delay_ms is not None and (
            isinstance(delay_ms, bool)
            or not isinstance(delay_ms, int)
            or not 0 <= delay_ms <= MAX_DELAY_MS
        ):
            raise ArgumentError(
                f"invoke_later({method!r}): delay_ms must be a non-negative integer of "
                f"milliseconds, at most {MAX_DELAY_MS} (ten years), not {delay_ms!r}",
                suggestion="pass e.g. delay_ms=1500, or leave it out to run as soon as possible",
            )
        given = dict(arguments or {})
        spec_method.validator.validate(given)  # raises ArgumentError naming the field
        retries = spec_method.config.get("retries", 0)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ArgumentError(
                f"route {parsed_verb.value} {path} has retries={retries!r}: give a "
                "non-negative integer in its decorator, e.g. @post('x', retries=3)"
            )
        wait_on: list[str] = []
        for waited in wait_on_tasks or []:
            task_id = waited if isinstance(waited, str) else getattr(waited, "id", None)
            if isinstance(task_id, str):
                wait_on.append(task_id)
                continue
            raise ArgumentError(
                f"invoke_later({method!r}): wait_on_tasks must be tasks or task ids (str), "
                f"not {wait_on_tasks!r}",
                suggestion="pass the tasks invoke_later returned, or their ids",
            )
        return scheduler.schedule(
            verb=parsed_verb.value,
            method=path,
            arguments=given,
            wait_on=wait_on,
            delay_ms=delay_ms or 0,
            max_attempts=1 + retries,
        )

    def use_plugin(
        self, plugin: str | type[Invocable], config: Mapping[str, Any] | None = None
    ) -> PluginHandle[Any, Any]:
        """A handle on an installed plugin, running in-process with ``config``.

        The plugin is made (its config validated) on the first call for a given plugin
        and config, and the same handle is returned after that: call this wherever it
        reads best, even per request.

        :param plugin: a plugin handle (``dockyard.plugins`` entry point), or a plugin class.
        :param config: the plugin's config.
        :returns: a handle with ``run(input)`` and its plugin type's convenience
            (``tag``, ``blockify``, ``embed``, ``generate``, ``import_``).
        :raises ComponentNotFoundError: no such plugin installed (listing those that are).
        :raises ConfigError: the config is invalid (naming the plugin and every bad field).
        """
        from dockyard.plugins.handle import make_handle

        return make_handle(self, plugin, config)

    @classmethod
    def config_cls(cls) -> type[BaseModel]:
        """The config model: the nested ``Config`` class if the class declares one.

        Override to return another model (the Steamship way).
        """
        return nested_config_model(cls)

    def instance_init(self) -> None:
        """Called ONCE when a persistent instance is created; the default does nothing."""

    def _check_constructed(self) -> None:
        if "_mixin_targets" not in self.__dict__:
            raise DockyardError(
                f"{type(self).__qualname__}.__init__ did not call Invocable.__init__",
                code="incomplete_instance",
                suggestion="call super().__init__(config=config, context=context) in __init__",
            )

    # --- dispatch -------------------------------------------------------------------

    def __call__(self, request: InvocableRequest) -> InvocableResponse:
        """Answer ``request``: the single dispatch entry for server, client and tests.

        Never raises for a bad request: errors come back as a response with the
        error's status (404, 405, 422...), or 500 with an error id for a bug. When an
        engine made the instance, its ``dockyard_before_invoke`` / ``dockyard_after_invoke``
        hooks run around the call.
        """
        hooks = self._hooks
        if hooks is None or not (
            # No implementation registered: skip pluggy's call machinery altogether.
            hooks.dockyard_before_invoke.get_hookimpls()
            or hooks.dockyard_after_invoke.get_hookimpls()
        ):
            return self._dispatch(request)
        try:
            hooks.dockyard_before_invoke(instance=self, request=request)
        except DockyardError as exc:
            response = InvocableResponse.from_error(exc)
        except Exception:
            response = InvocableResponse.from_error(self._hook_error("dockyard_before_invoke"))
        else:
            response = self._dispatch(request)
        try:
            hooks.dockyard_after_invoke(instance=self, request=request, response=response)
        except Exception:
            # The method has run: its response stands; the hook's failure is logged.
            self._hook_error("dockyard_after_invoke")
        return response

    def _hook_error(self, hook: str) -> InternalError:
        error_id = uuid.uuid4().hex[:16]
        logger.exception("hook %s failed on %s [error id %s]", hook, self.spec.name, error_id)
        return InternalError(
            f"internal error in hook {hook}; error id {error_id}", error_id=error_id
        )

    def _dispatch(self, request: InvocableRequest) -> InvocableResponse:
        invocation = request.invocation
        spec = self.spec
        try:
            path = normalize_path(invocation.invocation_path)
        except ValueError as exc:
            return InvocableResponse.from_error(
                RouteNotFoundError(str(exc), suggestion=self._routes_listing(spec))
            )
        try:
            verb = Verb.parse(invocation.http_verb)
        except ValueError as exc:
            return InvocableResponse.from_error(self._bad_verb(spec, path, str(exc)))
        method = spec.route(verb, path)
        if method is None:
            return InvocableResponse.from_error(self._miss(spec, verb, path))
        try:
            kwargs = method.validator.validate(invocation.arguments)
            targets = self._mixin_targets
            target = targets.get(method.owner, self) if targets else self
            return InvocableResponse.from_value(getattr(target, method.name)(**kwargs))
        except DockyardError as exc:
            return InvocableResponse.from_error(exc)
        except Exception:
            return InvocableResponse.from_error(self._internal_error(method))

    def _internal_error(self, method: MethodSpec) -> InternalError:
        error_id = uuid.uuid4().hex[:16]
        where = f"{method.verb.value} {method.path} ({method.describe_origin()})"
        logger.exception("unexpected error in %s [error id %s]", where, error_id)
        return InternalError(f"internal error in {where}; error id {error_id}", error_id=error_id)

    @staticmethod
    def _routes_listing(spec: PackageSpec) -> str:
        routes = [f"{m.verb.value} {m.path}" for m in spec.methods]
        shown = ", ".join(routes[:_LISTED_ROUTES])
        if len(routes) > _LISTED_ROUTES:
            shown += f", ... ({len(routes) - _LISTED_ROUTES} more; GET /__dir__ lists all)"
        return f"available routes: {shown}"

    def _bad_verb(self, spec: PackageSpec, path: str, problem: str) -> DockyardError:
        verbs = sorted(v.value for v in spec.verbs_for(path))
        if not verbs:
            return RouteNotFoundError(problem, suggestion=self._routes_listing(spec))
        return MethodNotAllowedError(
            f"{path} on {spec.name}: {problem}",
            suggestion=f"call it with {', '.join(verbs)}",
            details={"allowed": verbs},
        )

    def _miss(self, spec: PackageSpec, verb: Verb, path: str) -> DockyardError:
        verbs = sorted(v.value for v in spec.verbs_for(path))
        if verbs:
            return MethodNotAllowedError(
                f"{path} on {spec.name} does not answer {verb.value}",
                suggestion=f"call it with {', '.join(verbs)}",
                details={"allowed": verbs},
            )
        return RouteNotFoundError(
            f"no route {verb.value} {path} on {spec.name}",
            suggestion=self._routes_listing(spec),
            details={"available": [f"{m.verb.value} {m.path}" for m in spec.methods]},
        )

    # --- routes added to one instance -----------------------------------------------

    def _writable_spec(self) -> PackageSpec:
        """This instance's spec, copied from the class's first if still shared."""
        spec = self.spec
        return spec.copy() if spec.frozen else spec

    def add_api_route(
        self, method_spec: MethodSpec, permit_overwrite_of_existing: bool = False
    ) -> None:
        """Add a route to this instance only (the class and other instances never see it).

        :param method_spec: the route; it binds by name to this instance's method (or
            to an added mixin's, when its owner is that mixin's class).
        :param permit_overwrite_of_existing: replace a route with the same (verb, path).
        :raises RouteConflictError: if the (verb, path) is taken and overwriting is not permitted.
        """
        spec = self._writable_spec()
        spec.add_methods(
            [method_spec],
            where=qualified_name(type(self)),
            permit_overwrite_of_existing_methods=permit_overwrite_of_existing,
        )
        self.spec = spec

    @get("/__dir__")
    @post("/__dir__")
    def _dockyard_dir(self) -> dict[str, Any]:
        """Describe this invocable: its routes, arguments and config parameters."""
        return self.spec.to_dict()

    @post("/__instance_init__")
    def _dockyard_instance_init(self) -> bool:
        """Run `instance_init` (the engine calls this once, when the instance is created)."""
        self.instance_init()
        return True


def _build_spec(cls: type[Invocable], *, reserved_ok: bool) -> PackageSpec:
    used, own = merge_used_mixins(cls, PackageMixin)
    model = cls.config_cls()
    spec = PackageSpec(
        cls.__name__,
        doc=inspect.cleandoc(cls.__doc__) if cls.__doc__ else None,
        used_mixins=used,
        config_model=model,
        config_params=describe_config(model),
    )
    routes = collect_routes(cls, own, reserved_ok=reserved_ok)
    spec.add_methods(routes.values(), where=cls.__qualname__)
    return spec.freeze()


Invocable.spec = _build_spec(Invocable, reserved_ok=True)


class PackageService(Invocable):
    """Base class of packages: a class whose ``@get``/``@post`` methods are its endpoints.

    :param config: the package config (see `Invocable`).
    :param context: the invocation context.

    Attributes:
        mixins: the mixin instances added to THIS instance, in add order.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | BaseModel | None = None,
        context: InvocationContext | None = None,
    ) -> None:
        super().__init__(config=config, context=context)
        self.mixins: list[PackageMixin] = []

    def instance_init(self) -> None:
        """Run every added mixin's ``instance_init()``, in the order they were added.

        Override to add your own set-up, calling ``super().instance_init()``.
        """
        for mixin in self.mixins:
            mixin.instance_init()

    def _check_constructed(self) -> None:
        super()._check_constructed()
        missing = [m for m in self.spec.used_mixins if m not in self._mixin_targets]
        if missing:
            names = ", ".join(qualified_name(m) for m in missing)
            first = missing[0].__name__
            raise MixinError(
                f"{type(self).__qualname__} lists {names} in USED_MIXIN_CLASSES but never "
                f"added {'it' if len(missing) == 1 else 'them'}",
                code="mixin_not_added",
                suggestion=(
                    f"call self.add_mixin({first}(...)) in __init__, after super().__init__(...)"
                ),
                details={"missing": [qualified_name(m) for m in missing]},
            )

    @classmethod
    def scan_mixin(
        cls,
        package_spec: PackageSpec,
        mixin_class: type[PackageMixin],
        mixin_instance: PackageMixin | None = None,
        permit_overwrite_of_existing_methods: bool = False,
    ) -> None:
        """Add ``mixin_class``'s routes to ``package_spec``, all or none.

        A route of the mixin may silently replace one registered by the mixin's own
        class or one of its bases (a placeholder); any other clash raises.

        :param package_spec: an unfrozen spec (an instance's, or one being built).
        :param mixin_class: the mixin class whose routes to add.
        :param mixin_instance: an instance of ``mixin_class`` (checked; binding happens in
            `add_mixin`, per package instance).
        :param permit_overwrite_of_existing_methods: replace clashing routes on purpose.
        :raises RouteConflictError: carrying both `MethodSpec`s; nothing was added.
        """
        if not (isinstance(mixin_class, type) and issubclass(mixin_class, PackageMixin)):
            raise MixinError(f"scan_mixin needs a PackageMixin subclass, got {mixin_class!r}")
        if mixin_instance is not None and not isinstance(mixin_instance, mixin_class):
            raise MixinError(
                f"scan_mixin: mixin_instance {mixin_instance!r} is not a {mixin_class.__qualname__}"
            )
        package_spec.add_methods(
            mixin_class.spec.methods,
            where=package_spec.name,
            permit_overwrite_of_existing_methods=permit_overwrite_of_existing_methods,
            may_replace=_placeholder_of(mixin_class),
        )

    def add_mixin(
        self, mixin: PackageMixin, permit_overwrite_of_existing_methods: bool = False
    ) -> None:
        """Bind ``mixin``'s routes to it, on this instance only; all or nothing.

        Routes of a mixin listed in ``USED_MIXIN_CLASSES`` are already in the spec and
        are just bound; any other route is added to this instance's private spec.

        :param mixin: the mixin instance.
        :param permit_overwrite_of_existing_methods: let its routes replace clashing ones.
        :raises RouteConflictError: carrying both `MethodSpec`s; nothing of the mixin was added.
        :raises MixinError: if it is not a mixin, or one of its class is already added.
        """
        if not isinstance(mixin, PackageMixin):
            raise MixinError(
                f"add_mixin needs a PackageMixin instance, got {mixin!r}",
                suggestion="pass an instance: self.add_mixin(MyMixin(...))",
            )
        if not hasattr(self, "mixins"):
            raise MixinError(
                f"{type(self).__qualname__}.add_mixin called before PackageService.__init__",
                suggestion="call super().__init__(config=config, context=context) first",
            )
        mixin_cls = type(mixin)
        keys = [k for k in mixin_cls.__mro__ if k not in (PackageMixin, object)]
        # Only the class itself and the classes owning its routes bind routes: a helper
        # base shared by two different mixins (with no routes of its own) is no clash.
        binding = {mixin_cls} | {m.owner for m in mixin_cls.spec.methods}
        taken = [k for k in keys if k in self._mixin_targets and k in binding]
        if taken and not permit_overwrite_of_existing_methods:
            raise MixinError(
                f"{type(self).__qualname__} already has a {qualified_name(taken[0])} mixin "
                f"({self._mixin_targets[taken[0]]!r}); cannot add {mixin!r}",
                code="mixin_already_added",
                suggestion="add each mixin once, or pass permit_overwrite_of_existing_methods=True",
            )
        current = self.spec
        # A listed mixin's routes were resolved at class definition (the package's own
        # routes may override some of them): only bind it.
        needed: list[MethodSpec] = []
        if mixin_cls not in current.used_mixins:
            needed = [
                m for m in mixin_cls.spec.methods if current.get_method(m.verb, m.path) is not m
            ]
        if needed:
            spec = self._writable_spec()
            self.scan_mixin(spec, mixin_cls, mixin, permit_overwrite_of_existing_methods)
            self.spec = spec
        for key in keys:
            self._mixin_targets[key] = mixin
        mixin.bind_package(self)
        self.mixins.append(mixin)


def _placeholder_of(mixin_class: type) -> Callable[[MethodSpec, MethodSpec], bool]:
    lineage = set(mixin_class.__mro__) - {PackageMixin, object}

    def may_replace(existing: MethodSpec, new: MethodSpec) -> bool:
        return existing.owner in lineage

    return may_replace
