"""The instances `dockyard.testing.make_instance` returns (kept apart from `dockyard.testing`,
which pytest loads in every run: defining them imports the client, and so pydantic)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

from dockyard.client import Dockyard, PackageInstance, PluginInstance
from dockyard.core.service import Invocable
from dockyard.plugins.service import PluginService

__all__ = ["LocalInstance", "LocalPluginInstance"]

I = TypeVar("I", bound=Invocable)  # noqa: E741
P = TypeVar("P", bound=PluginService[Any, Any])
T = TypeVar("T", bound="LocalInstance[Any]")


class LocalInstance(PackageInstance, Generic[I]):
    """A package instance made by ``make_instance``: the client-side instance of an
    embedded `Dockyard` (``invoke``, ``invoke_later``, ``get_task``, errors raised as
    their `DockyardError` subclass), plus `client` and `live`.
    """

    @classmethod
    def adopt(cls: type[T], instance: PackageInstance) -> T:
        """This class's view of ``instance`` (the same state: no second instance)."""
        adopted = cls.__new__(cls)
        adopted.__dict__.update(instance.__dict__)
        return adopted

    @property
    def client(self) -> Dockyard:
        """The embedded client the instance lives in (its own store, in a temporary
        ``$DOCKYARD_HOME``): ``client.use(...)`` again to get it back by handle."""
        return self._client

    @property
    def live(self) -> I:
        """The live object serving this instance's calls (the runtime's own, not a copy),
        for direct method calls and state: ``greeter.live.greet(name="Ted")``,
        ``greeter.live.storage``. A direct call skips what ``invoke`` does (argument
        validation, hooks, the request context)."""
        invocable = self._client.runtime.live(self.workspace, self.handle).invocable
        return cast(I, invocable)


class LocalPluginInstance(LocalInstance[P], PluginInstance):
    """A plugin instance made by ``make_instance``: a `LocalInstance` that is also the
    client's `PluginInstance` (``run(input)`` and its type's convenience, e.g. ``tag``)."""
