"""Health and the API's own documents: the public routes (riskgate.resources.PUBLIC_ROUTES)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from riskgate.handlers.api import models
from riskgate.handlers.api.app import base_path, openapi_json, swagger_html
from riskgate.handlers.api.security import public_route

router = Router()


@public_route(router, "GET", "/v1/health", tags=["meta"], summary="Liveness")
def health() -> models.Health:
    return models.Health(status="ok")


@public_route(router, "GET", "/v1/openapi.json", tags=["meta"], summary="This API's OpenAPI document")
def openapi_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(openapi_json(base_path()))
    return document


@public_route(router, "GET", "/v1/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
    return Response(status_code=200, content_type="text/html", body=swagger_html(openapi_json(base_path())))
