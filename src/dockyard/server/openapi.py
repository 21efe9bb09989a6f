"""OpenAPI 3.1 documents of package instances, built from the same spec that dispatches.

Argument schemas come from the per-route validators (so the document and the
validation cannot disagree), the config schema from the config model, and every
error response shares one ``Error`` schema.
"""

from __future__ import annotations

from typing import Any

from dockyard.core.routes import Verb
from dockyard.core.spec import MethodSpec, PackageSpec

__all__ = ["ERROR_SCHEMA", "openapi_document"]

_REF = "#/components/schemas/{model}"

#: The body of every error response.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "suggestion": {"type": ["string", "null"]},
                "details": {},
            },
        }
    },
}

_ERRORS = {
    "400": "Malformed request body",
    "401": "Missing or invalid API key",
    "403": "Refused (e.g. a URL an importer may not read)",
    "404": "Unknown instance or method",
    "405": "Wrong HTTP verb for this method",
    "409": "Conflict",
    "413": "Request body too large",
    "415": "Unsupported media type (e.g. no blockifier for a file's type)",
    "422": "Invalid arguments",
    "500": "Internal error (see the server log for the error id)",
    "502": "A plugin or the service it calls failed",
}


_PREFIX = "#/components/schemas/"


def _rewrite(node: Any, renamed: dict[str, str]) -> Any:
    """``node`` with its ``$ref``s to renamed components pointing at the new names."""
    if not renamed:
        return node
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_PREFIX):
                name = value[len(_PREFIX) :]
                out[key] = _PREFIX + renamed.get(name, name)
            else:
                out[key] = _rewrite(value, renamed)
        return out
    if isinstance(node, list):
        return [_rewrite(item, renamed) for item in node]
    return node


def _add_components(
    schemas: dict[str, Any], defs: dict[str, Any], user: dict[str, Any]
) -> dict[str, Any]:
    """Add the models ``defs`` (from one pydantic schema) to ``schemas``; return ``user``
    (the schema that refers to them) with its references fixed.

    Schemas are generated one route at a time, so two different models may come with one
    name (two ``Item`` classes; a user's model called ``Error``): the later one gets a
    new name (``Item2``) and the references to it follow, rather than silently replacing
    the other and documenting arguments the validator does not accept. The same model
    met again keeps its one component.
    """
    renamed: dict[str, str] = {}
    while True:  # until no rename changes another definition's text
        rewritten = {name: _rewrite(schema, renamed) for name, schema in defs.items()}
        changed = False
        for name, schema in rewritten.items():
            if name not in renamed and name in schemas and schemas[name] != schema:
                taken = {*schemas, *defs, *renamed.values()}
                number = 2
                while f"{name}{number}" in taken:
                    number += 1
                renamed[name] = f"{name}{number}"
                changed = True
        if not changed:
            break
    for name, schema in rewritten.items():
        schemas.setdefault(renamed.get(name, name), schema)
    fixed: dict[str, Any] = _rewrite(user, renamed)
    return fixed


# Return annotations (as `MethodSpec.returns` describes them) whose values may be sent
# with any content type: an `InvocableResponse` says its own.
_ANY_RETURNS = frozenset({"any", "object", "InvocableResponse"})
_BINARY_RETURNS = frozenset({"bytes", "bytearray", "memoryview", "BytesIO"})


def _union_members(described: str) -> list[str]:
    """The members of a described union, ``"str | list[int | None]"`` ->
    ``["str", "list[int | None]"]`` (one member if it is no union)."""
    members, depth, current = [], 0, ""
    for part in described.split(" | "):
        current = f"{current} | {part}" if current else part
        depth = current.count("[") - current.count("]")
        if depth == 0:
            members.append(current)
            current = ""
    return [*members, current] if current else members


def _success_content(returns: str | None) -> dict[str, Any]:
    """What a route whose return annotation is described as ``returns`` answers with, as
    `InvocableResponse.from_value` sends a value: a ``str`` as text/plain, bytes as
    application/octet-stream, anything else as JSON; no annotation, ``Any`` or an
    `InvocableResponse`: any type."""
    types: set[str] = set()
    for member in _union_members(returns) if returns is not None else ["any"]:
        if member in _ANY_RETURNS:
            return {"*/*": {"schema": {}}}
        if member == "str":
            types.add("text/plain")
        elif member == "enum":  # a str enum is sent as JSON, a Literal of str as text
            types.update(("text/plain", "application/json"))
        elif member in _BINARY_RETURNS:
            types.add("application/octet-stream")
        else:
            types.add("application/json")
    return {media_type: {"schema": {}} for media_type in sorted(types)}


def _operation(method: MethodSpec, schemas: dict[str, Any], operation_id: str) -> dict[str, Any]:
    arguments = method.validator.json_schema(ref_template=_REF)
    arguments = _add_components(schemas, arguments.pop("$defs", {}), arguments)
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": (method.doc or method.name).splitlines()[0],
        "responses": {
            "200": {"description": "Success", "content": _success_content(method.returns)},
            **{
                status: {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
                for status, text in _ERRORS.items()
            },
        },
    }
    if method.doc:
        operation["description"] = method.doc
    if method.public:
        operation["security"] = []
    if method.verb is Verb.GET:
        operation["parameters"] = [
            {
                "name": name,
                "in": "query",
                "required": name in arguments["required"],
                "schema": schema,
            }
            for name, schema in arguments["properties"].items()
        ]
    else:
        operation["requestBody"] = {
            "required": bool(arguments["required"]),
            "content": {"application/json": {"schema": arguments}},
        }
    return operation


def _error_responses(*statuses: str) -> dict[str, Any]:
    return {
        status: {
            "description": _ERRORS[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status in statuses
    }


def _task_paths(schemas: dict[str, Any], methods: list[str]) -> dict[str, dict[str, Any]]:
    """The ``__tasks__`` routes of every instance (invoke_later over HTTP)."""
    from dockyard.core.task import MAX_DELAY_MS, Task

    task = Task.model_json_schema(ref_template=_REF)
    schemas["Task"] = {}  # reserved first, as Config: a user's model named Task is renamed
    schemas["Task"] = _add_components(schemas, task.pop("$defs", {}), task)
    method_schema: dict[str, Any] = {
        "type": "string",
        "minLength": 1,
        "description": "the route to run",
    }
    if methods:
        method_schema["examples"] = methods
    schemas["TaskRequest"] = {
        "type": "object",
        "required": ["method"],
        "properties": {
            "method": method_schema,
            "verb": {"type": "string", "default": "POST"},
            "arguments": {"type": ["object", "null"], "description": "the route's arguments"},
            "wait_on_tasks": {
                "type": ["array", "null"],
                "items": {"type": "string"},
                "description": "ids of tasks of this instance to wait for",
            },
            "delay_ms": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_DELAY_MS},
        },
    }
    task_response = {
        "200": {
            "description": "The task",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Task"}}},
        }
    }
    task_id = [{"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "/__tasks__": {
            "post": {
                "operationId": "schedule_task",
                "summary": "Schedule a method of this instance to run later (invoke_later)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/TaskRequest"}}
                    },
                },
                "responses": {
                    **task_response,
                    # 405: the method exists, but not for the given verb.
                    **_error_responses("400", "401", "404", "405", "413", "422"),
                },
            }
        },
        "/__tasks__/{task_id}": {
            "get": {
                "operationId": "get_task",
                "summary": "A task of this instance",
                "parameters": task_id,
                "responses": {**task_response, **_error_responses("401", "404")},
            }
        },
        "/__tasks__/{task_id}/cancel": {
            "post": {
                "operationId": "cancel_task",
                "summary": "Cancel a waiting task (its dependents fail)",
                "parameters": task_id,
                "responses": {**task_response, **_error_responses("401", "404", "409")},
            }
        },
    }


def openapi_document(spec: PackageSpec, server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of an instance with ``spec`` served at ``server_url``:
    its routes, and the ``__tasks__`` routes every instance has.

    :param spec: the instance's spec (its routes, arguments and config).
    :param server_url: the instance's base URL (``.../workspace/instance``).
    """
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    if spec.config_model is not None:
        config = spec.config_model.model_json_schema(ref_template=_REF)
        defs = config.pop("$defs", {})
        schemas["Config"] = config  # reserved first: a model named Config gets renamed
        schemas["Config"] = _add_components(schemas, defs, config)
    routes = [m for m in spec.methods if not m.path.startswith("/__") or m.path == "/__dir__"]
    paths = _task_paths(schemas, sorted({m.path.lstrip("/") for m in routes} - {"__dir__"}))
    used_ids = {op["operationId"] for item in paths.values() for op in item.values()}
    for method in routes:
        verb = method.verb.value.lower()
        # "/a/b" and "/a_b" flatten alike; operation ids must be unique in a document.
        operation_id = base_id = f"{verb}_{method.path.strip('/').replace('/', '_')}"
        number = 2
        while operation_id in used_ids:
            operation_id = f"{base_id}_{number}"
            number += 1
        used_ids.add(operation_id)
        paths.setdefault(method.path, {})[verb] = _operation(method, schemas, operation_id)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": spec.name,
            "version": spec.version or "0",
            **({"description": spec.doc} if spec.doc else {}),
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
