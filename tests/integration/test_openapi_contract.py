"""The OpenAPI document is a contract clients and fuzzers rely on (issue 10): valid OpenAPI 3.1, every
status an operation can answer, one error schema that is what the API sends, the report upload's body."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from openapi_spec_validator import validate

from riskgate.handlers.api import handler
from riskgate.handlers.api.app import openapi_json
from tests.support.events import FakeLambdaContext, api_event, response_json

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(openapi_json())
    return loaded


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document()["paths"].items()
        for method, operation in methods.items()
    ]


def test_the_document_is_valid_openapi_3_1() -> None:
    spec = document()
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_no_error_shape_but_ours_is_described() -> None:
    spec = document()
    schemas = spec["components"]["schemas"]
    for leftover in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        assert leftover not in schemas
    assert "Validation Error" not in json.dumps(spec)
    for method, path, operation in operations():
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                assert answer["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)


def test_every_operation_lists_the_statuses_it_can_answer() -> None:
    for method, path, operation in operations():
        statuses = set(operation["responses"])
        parameters = operation.get("parameters") or []
        where = f"{method} {path}"
        if operation.get("x-riskgate-permission"):
            assert {"401", "403"} <= statuses, where
        if "requestBody" in operation:
            assert {"400", "422"} <= statuses, where
        if any(p["in"] == "path" for p in parameters):
            assert "404" in statuses, where
        if any(p["name"] == "next_token" for p in parameters):
            assert "400" in statuses, where
        assert "429" in statuses, where


def test_the_report_upload_documents_its_body_and_size_limit() -> None:
    upload = document()["paths"]["/v1/scans"]["post"]
    body = upload["requestBody"]
    assert body["required"] is True
    assert {"application/json", "application/gzip"} <= set(body["content"])
    assert "MiB" in body["description"]
    assert {"400", "413", "422"} <= set(upload["responses"])


def test_the_error_schema_is_what_the_api_sends(dynamodb: Any) -> None:
    schema = {**document()["components"]["schemas"]["ErrorResponse"]}
    resolver_root = document()
    for event in (
        api_event("GET", "/v1/images/img-00000000000000000000"),  # 404
        api_event("GET", "/v1/images", query={"limit": "0"}),  # 422
        api_event("GET", "/v1/images", query={"next_token": "forged"}),  # 400
        api_event("POST", "/v1/scopes", body=b"\xff\xfe"),  # 400
    ):
        response = handler(event, FakeLambdaContext())
        assert response["statusCode"] >= 400
        jsonschema.validate(response_json(response), {**schema, "components": resolver_root["components"]})


def test_every_change_of_a_versioned_entity_takes_if_match_and_lists_its_409() -> None:
    versioned = ("/v1/assurance-policies/", "/v1/response-policies/", "/v1/integrations/", "/v1/scopes/")
    versioned += ("/v1/roles/", "/v1/users/{user_id}", "/v1/registries/")
    taking = set()
    for method, path, operation in operations():
        headers = {p["name"].lower() for p in operation.get("parameters") or [] if p["in"] == "header"}
        if "if-match" in headers:
            taking.add((method, path))
            assert "409" in operation["responses"], (method, path)
    changes = {
        (method, path)
        for method, path, _ in operations()
        if method in {"PATCH", "DELETE"} and path.startswith(versioned) and "/tokens" not in path
    }
    actions = {("POST", f"/v1/risk-acceptances/{{acceptance_id}}/{a}") for a in ("extend", "revoke")}
    actions |= {("POST", f"/v1/response-policies/{{policy_id}}/{a}") for a in ("enable", "disable")}
    assert len(changes) == 14
    assert taking == changes | actions
