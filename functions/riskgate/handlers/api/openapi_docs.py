"""OpenAPI response documentation in the API's own error shape.

Powertools documents only the listed responses once a route lists any, so the success answer is listed
too (its schema is the route's return model; no body for 204) and each error has the error shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import content_types

from riskgate.handlers.api.models import ErrorResponse

# Every secured route can answer these: no permission, and invalid parameters or body.
COMMON_ERRORS = {
    403: "The permission is not granted to the caller (in the scope this needs)",
    422: "Invalid parameters or body",
}


def documented(success: int, description: str, errors: Mapping[int, str]) -> dict[int, Any]:
    responses: dict[int, Any] = {success: {"description": description}}
    if success == 204:
        responses[success]["content"] = {}
    for status, why in sorted({**COMMON_ERRORS, **errors}.items()):
        responses[status] = {
            "description": why,
            "content": {content_types.APPLICATION_JSON: {"model": ErrorResponse}},
        }
    return responses
