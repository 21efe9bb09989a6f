"""The ``dockyard`` command line (click, following Flask's conventions).

``dockyard invoke TARGET METHOD key=value ...`` runs a package method in-process;
``dockyard spec TARGET`` and ``dockyard routes TARGET`` describe a package;
``dockyard list`` lists installed components. TARGET is an installed package
handle, ``path/to/file.py:ClassName`` or ``package.module:ClassName``. Every listing
takes ``--json``.

Core modules are imported inside the commands that need them, so ``dockyard list
--no-types`` (metadata only) never pays for pydantic.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dockyard import __version__
from dockyard.core.discovery import (
    Component,
    ComponentStatus,
    Discovery,
    DiscoveryError,
    is_handle,
)
from dockyard.core.errors import DockyardError
from dockyard.core.routes import Verb, normalize_path

if TYPE_CHECKING:
    from dockyard.core.service import Invocable
    from dockyard.core.spec import PackageSpec

__all__ = ["cli", "load_target", "main", "parse_assignments"]


def _load_module(spec_text: str) -> Any:
    if spec_text.endswith(".py") or "/" in spec_text or "\\" in spec_text:
        path = Path(spec_text)
        if not path.is_file():
            raise click.BadParameter(f"no such file: {spec_text}", param_hint="TARGET")
        directory = str(path.resolve().parent)
        # Like `flask --app`, let the file import its siblings.
        if directory not in sys.path:
            sys.path.insert(0, directory)
        name = path.stem
        if not name.isidentifier() or name in sys.modules:
            name = f"dockyard_target_{name}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise click.BadParameter(f"cannot import {spec_text} as Python", param_hint="TARGET")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(spec_text)
    except ModuleNotFoundError as exc:
        raise click.BadParameter(
            f"cannot import module {spec_text!r}: {exc}", param_hint="TARGET"
        ) from exc


def load_target(target: str) -> type[Invocable]:
    """Return the invocable class named by ``target``.

    :param target: an installed package (or else plugin) handle, ``file.py:Class`` or
        ``module:Class``.
    :raises click.BadParameter: naming what is missing and what does exist.
    """
    from dockyard.core.service import Invocable

    module_text, sep, attr = target.rpartition(":")
    if not sep and is_handle(target):
        discovery = Discovery()
        group = "dockyard.packages"
        if target not in discovery.names(group) and target in discovery.names("dockyard.plugins"):
            group = "dockyard.plugins"
        try:
            component: type[Invocable] = discovery.load(group, target)
        except DockyardError as exc:
            raise click.BadParameter(str(exc), param_hint="TARGET") from None
        return component
    if not sep or not module_text or not attr:
        raise click.BadParameter(
            f"{target!r} is not an installed package handle, FILE.py:Class or module:Class, "
            "e.g. examples/hello.py:MyPackage",
            param_hint="TARGET",
        )
    module = _load_module(module_text)
    obj = getattr(module, attr, None)
    if obj is None:
        found = sorted(
            name
            for name, value in vars(module).items()
            if isinstance(value, type)
            and issubclass(value, Invocable)
            and value.__module__ == module.__name__
        )
        raise click.BadParameter(
            f"{module_text} has no {attr!r}; invocables it defines: {', '.join(found) or 'none'}",
            param_hint="TARGET",
        )
    if not (isinstance(obj, type) and issubclass(obj, Invocable)):
        raise click.BadParameter(
            f"{target} is {obj!r}, not a PackageService (or other Invocable) subclass",
            param_hint="TARGET",
        )
    return obj


def parse_assignments(items: Iterable[str], what: str) -> dict[str, Any]:
    """Parse ``key=value`` (a string) and ``key:=json`` (a JSON value) items.

    :param items: the items as typed.
    :param what: names them in errors (``"argument"``, ``"config"``).
    :raises click.BadParameter: for a malformed item, bad JSON, or a repeated key.
    """
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or key == ":":
            raise click.BadParameter(
                f"{what} {item!r} must look like name=text or name:=<json>, e.g. name=Ted or n:=5"
            )
        loaded: Any = value
        if key.endswith(":"):
            key = key[:-1]
            try:
                loaded = json.loads(value)
            except json.JSONDecodeError as exc:
                raise click.BadParameter(
                    f"{what} {key}:= is not valid JSON ({exc.msg} at column {exc.colno}): {value!r}"
                ) from None
        if key in parsed:
            raise click.BadParameter(f"{what} {key!r} is given twice")
        parsed[key] = loaded
    return parsed


def _fail(error: DockyardError) -> None:
    click.echo(f"Error: {error.message}", err=True)
    if error.suggestion:
        click.echo(f"Hint: {error.suggestion}", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dockyard")
def cli() -> None:
    """Dockyard: build HTTP services out of pip-installable packages, mixins and plugins."""


def _client_options(func: Any) -> Any:
    func = click.option(
        "--api-key", envvar="DOCKYARD_API_KEY", help="API key (default: the local credentials)."
    )(func)
    func = click.option(
        "--url",
        envvar="DOCKYARD_URL",
        help="Server URL; without one, the embedded store under $DOCKYARD_HOME is used.",
    )(func)
    return func


def _print_result(data: Any, as_json: bool) -> None:
    if isinstance(data, bytes) and not as_json:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    elif isinstance(data, str) and not as_json:
        click.echo(data)
    else:
        click.echo(json.dumps(data if not isinstance(data, bytes) else data.hex(), indent=2))


@cli.command("invoke")
@click.argument("target")
@click.argument("method")
@click.argument("arguments", nargs=-1)
@click.option(
    "-X",
    "--verb",
    type=click.Choice([v.value for v in Verb], case_sensitive=False),
    help="HTTP verb; by default the only verb METHOD answers, else POST.",
)
@click.option(
    "-c", "--config", "config_items", multiple=True, help="Config as name=text or name:=<json>."
)
@click.option("--instance", help="Instance handle (default: the package handle).")
@click.option("--workspace", help="Workspace handle (default: the instance handle).")
@click.option(
    "--plugin",
    "as_plugin",
    is_flag=True,
    help="TARGET is a plugin handle (found by itself when running embedded).",
)
@_client_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON, whatever it is.")
def invoke_command(
    target: str,
    method: str,
    arguments: tuple[str, ...],
    verb: str | None,
    config_items: tuple[str, ...],
    instance: str | None,
    workspace: str | None,
    as_plugin: bool,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Call METHOD on an instance of the package (or plugin) TARGET and print the result.

    TARGET is a package or plugin handle (installed, or served by --url), FILE.py:Class or
    module:Class. The instance is created (with --config) and initialised on first use,
    on the embedded store under $DOCKYARD_HOME, or on the server at --url. ARGUMENTS are
    name=text or name:=<json>.

        dockyard invoke examples/hello.py:MyPackage say_hello name=Ted
        dockyard invoke hashing-embedder embed 'texts:=["a text"]'
    """
    from dockyard.client import Dockyard
    from dockyard.plugins.service import PluginService
    from dockyard.runtime import package_handle_for

    kwargs = parse_assignments(arguments, "argument")
    config = parse_assignments(config_items, "config")
    try:
        path = normalize_path(method)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="METHOD") from None
    local_class = None if ":" not in target and is_handle(target) else load_target(target)
    if local_class is not None and url:
        raise click.BadParameter(
            "--url needs a package handle the server serves, not a file or module",
            param_hint="TARGET",
        )
    handle = package_handle_for(local_class) if local_class is not None else target
    with Dockyard(url=url, api_key=api_key, task_workers=0) as client:
        try:
            if client.url is None and local_class is not None:
                client.runtime.packages[handle] = local_class
            if local_class is not None:
                as_plugin = issubclass(local_class, PluginService)
            elif client.url is None and not as_plugin:
                discovery = client.runtime.engine.discovery
                as_plugin = handle not in discovery.names("dockyard.packages") and (
                    handle in discovery.names("dockyard.plugins")
                )
            use = client.use_plugin if as_plugin else client.use
            used = use(handle, instance, config=config or None, workspace=workspace)
            if verb is None:
                spec = used.invoke("__dir__", "GET")
                verbs = [m["verb"] for m in spec["methods"] if m["path"] == path]
                verb = verbs[0] if len(verbs) == 1 else Verb.POST.value
            result = used.invoke(path, verb, **kwargs)
        except DockyardError as exc:
            _fail(exc)
            return
    _print_result(result, as_json)


@cli.command("spec")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the spec as /__dir__ returns it.")
def spec_command(target: str, as_json: bool) -> None:
    """Describe the package TARGET: its config parameters and routes.

    TARGET is an installed package handle, FILE.py:Class or module:Class.
    """
    spec = load_target(target).spec
    described = spec.to_dict()
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    click.echo(f"{described['name']} {described['version'] or ''}".rstrip())
    if described["doc"]:
        click.echo(f"  {described['doc'].splitlines()[0]}")
    if described["used_mixins"]:
        click.echo(f"Mixins: {', '.join(described['used_mixins'])}")
    click.echo("Config:")
    if not described["config"]:
        click.echo("  (none)")
    for param in described["config"]:
        need = "required" if param["required"] else f"default {param['default']!r}"
        about = f" - {param['description']}" if param["description"] else ""
        click.echo(f"  {param['name']} ({param['type']}, {need}){about}")
    click.echo("Routes:")
    _print_routes(spec)


def _print_routes(spec: PackageSpec) -> None:
    """Print a route table: verb, path, method, arguments."""
    _print_table(
        ("VERB", "PATH", "METHOD", "ARGUMENTS"),
        [
            (
                m.verb.value,
                m.path,
                f"{m.class_name.rsplit('.', 1)[-1]}.{m.name}",
                ", ".join(a.describe() for a in m.args),
            )
            for m in spec.methods
        ],
    )


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


@cli.command("list")
@click.option(
    "--group",
    "groups",
    multiple=True,
    help="Only this entry-point group (dockyard.mixins or just mixins); repeatable.",
)
@click.option("--load", is_flag=True, help="Import every component and report failures.")
@click.option(
    "--types/--no-types",
    default=True,
    show_default=True,
    help="Group plugins by plugin type (imports the plugins, to read their type).",
)
@click.option("--strict", is_flag=True, help="Exit with an error if anything is wrong.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(
    groups: tuple[str, ...], load: bool, types: bool, strict: bool, as_json: bool
) -> None:
    """List installed Dockyard components: kind, name, distribution, version, target, status.

    Plugins are listed by plugin type: a class tells its type, so plugins (and plugin
    types) are imported for that; one that fails to import is listed with its error and
    the others are unaffected. Everything else is read from distribution metadata only,
    unless --load imports it too; with --no-types nothing at all is imported.
    """
    from dockyard.core.discovery import GROUPS

    wanted = []
    for group in groups:
        full = group if group.startswith("dockyard.") else f"dockyard.{group.replace('-', '_')}"
        if full not in GROUPS:
            raise click.BadParameter(
                f"unknown group {group!r}; use one of {', '.join(GROUPS)}", param_hint="--group"
            )
        wanted.append(full)
    try:
        discovery = Discovery(strict=strict, groups=wanted or tuple(GROUPS))
        if load:
            discovery.load_all()
        plugin_types = _plugin_types_of(discovery) if types else {}
    except DiscoveryError as exc:
        _fail(exc)
        return
    components = discovery.components()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "components": [
                        {
                            "kind": c.kind,
                            "group": c.provenance.group,
                            "name": c.name,
                            "distribution": c.provenance.distribution,
                            "version": c.provenance.version,
                            "target": c.provenance.value,
                            "status": c.status.value,
                            "error": c.reason,
                            **({"plugin_type": plugin_types[c]} if c in plugin_types else {}),
                        }
                        for c in components
                    ],
                    "plugins_by_type": _by_type(plugin_types),
                    "problems": [
                        {"kind": p.kind, "message": p.message} for p in discovery.problems
                    ],
                },
                indent=2,
            )
        )
        return

    def row(c: Component) -> tuple[str, ...]:
        return (
            c.kind,
            c.name,
            c.provenance.distribution,
            c.provenance.version,
            c.provenance.value,
            c.status.value + (f" ({c.reason})" if c.reason else ""),
        )

    _print_table(
        ("KIND", "NAME", "DISTRIBUTION", "VERSION", "TARGET", "STATUS"),
        [row(c) for c in components if c not in plugin_types],
    )
    for plugin_type, plugins in _by_type(plugin_types).items():
        click.echo(f"\nPlugins of type {plugin_type}:")
        _print_table(
            ("KIND", "NAME", "DISTRIBUTION", "VERSION", "TARGET", "STATUS"),
            [row(c) for c in components if c in plugin_types and c.name in plugins],
        )
    if not components:
        click.echo("(no Dockyard components installed)")
    for problem in discovery.problems:
        click.echo(f"Problem: {problem.message}", err=True)


#: Where a plugin whose type cannot be told is listed (it failed to load, or its type
#: is not registered: the problem says which).
_UNKNOWN_TYPE = "(unknown: see its status)"


def _plugin_types_of(discovery: Discovery) -> dict[Component, str]:
    """Each listed plugin's type name (loading the plugins: a class tells its type).

    :raises DiscoveryError: in strict mode, if one fails to load.
    """
    if "dockyard.plugins" not in {c.provenance.group for c in discovery.components()}:
        return {}
    names = {cls: name for name, cls in discovery.plugin_types().items()}
    found: dict[Component, str] = {}
    for component in discovery.load_all("dockyard.plugins"):
        plugin_type = None
        if component.status is ComponentStatus.LOADED:
            plugin_type = names.get(component.load().plugin_type)
        found[component] = plugin_type or _UNKNOWN_TYPE
    return found


def _by_type(types: Mapping[Component, str]) -> dict[str, list[str]]:
    """Plugin names by plugin type name, both sorted (unknown types last)."""
    grouped: dict[str, list[str]] = {}
    for component, name in types.items():
        grouped.setdefault(name, []).append(component.name)
    order = sorted(grouped, key=lambda n: (n == _UNKNOWN_TYPE, n))
    return {name: sorted(grouped[name]) for name in order}


@cli.command("routes")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the full route table as JSON.")
def routes_command(target: str, as_json: bool) -> None:
    """List the routes of the package TARGET (FILE.py:Class or module:Class)."""
    spec = load_target(target).spec
    if as_json:
        click.echo(json.dumps(spec.to_dict()["methods"], indent=2))
        return
    _print_routes(spec)


@cli.command("serve")
@click.argument("targets", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to bind.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Processes.")
@click.option(
    "--threads", default=8, show_default=True, type=click.IntRange(1), help="Threads per worker."
)
@click.option(
    "--max-body",
    default=10 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1),
    help="Largest request body in bytes (413 above).",
)
@click.option(
    "--cache-size",
    default=1024,
    show_default=True,
    type=click.IntRange(1),
    help="Live instances kept per worker.",
)
@click.option(
    "--task-workers",
    default=2,
    show_default=True,
    type=click.IntRange(0),
    help="Background-task threads per worker process (0: run no tasks here).",
)
@click.option(
    "--server",
    type=click.Choice(["granian", "gunicorn"]),
    default="granian",
    show_default=True,
    help="The WSGI server (see bench/RESULTS.md for why granian is the default).",
)
def serve_command(
    targets: tuple[str, ...],
    host: str,
    port: int,
    workers: int,
    threads: int,
    max_body: int,
    cache_size: int,
    task_workers: int,
    server: str,
) -> None:
    """Serve packages over HTTP (granian or gunicorn; one access-log line per request).

    TARGETS are package or plugin handles, FILE.py:Class or module:Class; installed
    packages and plugins are served too. On first start a local user and API key are
    created and written to $DOCKYARD_HOME/credentials (mode 0600), which the client reads.
    """
    from dockyard.server.serve import ServeOptions, build_app, default_home, ensure_credentials, run

    home = default_home()
    options = ServeOptions(
        targets=targets,
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        home=home,
        max_body=max_body,
        cache_size=cache_size,
        server=server,
        task_workers=task_workers,
    )
    try:
        checked = build_app(options, check_only=True)  # the targets load: fork workers
    except DockyardError as exc:
        _fail(exc)
        return
    # Each worker opens its own store after the fork; this one only served the check.
    checked.extensions["dockyard.runtime"].store.close()
    url = f"http://{host}:{port}"
    key, created = ensure_credentials(home, url)
    click.echo(f"Dockyard {__version__} serving on {url} (state in {home})")
    if created:
        click.echo(f"Created the local API key (saved to {home}/credentials): {key}")
    else:
        click.echo(f"Local API key: {home}/credentials")
    run(options)


@cli.command("worker")
@click.argument("targets", nargs=-1)
@click.option(
    "--threads", default=2, show_default=True, type=click.IntRange(1), help="Tasks run at once."
)
@click.option(
    "--lease",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a running task is held without a heartbeat before others may re-run it.",
)
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Worker processes (with DOCKYARD_TASKS_URL; each runs one task at a time).",
)
def worker_command(targets: tuple[str, ...], threads: int, lease: float, processes: int) -> None:
    """Run background tasks (invoke_later) until stopped (Ctrl-C or SIGTERM).

    Runs on any machine pointed at the same database ($DOCKYARD_HOME or
    DOCKYARD_DATABASE_URL) as the servers; TARGETS are the FILE.py:Class or module:Class
    packages to run tasks of besides the installed ones (as given to dockyard serve).
    With DOCKYARD_TASKS_URL=redis://host:port/db, tasks come through RQ on that Redis:
    --processes RQ worker processes run them (--threads does not apply).
    """
    import signal
    import threading

    from dockyard.runtime import Runtime, package_handle_for
    from dockyard.server.serve import default_home
    from dockyard.store import Store
    from dockyard.tasks import TaskWorker
    from dockyard.tasks.backend import attach_backend

    packages = {}
    for target in targets:
        if ":" in target or not is_handle(target):
            cls = load_target(target)
            packages[package_handle_for(cls)] = cls
    home = default_home()
    try:
        runtime = Runtime(Store(home=home), packages=packages)
        distributed = attach_backend(runtime.store)  # DOCKYARD_TASKS_URL: Redis + RQ
    except DockyardError as exc:
        _fail(exc)
        return
    if distributed:
        from dockyard.tasks.redis import run_worker

        run_worker(runtime, targets, processes=processes, lease_seconds=lease)
        return
    worker = TaskWorker(runtime, threads=threads, lease_seconds=lease)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    click.echo(
        f"Dockyard {__version__} task worker {worker.name} ({threads} threads, state in {home})"
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    click.echo("stopping: waiting for running tasks to finish")
    worker.stop(timeout=30.0)
    runtime.store.close()


@cli.group("keys")
def keys_group() -> None:
    """Manage API keys of the local store ($DOCKYARD_HOME)."""


def _store() -> Any:
    from dockyard.client import dockyard_home
    from dockyard.store import Store

    return Store(home=dockyard_home())


@keys_group.command("create")
@click.option("--user", default="local", show_default=True, help="The key's user (created if new).")
@click.option("--name", help="A label for the key.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_create(user: str, name: str | None, as_json: bool) -> None:
    """Create an API key; it is printed once and never stored in the clear."""
    store = _store()
    try:
        store.ensure_user(user)
        record, key = store.create_key(user, name=name)
    except DockyardError as exc:
        _fail(exc)
        return
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"id": record.id, "user": user, "prefix": record.prefix, "key": key}))
    else:
        click.echo(key)


@keys_group.command("list")
@click.option("--user", default="local", show_default=True, help="Whose keys.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_list(user: str, as_json: bool) -> None:
    """List a user's API keys (prefixes only)."""
    store = _store()
    try:
        keys = store.list_keys(user)
    finally:
        store.close()
    rows = [
        {
            "id": k.id,
            "prefix": k.prefix,
            "name": k.name,
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in keys
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _print_table(
        ("ID", "PREFIX", "NAME", "CREATED", "REVOKED"),
        [
            (str(r["id"]), r["prefix"], r["name"] or "", r["created_at"], r["revoked_at"] or "")
            for r in rows
        ],
    )


@keys_group.command("revoke")
@click.argument("key_id")
@click.option("--user", default="local", show_default=True, help="Whose key.")
def keys_revoke(key_id: str, user: str) -> None:
    """Revoke the key KEY_ID (its id, its prefix, or the key itself)."""
    from dockyard.store import ApiKeyNotFoundError

    store = _store()
    try:
        try:
            record = store.revoke_key(user, int(key_id) if key_id.isdigit() else key_id)
        except ApiKeyNotFoundError:
            if not key_id.isdigit():
                raise
            # A prefix may be all digits too: "12345678" is a key id only if one exists.
            record = store.revoke_key(user, key_id)
    except DockyardError as exc:
        _fail(exc)
        return
    finally:
        store.close()
    click.echo(f"revoked key {record.id} ({record.prefix})")


@cli.group("instances")
def instances_group() -> None:
    """Manage package instances (embedded store, or --url)."""


@instances_group.command("list")
@_client_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def instances_list(url: str | None, api_key: str | None, as_json: bool) -> None:
    """List your instances."""
    from dockyard.client import Dockyard

    with Dockyard(url=url, api_key=api_key, task_workers=0) as client:
        try:
            found = client.instances()
        except DockyardError as exc:
            _fail(exc)
            return
    rows = [
        {
            "workspace": i.workspace,
            "handle": i.handle,
            "package": i.package,
            "version": i.version,
            "state": i.init_state,
            "url": i.invocation_url,
        }
        for i in found
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _print_table(
        ("WORKSPACE", "INSTANCE", "PACKAGE", "VERSION", "STATE", "URL"),
        [tuple(str(v) for v in r.values()) for r in rows],
    )


@instances_group.command("create")
@click.argument("package")
@click.argument("instance", required=False)
@click.option("--workspace", help="Workspace handle (default: the instance handle).")
@click.option("--version", "pinned", help="Require this package version.")
@click.option(
    "-c", "--config", "config_items", multiple=True, help="Config as name=text or name:=<json>."
)
@_client_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def instances_create(
    package: str,
    instance: str | None,
    workspace: str | None,
    pinned: str | None,
    config_items: tuple[str, ...],
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Create (or get) the INSTANCE of PACKAGE, initialised once."""
    from dockyard.client import Dockyard

    config = parse_assignments(config_items, "config")
    with Dockyard(url=url, api_key=api_key, task_workers=0) as client:
        try:
            used = client.use(package, instance, pinned, config or None, workspace=workspace)
        except DockyardError as exc:
            _fail(exc)
            return
    if as_json:
        click.echo(
            json.dumps(
                {
                    "workspace": used.workspace,
                    "handle": used.handle,
                    "package": used.package,
                    "version": used.version,
                    "config": used.config,
                    "url": used.invocation_url,
                }
            )
        )
    else:
        click.echo(
            f"{used.workspace}/{used.handle}: {used.package} {used.version} "
            f"at {used.invocation_url}"
        )


@instances_group.command("delete")
@click.argument("workspace")
@click.argument("instance")
@_client_options
def instances_delete(workspace: str, instance: str, url: str | None, api_key: str | None) -> None:
    """Delete WORKSPACE/INSTANCE and its data."""
    from dockyard.client import Dockyard

    with Dockyard(url=url, api_key=api_key, task_workers=0) as client:
        try:
            matches = [
                i for i in client.instances() if (i.workspace, i.handle) == (workspace, instance)
            ]
            if not matches:
                raise DockyardError(
                    f"no instance {workspace}/{instance}", code="instance_not_found", status=404
                )
            client.delete(matches[0])
        except DockyardError as exc:
            _fail(exc)
            return
    click.echo(f"deleted {workspace}/{instance}")


from dockyard.scaffold import new_command  # noqa: E402

cli.add_command(new_command)


def main() -> None:
    """Console-script entry point."""
    cli()
