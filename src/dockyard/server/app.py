"""The HTTP server: a Flask app that only translates HTTP <-> `Runtime` calls.

URLs::

    GET  /__health__                                   liveness (public)
    GET  /__api__/whoami                               the caller
    GET  /__api__/instances                            the caller's instances
    POST /__api__/instances                            use (create or get) an instance
    GET  /__api__/instances/<workspace>/<instance>     one instance
    DELETE /__api__/instances/<workspace>/<instance>   delete it and its data
    GET|POST /<workspace>/<instance>/<method>          invoke (GET: query; POST: query <
                                                       form < JSON, merged)
    GET  /<workspace>/<instance>/__openapi__           OpenAPI 3.1 of the instance
    GET  /<workspace>/<instance>/__docs__              API explorer page (see explorer.py)
    GET  /<workspace>/<instance>/__docs__/spec         what the page shows (masked __dir__)
    GET  /__static__/<name>                            the page's script and style (public)
    POST /<workspace>/<instance>/__tasks__             invoke_later: schedule a task
    GET  /<workspace>/<instance>/__tasks__/<id>        a task of the instance
    POST /<workspace>/<instance>/__tasks__/<id>/cancel cancel a waiting task

``Authorization: Bearer <key>`` is required everywhere except ``/__health__``, the
explorer's page and static files (they hold no instance data), and routes declared
``public=True``. Success bodies are the unwrapped data with its
Content-Type; errors are ``{"error": {"code", "message", "suggestion", "details"}}``
with the status that fits (400, 401, 404, 405, 409, 413, 422, 500 with an error id).
A 401 carries ``WWW-Authenticate: Bearer``, a 405 the verbs the route answers in
``Allow`` (HEAD is answered as GET, without the body). A JSON body must be JSON as RFC
8259 has it (no ``NaN``), hold Unicode text and finite numbers, and nest at most
``MAX_JSON_DEPTH`` levels; else it is a 400. A body past ``max_body`` is a 413, chunked
or not.

Invocations take a fast path: a WSGI middleware (``app.wsgi_app``, the way Flask's docs
add middleware) answers ``/<workspace>/<instance>/<method>`` with the same handler the
Flask view uses, without Flask's request context, URL matching and response finalising,
which cost more than the call itself. It steps aside, and Flask serves every request
in full, as soon as anything could observe the difference: request hooks
(``before_request``, ``after_request``, teardown, URL value preprocessors), receivers of
Flask's request signals, or URL rules added after `create_app` (by a
``dockyard_app_created`` hook, say). Whatever the path, the answer is the same.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from flask import Flask, Response, request, signals
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request
from werkzeug.wsgi import LimitedStream

from dockyard import __version__
from dockyard.core.arguments import MAX_JSON_DEPTH, json_text_problem
from dockyard.core.errors import DockyardError, InternalError
from dockyard.core.response import InvocableResponse, MimeTypes
from dockyard.core.task import Task
from dockyard.runtime import InstanceNotFoundError, Runtime
from dockyard.server.explorer import register_explorer
from dockyard.server.openapi import openapi_document
from dockyard.store import InstanceRecord, User

__all__ = ["DEFAULT_MAX_BODY", "create_app", "record_to_dict"]

logger = logging.getLogger("dockyard.server")

_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Routes of the server under every instance's base URL (not the package's).
_SERVER_PATHS = frozenset({"__openapi__", "__tasks__"})

#: Request bodies above this many bytes are refused with 413 (``max_body`` changes it).
DEFAULT_MAX_BODY = 10 * 1024 * 1024


def record_to_dict(record: InstanceRecord, base_url: str, runtime: Runtime) -> dict[str, Any]:
    """An instance as the management API returns it (``kind``, and for a plugin instance
    its plugin handle, plugin type and route, come from `Runtime.describe`)."""
    return {
        **runtime.describe(record.package),
        "workspace": record.workspace,
        "handle": record.handle,
        "package": record.package,
        "version": record.version,
        "config": record.config,
        "init_state": record.init_state,
        "init_error": record.init_error,
        "owner": record.owner,
        "invocation_url": f"{base_url}/{record.workspace}/{record.handle}/",
        "created_at": record.created_at.isoformat(),
    }


def _error_headers(error: DockyardError) -> list[tuple[str, str]]:
    """The headers HTTP requires with some errors (RFC 9110): ``WWW-Authenticate`` with a
    401, ``Allow`` (the verbs the resource answers) with a 405."""
    if error.status == 401:
        return [("WWW-Authenticate", 'Bearer realm="dockyard"')]
    if error.status == 405:
        details = error.details if isinstance(error.details, Mapping) else {}
        allowed = [str(verb).upper() for verb in details.get("allowed") or ()]
        if "GET" in allowed and "HEAD" not in allowed:
            allowed.append("HEAD")  # answered as GET without the body
        return [("Allow", ", ".join(allowed))]
    return []


def _error(error: DockyardError) -> Response:
    return Response(
        json.dumps(error.to_dict()),
        status=error.status,
        headers=_error_headers(error),
        mimetype=MimeTypes.JSON,
    )


def _unauthorized(message: str = "an API key is required") -> DockyardError:
    return DockyardError(
        message,
        code="unauthorized",
        status=401,
        suggestion="send Authorization: Bearer <key>; create one with 'dockyard keys create'",
    )


def _bad_request(message: str, suggestion: str) -> DockyardError:
    return DockyardError(message, code="bad_request", status=400, suggestion=suggestion)


class _RequestIds:
    """Request ids: a random per-process prefix and a counter (unique across processes,
    and a fraction of the cost of a uuid4 per request)."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = uuid.uuid4().hex[:16]
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


_request_ids = _RequestIds()

#: Request headers not passed to packages in ``self.context.headers``: the caller's
#: credentials are none of a (possibly third-party) package's business.
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class RequestHeaders(Mapping[str, str]):
    """The request headers as ``self.context.headers`` shows them: read-only, names
    case-insensitive, built from the WSGI environ only if a package looks at them, and
    without the caller's credentials (Authorization, Cookie).

    :param environ: the WSGI environ of the request.
    """

    __slots__ = ("_environ", "_headers")

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ
        self._headers: dict[str, tuple[str, str]] | None = None

    def _read(self) -> dict[str, tuple[str, str]]:
        headers = self._headers
        if headers is None:
            headers = {}
            for key, value in self._environ.items():
                if key.startswith("HTTP_"):
                    name = key[5:]
                elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                    name = key
                else:
                    continue
                title = name.replace("_", "-").title()
                if value and title.lower() not in _PRIVATE_HEADERS:
                    headers[title.lower()] = (title, value)
            self._headers = headers
        return headers

    def __getitem__(self, name: str) -> str:
        return self._read()[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (title for title, _ in self._read().values())

    def __len__(self) -> int:
        return len(self._read())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._read()

    def __repr__(self) -> str:
        return f"RequestHeaders({dict(self.items())!r})"


def _merged_arguments(req: Request) -> dict[str, Any]:
    """The call's keyword arguments: GET from the query; POST (and others) the query <
    form < JSON body, merged in that order."""
    merged: dict[str, Any] = dict(req.args.items()) if req.query_string else {}
    if req.method in ("GET", "HEAD"):
        return merged
    if req.mimetype in _FORM_TYPES:
        merged.update(req.form.items())
        _refuse_cut_body(req)
        return merged
    data = req.get_data(cache=True)
    _refuse_cut_body(req)
    if not data:
        return merged
    if not req.is_json:
        raise _bad_request(
            f"cannot read a {req.mimetype or '(none)'} body",
            "send JSON (Content-Type: application/json), a form, or query parameters",
        )
    try:
        body = json.loads(data, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_request(
            f"the request body is not valid JSON: {exc}",
            "send a JSON object of keyword arguments",
        ) from None
    except RecursionError:  # nested past the interpreter's stack
        problem: str | None = f"nests lists and objects more than {MAX_JSON_DEPTH} levels deep"
    else:
        problem = json_text_problem(body, data)
    if problem is not None:
        raise _bad_request(
            f"the JSON body {problem}",
            "send Unicode text, finite numbers and at most "
            f"{MAX_JSON_DEPTH} levels of nested lists and objects",
        )
    if not isinstance(body, dict):
        raise _bad_request(
            f"the JSON body must be an object of arguments, got {type(body).__name__}",
            'send e.g. {"name": "Ted"}',
        )
    merged.update(body)
    return merged


def _refuse_cut_body(req: Request) -> None:
    """Raise 413 for a body sent without a Content-Length (chunked) that went on past
    the limit: werkzeug cuts such a body at ``max_content_length``, silently, and a cut
    body must not be read as if it were the whole one."""
    if req.content_length is not None or req.max_content_length is None:
        return
    stream = req.stream
    more = isinstance(stream, LimitedStream) and stream.is_exhausted
    if more and req.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def _not_json(constant: str) -> Any:
    """Refuse ``NaN``, ``Infinity`` and ``-Infinity``, which Python's parser accepts
    but JSON (RFC 8259) has not."""
    raise ValueError(f"{constant} is not a JSON value")


def _base_url(req: Request) -> str:
    # Read off the WSGI environ: request.host_url re-encodes the whole URL (IRI
    # handling) and cost more than the rest of a small request.
    environ = req.environ
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return f"{environ['wsgi.url_scheme']}://{host}{req.script_root}"


# What the invocation rule's converters accept: <workspace> and <instance> are werkzeug
# "default" segments, <path:method> a non-empty rest not starting with "/".
_FAST_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def create_app(runtime: Runtime, *, max_body: int = DEFAULT_MAX_BODY) -> Flask:
    """Build the Flask app serving ``runtime``'s instances.

    :param runtime: the instances (and their store) to serve.
    :param max_body: the largest request body accepted, in bytes (413 above it).
    """
    app = Flask("dockyard")
    app.config["MAX_CONTENT_LENGTH"] = max_body
    app.config["MAX_FORM_MEMORY_SIZE"] = max_body
    # No automatic OPTIONS answers (Flask >= 3.1): their Allow would list every verb of
    # every rule matching the path, not the verbs the route answers; OPTIONS is a 405
    # naming those (RFC 9110 Allow), like any verb a route does not answer.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.extensions["dockyard.runtime"] = runtime
    store = runtime.store

    def caller(required: bool = True, req: Request = request) -> User | None:
        header = req.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if not header:
            if required:
                raise _unauthorized()
            return None
        if scheme.lower() != "bearer" or not key.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <key>'")
        user = store.authenticate(key.strip())
        if user is None:
            raise _unauthorized("the API key is invalid or revoked")
        return user

    def base_url() -> str:
        return _base_url(request)

    def arguments() -> dict[str, Any]:
        return _merged_arguments(request)

    def invocation(
        req: Request, workspace: str, instance: str, method: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Answer one invocation: status, headers, body (errors raise `DockyardError`)."""
        user = caller(False, req)
        request_id = req.headers.get("X-Request-Id") or _request_ids.next()
        response: InvocableResponse = runtime.invoke(
            user.handle if user is not None else None,
            workspace,
            instance,
            "GET" if req.method == "HEAD" else req.method,  # HEAD: GET without the body
            method,
            _merged_arguments(req),
            headers=RequestHeaders(req.environ),
            invocation_url=f"{_base_url(req)}/{workspace}/{instance}/",
            request_id=request_id,
        )
        if response.error is not None:
            error = response.error
            headers = [*_json_headers(request_id), *_error_headers(error)]
            return error.status, headers, json.dumps(error.to_dict()).encode()
        mime = response.mime_type
        if mime.startswith("text/") and "charset" not in mime:
            mime = f"{mime}; charset=utf-8"
        headers = [("Content-Type", mime)]
        headers.extend(response.http.headers.items())
        headers.append(("X-Request-Id", request_id))
        return response.status, headers, response.encode()

    def error_response(error: Exception, path: str) -> Response:
        """The error body and status for anything a request to ``path`` raised."""
        if isinstance(error, DockyardError):
            return _error(error)
        if isinstance(error, RequestEntityTooLarge):
            return _error(
                DockyardError(
                    f"the request body is larger than {max_body} bytes",
                    code="payload_too_large",
                    status=413,
                    suggestion="send a smaller body (the server's limit is --max-body)",
                )
            )
        if isinstance(error, HTTPException):
            status = error.code or 500
            code = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}.get(
                status, "http_error"
            )
            allowed = error.valid_methods if isinstance(error, MethodNotAllowed) else None
            return _error(
                DockyardError(
                    error.description or error.name,
                    code=code,
                    status=status,
                    details={"allowed": sorted(allowed)} if allowed else None,
                )
            )
        error_id = uuid.uuid4().hex[:16]
        logger.exception("unexpected error serving %s [error id %s]", path, error_id)
        return _error(InternalError(f"internal error; error id {error_id}", error_id=error_id))

    @app.errorhandler(Exception)
    def any_error(error: Exception) -> Response:
        return error_response(error, request.path)

    @app.get("/__health__")
    def health() -> Response:
        return Response(
            json.dumps({"status": "ok", "version": __version__}), mimetype=MimeTypes.JSON
        )

    @app.get("/__api__/whoami")
    def whoami() -> Response:
        user = caller()
        assert user is not None
        return Response(json.dumps({"user": user.handle}), mimetype=MimeTypes.JSON)

    @app.get("/__api__/instances")
    def list_instances() -> Response:
        user = caller()
        assert user is not None
        records = store.list_instances(user.handle)
        body = [record_to_dict(r, base_url(), runtime) for r in records]
        return Response(json.dumps(body), mimetype=MimeTypes.JSON)

    @app.post("/__api__/instances")
    def use_instance() -> Response:
        user = caller()
        assert user is not None
        body = arguments()
        package, plugin = body.get("package"), body.get("plugin")
        handle = package if package is not None else plugin
        if (package is None) == (plugin is None) or not isinstance(handle, str):
            raise DockyardError(
                "give one of 'package' (a package handle) or 'plugin' (a plugin handle), "
                "as a string",
                code="invalid_arguments",
                status=422,
                suggestion='send {"package": "hello", "instance": "my-hello"} or '
                '{"plugin": "regex-tagger", "config": {...}}',
            )
        config = body.get("config")
        if config is not None and not isinstance(config, Mapping):
            raise DockyardError("'config' must be an object", code="invalid_arguments", status=422)
        record = runtime.use(
            user.handle,
            handle,
            body.get("instance") or None,
            workspace=body.get("workspace") or None,
            version=body.get("version") or None,
            config=config,
            kind="package" if package is not None else "plugin",
        )
        return Response(
            json.dumps(record_to_dict(record, base_url(), runtime)), mimetype=MimeTypes.JSON
        )

    def owned(workspace: str, instance: str) -> InstanceRecord:
        user = caller()
        assert user is not None
        record = store.get_instance(workspace, instance)
        if record is None or record.owner != user.handle:
            raise InstanceNotFoundError(f"no instance {workspace}/{instance}")
        return record

    @app.get("/__api__/instances/<workspace>/<instance>")
    def get_instance(workspace: str, instance: str) -> Response:
        record = owned(workspace, instance)
        return Response(
            json.dumps(record_to_dict(record, base_url(), runtime)), mimetype=MimeTypes.JSON
        )

    @app.delete("/__api__/instances/<workspace>/<instance>")
    def delete_instance(workspace: str, instance: str) -> Response:
        owned(workspace, instance)
        user = caller()
        assert user is not None
        runtime.delete(user.handle, workspace, instance)
        return Response(json.dumps({"deleted": True}), mimetype=MimeTypes.JSON)

    @app.get("/<workspace>/<instance>/__openapi__")
    def openapi(workspace: str, instance: str) -> Response:
        record = owned(workspace, instance)
        live = runtime.live(workspace, instance)
        document = openapi_document(
            live.invocable.spec, f"{base_url()}/{record.workspace}/{record.handle}"
        )
        return Response(json.dumps(document), mimetype=MimeTypes.JSON)

    def task_json(task: Task) -> Response:
        return Response(task.model_dump_json(), mimetype=MimeTypes.JSON)

    @app.post("/<workspace>/<instance>/__tasks__")
    def schedule_task(workspace: str, instance: str) -> Response:
        owned(workspace, instance)
        body = arguments()
        method = body.get("method")
        wait_on = body.get("wait_on_tasks")
        given = body.get("arguments")
        if (
            not isinstance(method, str)
            or not isinstance(body.get("verb", "POST"), str)
            or not isinstance(given, Mapping | None)
            or not (wait_on is None or isinstance(wait_on, list))
        ):
            raise DockyardError(
                "schedule a task with a JSON object: method (str), and optionally verb (str), "
                "arguments (object), wait_on_tasks (list of task ids), delay_ms (int)",
                code="invalid_arguments",
                status=422,
                suggestion='send {"method": "greet", "arguments": {"name": "Ted"}}',
            )
        live = runtime.live(workspace, instance)
        task = live.invocable.invoke_later(
            method,
            body.get("verb", "POST"),
            wait_on,
            given,
            body.get("delay_ms"),
        )
        return task_json(task)

    @app.get("/<workspace>/<instance>/__tasks__/<task_id>")
    def get_task(workspace: str, instance: str, task_id: str) -> Response:
        owned(workspace, instance)
        return task_json(runtime.tasks_of(workspace, instance).get_task(task_id))

    @app.post("/<workspace>/<instance>/__tasks__/<task_id>/cancel")
    def cancel_task(workspace: str, instance: str, task_id: str) -> Response:
        owned(workspace, instance)
        return task_json(runtime.tasks_of(workspace, instance).cancel_task(task_id))

    register_explorer(app, runtime, caller)

    server_rules: dict[int, Map] = {}  # the server's own rules, by the app's rule count

    def refuse_wrong_verb_on_server_route() -> None:
        """Raise 405 (its Allow naming the verbs) for a request that reached `invoke` only
        because the server's own route on its path does not answer its verb (``GET
        .../__tasks__``, ``PUT /__api__/instances/w/i``): no package route is asked."""
        count = len(app.url_map._rules)
        if count not in server_rules:
            rules = [r for r in app.url_map.iter_rules() if r.endpoint not in ("invoke", "static")]
            server_rules.clear()
            server_rules[count] = Map(
                [Rule(r.rule, methods=r.methods) for r in rules],
                converters=app.url_map.converters,
            )
        try:
            server_rules[count].bind("").match(request.path, method=request.method)
        except MethodNotAllowed:
            raise
        except HTTPException:  # NotFound, or a redirect: not a server route
            return

    # Any verb a route might answer, and OPTIONS and TRACE, go to the package: HEAD is
    # answered as GET, a verb the route does not answer is a 405 naming those it does.
    @app.route(
        "/<workspace>/<instance>/<path:method>",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"],
    )
    def invoke(workspace: str, instance: str, method: str) -> Response:
        if workspace.startswith("__") or method.partition("/")[0] in _SERVER_PATHS:
            refuse_wrong_verb_on_server_route()
        status, headers, body = invocation(request, workspace, instance, method)
        return Response(body, status=status, headers=headers)

    class FastRequest(Request):
        max_content_length = max_body
        max_form_memory_size = max_body

    flask_wsgi_app: WSGIApp = app.wsgi_app
    rules = len(list(app.url_map.iter_rules()))
    hook_registries = (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
        app.teardown_appcontext_funcs,
        app.url_value_preprocessors,
    )
    request_signals = (
        signals.request_started,
        signals.request_finished,
        signals.request_tearing_down,
        signals.got_request_exception,
        signals.appcontext_pushed,
        signals.appcontext_popped,
        signals.appcontext_tearing_down,
    )

    def fast_path_allowed() -> bool:
        # Checked per request: hooks and rules may be added after create_app returns.
        return (
            not any(hook_registries)
            and not any(signal.receivers for signal in request_signals)
            and len(app.url_map._rules) == rules
        )

    def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") in _FAST_METHODS and fast_path_allowed():
            req = FastRequest(environ)
            parts = req.path.split("/", 3)
            if (
                len(parts) == 4
                and parts[1]
                and parts[2]
                and parts[3]
                and not parts[3].startswith("/")
                and not parts[1].startswith("__")
                and parts[3] != "__openapi__"
                and not parts[3].startswith("__tasks__")
                and not parts[3].startswith("__docs__")
                and "//" not in req.path  # Flask would redirect it to the merged path
            ):
                try:
                    status, headers, body = invocation(req, parts[1], parts[2], parts[3])
                except Exception as error:
                    return error_response(error, req.path)(environ, start_response)
                finally:
                    req.close()  # as Flask does: closes files a multipart form spooled
                headers.append(("Content-Length", str(len(body))))
                start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN')}", headers)
                return [body]
        return flask_wsgi_app(environ, start_response)

    app.wsgi_app = wsgi_app  # type: ignore[method-assign]
    runtime.engine.plugin_manager.hook.dockyard_app_created(app=app)
    return app


def _json_headers(request_id: str) -> list[tuple[str, str]]:
    return [("Content-Type", MimeTypes.JSON), ("X-Request-Id", request_id)]
