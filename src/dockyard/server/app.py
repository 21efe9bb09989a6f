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

``Authorization: Bearer <key>`` is required everywhere except ``/__health__`` and
routes declared ``public=True``. Success bodies are the unwrapped data with its
Content-Type; errors are ``{"error": {"code", "message", "suggestion", "details"}}``
with the status that fits (400, 401, 404, 405, 409, 413, 422, 500 with an error id).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from dockyard import __version__
from dockyard.core.errors import DockyardError, InternalError
from dockyard.core.response import InvocableResponse, MimeTypes
from dockyard.runtime import InstanceNotFoundError, Runtime
from dockyard.server.openapi import openapi_document
from dockyard.store import InstanceRecord, User

__all__ = ["DEFAULT_MAX_BODY", "create_app", "record_to_dict"]

logger = logging.getLogger("dockyard.server")

_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

#: Request bodies above this many bytes are refused with 413 (``max_body`` changes it).
DEFAULT_MAX_BODY = 10 * 1024 * 1024


def record_to_dict(record: InstanceRecord, base_url: str) -> dict[str, Any]:
    """An instance as the management API returns it."""
    return {
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


def _error(error: DockyardError) -> Response:
    return Response(json.dumps(error.to_dict()), status=error.status, mimetype=MimeTypes.JSON)


def _unauthorized(message: str = "an API key is required") -> DockyardError:
    return DockyardError(
        message,
        code="unauthorized",
        status=401,
        suggestion="send Authorization: Bearer <key>; create one with 'dockyard keys create'",
    )


def create_app(runtime: Runtime, *, max_body: int = DEFAULT_MAX_BODY) -> Flask:
    """Build the Flask app serving ``runtime``'s instances.

    :param runtime: the instances (and their store) to serve.
    :param max_body: the largest request body accepted, in bytes (413 above it).
    """
    app = Flask("dockyard")
    app.config["MAX_CONTENT_LENGTH"] = max_body
    app.config["MAX_FORM_MEMORY_SIZE"] = max_body
    app.extensions["dockyard.runtime"] = runtime
    store = runtime.store

    def caller(required: bool = True) -> User | None:
        header = request.headers.get("Authorization", "")
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
        # Read off the WSGI environ: request.host_url re-encodes the whole URL (IRI
        # handling) and cost more than the rest of a small request.
        environ = request.environ
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        return f"{environ['wsgi.url_scheme']}://{host}{request.script_root}"

    def arguments() -> dict[str, Any]:
        merged: dict[str, Any] = dict(request.args.items()) if request.query_string else {}
        if request.method == "GET":
            return merged
        if request.mimetype in _FORM_TYPES:
            merged.update(request.form.items())
            return merged
        data = request.get_data(cache=True)
        if not data:
            return merged
        if not request.is_json:
            raise DockyardError(
                f"cannot read a {request.mimetype or '(none)'} body",
                code="bad_request",
                status=400,
                suggestion="send JSON (Content-Type: application/json), a form, or "
                "query parameters",
            )
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DockyardError(
                f"the request body is not valid JSON: {exc}",
                code="bad_request",
                status=400,
                suggestion="send a JSON object of keyword arguments",
            ) from None
        if not isinstance(body, dict):
            raise DockyardError(
                f"the JSON body must be an object of arguments, got {type(body).__name__}",
                code="bad_request",
                status=400,
                suggestion='send e.g. {"name": "Ted"}',
            )
        merged.update(body)
        return merged

    @app.errorhandler(DockyardError)
    def dockyard_error(error: DockyardError) -> Response:
        return _error(error)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_: RequestEntityTooLarge) -> Response:
        return _error(
            DockyardError(
                f"the request body is larger than {max_body} bytes",
                code="payload_too_large",
                status=413,
                suggestion="send a smaller body (the server's limit is --max-body)",
            )
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}.get(
            status, "http_error"
        )
        return _error(DockyardError(error.description or error.name, code=code, status=status))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        error_id = uuid.uuid4().hex[:16]
        logger.exception("unexpected error serving %s [error id %s]", request.path, error_id)
        return _error(InternalError(f"internal error; error id {error_id}", error_id=error_id))

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
        body = [record_to_dict(r, base_url()) for r in records]
        return Response(json.dumps(body), mimetype=MimeTypes.JSON)

    @app.post("/__api__/instances")
    def use_instance() -> Response:
        user = caller()
        assert user is not None
        body = arguments()
        package = body.get("package")
        if not isinstance(package, str):
            raise DockyardError(
                "'package' (the package handle) is required",
                code="invalid_arguments",
                status=422,
                suggestion='send {"package": "hello", "instance": "my-hello"}',
            )
        config = body.get("config")
        if config is not None and not isinstance(config, Mapping):
            raise DockyardError("'config' must be an object", code="invalid_arguments", status=422)
        record = runtime.use(
            user.handle,
            package,
            body.get("instance") or None,
            workspace=body.get("workspace") or None,
            version=body.get("version") or None,
            config=config,
        )
        return Response(json.dumps(record_to_dict(record, base_url())), mimetype=MimeTypes.JSON)

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
        return Response(json.dumps(record_to_dict(record, base_url())), mimetype=MimeTypes.JSON)

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

    @app.route(
        "/<workspace>/<instance>/<path:method>",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    )
    def invoke(workspace: str, instance: str, method: str) -> Response:
        user = caller(required=False)
        request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        response: InvocableResponse = runtime.invoke(
            user.handle if user is not None else None,
            workspace,
            instance,
            request.method,
            method,
            arguments(),
            headers=dict(request.headers.items()),
            invocation_url=f"{base_url()}/{workspace}/{instance}/",
            request_id=request_id,
        )
        if response.error is not None:
            out = _error(response.error)
        else:
            mime = response.mime_type
            if mime.startswith("text/") and "charset" not in mime:
                mime = f"{mime}; charset=utf-8"
            out = Response(response.encode(), status=response.status, content_type=mime)
            out.headers.update(response.http.headers)
        out.headers["X-Request-Id"] = request_id
        return out

    runtime.engine.plugin_manager.hook.dockyard_app_created(app=app)
    return app
