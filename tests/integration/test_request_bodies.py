"""Request bodies through the real resolver, on every route that takes one: a body that is not UTF-8, not
JSON or absurdly nested is a 400 `malformed_request`, and a value that cannot be stored (NaN, ±Infinity,
a lone surrogate) a 422 naming the field — never a 500 and never a value silently dropped.

The routes come from the OpenAPI document (every operation with a `requestBody`), so a route added later
is covered without touching this file. `POST /v1/scans` reads its body itself (its `requestBody` is a
report, JSON or gzip): it is added by hand and must answer the same to unreadable bodies.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from riskgate.handlers.api import handler
from riskgate.handlers.api.app import MAX_BODY_DEPTH, openapi_json
from riskgate.handlers.api.models import RequestBody
from tests.support.events import FakeLambdaContext, api_event, response_json

CONTEXT = FakeLambdaContext()
SCANS = ("POST", "/v1/scans")


def json_body_routes() -> list[tuple[str, str]]:
    """(method, path) of every operation with a JSON request body, path parameters filled in."""
    document = json.loads(openapi_json())
    routes = []
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            route = (method.upper(), re.sub(r"\{[^}]+\}", "x-1", template))
            # The report upload documents its body too, but reads it itself: it is added below, once.
            if route != SCANS and "application/json" in (operation.get("requestBody") or {}).get(
                "content", {}
            ):
                routes.append(route)
    return sorted(routes)


JSON_BODY_ROUTES = json_body_routes()
EVERY_BODY_ROUTE = [*JSON_BODY_ROUTES, SCANS]


def send(method: str, path: str, body: bytes) -> tuple[int, Any]:
    response = handler(api_event(method, path, body=body), CONTEXT)
    return response["statusCode"], response_json(response)


def test_the_document_lists_the_body_routes_we_know_of() -> None:
    # A guard against the discovery silently finding nothing (e.g. a changed document shape).
    assert ("POST", "/v1/assurance-policies") in JSON_BODY_ROUTES
    assert ("PATCH", "/v1/users/x-1") in JSON_BODY_ROUTES
    assert ("POST", "/v1/risk-acceptances/x-1/revoke") in JSON_BODY_ROUTES
    assert len(JSON_BODY_ROUTES) >= 16


def nested_object(levels: int) -> bytes:
    """A JSON object `levels` deep (counting the outermost), e.g. 2: {"name": {"a": 1}}."""
    inner = b'{"a": ' * (levels - 1) + b"1" + b"}" * (levels - 1)
    return b'{"name": ' + inner + b"}"


def test_every_request_body_object_is_a_request_body_model_refusing_non_finite_floats() -> None:
    # The models behind every request body, nested ones included, inherit RequestBody's config: so any
    # float field, now or added later, refuses NaN and ±Infinity (allow_inf_nan=False).
    document = json.loads(openapi_json())
    schemas = document["components"]["schemas"]
    pending = [
        operation["requestBody"]
        for operations in document["paths"].values()
        for operation in operations.values()
        if "requestBody" in operation
    ]
    objects: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            name = reference.rsplit("/", 1)[-1]
            if name and name not in objects and "properties" in schemas[name]:
                objects.add(name)
                pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    models: dict[str, type[RequestBody]] = {}
    classes: list[type[RequestBody]] = [RequestBody]
    while classes:
        model = classes.pop()
        models[model.__name__] = model
        classes.extend(model.__subclasses__())
    assert objects, "no request body models found"
    assert objects <= set(models), sorted(objects - set(models))
    assert all(models[name].model_config.get("allow_inf_nan") is False for name in objects)


# Each kind of malformed body, with what its message must say.
MALFORMED: dict[str, tuple[bytes, str]] = {
    # What Python's own parser cannot nest (RecursionError).
    "100,000 arrays deep": (b"[" * 100_000, "nested too deeply"),
    "100,000 objects deep": (b'{"a":' * 100_000, "nested too deeply"),
    "truncated": (b'{"name":', "body is not valid JSON"),
    "not JSON": (b"{not json", "body is not valid JSON"),
    "trailing text": (b'{"a": 1} trailing', "body is not valid JSON"),
    "a number longer than Python reads": (b"1" * 5000, "body is not valid JSON"),
    "binary garbage": (b"\xff\xfe\x00garbage", "body is not UTF-8"),
    "Latin-1 text": (b'{"name": "caf\xe9"}', "body is not UTF-8"),
    "every byte": (bytes(range(256)), "body is not UTF-8"),
}
# Deeper than the API's own limit, though Python parses it: the JSON body routes refuse it too.
PAST_THE_LIMIT: dict[str, tuple[bytes, str]] = {
    "an object one level too deep": (nested_object(MAX_BODY_DEPTH + 1), "nested too deeply"),
    "arrays one level too deep": (
        b"[" * (MAX_BODY_DEPTH + 1) + b"]" * (MAX_BODY_DEPTH + 1),
        "nested too deeply",
    ),
}


def assert_malformed(route: tuple[str, str], cases: dict[str, tuple[bytes, str]]) -> None:
    for kind, (raw, message) in cases.items():
        status, body = send(*route, raw)
        assert status == 400, (kind, body)
        assert body["error"]["code"] == "malformed_request", (kind, body)
        assert message in body["error"]["message"], (kind, body)


@pytest.mark.parametrize("route", EVERY_BODY_ROUTE, ids=" ".join)
def test_a_malformed_body_is_400_naming_the_problem(dynamodb: Any, route: tuple[str, str]) -> None:
    assert_malformed(route, MALFORMED)


@pytest.mark.parametrize("route", JSON_BODY_ROUTES, ids=" ".join)
def test_a_body_nested_past_the_limit_is_400_and_one_at_it_is_not(
    dynamodb: Any, route: tuple[str, str]
) -> None:
    assert_malformed(route, PAST_THE_LIMIT)
    status, body = send(*route, nested_object(MAX_BODY_DEPTH))
    # Invalid for every model (422), but not malformed.
    assert status == 422, body


@pytest.mark.parametrize("route", JSON_BODY_ROUTES, ids=" ".join)
def test_a_value_that_cannot_be_stored_is_422_naming_it_anywhere(
    dynamodb: Any, route: tuple[str, str]
) -> None:
    # Non-finite numbers, and strings that are not text (a lone UTF-16 surrogate), in free-form parts too.
    for value in (b"NaN", b"Infinity", b"-Infinity", b"1e999", b'"\\ud800"', b'"x\\udfffy"'):
        status, body = send(*route, b'{"anything": {"deep": [1, ' + value + b"]}}")
        assert status == 422, (value, body)
        assert body["error"]["code"] == "invalid_request"
        located = [detail["location"] for detail in body["error"]["details"]]
        assert any(location.endswith("anything.deep.1") for location in located), (value, located)


def test_a_utf8_bom_is_allowed_as_on_scans(dynamodb: Any) -> None:
    body = {"name": "bom", "resources": [{"registry": "ghcr.io"}]}
    status, answer = send("POST", "/v1/scopes", "\ufeff".encode() + json.dumps(body).encode())
    assert status == 201, answer
