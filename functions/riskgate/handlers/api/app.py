"""The API's resolver: routers, OpenAPI, and the mapping of every error to the API's error shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from riskgate.domain.errors import RiskgateError
from riskgate.handlers.api import (
    models,
    routes_acceptances,
    routes_audit,
    routes_directory,
    routes_images,
    routes_integrations,
    routes_notifications,
    routes_policies,
    routes_response_policies,
    routes_scans,
    routes_verdicts,
)
from riskgate.handlers.api.errors import error_response, response_for, validation_details
from riskgate.handlers.api.security import public_route

logger = Logger(child=True)

API_TITLE = "Riskgate"
API_VERSION = "1.0.0"
API_DESCRIPTION = """Container-risk service: scanner reports in, findings and CI verdicts out.

**Authentication.** Every route but health and these documents needs `Authorization: Bearer <token>`
(401 otherwise). A token acts as its user.

**Permissions and scopes.** Each operation names the permission it needs (`x-riskgate-permission`).
A user's role bindings grant a role's permissions in a scope: `global` covers everything; a custom
scope covers the images its selectors match (globs over registry, repository, tag). Without the
permission anywhere: 403. An object outside the caller's scopes: 404 (creating one there: 403), and
lists show only what the caller may see. Users, roles, scopes, integrations and the security event
log are account-wide: they need the permission granted in `global`. System roles: administrator,
security_officer, developer, ci_pipeline, auditor.

**Audit.** Every change leaves one event in the security event log (`GET /v1/audit-events`), written
in the same transaction as the change.

**Errors** are `{"error": {"code", "message", "details"}}`; lists take `limit` and `next_token`."""

app = APIGatewayRestResolver(enable_validation=True)

meta = Router()


@public_route(meta, "GET", "/v1/health", tags=["meta"], summary="Liveness")
def health() -> models.Health:
    return models.Health(status="ok")


@public_route(meta, "GET", "/v1/openapi.json", tags=["meta"], summary="This API's OpenAPI document")
def openapi_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(openapi_json(base_path()))
    return document


@public_route(meta, "GET", "/v1/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
    return Response(status_code=200, content_type="text/html", body=swagger_html(openapi_json(base_path())))


def base_path() -> str:
    """The stage prefix callers see (`/api` on AWS, empty locally), so "Try it out" hits the right URL."""
    event = app.current_event
    full_path = (event.raw_event.get("requestContext") or {}).get("path") or event.path
    return full_path[: -len(event.path)] if full_path.endswith(event.path) else ""


def openapi_json(server_url: str = "") -> str:
    # The OpenAPI models are imported only when a document is asked for: they cost ~150 ms of cold start.
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

    return app.get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        description=API_DESCRIPTION,
        servers=[Server(url=server_url or "/")],
        security_schemes={"bearerAuth": HTTPBearer(description="API token (rg_…)")},
    )


def swagger_html(spec: str) -> str:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent  # Powertools ships Swagger UI: no CDN needed
    return generate_swagger_html(
        spec.replace("</", "<\\/"),  # the spec is inlined in a <script> element
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
        False,
    )


app.include_router(meta)
app.include_router(routes_scans.router)
app.include_router(routes_images.router)
app.include_router(routes_audit.router)
app.include_router(routes_directory.router)
app.include_router(routes_policies.router)
app.include_router(routes_verdicts.router)
app.include_router(routes_acceptances.router)
app.include_router(routes_integrations.router)
app.include_router(routes_response_policies.router)
app.include_router(routes_notifications.router)


@app.exception_handler(RiskgateError)
def handle_domain_error(error: RiskgateError) -> Response:
    if isinstance(error, RiskgateError):
        logger.info("request refused", code=error.code, error_message=error.message)
    return response_for(error)


@app.exception_handler(RequestValidationError)
def handle_validation_error(error: RequestValidationError) -> Response:
    details = validation_details(error.errors())
    fields = ", ".join(d["location"] for d in details) or "request"
    return error_response(422, "invalid_request", f"invalid {fields}", details)


@app.not_found
def handle_not_found(_: NotFoundError) -> Response:
    event = app.current_event
    return error_response(404, "not_found", f"no route for {event.http_method} {event.path}")


@app.exception_handler(json.JSONDecodeError)
def handle_bad_json(error: json.JSONDecodeError) -> Response:
    return error_response(400, "malformed_request", f"body is not valid JSON: {error.msg}")


@app.exception_handler(Exception)
def handle_bug(error: Exception) -> Response:
    # A 500 is a bug: log it with the stack, tell the caller only the request id to quote.
    logger.exception("unhandled error")
    request_id = (app.current_event.raw_event.get("requestContext") or {}).get("requestId", "")
    return error_response(500, "internal_error", f"internal error (request id {request_id})")
