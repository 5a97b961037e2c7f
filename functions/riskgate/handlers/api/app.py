"""The API's resolver: routers, OpenAPI, and the mapping of every error to the API's error shape."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from riskgate.domain.errors import RiskgateError
from riskgate.handlers.api import models, routes_images, routes_scans
from riskgate.handlers.api.errors import error_response, response_for, validation_details
from riskgate.handlers.api.security import public_route

logger = Logger(child=True)

API_TITLE = "Riskgate"
API_VERSION = "1.0.0"
SECURITY_SCHEMES = {"bearerAuth": HTTPBearer(description="API token (rg_…)")}

app = APIGatewayRestResolver(enable_validation=True)
app.enable_swagger(
    path="/v1/docs",
    title=API_TITLE,
    version=API_VERSION,
    security_schemes=SECURITY_SCHEMES,
)

meta = Router()


@public_route(meta, "GET", "/v1/health", tags=["meta"], summary="Liveness")
def health() -> models.Health:
    return models.Health(status="ok")


@public_route(meta, "GET", "/v1/openapi.json", tags=["meta"], summary="This API's OpenAPI document")
def openapi_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(openapi_json())
    return document


def openapi_json() -> str:
    return app.get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        security_schemes=SECURITY_SCHEMES,
    )


app.include_router(meta)
app.include_router(routes_scans.router)
app.include_router(routes_images.router)


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
