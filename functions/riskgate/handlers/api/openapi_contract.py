"""The OpenAPI document as a contract: every status an operation can answer, one error schema.

Powertools generates the document from the routes; this is the one place that completes it with what
the routes cannot say about themselves, by rule rather than route by route, so a route added later is
documented the same way:

- secured operations answer 401 (no, unknown, expired or revoked token: the gateway) and 403;
- an operation with a body answers 400 (not UTF-8, not JSON, nested too deeply) and 422;
- an operation with parameters answers 422; a list with `next_token` answers 400 for a token that
  was not issued for that list and caller; an operation with path parameters, or a filter naming an
  image (`image_id`, `image`) in a read, answers 404 (no such object, or outside the caller's scopes);
- every operation answers 429 when the deployed API throttles (API Gateway's own answer), and secured
  ones 503 with `Retry-After` when DynamoDB is busy past the SDK's retries;
- every error response has the one `ErrorResponse` schema — Powertools' own validation-error schemas
  (`HTTPValidationError`, `ValidationError`) describe a shape this API never sends and are removed;
- `POST /v1/scans` takes the report as its body: JSON, or gzip-compressed, up to the size limit.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = "ErrorResponse"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
POWERTOOLS_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
PERMISSION_EXTENSION = "x-riskgate-permission"
SCANS = ("/v1/scans", "post")
# Query parameters that name one object: an unknown or unseen one is a 404, as in a path.
OBJECT_FILTERS = frozenset({"image_id", "image"})

WHY = {
    400: "Malformed request: a body that is not UTF-8 or not JSON or is nested too deeply, or a "
    "next_token not issued for this list and caller",
    401: "No bearer token, or an unknown, expired or revoked one, or a disabled user",
    403: "The permission is not granted to the caller (in the scope this needs)",
    404: "No such object, or it is outside the caller's scopes",
    422: "Invalid parameters or body: details name each field",
    429: "Too many requests: the deployed API throttles (retry after a pause)",
    503: "The store is busy: nothing was changed; retry after the seconds in the Retry-After header",
}


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or WHY[status],
        "content": {"application/json": {"schema": dict(ERROR_REF)}},
    }


def apply_contract(document: dict[str, Any], *, max_report_bytes: int) -> dict[str, Any]:
    """The generated document completed by the rules above (changed in place and returned)."""
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if (path, method) == SCANS:
                operation["requestBody"] = scan_report_body(max_report_bytes)
            _complete_responses(operation, path, method)
    schemas = document.get("components", {}).get("schemas", {})
    for name in POWERTOOLS_ERROR_SCHEMAS:
        schemas.pop(name, None)
    _link_created_objects(document)
    return document


def _link_created_objects(document: dict[str, Any]) -> None:
    """OpenAPI links from each create (`POST /v1/x` → 201) to the operations on what it created
    (`/v1/x/{id}`, and deeper): generated clients and stateful fuzzers follow them."""
    paths: dict[str, Any] = document.get("paths", {})
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    for path, operations in paths.items():
        create = operations.get("post")
        created = (create or {}).get("responses", {}).get("201")
        if not created:
            continue
        schema = created.get("content", {}).get("application/json", {}).get("schema", {})
        properties = schemas.get(schema.get("$ref", "").rsplit("/", 1)[-1], {}).get("properties", {})
        key = "id" if "id" in properties else "name" if "name" in properties else None
        if key is None:
            continue
        links: dict[str, Any] = {}
        for other_path, other_operations in paths.items():
            rest = other_path.removeprefix(path + "/")
            if rest == other_path or not rest.startswith("{"):
                continue
            parameter = rest[1 : rest.index("}")]
            # The create's own path parameters (a user's tokens: user_id) carry over as they were.
            inherited = {
                f"path.{name}": f"$request.path.{name}"
                for name in (p.get("name") for p in create.get("parameters") or [] if p.get("in") == "path")
            }
            for method, operation in other_operations.items():
                links[f"{method}_{operation['operationId']}"] = {
                    "operationId": operation["operationId"],
                    "parameters": {**inherited, f"path.{parameter}": f"$response.body#/{key}"},
                }
        if links:
            created["links"] = links


def _complete_responses(operation: dict[str, Any], path: str, method: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for answer in responses.values():
        _use_error_schema(answer)
    if responses.get("422", {}).get("description") == "Validation Error":  # Powertools' own words
        responses["422"]["description"] = WHY[422]
    parameters = operation.get("parameters") or []
    wanted = {429}
    if PERMISSION_EXTENSION in operation:
        wanted |= {401, 403, 503}
    if "requestBody" in operation:
        wanted |= {400, 422}
    if parameters:
        wanted.add(422)
    if any(p.get("name") == "next_token" for p in parameters):
        wanted.add(400)
    if any(p.get("in") == "path" for p in parameters):
        wanted.add(404)
    if method == "get" and any(p.get("name") in OBJECT_FILTERS for p in parameters):
        wanted.add(404)
    if not parameters and "requestBody" not in operation:
        responses.pop("422", None)  # Powertools lists it everywhere; nothing here can be invalid
    for status in sorted(wanted):
        responses.setdefault(str(status), error_response(status))


def _use_error_schema(answer: dict[str, Any]) -> None:
    """An error answer documented with Powertools' validation schema gets ours: what is really sent."""
    for media in (answer.get("content") or {}).values():
        schema = media.get("schema") or {}
        if schema.get("$ref", "").rsplit("/", 1)[-1] in POWERTOOLS_ERROR_SCHEMAS:
            media["schema"] = dict(ERROR_REF)


def scan_report_body(max_report_bytes: int) -> dict[str, Any]:
    limit = f"{max_report_bytes // (1024 * 1024)} MiB"
    return {
        "required": True,
        "description": (
            "The report exactly as the scanner wrote it: Trivy JSON (SchemaVersion 2 or the legacy list), "
            "Grype JSON or CycloneDX JSON. Optionally gzip-compressed (`Content-Encoding: gzip`, or "
            f"recognized by its magic bytes). At most {limit} decompressed ({max_report_bytes} bytes; "
            "more is a 413); deployed, a request body is capped at about 6 MB, so send larger reports "
            "compressed."
        ),
        "content": {
            "application/json": {
                "schema": {"description": "A scanner report (any JSON value; its format is sniffed)"}
            },
            "application/gzip": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
