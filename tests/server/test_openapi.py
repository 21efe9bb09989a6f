"""OpenAPI 3.1 documents of instances (server/openapi.py), built from the same spec that
dispatches."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from dockyard import ArgumentError, Config, PackageService, get, post
from dockyard.server.openapi import ERROR_SCHEMA, openapi_document
from dockyard.testing import call

URL = "http://127.0.0.1:8080/ws/inst"
ERROR_STATUSES = ("400", "401", "404", "405", "409", "413", "422", "500")


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def check_document(document: dict[str, Any]) -> None:
    """What every document must satisfy: resolvable references, no stray ``$defs``,
    unique operation ids."""
    assert document["openapi"] == "3.1.0"
    for ref in refs(document):
        resolve(document, ref)
    assert "$defs" not in repr(document)
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), ids


#: What every instance's document holds for invoke_later over HTTP.
TASK_PATHS = {"/__tasks__", "/__tasks__/{task_id}", "/__tasks__/{task_id}/cancel"}
TASK_SCHEMAS = ["Task", "TaskError", "TaskRequest", "TaskState"]


@pytest.fixture
def hello_doc(kit: ModuleType) -> dict[str, Any]:
    document = openapi_document(kit.Hello.spec, URL)
    check_document(document)
    return document


def test_document_header_servers_and_security(hello_doc: dict[str, Any]) -> None:
    assert hello_doc["info"]["title"] == "Hello"
    assert hello_doc["info"]["description"].startswith("The seed example")
    assert hello_doc["servers"] == [{"url": URL}]
    assert hello_doc["security"] == [{"bearer": []}]
    assert hello_doc["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer"}
    }


def test_paths_are_the_routes_without_internal_ones(hello_doc: dict[str, Any]) -> None:
    paths = hello_doc["paths"]
    assert set(paths) == {
        "/__dir__",
        "/say_hello",
        "/do_something",
        "/ping",
        "/bump",
        "/counter",
        "/inits",
        "/remember",
        "/recall",
        "/whoami",
        "/echo",
        "/crash",
        "/refuse",
        "/menu/café",
        "/probe",
        "/headers",
        "/total",
        *TASK_PATHS,
    }
    assert set(paths["/__dir__"]) == {"get", "post"}
    assert set(paths["/say_hello"]) == {"get"}
    assert set(paths["/do_something"]) == {"post"}


def test_get_arguments_are_query_parameters_with_their_types(hello_doc: dict[str, Any]) -> None:
    say = hello_doc["paths"]["/say_hello"]["get"]
    assert say["parameters"] == [
        {
            "name": "name",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "default": "World"},
        }
    ]
    assert "requestBody" not in say
    recall = hello_doc["paths"]["/recall"]["get"]["parameters"]
    assert [(p["name"], p["required"]) for p in recall] == [("key", True)]
    assert say["summary"] == "Greet someone by name."
    assert say["responses"]["200"]["content"] == {"text/plain": {"schema": {}}}


def test_post_arguments_are_a_json_body_schema(hello_doc: dict[str, Any]) -> None:
    do = hello_doc["paths"]["/do_something"]["post"]
    assert "parameters" not in do
    assert do["requestBody"] == {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"times": {"type": "integer", "default": 1}},
                    "required": [],
                    "additionalProperties": False,
                }
            }
        },
    }
    remember = hello_doc["paths"]["/remember"]["post"]["requestBody"]
    assert remember["required"] is True
    schema = remember["content"]["application/json"]["schema"]
    assert schema["required"] == ["key", "value"]
    assert schema["properties"]["key"] == {"type": "string"}
    assert do["responses"]["200"]["content"] == {"application/json": {"schema": {}}}


def test_every_operation_documents_every_error_status(hello_doc: dict[str, Any]) -> None:
    for path, operations in hello_doc["paths"].items():
        if path in TASK_PATHS:
            continue  # its own statuses (test_the_task_routes_are_documented)
        for verb, operation in operations.items():
            for status in ERROR_STATUSES:
                response = operation["responses"][status]
                assert response["description"], (path, verb, status)
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
    assert hello_doc["components"]["schemas"]["Error"] == ERROR_SCHEMA


def test_the_task_routes_are_documented(hello_doc: dict[str, Any]) -> None:
    check_document(hello_doc)
    paths, schemas = hello_doc["paths"], hello_doc["components"]["schemas"]
    schedule = paths["/__tasks__"]["post"]
    body = schedule["requestBody"]["content"]["application/json"]["schema"]
    request = resolve(hello_doc, body["$ref"])
    assert request["required"] == ["method"]
    assert set(request["properties"]) == {
        "method",
        "verb",
        "arguments",
        "wait_on_tasks",
        "delay_ms",
    }
    # The instance's own routes are given as examples of what to schedule.
    assert "say_hello" in request["properties"]["method"]["examples"]
    assert "__dir__" not in request["properties"]["method"]["examples"]
    for path, verb, statuses in [
        ("/__tasks__", "post", {"200", "400", "401", "404", "405", "413", "422"}),
        ("/__tasks__/{task_id}", "get", {"200", "401", "404"}),
        ("/__tasks__/{task_id}/cancel", "post", {"200", "401", "404", "409"}),
    ]:
        operation = paths[path][verb]
        assert set(operation["responses"]) == statuses
        task = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert resolve(hello_doc, task["$ref"]) == schemas["Task"]
    assert {"id", "state", "output", "error", "attempts"} <= set(schemas["Task"]["properties"])
    state = resolve(hello_doc, schemas["Task"]["properties"]["state"]["$ref"])
    assert state["enum"] == ["waiting", "running", "succeeded", "failed", "cancelled"]


def test_the_config_schema_is_a_component(hello_doc: dict[str, Any]) -> None:
    config = hello_doc["components"]["schemas"]["Config"]
    assert config["properties"]["greeting"]["type"] == "string"
    assert config["properties"]["greeting"]["default"] == "Hello"
    assert config["additionalProperties"] is False


def test_public_routes_need_no_security(hello_doc: dict[str, Any]) -> None:
    assert hello_doc["paths"]["/ping"]["get"]["security"] == []
    others = [
        op for path, ops in hello_doc["paths"].items() if path != "/ping" for op in ops.values()
    ]
    assert all("security" not in op for op in others)


# --- models, references and name clashes -----------------------------------------------------


class Point(BaseModel):
    x: int
    y: int = 0


class Shape(BaseModel):
    corners: list[Point]


class Mapper(PackageService):
    """Places things."""

    class Config(Config):
        origin: Point | None = None

    @post("place")
    def place(
        self, shape: Shape, tags: list[str] | None = None, mode: Literal["a", "b"] = "a"
    ) -> int:
        return len(shape.corners)

    @get("items/list")
    def items(self, limit: int = 10) -> list[int]:
        return list(range(limit))

    @get("items_list")
    def items_flat(self) -> list[int]:
        return []


def test_nested_models_become_components_and_refs_resolve() -> None:
    document = openapi_document(Mapper.spec, URL)
    check_document(document)
    schemas = document["components"]["schemas"]
    assert schemas["Point"]["required"] == ["x"]
    body = document["paths"]["/place"]["post"]["requestBody"]["content"]["application/json"]
    shape = body["schema"]["properties"]["shape"]
    corners = shape["properties"]["corners"]["items"]
    assert resolve(document, corners["$ref"]) == schemas["Point"]
    assert body["schema"]["properties"]["mode"]["enum"] == ["a", "b"]
    assert body["schema"]["required"] == ["shape"]
    origin = schemas["Config"]["properties"]["origin"]["anyOf"][0]
    assert resolve(document, origin["$ref"]) == schemas["Point"]
    # One model met twice (config and arguments) is one component.
    assert sorted(schemas) == ["Config", "Error", "Point", *TASK_SCHEMAS]


def test_operation_ids_are_unique_even_when_paths_flatten_alike() -> None:
    document = openapi_document(Mapper.spec, URL)
    first = document["paths"]["/items/list"]["get"]["operationId"]
    second = document["paths"]["/items_list"]["get"]["operationId"]
    assert first != second


def test_the_document_agrees_with_validation() -> None:
    document = openapi_document(Mapper.spec, URL)
    body = document["paths"]["/place"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["additionalProperties"] is False
    instance = Mapper()
    ok = call(instance, "POST", "place", shape={"corners": [{"x": 1}, {"x": 2, "y": 3}]})
    assert ok.data == 2
    refused = call(instance, "POST", "place", shape={"corners": [{"y": 1}]})
    assert isinstance(refused.error, ArgumentError)  # x is required, as documented


class Error(BaseModel):
    """A user model that happens to be called Error."""

    reason: str


class Report(BaseModel):
    errors: list[Error]


class Clashing(PackageService):
    """Its argument models are named like the document's own components."""

    @post("report")
    def report(self, report: Report) -> int:
        return len(report.errors)


def test_a_users_model_named_error_does_not_replace_the_error_schema() -> None:
    document = openapi_document(Clashing.spec, URL)
    check_document(document)
    schemas = document["components"]["schemas"]
    assert schemas["Error"] == ERROR_SCHEMA
    body = document["paths"]["/report"]["post"]["requestBody"]["content"]["application/json"]
    items = body["schema"]["properties"]["report"]["properties"]["errors"]["items"]
    assert resolve(document, items["$ref"])["properties"]["reason"] == {
        "title": "Reason",
        "type": "string",
    }
    response = document["paths"]["/report"]["post"]["responses"]["422"]
    error_ref = response["content"]["application/json"]["schema"]["$ref"]
    assert resolve(document, error_ref) == ERROR_SCHEMA


class Item(BaseModel):
    name: str


def _other_item() -> type[BaseModel]:
    class Item(BaseModel):  # same name, different shape
        count: int

    return Item


OtherItem = _other_item()


class ItemBox(BaseModel):
    item: Item


class OtherBox(BaseModel):
    item: OtherItem  # type: ignore[valid-type]


class TwoItems(PackageService):
    """Two routes whose models share a name."""

    @post("one")
    def one(self, box: ItemBox) -> str:
        return box.item.name

    @post("two")
    def two(self, box: OtherBox) -> int:
        return int(box.item.count)


def test_two_models_with_one_name_stay_two_schemas() -> None:
    document = openapi_document(TwoItems.spec, URL)
    check_document(document)

    def item_schema(path: str) -> Any:
        body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        return resolve(document, body["schema"]["properties"]["box"]["properties"]["item"]["$ref"])

    assert set(item_schema("/one")["properties"]) == {"name"}
    assert set(item_schema("/two")["properties"]) == {"count"}
